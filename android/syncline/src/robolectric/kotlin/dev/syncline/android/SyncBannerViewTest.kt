// The banner view under Robolectric: the real Android framework draws it in every state, in
// English and German, light and dark, at font scale 2.0; its layout holds at 1.3 and 2.0, its
// accessibility and its Retry and Review wiring are checked.
package dev.syncline.android

import android.app.Activity
import android.view.View
import android.view.ViewGroup
import dev.syncline.BannerText
import dev.syncline.XmlStrings
import dev.syncline.core.types.Banner
import dev.syncline.core.types.BannerKind
import dev.syncline.core.types.FailureReason
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.annotation.Config
import org.robolectric.annotation.GraphicsMode
import java.util.Locale

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], qualifiers = "w411dp-h891dp-xxhdpi")
@GraphicsMode(GraphicsMode.Mode.NATIVE)
class SyncBannerViewTest {
    private val now = 1_767_225_600_000L
    private val english = BannerText(XmlStrings("values", Locale.ENGLISH))
    private val german = BannerText(XmlStrings("values-de", Locale.GERMAN))
    private val light = BannerColors.from(XmlColors(night = false))

    private fun banner(
        kind: BannerKind,
        pending: ULong = 0uL,
        conflicts: ULong = 0uL,
        quarantined: ULong = 0uL,
        done: UInt = 0u,
        total: UInt = 0u,
        reason: FailureReason? = null,
        retryAt: Long? = null,
        canRetry: Boolean = false,
    ) = Banner(kind, pending, conflicts, quarantined, done, total, reason, retryAt, canRetry)

    /** Every state the screenshots show, by name. */
    private val states = listOf(
        "syncing" to banner(BannerKind.SYNCING, done = 1u, total = 3u),
        "failed-retry" to banner(BannerKind.FAILED, reason = FailureReason.Unreachable, retryAt = now + 12_000, canRetry = true),
        "offline-pending" to banner(BannerKind.OFFLINE, pending = 3uL),
        "sign-in-needed" to banner(BannerKind.FAILED, reason = FailureReason.SignInNeeded),
        "decision" to banner(BannerKind.NEEDS_DECISION, conflicts = 1uL),
        // The decision beside another kind: both lines, both actions.
        "failed-decision" to banner(
            BannerKind.FAILED, conflicts = 1uL, quarantined = 1uL, reason = FailureReason.Unreachable, retryAt = now + 12_000, canRetry = true,
        ),
    )

    /** The languages and modes every banner is drawn in. */
    private val variants = listOf(Variant("en", false), Variant("en", true), Variant("de", false), Variant("de", true))

    private data class Variant(val language: String, val night: Boolean) {
        val name: String get() = "$language-${if (night) "dark" else "light"}"
    }

    private fun view(text: BannerText = english): SyncBannerView {
        val activity = Robolectric.buildActivity(Activity::class.java).setup().get()
        return SyncBannerView(activity, text, light) { now }
    }

    /** An activity in [variant]'s language and mode at [fontScale], and banners made in it. */
    private fun banners(variant: Variant, fontScale: Float): (Banner) -> SyncBannerView {
        RuntimeEnvironment.setQualifiers("+${variant.language}-${if (variant.night) "night" else "notnight"}")
        RuntimeEnvironment.setFontScale(fontScale)
        val activity = Robolectric.buildActivity(Activity::class.java).setup().get()
        val words = BannerText(if (variant.language == "de") XmlStrings("values-de", Locale.GERMAN) else XmlStrings("values", Locale.ENGLISH))
        val colors = BannerColors.from(XmlColors(XmlColors.isNight(activity)))
        return { banner ->
            SyncBannerView(activity, words, colors) { now }.apply {
                onReview = {}
                show(banner)
            }
        }
    }

    @Test
    fun everyStateInEnglishAndGermanLightAndDarkAtFontScaleTwo() {
        for (variant in variants) {
            val make = banners(variant, 2f)
            for ((name, banner) in states) {
                val v = make(banner)
                val what = "banner-$name-${variant.name}"
                Checks.layout(what, v)
                Checks.accessibility(what, v)
                Screenshots.check(what, v)
            }
        }
    }

    @Test
    fun everyStateHoldsAtFontScaleOnePointThree() {
        for (variant in variants.filter { !it.night }) {
            val make = banners(variant, 1.3f)
            for ((name, banner) in states) {
                val v = make(banner)
                Checks.layout("$name, ${variant.name}, 1.3", v)
                Checks.accessibility("$name, ${variant.name}, 1.3", v)
            }
        }
    }

    @Test
    fun offlineWithPendingChangesIsAnnouncedWithTheCount() {
        val v = view()
        v.show(banner(BannerKind.OFFLINE, pending = 3uL))
        assertEquals(View.VISIBLE, v.visibility)
        assertEquals("You're offline · 3 changes waiting to sync", v.titleText)
        assertNull(v.detailText)
        assertNull(v.decisionText)
        assertEquals(BannerGlyph.OFFLINE, v.glyph)
        assertFalse("no Retry while offline", v.retryOffered)
        assertEquals(View.ACCESSIBILITY_LIVE_REGION_POLITE, v.accessibilityLiveRegion)
        assertEquals("You're offline, 3 changes waiting to sync", v.contentDescription)
    }

    @Test
    fun syncingShowsItsProgressAsARingAndNoRetry() {
        val v = view()
        v.show(banner(BannerKind.SYNCING, done = 1u, total = 3u))
        assertEquals("Syncing…", v.titleText)
        assertEquals("1 of 3", v.detailText)
        assertEquals(BannerGlyph.PROGRESS, v.glyph)
        assertFalse(v.retryOffered)
        assertEquals("Syncing… 1 of 3", v.contentDescription)
    }

    @Test
    fun theTextStartsWhereTheDrawnIconEnds() {
        // "Syncing…" was once indented for a progress bar the framework never drew.
        for ((name, banner) in states) {
            val v = view()
            v.show(banner)
            Screenshots.layOut(v)
            val icon = find(v) { it is android.widget.ImageView && it.visibility == View.VISIBLE }!!
            assertTrue("$name: the icon has a drawable", (icon as android.widget.ImageView).drawable is BannerIcon)
            assertTrue("$name: and is drawn", icon.width > 0 && icon.height > 0)
            val title = find(v) { it is android.widget.TextView && it.text.toString() == v.titleText }!!
            val gap = leftIn(v, title) - (leftIn(v, icon) + icon.width)
            assertEquals("$name: 16 dp between the icon and the text", (16 * v.resources.displayMetrics.density).toInt(), gap)
        }
    }

    @Test
    fun aFailureOffersRetryWithACountdownAndRetryCallsBack() {
        val v = view()
        v.show(
            banner(BannerKind.FAILED, reason = FailureReason.Unreachable, retryAt = now + 12_000, canRetry = true),
        )
        assertEquals("Sync failed: server unreachable", v.titleText)
        assertEquals("Retrying in 12 s", v.detailText)
        assertEquals(BannerGlyph.ERROR, v.glyph)
        assertTrue(v.retryOffered)
        var taps = 0
        v.onRetry = { taps++ }
        assertTrue(v.performRetryClick())
        assertEquals(1, taps)
        assertEquals("Sync failed: server unreachable. Retrying in 12 s", v.contentDescription)
    }

    @Test
    fun signInNeededOffersNoRetry() {
        val v = view()
        v.show(banner(BannerKind.FAILED, reason = FailureReason.SignInNeeded, canRetry = false))
        assertTrue(v.titleText!!.startsWith("Sync failed"))
        assertEquals(BannerGlyph.SIGN_IN, v.glyph)
        assertFalse("retrying cannot help: the user must sign in", v.retryOffered)
        assertFalse(v.performRetryClick())
    }

    @Test
    fun aDecisionWaitingIsTheTitleAndReviewOpensIt() {
        val v = view()
        val seen = mutableListOf<Banner>()
        v.onReview = { seen += it }
        val waiting = banner(BannerKind.NEEDS_DECISION, quarantined = 2uL)
        v.show(waiting)
        assertEquals("2 changes need your decision", v.titleText)
        assertNull("the title says it already", v.decisionText)
        assertEquals(BannerGlyph.DECISION, v.glyph)
        assertTrue(v.reviewOffered)
        assertTrue(v.performReviewClick())
        assertEquals(listOf(waiting), seen)
        assertEquals("2 changes need your decision", v.contentDescription)
    }

    @Test
    fun aDecisionWaitingIsSaidBesideAnyOtherKind() {
        val v = view()
        v.onReview = {}
        for (kind in listOf(BannerKind.SYNCING, BannerKind.FAILED, BannerKind.OFFLINE)) {
            v.show(banner(kind, conflicts = 1uL, reason = FailureReason.Timeout))
            assertEquals("$kind", "1 change needs your decision", v.decisionText)
            assertTrue("$kind: Review", v.reviewOffered)
            assertTrue("$kind: said to TalkBack", v.contentDescription.endsWith("1 change needs your decision"))
        }
    }

    @Test
    fun withoutAnActionForReviewNoneIsOffered() {
        val v = view()
        v.show(banner(BannerKind.NEEDS_DECISION, conflicts = 1uL))
        assertFalse(v.reviewOffered)
        assertFalse(v.performReviewClick())
        // Set later, it shows at once.
        v.onReview = {}
        assertTrue(v.reviewOffered)
    }

    @Test
    fun upToDateHidesTheBanner() {
        val v = view()
        v.show(banner(BannerKind.OFFLINE, pending = 1uL))
        v.show(banner(BannerKind.HIDDEN))
        assertEquals(View.GONE, v.visibility)
        assertNull(v.titleText)
        assertNull(v.contentDescription)
    }

    @Test
    fun theBannerSpeaksGerman() {
        val v = view(german)
        v.onReview = {}
        v.show(banner(BannerKind.OFFLINE, pending = 2uL))
        assertEquals("Du bist offline · 2 Änderungen warten auf Synchronisierung", v.titleText)
        v.show(banner(BannerKind.FAILED, conflicts = 1uL, reason = FailureReason.Unreachable, retryAt = now + 5_000, canRetry = true))
        assertEquals("Neuer Versuch in 5 s", v.detailText)
        assertEquals("1 Änderung braucht deine Entscheidung", v.decisionText)
    }

    private fun find(root: View, match: (View) -> Boolean): View? {
        if (match(root)) return root
        if (root is ViewGroup) for (i in 0 until root.childCount) find(root.getChildAt(i), match)?.let { return it }
        return null
    }

    private fun leftIn(root: View, view: View): Int {
        var x = 0
        var v: View = view
        while (v !== root) {
            x += v.left
            v = v.parent as View
        }
        return x
    }
}
