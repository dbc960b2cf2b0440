// The app bar: a framework Toolbar with the screen's title and Up. The title is a view of its
// own rather than the Toolbar's, which is one line cut with "…": a project's name at a large font
// scale wraps instead.
package dev.syncline.sample.components

import android.graphics.Typeface
import android.util.TypedValue
import android.view.Gravity
import android.widget.TextView
import android.widget.Toolbar

/** The bar made with [ui]; Up says [upLabel] to TalkBack and calls [onUp]. */
class AppBar(private val ui: Ui, private val upLabel: String, onUp: () -> Unit) {
    private val title = TextView(ui.context).apply {
        setTextSize(TypedValue.COMPLEX_UNIT_SP, 20f)
        setTypeface(Typeface.create("sans-serif-medium", Typeface.NORMAL))
        setTextColor(ui.palette.onBar)
        setPadding(0, ui.dp(12), ui.dp(16), ui.dp(12))
        isAccessibilityHeading = true
        tag = "bar-title"
    }

    /** The bar's view. */
    val view: Toolbar = Toolbar(ui.context).apply {
        setBackgroundColor(ui.palette.bar)
        minimumHeight = ui.dp(56)
        navigationContentDescription = upLabel
        setNavigationOnClickListener { onUp() }
        addView(this@AppBar.title, Toolbar.LayoutParams(Toolbar.LayoutParams.MATCH_PARENT, Toolbar.LayoutParams.WRAP_CONTENT, Gravity.CENTER_VERTICAL))
    }

    /** Shows [text] as the title, with Up when [canGoUp]. */
    fun show(text: String, canGoUp: Boolean) {
        title.text = text
        view.navigationIcon = if (canGoUp) Icon(Icon.Glyph.ARROW_BACK, ui.palette.onBar, ui.dp(24)) else null
        view.navigationContentDescription = upLabel
    }

    /** The title shown. */
    val titleText: String get() = title.text.toString()
}
