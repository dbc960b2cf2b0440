// Live queries through the generated bindings and the Flow wrappers, on a real JVM (JNA), against
// the real reference server on loopback (SYNCLINE_SERVER_URL, started with --seed-demo: alice and
// bob share p-harbor, p-ridge is carol's alone).
package dev.syncline

import dev.syncline.core.ConflictListener
import dev.syncline.core.PageListener
import dev.syncline.core.QuarantineListener
import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.manualAutoSync
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.Config
import dev.syncline.core.types.Conflict
import dev.syncline.core.types.Filter
import dev.syncline.core.types.Page
import dev.syncline.core.types.QuarantinedMutation
import dev.syncline.core.types.Query
import dev.syncline.core.types.Record
import dev.syncline.core.types.RecordState
import dev.syncline.core.types.Resolution
import dev.syncline.core.types.SynclineException
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
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
import java.util.UUID
import java.util.concurrent.CopyOnWriteArrayList

/** watchFlow and watchRecordFlow, and the core's watch under them, with real syncs. */
class WatchFlowTest {
    private val server: String = System.getenv("SYNCLINE_SERVER_URL") ?: error("SYNCLINE_SERVER_URL is not set")

    /** Syncs only when a test asks: every page a test waits for follows from a step it took. */
    private fun manual(token: String): Config = defaultConfig(server, token).copy(auto = manualAutoSync())

    private fun open(name: String, token: String = "demo-alice"): SynclineClient {
        val dir = Files.createTempDirectory("syncline-kt-watch")
        return SynclineClient.open(dir.resolve("$name.db").toString(), sampleSchema(), manual(token))
    }

    private fun text(s: String) = Value.Text(s)

    private fun task(key: String, title: String, project: String = "p-harbor") = Record(
        key = key,
        values = mapOf("project_id" to text(project), "title" to text(title), "done" to Value.Boolean(false)),
    )

    /** A fresh key per test: the server is shared by every test of the run. */
    private fun newKey() = "t-kt-watch-" + UUID.randomUUID()

    /** The page of the one task with [key] (the sample tasks' key field is `id`). */
    private fun byKey(key: String) = Query(filters = listOf(Filter("id", text(key))), sort = emptyList(), limit = 10u, offset = 0u)

    private fun Page.only(key: String): Record? = records.singleOrNull { it.key == key }

    private fun Record.title(): Value? = values["title"]

    /** A PageListener that keeps what it was called with. */
    private class Pages : PageListener {
        val pages = CopyOnWriteArrayList<Page>()
        val errors = CopyOnWriteArrayList<SynclineException>()

        override fun onPage(page: Page) {
            pages.add(page)
        }

        override fun onError(error: SynclineException) {
            errors.add(error)
        }

        suspend fun until(what: String, predicate: (Page) -> Boolean) {
            withTimeoutOrNull(30_000) {
                while (pages.lastOrNull()?.let(predicate) != true) delay(10)
            } ?: throw AssertionError("no $what within 30 s; pages: $pages, errors: $errors")
        }
    }

    /** Keeps the lists a conflict or quarantine watch delivered, in order. */
    private class Lists<T> {
        val lists = CopyOnWriteArrayList<List<T>>()
        val errors = CopyOnWriteArrayList<SynclineException>()

        suspend fun until(what: String, predicate: (List<T>) -> Boolean): List<T> =
            withTimeoutOrNull(30_000) {
                while (lists.lastOrNull()?.let(predicate) != true) delay(10)
                lists.last()
            } ?: throw AssertionError("no $what within 30 s; lists: $lists, errors: $errors")
    }

    private class Conflicts : ConflictListener {
        val seen = Lists<Conflict>()
        override fun onConflicts(conflicts: List<Conflict>) {
            seen.lists.add(conflicts)
        }

        override fun onError(error: SynclineException) {
            seen.errors.add(error)
        }
    }

    private class Quarantine : QuarantineListener {
        val seen = Lists<QuarantinedMutation>()
        override fun onQuarantined(mutations: List<QuarantinedMutation>) {
            seen.lists.add(mutations)
        }

        override fun onError(error: SynclineException) {
            seen.errors.add(error)
        }
    }

    @Test
    fun aLocalInsertAppearsPendingThenSyncedAfterThePush() = runBlocking {
        val phone = open("phone")
        val key = newKey()
        val pages = Collected(this, phone.watchFlow("tasks", byKey(key)))
        assertTrue("nothing with this key yet", pages.next().records.isEmpty())

        phone.insert("tasks", task(key, "Watched insert"))
        // Nothing else changes tasks in a manual client: the very next page is the insert's.
        val inserted = pages.next().only(key) ?: throw AssertionError("the insert is not in the page")
        assertEquals(text("Watched insert"), inserted.title())
        assertEquals(RecordState.PENDING, inserted.state)
        assertNull("not on the server yet", inserted.version)

        phone.syncNow("tasks")
        val synced = pages.until("the pushed record, synced") { it.only(key)?.state == RecordState.SYNCED }.only(key)!!
        assertEquals(text("Watched insert"), synced.title())
        assertNotNull("the server's version", synced.version)
        pages.job.cancelAndJoin()
        phone.close()
    }

    @Test
    fun aChangePulledFromAnotherUserAppears() = runBlocking {
        val alice = open("alice")
        val bob = open("bob", "demo-bob")
        val key = newKey()
        alice.insert("tasks", task(key, "Shared task"))
        alice.syncNow("tasks")
        bob.syncNow("tasks")
        assertNotNull("bob sees p-harbor's tasks", bob.get("tasks", key))

        val pages = Collected(this, alice.watchFlow("tasks", byKey(key)))
        val before = pages.next().only(key)!!
        assertEquals(text("Shared task"), before.title())
        assertEquals(RecordState.SYNCED, before.state)

        bob.update("tasks", Record(key = key, values = mapOf("title" to text("Bob's title"))))
        bob.syncNow("tasks")
        alice.syncNow("tasks")
        val pulled = pages.until("bob's title") { it.only(key)?.title() == text("Bob's title") }.only(key)!!
        assertEquals("a pulled change has nothing to push", RecordState.SYNCED, pulled.state)
        assertTrue(pulled.version!! > before.version!!)
        pages.job.cancelAndJoin()
        alice.close()
        bob.close()
    }

    @Test
    fun aConflictAndItsResolutionAppear() = runBlocking {
        val alice = open("alice-conflict")
        val bob = open("bob-conflict", "demo-bob")
        val key = newKey()
        alice.insert("tasks", task(key, "Original"))
        alice.syncNow("tasks")
        bob.syncNow("tasks")
        val pages = Collected(this, alice.watchFlow("tasks", byKey(key)))
        assertEquals(RecordState.SYNCED, pages.next().only(key)!!.state)

        // The same field on both sides, bob's first: tasks are MANUAL, so alice's sync asks her.
        bob.update("tasks", Record(key = key, values = mapOf("title" to text("Title from Bob"))))
        bob.syncNow("tasks")
        alice.update("tasks", Record(key = key, values = mapOf("title" to text("Title from Alice"))))
        val edited = pages.until("alice's edit") { it.only(key)?.title() == text("Title from Alice") }.only(key)!!
        assertEquals(RecordState.PENDING, edited.state)
        assertEquals(1uL, alice.syncNow("tasks").entities.single().toInbox)
        val inConflict = pages.until("the conflict") { it.only(key)?.state == RecordState.IN_CONFLICT }.only(key)!!
        // While the conflict waits, the row holds the server's version; hers is in the inbox.
        assertEquals(text("Title from Bob"), inConflict.title())

        val conflict = alice.conflicts().single()
        assertEquals(key, conflict.key)
        alice.resolve(conflict.id, Resolution.KeepMine)
        val resolved = pages.until("the resolution") { it.only(key)?.state != RecordState.IN_CONFLICT }.only(key)!!
        assertEquals("KeepMine brings her title back", text("Title from Alice"), resolved.title())
        assertEquals("the kept version syncs next", RecordState.PENDING, resolved.state)

        alice.syncNow("tasks")
        val settled = pages.until("the resolution, synced") { it.only(key)?.state == RecordState.SYNCED }.only(key)!!
        assertEquals(text("Title from Alice"), settled.title())
        pages.job.cancelAndJoin()
        alice.close()
        bob.close()
    }

    @Test
    fun aRefusedInsertAppearsQuarantinedAndGoesWhenDiscarded() = runBlocking {
        val alice = open("alice-quarantine")
        val key = newKey()
        val pages = Collected(this, alice.watchFlow("tasks", byKey(key)))
        assertTrue(pages.next().records.isEmpty())
        // p-ridge is carol's: the server refuses alice's task there.
        alice.insert("tasks", task(key, "Not mine to make", project = "p-ridge"))
        alice.syncNow("tasks")
        pages.until("the quarantined insert") { it.only(key)?.state == RecordState.QUARANTINED }

        val refused = alice.quarantined().single { it.key == key }
        alice.discardQuarantined(refused.seq)
        pages.until("the discarded insert gone") { it.records.isEmpty() }
        pages.job.cancelAndJoin()
        alice.close()
    }

    @Test
    fun theConflictWatchSeesTheInboxFillAndEmpty() = runBlocking {
        val alice = open("alice-inbox")
        val bob = open("bob-inbox", "demo-bob")
        val key = newKey()
        alice.insert("tasks", task(key, "Original"))
        alice.syncNow("tasks")
        bob.syncNow("tasks")
        val listener = Conflicts()
        val handle = alice.watchConflicts(listener)
        listener.seen.until("the empty inbox") { it.isEmpty() }

        bob.update("tasks", Record(key = key, values = mapOf("title" to text("Title from Bob"))))
        bob.syncNow("tasks")
        alice.update("tasks", Record(key = key, values = mapOf("title" to text("Title from Alice"))))
        alice.syncNow("tasks")
        val conflict = listener.seen.until("the conflict") { it.size == 1 }.single()
        assertEquals(key, conflict.key)
        assertEquals(text("Title from Alice"), conflict.local!!["title"])
        alice.resolve(conflict.id, Resolution.KeepMine)
        listener.seen.until("the empty inbox after resolve") { it.isEmpty() }
        assertEquals("one list per change", 3, listener.seen.lists.size)
        assertTrue(listener.seen.errors.isEmpty())
        handle.stop()
        handle.close()
        alice.close()
        bob.close()
    }

    @Test
    fun theQuarantineWatchSeesARefusalItsRetryAndItsDiscard() = runBlocking {
        val alice = open("alice-refused")
        val listener = Quarantine()
        val handle = alice.watchQuarantined(listener)
        listener.seen.until("no refused change") { it.isEmpty() }
        val key = newKey()
        // p-ridge is carol's: the server refuses alice's task there.
        alice.insert("tasks", task(key, "Not mine to make", project = "p-ridge"))
        alice.syncNow("tasks")
        val refused = listener.seen.until("the refused insert") { it.size == 1 }.single()
        assertEquals(key, refused.key)
        assertEquals("forbidden", refused.code)

        alice.retryQuarantined(refused.seq)
        listener.seen.until("the retried insert out of quarantine") { it.isEmpty() }
        alice.syncNow("tasks")
        val again = listener.seen.until("the insert refused again") { it.size == 1 }.single()
        assertTrue("a new seq", again.seq != refused.seq)
        alice.discardQuarantined(again.seq)
        listener.seen.until("the discarded insert gone") { it.isEmpty() }
        assertEquals("one list per change", 5, listener.seen.lists.size)
        handle.stop()
        handle.close()
        alice.close()
    }

    @Test
    fun aStoppedCoreWatchIsNotCalledAgain() = runBlocking {
        val phone = open("stopped")
        val key = newKey()
        val stopped = Pages()
        val control = Pages()
        val handle = phone.watch("tasks", byKey(key), stopped)
        val controlHandle = phone.watch("tasks", byKey(key), control)
        stopped.until("the first page") { it.records.isEmpty() }

        // Live before the stop: it sees the insert.
        phone.insert("tasks", task(key, "Before the stop"))
        stopped.until("the insert") { it.only(key) != null }
        control.until("the insert") { it.only(key) != null }
        val callsAtStop = stopped.pages.size + stopped.errors.size
        handle.stop()

        phone.update("tasks", Record(key = key, values = mapOf("title" to text("After the stop"))))
        phone.delete("tasks", key)
        // The control watch answers to the same commits; once it has the deletion, the stopped one
        // would have been called too (it was, for the insert), with a wide margin on top.
        control.until("the deletion") { it.records.isEmpty() }
        delay(1_000)
        assertEquals("calls after stop()", callsAtStop, stopped.pages.size + stopped.errors.size)
        handle.close()
        controlHandle.stop()
        controlHandle.close()
        phone.close()
    }

    @Test
    fun cancellingTheCollectionStopsTheCoreWatch() = runBlocking {
        val phone = open("cancelled")
        val counting = CountingClient(phone)
        val key = newKey()
        val pages = Collected(this, counting.watchFlow("tasks", byKey(key)))
        assertTrue(pages.next().records.isEmpty())
        phone.insert("tasks", task(key, "Before the cancel"))
        assertNotNull(pages.until("the insert") { it.only(key) != null })
        assertTrue("the counter sees the core's calls", counting.calls.get() >= 2)

        pages.job.cancelAndJoin()
        val callsAtCancel = counting.calls.get()
        val control = Collected(this, phone.watchFlow("tasks", byKey(key)))
        assertNotNull(control.next().only(key))
        phone.update("tasks", Record(key = key, values = mapOf("title" to text("After the cancel"))))
        // As in the core test: the control flow proves the commit reached the watches.
        control.until("the update") { it.only(key)?.title() == text("After the cancel") }
        delay(1_000)
        assertEquals("the core's calls after the cancel", callsAtCancel, counting.calls.get())
        control.job.cancelAndJoin()
        counting.close()
        phone.close()
    }

    @Test
    fun aRecordFlowSeesTheRecordChangeAndItsDeletion() = runBlocking {
        val phone = open("record")
        val key = newKey()
        val records = Collected(this, phone.watchRecordFlow("tasks", key))
        assertNull("no such record yet", records.next())
        phone.insert("tasks", task(key, "First title"))
        val inserted = records.next()
        assertEquals(text("First title"), inserted?.title())
        assertEquals(RecordState.PENDING, inserted?.state)

        phone.update("tasks", Record(key = key, values = mapOf("title" to text("Second title"))))
        assertEquals(text("Second title"), records.next()?.title())
        phone.syncNow("tasks")
        assertEquals(RecordState.SYNCED, records.until("the synced record") { it?.state == RecordState.SYNCED }?.state)

        phone.delete("tasks", key)
        records.until("the deletion (null)") { it == null }
        records.job.cancelAndJoin()
        phone.close()
    }

    @Test
    fun aBadQueryFailsTheCollectionWithTheTypedError() = runBlocking {
        val phone = open("bad")
        val bad = Query(filters = listOf(Filter("colour", Value.Null)), sort = emptyList(), limit = 10u, offset = 0u)
        try {
            withTimeout(30_000) { phone.watchFlow("tasks", bad).first() }
            fail("an unknown field must be refused")
        } catch (e: SynclineException.InvalidInput) {
            assertTrue(e.detail, e.detail.contains("colour"))
        }
        try {
            withTimeout(30_000) { phone.watchRecordFlow("nope", "k").first() }
            fail("an unknown entity must be refused")
        } catch (e: SynclineException.InvalidInput) {
            assertTrue(e.detail, e.detail.contains("nope"))
        }
        phone.close()
    }
}
