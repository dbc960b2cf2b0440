// Android only: the sync banner as a framework view ("Syncing…", "Sync failed" with Retry and
// its countdown, "You're offline · N changes waiting to sync"), drawn from the core's
// structured Banner. Framework widgets only (no AndroidX), so it runs under Robolectric here.
package dev.syncline.android

import android.content.Context
import android.graphics.Color
import android.graphics.Typeface
import android.os.Handler
import android.os.Looper
import android.os.SystemClock
import android.util.TypedValue
import android.view.Gravity
import android.view.View
import android.widget.Button
import android.widget.LinearLayout
import android.widget.ProgressBar
import android.widget.TextView
import dev.syncline.BannerText
import dev.syncline.core.ListenerHandle
import dev.syncline.core.StatusListener
import dev.syncline.core.SynclineClient
import dev.syncline.core.types.Banner
import dev.syncline.core.types.BannerKind
import dev.syncline.core.types.SyncStatus

/**
 * Shows the core's [Banner] with [text]'s words: a title, a detail line (progress, or the retry
 * countdown), a progress indicator while syncing and a Retry button when retrying helps. It is
 * a polite live region whose content description is the whole banner in one sentence, so
 * TalkBack announces going offline and a failure. Call [show] on the main thread with every new
 * banner; the countdown ticks by itself while the view is attached.
 */
class SyncBannerView(
    context: Context,
    private val text: BannerText,
    /** Wall-clock time in ms (the banner's retry time is wall-clock too); tests pass their own. */
    private val now: () -> Long = System::currentTimeMillis,
) : LinearLayout(context) {
    /** Called when the user taps Retry. */
    var onRetry: (() -> Unit)? = null

    /** The banner shown, or null before the first [show]. */
    var banner: Banner? = null
        private set

    private val title = TextView(context).apply {
        setTypeface(typeface, Typeface.BOLD)
        setTextSize(TypedValue.COMPLEX_UNIT_SP, 15f)
    }
    private val detail = TextView(context).apply { setTextSize(TypedValue.COMPLEX_UNIT_SP, 13f) }
    private val progress = ProgressBar(context, null, android.R.attr.progressBarStyleSmall)
    private val retry = Button(context).apply { setOnClickListener { onRetry?.invoke() } }
    private val tick = Runnable { refreshCountdown() }

    init {
        orientation = HORIZONTAL
        gravity = Gravity.CENTER_VERTICAL
        val pad = dp(12)
        setPadding(pad, dp(8), pad, dp(8))
        accessibilityLiveRegion = View.ACCESSIBILITY_LIVE_REGION_POLITE
        val lines = LinearLayout(context).apply {
            orientation = VERTICAL
            addView(title)
            addView(detail)
        }
        addView(progress, LayoutParams(dp(20), dp(20)).apply { marginEnd = dp(12) })
        addView(lines, LayoutParams(0, LayoutParams.WRAP_CONTENT, 1f))
        addView(retry, LayoutParams(LayoutParams.WRAP_CONTENT, LayoutParams.WRAP_CONTENT))
        visibility = GONE
    }

    /** Shows [banner] (hides the view for a hidden banner). */
    fun show(banner: Banner) {
        this.banner = banner
        removeCallbacks(tick)
        val heading = text.title(banner)
        if (heading == null) {
            visibility = GONE
            contentDescription = null
            return
        }
        visibility = VISIBLE
        title.text = heading
        setBackgroundColor(
            when (banner.kind) {
                BannerKind.FAILED -> Color.rgb(0xFD, 0xE7, 0xE9)
                BannerKind.OFFLINE -> Color.rgb(0xEC, 0xEF, 0xF1)
                else -> Color.rgb(0xE3, 0xF2, 0xFD)
            },
        )
        progress.visibility = if (banner.kind == BannerKind.SYNCING) VISIBLE else GONE
        val label = text.retryLabel(banner)
        retry.visibility = if (label != null) VISIBLE else GONE
        retry.text = label ?: ""
        refreshCountdown()
    }

    /**
     * Shows [client]'s banner from now on, and makes Retry call [SynclineClient.retry]. The core
     * calls its listeners on a thread of its own; each banner is posted to the main thread.
     * Close the returned handle (e.g. in `onDestroy`) to stop.
     */
    fun follow(client: SynclineClient): AutoCloseable {
        val main = Handler(Looper.getMainLooper())
        onRetry = { Thread { runCatching { client.retry() } }.start() }
        val handle: ListenerHandle = client.listen(object : StatusListener {
            override fun onStatus(status: SyncStatus) {
                main.post { show(status.banner) }
            }
        })
        return AutoCloseable {
            handle.stop()
            handle.close()
            onRetry = null
        }
    }

    /** Whether the Retry button is offered. */
    val retryOffered: Boolean get() = visibility == VISIBLE && retry.visibility == VISIBLE

    /** Taps Retry as a user would (for tests and accessibility actions). */
    fun performRetryClick(): Boolean = retryOffered && retry.performClick()

    /** The title shown, or null when hidden. */
    val titleText: String? get() = if (visibility == VISIBLE) title.text.toString() else null

    /** The detail shown, or null when there is none. */
    val detailText: String?
        get() = if (visibility == VISIBLE && detail.visibility == VISIBLE) detail.text.toString() else null

    private fun refreshCountdown() {
        val banner = banner ?: return
        val line = text.detail(banner, now())
        detail.visibility = if (line != null) VISIBLE else GONE
        detail.text = line ?: ""
        contentDescription = text.accessibilityDescription(banner, now())
        // A countdown changes every second; nothing else in the banner does by itself.
        if (banner.kind == BannerKind.FAILED && banner.nextRetryAt != null && isAttachedToWindow) {
            postDelayed(tick, 1000 - (SystemClock.uptimeMillis() % 1000))
        }
    }

    override fun onAttachedToWindow() {
        super.onAttachedToWindow()
        refreshCountdown()
    }

    override fun onDetachedFromWindow() {
        removeCallbacks(tick)
        super.onDetachedFromWindow()
    }

    private fun dp(value: Int): Int =
        TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_DIP, value.toFloat(), resources.displayMetrics).toInt()
}
