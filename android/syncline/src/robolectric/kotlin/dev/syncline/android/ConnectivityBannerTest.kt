// The shell's pieces together under Robolectric, on the real core against the real server: the
// OS's connectivity callbacks (ShadowConnectivityManager) feed NetworkMonitor, which feeds the
// core, whose banner SyncBannerView follows on the main thread.
package dev.syncline.android

import android.app.Activity
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import android.os.Looper
import dev.syncline.BannerText
import dev.syncline.XmlStrings
import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.BannerKind
import dev.syncline.core.types.Config
import dev.syncline.core.types.Record
import dev.syncline.core.protocol.Value
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config as RobolectricConfig
import org.robolectric.annotation.GraphicsMode
import org.robolectric.shadows.ShadowNetwork
import org.robolectric.shadows.ShadowNetworkCapabilities
import java.nio.file.Files
import java.time.Duration
import java.util.Locale
import java.util.UUID

@RunWith(RobolectricTestRunner::class)
@RobolectricConfig(sdk = [35], qualifiers = "w411dp-h891dp-xxhdpi")
@GraphicsMode(GraphicsMode.Mode.NATIVE)
class ConnectivityBannerTest {
    private val server: String = System.getenv("SYNCLINE_SERVER_URL") ?: error("SYNCLINE_SERVER_URL is not set")
    private val english = BannerText(XmlStrings("values", Locale.ENGLISH))
    private val colors = BannerColors.from(XmlColors(night = false))
    private val opened = mutableListOf<AutoCloseable>()

    @After
    fun close() = opened.reversed().forEach { it.close() }

    private fun config(token: String = "demo-alice", url: String = server): Config {
        val c = defaultConfig(url, token)
        return c.copy(
            auto = c.auto.copy(onStart = false, afterChange = Duration.ofMillis(50), offlineDebounce = Duration.ZERO, periodic = null),
        )
    }

    private fun open(name: String, config: Config = config()): SynclineClient {
        val dir = Files.createTempDirectory("syncline-robolectric")
        return SynclineClient.open(dir.resolve("$name.db").toString(), sampleSchema(), config).also { opened += it }
    }

    private fun task(key: String, title: String) = Record(
        key = key,
        values = mapOf("project_id" to Value.Text("p-harbor"), "title" to Value.Text(title), "done" to Value.Boolean(false)),
    )


    /**
     * Whether [detail] is the retry countdown. The first probe of an unreachable server comes
     * after a random delay of up to 2 s (full jitter, possibly a few ms), so by the time the view
     * shows the banner the countdown may already be at "Retrying now".
     */
    private fun countsDown(detail: String?): Boolean =
        detail != null && Regex("Retrying in \\d+ s|Retrying now").matches(detail)

    private fun wifi(validated: Boolean): NetworkCapabilities {
        val caps = ShadowNetworkCapabilities.newInstance()
        shadowOf(caps).addTransportType(NetworkCapabilities.TRANSPORT_WIFI)
        shadowOf(caps).addCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET)
        if (validated) shadowOf(caps).addCapability(NetworkCapabilities.NET_CAPABILITY_VALIDATED)
        return caps
    }

    @Test
    fun losingTheNetworkShowsOfflineWithTheCountAndGettingItBackSyncsTheEdits() {
        val activity = Robolectric.buildActivity(Activity::class.java).setup().get()
        val phone = open("phone")
        val banner = SyncBannerView(activity, english, colors)
        activity.setContentView(banner)
        opened += banner.follow(phone)
        val monitor = NetworkMonitor(activity, phone)
        monitor.start()
        opened += AutoCloseable { monitor.stop() }
        val connectivity = shadowOf(activity.getSystemService(ConnectivityManager::class.java))
        val network: Network = ShadowNetwork.newInstance(100)
        val callbacks = { connectivity.networkCallbacks.toList() }
        assertTrue("NetworkMonitor registered its callback", callbacks().isNotEmpty())

        // The OS says the network is gone; the user edits two tasks.
        callbacks().forEach { it.onLost(network) }
        val keys = (1..2).map { "t-robo-" + UUID.randomUUID() }
        keys.forEachIndexed { i, key -> phone.insert("tasks", task(key, "Offline edit $i")) }
        until("the offline banner") { banner.titleText == "You're offline · 2 changes waiting to sync" }
        assertFalse("no Retry while offline", banner.retryOffered)
        Screenshots.check("connectivity-offline-pending", banner)

        // A captive portal: a Wi-Fi network that is not validated counts as offline.
        callbacks().forEach { it.onCapabilitiesChanged(network, wifi(validated = false)) }
        Thread.sleep(200)
        shadowOf(Looper.getMainLooper()).idle()
        assertEquals("still offline behind a captive portal", BannerKind.OFFLINE, banner.banner?.kind)
        assertEquals(2uL, phone.status().pending)

        // The network is back: the core syncs by itself and the banner goes away.
        callbacks().forEach { it.onCapabilitiesChanged(network, wifi(validated = true)) }
        until("the banner to hide after the sync") { banner.banner?.kind == BannerKind.HIDDEN && phone.status().pending == 0uL }
        assertEquals(android.view.View.GONE, banner.visibility)

        // Another device of the same user finds the edits on the server.
        val tablet = open("tablet", config().copy(auto = config().auto.copy(afterChange = null)))
        runBlocking { tablet.syncNow("tasks") }
        val record = tablet.get("tasks", keys.last())
        assertNotNull(record)
        assertEquals(Value.Text("Offline edit 1"), record!!.values["title"])
    }

    @Test
    fun anUnreachableServerShowsRetryWhichTheUserCanTap() {
        val activity = Robolectric.buildActivity(Activity::class.java).setup().get()
        // Nothing listens on port 9 of loopback: every sync fails as unreachable.
        val phone = open("unreachable", config(url = "http://127.0.0.1:9"))
        val banner = SyncBannerView(activity, english, colors)
        activity.setContentView(banner)
        opened += banner.follow(phone)
        phone.insert("tasks", task("t-robo-" + UUID.randomUUID(), "Waiting"))
        until("the failed banner") { banner.banner?.kind == BannerKind.FAILED }
        assertEquals("Sync failed: server unreachable", banner.titleText)
        assertTrue("Retry is offered", banner.retryOffered)
        assertTrue("with a countdown: ${banner.detailText}", countsDown(banner.detailText))
        // Tapping Retry syncs at once: it fails again, with the next retry scheduled anew.
        val scheduled = banner.banner?.nextRetryAt
        assertTrue(banner.performRetryClick())
        until("the retry to run and fail again") {
            banner.banner?.kind == BannerKind.FAILED && banner.banner?.nextRetryAt != scheduled
        }
    }
    @Test
    fun aStoppedServerShowsRetryAndTappingItOnceTheServerIsBackSyncs() {
        val activity = Robolectric.buildActivity(Activity::class.java).setup().get()
        val proxy = StoppableProxy(server).also { opened += it }
        val phone = open("stopped", config(url = proxy.url))
        val banner = SyncBannerView(activity, english, colors)
        activity.setContentView(banner)
        opened += banner.follow(phone)
        proxy.stop()
        val key = "t-robo-" + UUID.randomUUID()
        phone.insert("tasks", task(key, "Made while the server was down"))
        until("the failed banner") { banner.banner?.kind == BannerKind.FAILED }
        assertTrue("Retry is offered", banner.retryOffered)
        assertTrue("with a countdown: ${banner.detailText}", countsDown(banner.detailText))

        proxy.start()
        assertTrue(banner.performRetryClick())
        until("the sync to succeed and the banner to hide") {
            banner.banner?.kind == BannerKind.HIDDEN && phone.status().pending == 0uL
        }
        val tablet = open("tablet-after-outage", config().copy(auto = config().auto.copy(afterChange = null)))
        runBlocking { tablet.syncNow("tasks") }
        assertEquals(Value.Text("Made while the server was down"), tablet.get("tasks", key)?.values?.get("title"))
    }

    @Test
    fun aTokenTheServerRefusesNeedsSignInAndOffersNoRetry() {
        val activity = Robolectric.buildActivity(Activity::class.java).setup().get()
        // The server answers a revoked token and an unknown one alike (401 `unauthorized`,
        // server/tests/auth.rs); this shell test cannot revoke on the shared server, so it uses
        // a token the server never issued.
        val phone = open("revoked", config(token = "not-a-token-the-server-knows"))
        val banner = SyncBannerView(activity, english, colors)
        activity.setContentView(banner)
        opened += banner.follow(phone)
        phone.insert("tasks", task("t-robo-" + UUID.randomUUID(), "Never reaches the server"))
        until("sign-in needed") { banner.banner?.kind == BannerKind.FAILED }
        assertEquals("Sync failed: sign-in needed", banner.titleText)
        assertFalse("retrying cannot help before signing in", banner.retryOffered)
        assertEquals(1uL, phone.status().pending)
    }
}
