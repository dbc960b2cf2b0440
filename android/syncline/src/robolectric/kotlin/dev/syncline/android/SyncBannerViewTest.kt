// The banner view under Robolectric: the real Android framework draws it in every state, in
// English and German, and its accessibility and Retry wiring are checked.
package dev.syncline.android

import android.app.Activity
import android.view.View
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

    private fun banner(
        kind: BannerKind,
        pending: ULong = 0uL,
        done: UInt = 0u,
        total: UInt = 0u,
        reason: FailureReason? = null,
        retryAt: Long? = null,
        canRetry: Boolean = false,
    ) = Banner(kind, pending, 0uL, 0uL, done, total, reason, retryAt, canRetry)

    private fun view(text: BannerText = english): SyncBannerView {
        val activity = Robolectric.buildActivity(Activity::class.java).setup().get()
        return SyncBannerView(activity, text) { now }
    }

    @Test
    fun offlineWithPendingChangesIsAnnouncedWithTheCount() {
        val v = view()
        v.show(banner(BannerKind.OFFLINE, pending = 3uL))
        assertEquals(View.VISIBLE, v.visibility)
        assertEquals("You're offline · 3 changes waiting to sync", v.titleText)
        assertNull(v.detailText)
        assertFalse("no Retry while offline", v.retryOffered)
        assertEquals(View.ACCESSIBILITY_LIVE_REGION_POLITE, v.accessibilityLiveRegion)
        assertEquals("You're offline, 3 changes waiting to sync", v.contentDescription)
        Screenshots.check("banner-offline-pending", v)
    }

    @Test
    fun syncingShowsProgressAndNoRetry() {
        val v = view()
        v.show(banner(BannerKind.SYNCING, done = 1u, total = 3u))
        assertEquals("Syncing…", v.titleText)
        assertEquals("1 of 3", v.detailText)
        assertFalse(v.retryOffered)
        Screenshots.check("banner-syncing", v)
    }

    @Test
    fun aFailureOffersRetryWithACountdownAndRetryCallsBack() {
        val v = view()
        v.show(
            banner(BannerKind.FAILED, reason = FailureReason.Unreachable, retryAt = now + 12_000, canRetry = true),
        )
        assertEquals("Sync failed: server unreachable", v.titleText)
        assertEquals("Retrying in 12 s", v.detailText)
        assertTrue(v.retryOffered)
        var taps = 0
        v.onRetry = { taps++ }
        assertTrue(v.performRetryClick())
        assertEquals(1, taps)
        assertEquals("Sync failed: server unreachable. Retrying in 12 s", v.contentDescription)
        Screenshots.check("banner-failed-retry", v)
    }

    @Test
    fun signInNeededOffersNoRetry() {
        val v = view()
        v.show(banner(BannerKind.FAILED, reason = FailureReason.SignInNeeded, canRetry = false))
        assertTrue(v.titleText!!.startsWith("Sync failed"))
        assertFalse("retrying cannot help: the user must sign in", v.retryOffered)
        assertFalse(v.performRetryClick())
        Screenshots.check("banner-sign-in-needed", v)
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
        v.show(banner(BannerKind.OFFLINE, pending = 2uL))
        assertEquals("Du bist offline · 2 Änderungen warten auf Synchronisierung", v.titleText)
        v.show(banner(BannerKind.FAILED, reason = FailureReason.Unreachable, retryAt = now + 5_000, canRetry = true))
        assertEquals("Neuer Versuch in 5 s", v.detailText)
        Screenshots.check("banner-failed-retry-de", v)
    }
}
