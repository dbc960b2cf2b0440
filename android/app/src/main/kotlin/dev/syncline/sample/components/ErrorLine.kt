// What a screen shows when something fails: a live query that stopped (with Try again, which
// follows it again) or an action that did not work (a save, a resolve), in the user's words with
// the core's reason. Hidden (GONE, taking no space) while there is nothing to say.
package dev.syncline.sample.components

import android.content.Context
import android.view.Gravity
import android.view.View
import android.widget.Button
import android.widget.LinearLayout
import android.widget.TextView
import dev.syncline.sample.app.Words

/** One error on a screen, with Try again when trying again can help. */
class ErrorLine(context: Context, words: Words) : LinearLayout(context) {
    private val message = TextView(context).apply { setTextColor(ERROR_RED) }
    private val retry = Button(context).apply { text = words.get("app_try_again") }

    init {
        orientation = HORIZONTAL
        gravity = Gravity.CENTER_VERTICAL
        // A polite live region: TalkBack reads the error when it appears, as it does the banner.
        accessibilityLiveRegion = View.ACCESSIBILITY_LIVE_REGION_POLITE
        addView(message, LayoutParams(0, LayoutParams.WRAP_CONTENT, 1f))
        addView(retry)
        visibility = GONE
    }

    /** The error shown, or null when hidden. */
    val text: String? get() = if (visibility == VISIBLE) message.text.toString() else null

    /** Shows [text]; with [tryAgain], a Try again button that hides the line and calls it. */
    fun show(text: String, tryAgain: (() -> Unit)? = null) {
        message.text = text
        retry.visibility = if (tryAgain != null) VISIBLE else GONE
        retry.setOnClickListener {
            hide()
            tryAgain?.invoke()
        }
        visibility = VISIBLE
    }

    /** Hides the line (the last attempt worked). */
    fun hide() {
        visibility = GONE
        message.text = ""
        retry.setOnClickListener(null)
    }

    /** Taps Try again as a user would; false when it is not offered. */
    fun performTryAgain(): Boolean = visibility == VISIBLE && retry.visibility == VISIBLE && retry.performClick()

    private companion object {
        /** Material's error red: readable on white, and never the banner's colours. */
        const val ERROR_RED = 0xFFB3261E.toInt()
    }
}
