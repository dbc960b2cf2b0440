// The building blocks of the sample's look, shared by every screen: framework views only (no
// AndroidX), so the screens run under Robolectric. The sizes are the ones the committed
// screenshots (docs/screenshots/android/app-*.png) show; a redesign changes them here.
package dev.syncline.sample.components

import android.content.Context
import android.util.TypedValue
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.TextView

/** [value] density-independent pixels in pixels on this device. */
fun Context.dp(value: Int): Int =
    TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_DIP, value.toFloat(), resources.displayMetrics).toInt()

/** A screen's column: its views one below the other, 16 dp from the edges. */
fun Context.column(): LinearLayout = stack().apply { setPadding(dp(16), dp(16), dp(16), dp(16)) }

/** Views one below the other, without padding: a part of a screen that is filled later. */
fun Context.stack(): LinearLayout = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL }

/** A screen's title. */
fun Context.heading(text: String): TextView = TextView(this).apply {
    this.text = text
    setTextSize(TypedValue.COMPLEX_UNIT_SP, 22f)
    setPadding(0, 0, 0, dp(12))
}

/** A line of text; [sp] sets its size (the theme's otherwise). */
fun Context.label(text: String, sp: Float? = null, tag: String? = null): TextView = TextView(this).apply {
    this.text = text
    if (sp != null) setTextSize(TypedValue.COMPLEX_UNIT_SP, sp)
    if (tag != null) this.tag = tag
}

/** A button saying [text] that calls [onClick]; [tag] names it for tests. */
fun Context.button(text: String, tag: String? = null, onClick: () -> Unit): Button = Button(this).apply {
    this.text = text
    if (tag != null) this.tag = tag
    setOnClickListener { onClick() }
}

/** A text field named [tag], with [hint] while empty. */
fun Context.field(tag: String, hint: String? = null): EditText = EditText(this).apply {
    if (hint != null) this.hint = hint
    this.tag = tag
}
