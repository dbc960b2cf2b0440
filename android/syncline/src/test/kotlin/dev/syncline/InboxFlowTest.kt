// conflictsFlow and quarantinedFlow on a real JVM (JNA), against the real reference server on
// loopback (SYNCLINE_SERVER_URL, started with --seed-demo: alice and bob share p-harbor, p-ridge
// is carol's alone, so the server refuses alice's tasks there).
package dev.syncline

import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.manualAutoSync
import dev.syncline.core.protocol.EntitySchema
import dev.syncline.core.protocol.FieldType
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.Record
import dev.syncline.core.types.Resolution
import dev.syncline.core.types.SynclineException
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File
import java.nio.file.Files
import java.util.Locale
import java.util.UUID

/** The inbox's and the quarantine's Flows, and the core's watches under them, with real syncs. */
class InboxFlowTest {
    private val server: String = System.getenv("SYNCLINE_SERVER_URL") ?: error("SYNCLINE_SERVER_URL is not set")

    /** A fresh database file of its own (the file stays when the client closes). */
    private fun newFile(name: String): String =
        Files.createTempDirectory("syncline-kt-inbox").resolve("$name.db").toString()

    /** A client on [path] that syncs only when a test asks: every list follows from a step it took. */
    private fun open(path: String, token: String = "demo-alice", schema: List<EntitySchema> = sampleSchema()): SynclineClient =
        SynclineClient.open(path, schema, defaultConfig(server, token).copy(auto = manualAutoSync()))

    private fun text(s: String) = Value.Text(s)

    /** A fresh key per test: the server is shared by every test of the run. */
    private fun newKey() = "t-kt-inbox-" + UUID.randomUUID()

    private fun task(key: String, title: String, project: String = "p-harbor") = Record(
        key = key,
        values = mapOf("project_id" to text(project), "title" to text(title), "done" to Value.Boolean(false)),
    )

    /**
     * The sample's schema with tasks' `done` declared a timestamp instead of a boolean. Both are
     * stored as SQLite integers, so the core opens a file made with the real schema; but the
     * inbox and the outbox keep a task's values as they were sent (`"done": false`), which no
     * longer read as the declared type: the core's reads of them fail, as they would in an app
     * whose schema changed under a waiting conflict or refusal.
     */
    private fun doneAsTimestamp(): List<EntitySchema> = sampleSchema().map { entity ->
        if (entity.name != "tasks") return@map entity
        entity.copy(fields = entity.fields.map { if (it.name == "done") it.copy(fieldType = FieldType.TIMESTAMP) else it })
    }

    /**
     * Closes [client] and waits for its store to close: the last connection checkpoints the WAL
     * into the file and removes it (the client's background work may hold the store a moment).
     */
    private fun closeAndWait(client: SynclineClient, path: String) {
        client.close()
        val wal = File("$path-wal")
        val deadline = System.currentTimeMillis() + 30_000
        while (wal.exists()) {
            if (System.currentTimeMillis() > deadline) throw AssertionError("the store of $path never closed: its WAL stays")
            Thread.sleep(10)
        }
    }

    /** Puts task [key] in [alice]'s inbox: she and bob both retitle it, bob first. */
    private suspend fun conflictOn(alice: SynclineClient, key: String) {
        val bob = open(newFile("bob"), "demo-bob")
        alice.insert("tasks", task(key, "Original"))
        alice.syncNow("tasks")
        bob.syncNow("tasks")
        // The same field on both sides, bob's first: tasks are MANUAL, so alice's sync asks her.
        bob.update("tasks", Record(key = key, values = mapOf("title" to text("Title from Bob"))))
        bob.syncNow("tasks")
        bob.close()
        alice.update("tasks", Record(key = key, values = mapOf("title" to text("Title from Alice"))))
        assertEquals(1uL, alice.syncNow("tasks").entities.single().toInbox)
    }

    /** Has the server refuse [alice]'s task [key]: it is in p-ridge, which is carol's. */
    private suspend fun refusalOn(alice: SynclineClient, key: String) {
        alice.insert("tasks", task(key, "Not mine to make", project = "p-ridge"))
        alice.syncNow("tasks")
    }

    @Test
    fun theConflictsFlowSeesTheInboxFillAndEmpty() = runBlocking {
        val alice = open(newFile("alice-inbox"))
        val key = newKey()
        val conflicts = Collected(this, alice.conflictsFlow())
        assertTrue("an empty inbox first", conflicts.next().isEmpty())

        conflictOn(alice, key)
        val conflict = conflicts.until("the conflict") { it.size == 1 }.single()
        assertEquals(key, conflict.key)
        assertEquals(text("Title from Alice"), conflict.local!!["title"])
        assertEquals(text("Title from Bob"), conflict.remote!!["title"])

        alice.resolve(conflict.id, Resolution.KeepMine)
        conflicts.until("the empty inbox after the resolution") { it.isEmpty() }
        conflicts.job.cancelAndJoin()
        alice.close()
    }

    @Test
    fun theQuarantinedFlowSeesARefusalItsRetryAndItsDiscard() = runBlocking {
        val alice = open(newFile("alice-quarantine"))
        val key = newKey()
        val quarantined = Collected(this, alice.quarantinedFlow())
        assertTrue("nothing quarantined first", quarantined.next().isEmpty())

        refusalOn(alice, key)
        val refused = quarantined.until("the refused insert") { it.size == 1 }.single()
        assertEquals(key, refused.key)
        assertEquals("forbidden", refused.code)

        alice.retryQuarantined(refused.seq)
        quarantined.until("the retried insert out of quarantine") { it.isEmpty() }
        alice.syncNow("tasks")
        val again = quarantined.until("the insert refused again") { it.size == 1 }.single()
        assertTrue("a new seq", again.seq != refused.seq)
        alice.discardQuarantined(again.seq)
        quarantined.until("the discarded insert gone") { it.isEmpty() }
        quarantined.job.cancelAndJoin()
        alice.close()
    }

    @Test
    fun theOfficesRefusalArrivesWithItsWordsFramedInTheLanguage() = runBlocking {
        // The test server runs the worked example's write rules (examples/dispatch): a due date
        // in the past is refused, with the office's own words.
        val alice = open(newFile("alice-office"))
        val quarantined = Collected(this, alice.quarantinedFlow())
        val yesterday = (System.currentTimeMillis() / 86_400_000 - 1) * 86_400_000
        alice.insert("tasks", task(newKey(), "Due yesterday").let { it.copy(values = it.values + ("due_at" to Value.Timestamp(yesterday))) })
        alice.syncNow("tasks")
        val refused = quarantined.until("the office's refusal") { it.size == 1 }.single()
        assertEquals("rule:due_in_past", refused.code)
        val words = "The due date is in the past: pick today or a later day."
        assertEquals(words, refused.message)
        assertEquals("Refused by the office: $words", BannerText(XmlStrings("values", Locale.ENGLISH)).officeRefusal(refused.code, refused.message))
        assertEquals("Vom Büro abgelehnt: $words", BannerText(XmlStrings("values-de", Locale.GERMAN)).officeRefusal(refused.code, refused.message))
        alice.discardQuarantined(refused.seq)
        quarantined.until("the refusal discarded") { it.isEmpty() }
        quarantined.job.cancelAndJoin()
        alice.close()
    }

    /*
     * Whether a cancelled collection's watch is still called is seen through a control Flow on the
     * same client, over two changes. The core reads every watch of a change in one round and hands
     * the answers, in order, to its one listener thread; so once the control has the second
     * change's answer, any call the cancelled watch would have had for the first has been made.
     * No fixed pause: the control's answers are the condition.
     */

    @Test
    fun cancellingTheConflictsCollectionStopsTheCoreWatch() = runBlocking {
        val alice = open(newFile("alice-inbox-cancelled"))
        val counting = CountingClient(alice)
        val conflicts = Collected(this, counting.conflictsFlow())
        assertTrue(conflicts.next().isEmpty())
        assertTrue("the counter sees the core's calls", counting.calls.get() >= 1)
        conflicts.job.cancelAndJoin()
        val callsAtCancel = counting.calls.get()

        val control = Collected(this, alice.conflictsFlow())
        assertTrue(control.next().isEmpty())
        conflictOn(alice, newKey())
        val conflict = control.until("the conflict") { it.size == 1 }.single()
        alice.resolve(conflict.id, Resolution.KeepTheirs)
        control.until("the empty inbox") { it.isEmpty() }
        assertEquals("the core's calls after the cancel", callsAtCancel, counting.calls.get())
        control.job.cancelAndJoin()
        counting.close()
        alice.close()
    }

    @Test
    fun cancellingTheQuarantinedCollectionStopsTheCoreWatch() = runBlocking {
        val alice = open(newFile("alice-quarantine-cancelled"))
        val counting = CountingClient(alice)
        val quarantined = Collected(this, counting.quarantinedFlow())
        assertTrue(quarantined.next().isEmpty())
        assertTrue("the counter sees the core's calls", counting.calls.get() >= 1)
        quarantined.job.cancelAndJoin()
        val callsAtCancel = counting.calls.get()

        val control = Collected(this, alice.quarantinedFlow())
        assertTrue(control.next().isEmpty())
        refusalOn(alice, newKey())
        val refused = control.until("the refusal") { it.size == 1 }.single()
        alice.discardQuarantined(refused.seq)
        control.until("the discarded refusal gone") { it.isEmpty() }
        assertEquals("the core's calls after the cancel", callsAtCancel, counting.calls.get())
        control.job.cancelAndJoin()
        counting.close()
        alice.close()
    }

    @Test
    fun anInboxTheCoreCannotReadFailsTheCollectionWithTheCoreError() = runBlocking {
        val path = newFile("alice-unreadable-inbox")
        val before = open(path)
        conflictOn(before, newKey())
        closeAndWait(before, path)
        val alice = open(path, schema = doneAsTimestamp())
        try {
            withTimeout(30_000) { alice.conflictsFlow().first() }
            fail("a conflict whose values no longer read must fail the collection")
        } catch (e: SynclineException.InvalidInput) {
            assertTrue(e.detail, e.detail.contains("done"))
        }
        alice.close()
    }

    @Test
    fun aQuarantineTheCoreCannotReadFailsTheCollectionWithTheCoreError() = runBlocking {
        val path = newFile("alice-unreadable-quarantine")
        val before = open(path)
        refusalOn(before, newKey())
        closeAndWait(before, path)
        val alice = open(path, schema = doneAsTimestamp())
        try {
            withTimeout(30_000) { alice.quarantinedFlow().first() }
            fail("a quarantined mutation whose values no longer read must fail the collection")
        } catch (e: SynclineException.InvalidInput) {
            assertTrue(e.detail, e.detail.contains("done"))
        }
        alice.close()
    }
}
