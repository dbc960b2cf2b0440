// The generated Kotlin bindings and the Flow wrappers on a real JVM (JNA), against the real
// reference server on loopback (its URL in SYNCLINE_SERVER_URL, started with --seed-demo).
package dev.syncline

import dev.syncline.core.BannerKind
import dev.syncline.core.ClientConfig
import dev.syncline.core.FieldValue
import dev.syncline.core.LogLevel
import dev.syncline.core.LogSink
import dev.syncline.core.NetworkType
import dev.syncline.core.Resolution
import dev.syncline.core.StatusListener
import dev.syncline.core.SyncStatus
import dev.syncline.core.SynclineClient
import dev.syncline.core.SynclineException
import dev.syncline.core.bannerDetail
import dev.syncline.core.defaultConfig
import dev.syncline.core.sampleSchema
import dev.syncline.core.setLogSink
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.takeWhile
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.nio.file.Files
import java.util.UUID
import java.util.concurrent.CopyOnWriteArrayList

class SynclineClientTest {
    private val server: String = System.getenv("SYNCLINE_SERVER_URL") ?: error("SYNCLINE_SERVER_URL is not set")

    /**
     * A config that syncs by itself, with short delays so the test does not wait for defaults, and
     * no sync at open: the tests report connectivity first, as a shell does.
     */
    private fun config(token: String = "demo-alice"): ClientConfig {
        val c = defaultConfig(server, token)
        return c.copy(
            autoSync = c.autoSync.copy(onStart = false, afterChangeMs = 50u, offlineDebounceMs = 0u, periodicMs = null),
        )
    }

    private fun open(name: String, config: ClientConfig = config()): SynclineClient {
        val dir = Files.createTempDirectory("syncline-kt")
        return SynclineClient.open(dir.resolve("$name.db").toString(), sampleSchema(), config)
    }

    private fun text(s: String) = FieldValue.Text(s)

    private fun task(title: String) = mapOf(
        "project_id" to text("p-harbor"),
        "title" to text(title),
        "done" to FieldValue.Boolean(false),
    )

    private fun newKey() = "t-kt-" + UUID.randomUUID()

    @Test
    fun offlineEditsShowTheBannerAndSyncWhenConnectivityReturns() = runBlocking {
        val phone = open("phone")
        phone.reportConnectivity(false, NetworkType.NONE, false)
        // Enough changes that the sync takes a while: the listener sees "Syncing…" for sure.
        val keys = (1..200).map { newKey() }
        keys.forEachIndexed { i, key -> phone.insert("tasks", key, task("Offline edit $i")) }
        val offline = withTimeout(30_000) {
            phone.bannerFlow().first { it.kind == BannerKind.OFFLINE && it.title?.contains("200 changes") == true }
        }
        assertEquals("You're offline · 200 changes waiting to sync", offline.title)
        assertEquals(200uL, phone.status().pending)

        val seen = async {
            phone.bannerFlow().takeWhile { !(it.kind == BannerKind.HIDDEN && phone.status().pending == 0uL) }.toList()
        }
        phone.reportConnectivity(true, NetworkType.WIFI, false)
        val banners = withTimeout(60_000) { seen.await() }
        assertTrue("saw Syncing… in $banners", banners.any { it.kind == BannerKind.SYNCING && it.title == "Syncing…" })
        assertEquals(NetworkType.WIFI, phone.networkType())

        // Another device of the same user finds the edits on the server.
        val tablet = open("tablet")
        tablet.syncNow("tasks")
        val record = tablet.get("tasks", keys.last())
        assertNotNull(record)
        assertEquals(text("Offline edit 199"), record!!.fields["title"])
        phone.close()
        tablet.close()
    }

    @Test
    fun aConflictIsSurfacedAndResolved() = runBlocking {
        val manual = config().let { it.copy(autoSync = dev.syncline.core.manualAutoSync()) }
        val a = open("a", manual)
        val b = open("b", manual)
        val key = newKey()
        a.insert("tasks", key, task("Original"))
        a.syncNow("tasks")
        b.syncNow("tasks")
        a.update("tasks", key, mapOf("title" to text("Title from A")))
        a.syncNow("tasks")
        b.update("tasks", key, mapOf("title" to text("Title from B")))
        val report = b.syncNow("tasks")
        assertEquals(1uL, report.entities.single().toInbox)
        val conflict = b.conflicts().single()
        assertEquals(listOf("title"), conflict.fields)
        assertEquals(text("Title from B"), conflict.local!!["title"])
        assertEquals(text("Title from A"), conflict.remote!!["title"])
        assertEquals(text("Original"), conflict.base["title"])
        assertEquals(1uL, b.status().conflicts)
        b.resolve(conflict.id, Resolution.KeepMine)
        b.syncNow("tasks")
        a.syncNow("tasks")
        assertEquals(text("Title from B"), a.get("tasks", key)!!.fields["title"])
        assertTrue(b.conflicts().isEmpty())
        a.close()
        b.close()
    }

    @Test
    fun aThrowingListenerDoesNotCrashTheCore() = runBlocking {
        val client = open("throwing")
        val calls = CopyOnWriteArrayList<SyncStatus>()
        val handle = client.listen(object : StatusListener {
            override fun onStatus(status: SyncStatus) {
                calls.add(status)
                throw IllegalStateException("a bug in the app's listener")
            }
        })
        client.reportConnectivity(true, NetworkType.ETHERNET, false)
        val report = client.syncNow("all")
        assertEquals("all", report.unit)
        client.insert("tasks", newKey(), task("After the throw"))
        client.syncNow("tasks")
        assertTrue("the listener kept being called: ${calls.size}", calls.size >= 2)
        handle.stop()
        handle.close()
        client.close()
    }

    @Test
    fun errorsAreTyped() = runBlocking {
        val client = open("errors", config().copy(autoSync = dev.syncline.core.manualAutoSync()))
        try {
            client.insert("nope", "k", emptyMap())
            fail("an unknown entity must be refused")
        } catch (e: SynclineException.InvalidInput) {
            assertTrue(e.message!!, e.message!!.contains("nope"))
        }
        client.reportConnectivity(false, NetworkType.NONE, false)
        try {
            client.syncNow("all")
            fail("offline")
        } catch (e: SynclineException.Offline) {
        }
        val revoked = open("revoked", config("not-a-token").copy(autoSync = dev.syncline.core.manualAutoSync()))
        try {
            revoked.syncNow("all")
            fail("a bad token must be refused")
        } catch (e: SynclineException.SignInNeeded) {
            assertEquals("unauthorized", e.code)
        }
        val banner = revoked.status().banner
        assertEquals(BannerKind.FAILED, banner.kind)
        assertEquals("Sync failed: sign-in needed", banner.title)
        assertTrue("no Retry when the user must sign in", !banner.showRetry)
        assertNull(bannerDetail(banner, System.currentTimeMillis()))
        client.close()
        revoked.close()
    }

    @Test
    fun theCoreLogReachesTheHostSink() = runBlocking {
        val lines = CopyOnWriteArrayList<String>()
        setLogSink(object : LogSink {
            override fun log(level: LogLevel, target: String, message: String) {
                lines.add("$level $target $message")
            }
        }, LogLevel.INFO)
        val client = open("logged", config().copy(autoSync = dev.syncline.core.manualAutoSync()))
        client.syncNow("projects")
        withTimeout(30_000) {
            while (lines.none { it.contains("sync of `projects` done") }) kotlinx.coroutines.delay(10)
        }
        client.close()
    }
}
