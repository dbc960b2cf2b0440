// Android only: the sync banner as a framework view ("Syncing…", "Sync failed" with Retry and
// its countdown, "You're offline · N changes waiting to sync", and "1 change needs your
// decision" with Review beside any of them), drawn from the core's structured Banner. Framework
// widgets only (no AndroidX), so it runs under Robolectric here.
package dev.syncline.android

import android.animation.ValueAnimator
import android.content.Context
import android.content.res.ColorStateList
import android.graphics.Typeface
import android.graphics.drawable.GradientDrawable
import android.graphics.drawable.InsetDrawable
import android.graphics.drawable.RippleDrawable
import android.os.Handler
import android.os.Looper
import android.os.SystemClock
import android.util.TypedValue
import android.view.View
import android.view.animation.LinearInterpolator
import android.widget.Button
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.TextView
import dev.syncline.BannerText
import dev.syncline.core.ListenerHandle
import dev.syncline.core.StatusListener
import dev.syncline.core.SynclineClient
import dev.syncline.core.types.Banner
import dev.syncline.core.types.BannerKind
import dev.syncline.core.types.FailureReason
import dev.syncline.core.types.SyncStatus

/**
 * Shows the core's [Banner] with [text]'s words in [colors]: the kind's icon (a progress ring
 * while syncing), a title, a detail line (progress, or the retry countdown), the line saying a
 * decision waits whatever the kind (docs/banner-text.md), and its actions: Retry when retrying
 * helps, Review when a decision waits. It is a polite live region whose content description is
 * the whole banner in one sentence, so TalkBack announces going offline and a failure. Call
 * [show] on the main thread with every new banner; the countdown ticks by itself while the view
 * is attached.
 */
class SyncBannerView(
    context: Context,
    private val text: BannerText,
    /** The colours; the app's resources by default (values-night/ in dark mode). */
    private val colors: BannerColors = BannerColors.of(context),
    /** Wall-clock time in ms (the banner's retry time is wall-clock too); tests pass their own. */
    private val now: () -> Long = System::currentTimeMillis,
) : LinearLayout(context) {
    /** Called when the user taps Retry. */
    var onRetry: (() -> Unit)? = null

    /**
     * Called when the user taps Review: open the conflicts, or the quarantined mutations when no
     * conflict waits ([Banner.conflicts], [Banner.quarantined]). Without it, no Review is offered.
     */
    var onReview: ((Banner) -> Unit)? = null
        set(value) {
            field = value
            banner?.let(::show)
        }

    /** The banner shown, or null before the first [show]. */
    var banner: Banner? = null
        private set

    private val icon = ImageView(context)
    private val title = line(sp = 16f, bold = true)
    private val detail = line(sp = 14f)
    private val decisionIcon = ImageView(context)
    private val decision = line(sp = 14f, bold = true)
    private val decisionRow = LinearLayout(context).apply { orientation = HORIZONTAL }
    private val retry = Button(context).apply { setOnClickListener { onRetry?.invoke() } }
    private val review = Button(context).apply { setOnClickListener { banner?.let { b -> onReview?.invoke(b) } } }
    private val actions = ActionRow(context, gap = dp(8))
    private val tick = Runnable { refreshCountdown() }

    /** Turns the indeterminate ring while attached, unless the user turned animations off. */
    private var spinner: ValueAnimator? = null

    init {
        orientation = VERTICAL
        setPadding(dp(16), dp(12), dp(16), dp(8))
        accessibilityLiveRegion = View.ACCESSIBILITY_LIVE_REGION_POLITE
        // One stop for TalkBack: the description says it all; Retry and Review are stops of their own.
        isScreenReaderFocusable = true
        // The icons say again what the words say: TalkBack reads the banner's description.
        icon.importantForAccessibility = IMPORTANT_FOR_ACCESSIBILITY_NO
        decisionIcon.importantForAccessibility = IMPORTANT_FOR_ACCESSIBILITY_NO
        val lines = LinearLayout(context).apply {
            orientation = VERTICAL
            addView(title)
            addView(detail)
        }
        // The icon beside the first line of the title, whatever the font scale makes of it.
        val iconTop = ((title.lineHeight - dp(ICON_DP)) / 2).coerceAtLeast(0)
        addView(
            LinearLayout(context).apply {
                orientation = HORIZONTAL
                addView(icon, LayoutParams(dp(ICON_DP), dp(ICON_DP)).apply { marginEnd = dp(16); topMargin = iconTop })
                addView(lines, LayoutParams(0, LayoutParams.WRAP_CONTENT, 1f))
            },
        )
        val decisionTop = ((decision.lineHeight - dp(ICON_DP)) / 2).coerceAtLeast(0)
        decisionRow.addView(decisionIcon, LayoutParams(dp(ICON_DP), dp(ICON_DP)).apply { marginEnd = dp(16); topMargin = decisionTop })
        decisionRow.addView(decision, LayoutParams(0, LayoutParams.WRAP_CONTENT, 1f))
        addView(decisionRow, LayoutParams(LayoutParams.MATCH_PARENT, LayoutParams.WRAP_CONTENT).apply { topMargin = dp(8) })
        // Review before Retry: the primary action sits at the end of the row.
        actions.addView(review)
        actions.addView(retry)
        addView(actions, LayoutParams(LayoutParams.MATCH_PARENT, LayoutParams.WRAP_CONTENT).apply { topMargin = dp(4) })
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
            stopSpinner()
            return
        }
        visibility = VISIBLE
        val palette = colors.of(banner.kind)
        setBackgroundColor(palette.background)
        title.text = heading
        listOf(title, detail, decision).forEach { it.setTextColor(palette.content) }
        icon.setImageDrawable(
            BannerIcon(glyph(banner), palette.accent, palette.background).apply {
                if (glyph == BannerGlyph.PROGRESS && banner.entitiesTotal > 1u) {
                    progress = banner.entitiesDone.toFloat() / banner.entitiesTotal.toFloat()
                }
            },
        )
        // The decision line beside another kind; for NeedsDecision it is the title already.
        val waiting = text.decision(banner)?.takeIf { banner.kind != BannerKind.NEEDS_DECISION }
        decisionRow.visibility = if (waiting != null) VISIBLE else GONE
        decision.text = waiting ?: ""
        decisionIcon.setImageDrawable(BannerIcon(BannerGlyph.DECISION, palette.accent, palette.background))

        val retryLabel = text.retryLabel(banner)
        val reviewLabel = text.decisionLabel(banner)?.takeIf { onReview != null }
        // One primary action: Retry when offered (the sync is what failed), else Review.
        style(retry, retryLabel, palette, primary = true)
        style(review, reviewLabel, palette, primary = retryLabel == null)
        actions.visibility = if (retryLabel != null || reviewLabel != null) VISIBLE else GONE
        // The buttons' 4 dp inset makes up the rest of the bottom margin.
        setPadding(paddingLeft, paddingTop, paddingRight, dp(if (actions.visibility == VISIBLE) 8 else 12))
        refreshCountdown()
        updateSpinner()
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

    /** Whether the Review button is offered (a decision waits, and [onReview] is set). */
    val reviewOffered: Boolean get() = visibility == VISIBLE && actions.visibility == VISIBLE && review.visibility == VISIBLE

    /** Taps Review as a user would. */
    fun performReviewClick(): Boolean = reviewOffered && review.performClick()

    /** The title shown, or null when hidden. */
    val titleText: String? get() = if (visibility == VISIBLE) title.text.toString() else null

    /** The detail shown, or null when there is none. */
    val detailText: String?
        get() = if (visibility == VISIBLE && detail.visibility == VISIBLE) detail.text.toString() else null

    /** The decision line shown beside another kind's title, or null when there is none. */
    val decisionText: String?
        get() = if (visibility == VISIBLE && decisionRow.visibility == VISIBLE) decision.text.toString() else null

    /** The icon shown, or null when hidden. */
    val glyph: BannerGlyph? get() = if (visibility == VISIBLE) (icon.drawable as? BannerIcon)?.glyph else null

    private fun glyph(banner: Banner): BannerGlyph = when (banner.kind) {
        BannerKind.SYNCING, BannerKind.HIDDEN -> BannerGlyph.PROGRESS
        BannerKind.FAILED -> if (banner.reason == FailureReason.SignInNeeded) BannerGlyph.SIGN_IN else BannerGlyph.ERROR
        BannerKind.OFFLINE -> BannerGlyph.OFFLINE
        BannerKind.NEEDS_DECISION -> BannerGlyph.DECISION
    }

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

    /** Turns the ring while an indeterminate sync shows and the view is attached. */
    private fun updateSpinner() {
        val ring = (icon.drawable as? BannerIcon)?.takeIf { it.glyph == BannerGlyph.PROGRESS && it.progress == null }
        if (ring == null || !isAttachedToWindow || visibility != VISIBLE || !ValueAnimator.areAnimatorsEnabled()) {
            stopSpinner()
            return
        }
        val turning = spinner ?: ValueAnimator.ofFloat(0f, 360f).apply {
            duration = 1000
            repeatCount = ValueAnimator.INFINITE
            interpolator = LinearInterpolator()
            start()
        }.also { spinner = it }
        turning.removeAllUpdateListeners()
        turning.addUpdateListener { ring.rotation = it.animatedValue as Float }
    }

    private fun stopSpinner() {
        spinner?.cancel()
        spinner = null
    }

    override fun onAttachedToWindow() {
        super.onAttachedToWindow()
        refreshCountdown()
        updateSpinner()
    }

    override fun onDetachedFromWindow() {
        removeCallbacks(tick)
        stopSpinner()
        super.onDetachedFromWindow()
    }

    /** [button] labelled [label] (hidden without one), filled in the accent when [primary], else outlined. */
    private fun style(button: Button, label: String?, palette: BannerPalette, primary: Boolean) {
        button.visibility = if (label != null) VISIBLE else GONE
        button.text = label ?: ""
        button.isAllCaps = false
        button.stateListAnimator = null
        button.setTextSize(TypedValue.COMPLEX_UNIT_SP, 14f)
        button.setTypeface(Typeface.create("sans-serif-medium", Typeface.NORMAL))
        button.setTextColor(if (primary) palette.background else palette.accent)
        button.minHeight = dp(48)
        button.minimumHeight = dp(48)
        button.minWidth = dp(64)
        button.minimumWidth = dp(64)
        // A 40 dp pill inside the 48 dp tap target, with the platform's ripple on touch.
        val shape = GradientDrawable().apply {
            cornerRadius = dp(20).toFloat()
            if (primary) setColor(palette.accent) else setStroke(dp(1), palette.accent)
        }
        val ripple = ColorStateList.valueOf((if (primary) palette.background else palette.accent) and 0x33FFFFFF)
        button.background = InsetDrawable(RippleDrawable(ripple, shape, null), 0, dp(4), 0, dp(4))
        // After the background, which brings its own padding.
        button.setPadding(dp(20), dp(12), dp(20), dp(12))
    }

    private fun line(sp: Float, bold: Boolean = false) = TextView(context).apply {
        setTextSize(TypedValue.COMPLEX_UNIT_SP, sp)
        if (bold) setTypeface(typeface, Typeface.BOLD)
    }

    private fun dp(value: Int): Int =
        TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_DIP, value.toFloat(), resources.displayMetrics).toInt()

    private companion object {
        const val ICON_DP = 24
    }
}
