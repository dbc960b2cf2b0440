// What a screen shows when something fails: a live query that stopped (with Try again, which
// follows it again) or an action that did not work (a save, a resolve), in the user's words with
// the core's reason. Hidden (GONE, taking no space) while there is nothing to say.
package dev.syncline.sample.components

import android.view.View
import android.widget.LinearLayout
import dev.syncline.sample.app.Words

/**
 * One error on a screen, with Try again when trying again can help: the message in the error
 * colour, Try again below it at the end (a long German message at a large font scale leaves it
 * no room beside it).
 */
class ErrorLine(ui: Ui, words: Words) : LinearLayout(ui.context) {
    private val message = ui.text("", color = ui.palette.error)
    private val retry = ui.textButton(words.get("app_try_again")) {}

    init {
        orientation = VERTICAL
        setPadding(ui.dp(16), ui.dp(8), ui.dp(16), 0)
        // A polite live region: TalkBack reads the error when it appears, as it does the banner.
        accessibilityLiveRegion = View.ACCESSIBILITY_LIVE_REGION_POLITE
        addView(message)
        addView(ui.actions(retry))
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
}
