// The sample's colours by role, from res/values/colors.xml (values-night/ in dark mode): screens
// and components name a role, never a colour.
package dev.syncline.sample.app

/** The app's colours (ARGB), as [color] gives them by name (`sample_<role>`). */
class Palette(color: (String) -> Int) {
    /** Behind a screen. */
    val background = color("sample_background")

    /** Behind a card (a conflict, a refused change) and a text field. */
    val surface = color("sample_surface")

    /** Text. */
    val onSurface = color("sample_on_surface")

    /** Secondary text: labels, details, hints. */
    val onSurfaceVariant = color("sample_on_surface_variant")

    /** The primary action's fill, outlined actions' text, ticks, focused fields. */
    val primary = color("sample_primary")

    /** Text on [primary]. */
    val onPrimary = color("sample_on_primary")

    /** Fields' and outlined actions' borders. */
    val outline = color("sample_outline")

    /** Lines between list rows (decoration only). */
    val divider = color("sample_divider")

    /** What failed, and the destructive action. */
    val error = color("sample_error")

    /** A record's sync mark ("Not synced yet"). */
    val mark = color("sample_mark")

    /** The app bar. */
    val bar = color("sample_bar")

    /** The app bar's title and Up. */
    val onBar = color("sample_on_bar")
}
