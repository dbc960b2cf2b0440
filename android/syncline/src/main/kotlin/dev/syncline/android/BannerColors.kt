// Android only: the banner's colours, one set per kind, from the app's resources
// (res/values/colors.xml, values-night/ for dark mode) or from any lookup by name.
package dev.syncline.android

import android.content.Context
import dev.syncline.core.types.BannerKind

/** The colours of one kind of banner, as ARGB ints. */
data class BannerPalette(
    /** Behind everything. */
    val background: Int,
    /** The title and the other lines. */
    val content: Int,
    /** The icon, the actions' text and outlines, a filled action's fill. */
    val accent: Int,
)

/** The banner's colours by kind; [BannerKind.HIDDEN] draws nothing and has none. */
class BannerColors(
    /** While syncing. */
    val syncing: BannerPalette,
    /** When a sync failed. */
    val failed: BannerPalette,
    /** While offline. */
    val offline: BannerPalette,
    /** When only a decision waits (conflicts or quarantined mutations). */
    val decision: BannerPalette,
) {
    /** The palette of [kind] (a hidden banner's is never drawn: the syncing one). */
    fun of(kind: BannerKind): BannerPalette = when (kind) {
        BannerKind.FAILED -> failed
        BannerKind.OFFLINE -> offline
        BannerKind.NEEDS_DECISION -> decision
        BannerKind.SYNCING, BannerKind.HIDDEN -> syncing
    }

    companion object {
        /**
         * The colours named `syncline_banner_<kind>_<role>` (`syncing`, `failed`, `offline`,
         * `decision`; `background`, `content`, `accent`), as [color] gives them.
         */
        fun from(color: (String) -> Int): BannerColors {
            fun palette(kind: String) = BannerPalette(
                background = color("syncline_banner_${kind}_background"),
                content = color("syncline_banner_${kind}_content"),
                accent = color("syncline_banner_${kind}_accent"),
            )
            return BannerColors(palette("syncing"), palette("failed"), palette("offline"), palette("decision"))
        }

        /**
         * The colours from [context]'s resources, for its configuration (dark mode picks
         * values-night/). By name, as [ResourceStrings] reads the words: an app overrides one by
         * defining a colour of the same name.
         */
        fun of(context: Context): BannerColors = from(ResourceColors(context))
    }
}
