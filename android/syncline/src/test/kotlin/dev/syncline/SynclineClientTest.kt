// The generated Kotlin bindings and the Flow wrappers on a real JVM (JNA), against the real
// reference server on loopback (its URL in SYNCLINE_SERVER_URL, started with --seed-demo).
package dev.syncline

import dev.syncline.core.LogLevel
import dev.syncline.core.LogSink
import dev.syncline.core.StatusListener
import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.manualAutoSync
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.setLogSink
import dev.syncline.core.types.BannerKind
import dev.syncline.core.types.Config
import dev.syncline.core.types.Conflict
import dev.syncline.core.types.Connectivity
import dev.syncline.core.types.FailureReason
import dev.syncline.core.types.NetworkStatus
import dev.syncline.core.types.NetworkType
import dev.syncline.core.types.Record
import dev.syncline.core.types.Resolution
import dev.syncline.core.types.MutationStage
import dev.syncline.core.types.SyncStatus
import dev.syncline.core.types.SynclineException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.onEach
import kotlinx.coroutines.flow.takeWhile
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.nio.file.Files
import java.time.Duration
import java.util.Locale
import java.util.UUID
import java.util.concurrent.CopyOnWriteArrayList

/** SynclineClient through the generated bindings, syncing with the reference server. */
class SynclineClientTest {
    private val server: String = System.getenv("SYNCLINE_SERVER_URL") ?: error("SYNCLINE_SERVER_URL is not set")
    private val english = BannerText(XmlStrings("values", Locale.ENGLISH))

    /**
     * A config that syncs by itself, with short delays so the test does not wait for defaults, and
     * no sync at open: the tests report connectivity first, as a shell does.
     */
    private fun config(token: String = "demo-alice"): Config {
        val c = defaultConfig(server, token)
        return c.copy(
            auto = c.auto.copy(onStart = false, afterChange = Duration.ofMillis(50), offlineDebounce = Duration.ZERO, periodic = null),
        )
    }

    private fun manual(token: String = "demo-alice"): Config = config(token).copy(auto = manualAutoSync())

    private fun open(name: String, config: Config = config()): SynclineClient {
        val dir = Files.createTempDirectory("syncline-kt")
        return SynclineClient.open(dir.resolve("$name.db").toString(), sampleSchema(), config)
    }

    private fun text(s: String) = Value.Text(s)

    private fun task(key: String, title: String) = Record(
        key = key,
        values = mapOf("project_id" to text("p-harbor"), "title" to text(title), "done" to Value.Boolean(false)),
    )

    private fun newKey() = "t-kt-" + UUID.randomUUID()

    @Test
    fun offlineEditsShowTheBannerAndSyncWhenConnectivityReturns() = runBlocking {
        val phone = open("phone")
        phone.reportConnectivity(Connectivity.offline())
        // Enough changes that the sync takes a while: the listener sees "Syncing…" for sure.
        val keys = (1..200).map { newKey() }
        val receipts = keys.mapIndexed { i, key -> phone.insert("tasks", task(key, "Offline edit $i")) }
        val offline = withTimeout(30_000) {
            phone.bannerFlow().first { it.kind == BannerKind.OFFLINE && it.pending == 200uL }
        }
        assertEquals("You're offline · 200 changes waiting to sync", english.title(offline))
        assertNull("no Retry while offline", english.retryLabel(offline))
        assertEquals(200uL, phone.status().pending)
        assertEquals(NetworkStatus.OFFLINE, phone.networkStatus())
        assertEquals(keys.toSet(), phone.pendingKeys("tasks").toSet())
        assertEquals(MutationStage.Saved, phone.mutationStage(receipts.last().mutationId))

        // The collection must be listening before the network returns: `async` only starts once
        // this coroutine suspends, so without the wait the sync could be under way, or over,
        // before the listener is registered (and its first banner would be "hidden").
        val listening = CompletableDeferred<Unit>()
        val seen = async {
            phone.bannerFlow()
                .onEach { listening.complete(Unit) }
                .takeWhile { !(it.kind == BannerKind.HIDDEN && it.pending == 0uL) }
                .toList()
        }
        withTimeout(30_000) { listening.await() }
        phone.reportConnectivity(Connectivity.online(NetworkType.WIFI))
        val banners = withTimeout(60_000) { seen.await() }
        val syncing = banners.firstOrNull { it.kind == BannerKind.SYNCING } ?: throw AssertionError("no Syncing… in $banners")
        assertEquals("Syncing…", english.title(syncing))
        // The automatic unit is `all`: its progress counts entities, so the second line shows.
        assertEquals("${syncing.entitiesDone} of ${syncing.entitiesTotal}", english.detail(syncing, System.currentTimeMillis()))
        assertEquals(NetworkType.WIFI, phone.networkType())
        assertTrue(phone.pendingKeys("tasks").isEmpty())
        val stage = phone.mutationStage(receipts.last().mutationId)
        assertTrue("the server has it: $stage", stage is MutationStage.Accepted || stage is MutationStage.Seen)

        // Another device of the same user finds the edits on the server.
        val tablet = open("tablet")
        tablet.syncNow("tasks")
        val record = tablet.get("tasks", keys.last())
        assertNotNull(record)
        assertEquals(text("Offline edit 199"), record!!.values["title"])
        phone.close()
        tablet.close()
    }

    @Test
    fun statusStateStartsFromTheCurrentStatusAndFollowsIt() = runBlocking {
        val client = open("state", manual())
        client.reportConnectivity(Connectivity.offline())
        withTimeout(30_000) { client.statusFlow().first { it.network == NetworkStatus.OFFLINE } }
        val scope = CoroutineScope(coroutineContext + Job())
        val state = client.statusState(scope)
        assertEquals("the current status, before any collector ran", NetworkStatus.OFFLINE, state.value.network)
        client.insert("tasks", task(newKey(), "Seen by the StateFlow"))
        withTimeout(30_000) { state.first { it.pending == 1uL } }
        scope.cancel()
        client.close()
    }

    /** Two devices of one user, and a conflict on [key] waiting on [b]: A's title reached the server first. */
    private class Conflicted(val a: SynclineClient, val b: SynclineClient, val key: String, val conflict: Conflict)

    private suspend fun conflicted(): Conflicted {
        val a = open("a", manual())
        val b = open("b", manual())
        val key = newKey()
        a.insert("tasks", task(key, "Original"))
        a.syncNow("tasks")
        b.syncNow("tasks")
        a.update("tasks", Record(key = key, values = mapOf("title" to text("Title from A"))))
        a.syncNow("tasks")
        b.update("tasks", Record(key = key, values = mapOf("title" to text("Title from B"))))
        val report = b.syncNow("tasks")
        assertEquals(1uL, report.entities.single().toInbox)
        return Conflicted(a, b, key, b.conflicts().single())
    }

    /** Resolves the conflict with [resolution], syncs both devices and returns the title A ends with. */
    private suspend fun Conflicted.settle(resolution: Resolution): Value? {
        b.resolve(conflict.id, resolution)
        b.syncNow("tasks")
        a.syncNow("tasks")
        assertTrue(b.conflicts().isEmpty())
        assertEquals(0uL, b.status().conflicts)
        // Both devices end up with the same record.
        assertEquals(a.get("tasks", key)!!.values["title"], b.get("tasks", key)!!.values["title"])
        val title = a.get("tasks", key)!!.values["title"]
        a.close()
        b.close()
        return title
    }

    @Test
    fun aConflictIsSurfacedAndKeepMineWins() = runBlocking {
        val c = conflicted()
        assertEquals(c.key, c.conflict.key)
        assertEquals(listOf("title"), c.conflict.fields)
        assertEquals(text("Title from B"), c.conflict.local!!["title"])
        assertEquals(text("Title from A"), c.conflict.remote!!["title"])
        assertEquals(text("Original"), c.conflict.base["title"])
        assertEquals(1uL, c.b.status().conflicts)
        assertEquals(1uL, c.b.banner().conflicts)
        assertEquals(text("Title from B"), c.settle(Resolution.KeepMine))
    }

    @Test
    fun aConflictResolvedWithKeepTheirsTakesTheServersVersion() = runBlocking {
        assertEquals(text("Title from A"), conflicted().settle(Resolution.KeepTheirs))
    }

    @Test
    fun aConflictResolvedWithAMergeSyncsTheMerge() = runBlocking {
        assertEquals(text("Merged title"), conflicted().settle(Resolution.Merged(mapOf("title" to text("Merged title")))))
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
        client.reportConnectivity(Connectivity.online(NetworkType.ETHERNET))
        val report = client.syncNow("all")
        assertEquals("all", report.unit)
        client.insert("tasks", task(newKey(), "After the throw"))
        client.syncNow("tasks")
        // The core calls listeners on a thread of its own, after the fact: wait for the calls.
        withTimeoutOrNull(30_000) { while (calls.size < 2) delay(10) }
            ?: throw AssertionError("the listener was not called again: ${calls.size} calls")
        handle.stop()
        handle.close()
        client.close()
    }

    @Test
    fun errorsAreTyped() = runBlocking {
        val client = open("errors", manual())
        try {
            client.insert("nope", Record(key = "k", values = emptyMap()))
            fail("an unknown entity must be refused")
        } catch (e: SynclineException.InvalidInput) {
            assertTrue(e.detail, e.detail.contains("nope"))
        }
        val key = newKey()
        client.insert("tasks", task(key, "Once"))
        try {
            client.insert("tasks", task(key, "Twice"))
            fail("a second insert of one key must be refused")
        } catch (e: SynclineException.AlreadyExists) {
            assertEquals("tasks" to key, e.entity to e.key)
        }
        try {
            client.update("tasks", Record(key = "t-missing", values = mapOf("title" to text("Nobody"))))
            fail("an update of a missing record must be refused")
        } catch (e: SynclineException.NotFound) {
            assertEquals("tasks" to "t-missing", e.entity to e.key)
        }
        try {
            client.resolve(-1, Resolution.KeepMine)
            fail("there is no such conflict")
        } catch (e: SynclineException.NoSuchConflict) {
            assertEquals(-1L, e.id)
        }
        client.reportConnectivity(Connectivity.offline())
        try {
            client.syncNow("all")
            fail("offline")
        } catch (e: SynclineException.Offline) {
        }
        val revoked = open("revoked", manual("not-a-token"))
        try {
            revoked.syncNow("all")
            fail("a bad token must be refused")
        } catch (e: SynclineException.SignInNeeded) {
            assertEquals("unauthorized", e.code)
        }
        val banner = revoked.status().banner
        assertEquals(BannerKind.FAILED, banner.kind)
        assertEquals(FailureReason.SignInNeeded, banner.reason)
        assertEquals("Sync failed: sign-in needed", english.title(banner))
        assertEquals("no Retry when the user must sign in", false, banner.canRetry)
        assertNull(english.retryLabel(banner))
        assertNull("no retry planned", english.detail(banner, System.currentTimeMillis()))
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
        val client = open("logged", manual())
        client.syncNow("projects")
        withTimeout(30_000) {
            while (lines.none { it.contains("sync of `projects` done") }) delay(10)
        }
        client.close()
    }
}
