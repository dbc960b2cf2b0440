// Typed models (Models.kt) through the generated bindings on a real JVM (JNA), against the real
// reference server on loopback (SYNCLINE_SERVER_URL, started with --seed-demo: alice and bob
// share p-harbor).
package dev.syncline

import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.manualAutoSync
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.Filter
import dev.syncline.core.types.Query
import dev.syncline.core.types.Record
import dev.syncline.core.types.Resolution
import dev.syncline.core.types.Sort
import dev.syncline.core.types.SortOrder
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.serialization.SerialName
import kotlinx.serialization.Serializable
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonArray
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.nio.file.Files
import java.util.UUID

/** A task as an app would declare it: snake_case names as they are, or renamed. */
@Serializable
data class Task(
    val id: String,
    val project_id: String,
    val title: String,
    val notes: String? = null,
    val done: Boolean = false,
    val priority: Int? = null,
    @SerialName("due_at") val dueAt: Long? = null,
    val assignee: String? = null,
    @SerialName("estimate_hours") val estimateHours: Double? = null,
    val tags: List<String> = emptyList(),
)

/** Only a task's title: updates through it leave the other fields alone. */
@Serializable
data class TaskTitle(val id: String, val project_id: String, val title: String)

/** The crew, stored as text by the names below. */
@Serializable
enum class Crew {
    @SerialName("alice") ALICE,
    @SerialName("bob") BOB,
}

/** A task whose assignee is an enum and whose priority is an Int. */
@Serializable
data class CrewTask(val id: String, val project_id: String, val title: String, val assignee: Crew? = null, val priority: Int? = null)

/** A comment: the server sets author and created_at, so they are nullable until pulled. */
@Serializable
data class Comment(
    val id: String,
    val project_id: String,
    val task_id: String,
    val body: String,
    val author: String? = null,
    val created_at: Long? = null,
)

@Serializable
data class PriorityAsText(val id: String, val project_id: String, val title: String, val priority: String?)

@Serializable
data class WithColour(val id: String, val project_id: String, val title: String, val colour: String?)

@Serializable
data class WithInternalNotes(val id: String, val project_id: String, val title: String, val internal_notes: String?)

@Serializable
data class WithoutTitle(val id: String, val project_id: String)

@Serializable
data class NotesNeverNull(val id: String, val project_id: String, val title: String, val notes: String)

@Serializable
data class NumberKey(val id: Long, val project_id: String, val title: String)

@Serializable
data class NoKey(val project_id: String, val title: String)

@Serializable
data class AuthorNeverNull(val id: String, val project_id: String, val task_id: String, val body: String, val author: String)

/** TypedCollection: typed writes and reads, live queries, and what does not fit. */
class ModelsTest {
    private val server: String = System.getenv("SYNCLINE_SERVER_URL") ?: error("SYNCLINE_SERVER_URL is not set")

    /** Syncs only when a test asks. */
    private fun open(name: String, token: String = "demo-alice"): SynclineClient {
        val dir = Files.createTempDirectory("syncline-kt-models")
        val config = defaultConfig(server, token).copy(auto = manualAutoSync())
        return SynclineClient.open(dir.resolve("$name.db").toString(), sampleSchema(), config)
    }

    /** A fresh key per test: the server is shared by every test of the run. */
    private fun newKey() = "t-kt-model-" + UUID.randomUUID()

    private fun byKey(key: String) = Query(filters = listOf(Filter("id", Value.Text(key))), sort = emptyList(), limit = 10u, offset = 0u)

    /**
     * A due date 30 days ahead (midnight UTC): the test server runs the worked example's write
     * rules, which refuse a due date in the past, so a fixed date would fail once it passed.
     */
    private val due = (System.currentTimeMillis() / 86_400_000 + 30) * 86_400_000

    private fun full(key: String) = Task(
        id = key,
        project_id = "p-harbor",
        title = "Inspect pump",
        notes = "Bring the spare seal",
        done = false,
        priority = 2,
        dueAt = due,
        assignee = "bob",
        estimateHours = 2.5,
        tags = listOf("pump", "urgent"),
    )

    /** The ModelMismatchException making [collection] throws. */
    private fun mismatch(collection: () -> Any): ModelMismatchException {
        try {
            collection()
        } catch (e: ModelMismatchException) {
            return e
        }
        throw AssertionError("the class must be refused")
    }

    private fun decodingError(read: () -> Any?): ModelDecodingException {
        try {
            read()
        } catch (e: ModelDecodingException) {
            return e
        }
        throw AssertionError("the record must not decode")
    }

    @Test
    fun aTypedTaskReachesAnotherUserTypedAndAsTheSchemaTypes() = runBlocking {
        val alice = open("alice")
        val bob = open("bob", "demo-bob")
        val key = newKey()
        val task = full(key)
        alice.collection<Task>("tasks").insert(task)
        alice.syncNow("tasks")
        bob.syncNow("tasks")

        assertEquals(task, bob.collection<Task>("tasks").get(key))
        // Stored as the schema's types, as an untyped client (or Swift) reads them.
        val values = bob.get("tasks", key)!!.values
        assertEquals(Value.Text("Inspect pump"), values["title"])
        assertEquals(Value.Integer(2), values["priority"])
        assertEquals(Value.Timestamp(due), values["due_at"])
        assertEquals(Value.Real(2.5), values["estimate_hours"])
        assertEquals(Value.Boolean(false), values["done"])
        val tags = Json.parseToJsonElement((values["tags"] as Value.Json).v1).jsonArray
        assertEquals(listOf(JsonPrimitive("pump"), JsonPrimitive("urgent")), tags)
        assertNull("no such task yet", bob.collection<Task>("tasks").get(newKey()))
        alice.close()
        bob.close()
    }

    @Test
    fun updateWritesEveryPropertyANullClearsAndFieldsOutsideTheClassStay() = runBlocking {
        val alice = open("alice-update")
        val bob = open("bob-update", "demo-bob")
        val key = newKey()
        val tasks = alice.collection<Task>("tasks")
        tasks.insert(full(key))
        val renamed = tasks.get(key)!!.copy(title = "Inspect both pumps", notes = null)
        assertNotNull("a change", tasks.update(renamed))
        assertNull("the same model again changes nothing", tasks.update(renamed))
        assertEquals(renamed, tasks.get(key))
        assertNull("notes cleared", alice.get("tasks", key)!!.values["notes"]?.takeIf { it != Value.Null })
        alice.syncNow("tasks")

        bob.syncNow("tasks")
        assertEquals(renamed, bob.collection<Task>("tasks").get(key))
        // A class without priority, notes or tags neither reads nor changes them.
        bob.collection<TaskTitle>("tasks").update(TaskTitle(key, "p-harbor", "Bob's title"))
        assertEquals(renamed.copy(title = "Bob's title"), bob.collection<Task>("tasks").get(key))
        bob.syncNow("tasks")
        alice.syncNow("tasks")
        assertEquals(renamed.copy(title = "Bob's title"), tasks.get(key))

        tasks.delete(key)
        assertNull(tasks.get(key))
        alice.close()
        bob.close()
    }

    @Test
    fun aQueryWithAFilterGivesTheMatchingModels() = runBlocking {
        val alice = open("alice-query")
        val tasks = alice.collection<Task>("tasks")
        val crew = "crew-" + UUID.randomUUID()
        val first = full(newKey()).copy(assignee = crew, title = "First")
        val second = full(newKey()).copy(assignee = crew, title = "Second", priority = null, tags = emptyList())
        val other = full(newKey()).copy(assignee = "someone else")
        listOf(first, second, other).forEach { tasks.insert(it) }

        val query = Query(
            filters = listOf(Filter("assignee", Value.Text(crew))),
            sort = listOf(Sort("title", SortOrder.DESCENDING)),
            limit = 10u,
            offset = 0u,
        )
        assertEquals(listOf(second, first), tasks.query(query))
        alice.close()
    }

    @Test
    fun aLiveQueryEmitsModelsAfterARemoteChange() = runBlocking {
        val alice = open("alice-flow")
        val bob = open("bob-flow", "demo-bob")
        val key = newKey()
        val task = full(key)
        alice.collection<Task>("tasks").insert(task)
        alice.syncNow("tasks")
        bob.syncNow("tasks")

        val lists = Collected(this, alice.collection<Task>("tasks").watchFlow(byKey(key)))
        assertEquals(listOf(task), lists.next())
        val bobs = bob.collection<Task>("tasks")
        bobs.update(bobs.get(key)!!.copy(title = "Renamed by Bob", done = true))
        bob.syncNow("tasks")
        alice.syncNow("tasks")
        val renamed = lists.until("bob's change") { it.singleOrNull()?.title == "Renamed by Bob" }
        assertEquals(listOf(task.copy(title = "Renamed by Bob", done = true)), renamed)
        lists.job.cancelAndJoin()
        alice.close()
        bob.close()
    }

    @Test
    fun aRecordFlowSeesTheModelChangeAndItsDeletion() = runBlocking {
        val phone = open("phone-record")
        val tasks = phone.collection<Task>("tasks")
        val key = newKey()
        val models = Collected(this, tasks.watchRecordFlow(key))
        assertNull("none yet", models.next())
        tasks.insert(full(key))
        assertEquals(full(key), models.next())
        tasks.update(full(key).copy(done = true))
        assertEquals(full(key).copy(done = true), models.next())
        tasks.delete(key)
        assertNull("deleted", models.until("the deletion") { it == null })
        models.job.cancelAndJoin()
        phone.close()
    }

    @Test
    fun aConflictsSidesReadAsModelsAndAMergedModelSettlesIt() = runBlocking {
        val alice = open("alice-conflict")
        val bob = open("bob-conflict", "demo-bob")
        val key = newKey()
        val aliceTasks = alice.collection<Task>("tasks")
        val bobTasks = bob.collection<Task>("tasks")
        aliceTasks.insert(full(key))
        alice.syncNow("tasks")
        bob.syncNow("tasks")
        aliceTasks.update(full(key).copy(title = "Alice's title"))
        bobTasks.update(full(key).copy(title = "Bob's title", done = true))
        alice.syncNow("tasks")
        bob.syncNow("tasks")

        val conflict = bob.conflicts().single()
        val mine = bobTasks.model(Record(conflict.key, values = conflict.local!!))
        val theirs = bobTasks.model(Record(conflict.key, values = conflict.remote!!))
        assertEquals("Bob's title", mine.title)
        assertEquals(full(key).copy(title = "Alice's title"), theirs)
        val merged = theirs.copy(title = "Alice's and Bob's title", done = mine.done)
        assertEquals(key, bobTasks.record(merged).key)
        bob.resolve(conflict.id, Resolution.Merged(bobTasks.record(merged).values))
        bob.syncNow("tasks")
        alice.syncNow("tasks")
        assertEquals(merged, aliceTasks.get(key))
        alice.close()
        bob.close()
    }

    @Test
    fun aClassThatDoesNotFitIsRefusedNamingFieldAndTypes() {
        val alice = open("alice-mismatch")
        val wrongType = mismatch { alice.collection<PriorityAsText>("tasks") }
        assertEquals("priority", wrongType.field)
        assertEquals("tasks", wrongType.entity)
        assertTrue(wrongType.expected, wrongType.expected.startsWith("integer"))
        assertEquals("kotlin.String?", wrongType.found)
        assertEquals(
            "dev.syncline.PriorityAsText does not fit entity tasks: field priority: expected integer (Long or Int), found kotlin.String?",
            wrongType.message,
        )

        val unknown = mismatch { alice.collection<WithColour>("tasks") }
        assertEquals("colour", unknown.field)
        assertTrue(unknown.expected, unknown.expected.startsWith("a field of tasks that devices see (id, project_id, title"))
        assertEquals("a property of type kotlin.String?", unknown.found)

        // Server-only: not in the device's schema at all.
        val serverOnly = mismatch { alice.collection<WithInternalNotes>("tasks") }
        assertEquals("internal_notes", serverOnly.field)
        assertTrue(serverOnly.expected, !serverOnly.expected.contains("internal_notes"))

        val missing = mismatch { alice.collection<WithoutTitle>("tasks") }
        assertEquals("title", missing.field)
        assertEquals("text (String, or an enum), required", missing.expected)
        assertEquals("no property", missing.found)

        val notNullable = mismatch { alice.collection<NotesNeverNull>("tasks") }
        assertEquals("notes", notNullable.field)
        assertEquals("a nullable type or a default value (it may be null)", notNullable.expected)
        assertEquals("kotlin.String", notNullable.found)

        val numberKey = mismatch { alice.collection<NumberKey>("tasks") }
        assertEquals("id", numberKey.field)
        assertEquals("kotlin.Long", numberKey.found)
        val noKey = mismatch { alice.collection<NoKey>("tasks") }
        assertEquals("id", noKey.field)
        assertEquals("no property", noKey.found)

        val authorNeverNull = mismatch { alice.collection<AuthorNeverNull>("comments") }
        assertEquals("author", authorNeverNull.field)
        assertTrue(authorNeverNull.expected, authorNeverNull.expected.contains("only the server writes it"))

        try {
            alice.collection<Task>("nope")
            fail("an unknown entity must be refused")
        } catch (e: IllegalArgumentException) {
            assertEquals("no entity nope in the client's schema (it has projects, tasks, comments)", e.message)
        }
        alice.close()
    }

    @Test
    fun aRecordThatDoesNotDecodeNamesEntityKeyAndField() = runBlocking {
        val alice = open("alice-decode")
        val crewTasks = alice.collection<CrewTask>("tasks")
        val good = newKey()
        val badCrew = newKey()
        val bigPriority = newKey()
        fun task(key: String, vararg values: Pair<String, Value>) = Record(
            key = key,
            values = mapOf("project_id" to Value.Text("p-harbor"), "title" to Value.Text("Decode me")) + values,
        )
        alice.insert("tasks", task(good, "assignee" to Value.Text("alice")))
        alice.insert("tasks", task(badCrew, "assignee" to Value.Text("carol")))
        alice.insert("tasks", task(bigPriority, "priority" to Value.Integer(1L shl 40)))

        assertEquals(CrewTask(good, "p-harbor", "Decode me", Crew.ALICE), crewTasks.get(good))
        // done and tags are null in the record: Task's defaults stand in for them.
        assertEquals(Task(good, "p-harbor", "Decode me", assignee = "alice"), alice.collection<Task>("tasks").get(good))

        val crew = decodingError { crewTasks.get(badCrew) }
        assertEquals("tasks", crew.entity)
        assertEquals(badCrew, crew.key)
        assertEquals("assignee", crew.field)
        assertTrue(crew.message!!, crew.message!!.startsWith("cannot read tasks $badCrew as a model: field assignee: "))
        val big = decodingError { crewTasks.get(bigPriority) }
        assertEquals(bigPriority, big.key)
        assertEquals("priority", big.field)

        assertEquals("a query fails the same way", "assignee", decodingError { crewTasks.query(byKey(badCrew)) }.field)
        val failed = decodingError { runBlocking { withTimeout(30_000) { crewTasks.watchFlow(byKey(bigPriority)).first() } } }
        assertEquals("the live query fails with it", "priority", failed.field)
        alice.close()
    }

    @Test
    fun fieldsTheServerWritesAreLeftOutOfWritesAndReadAfterTheSync() = runBlocking {
        val alice = open("alice-comment")
        val comments = alice.collection<Comment>("comments")
        val key = "c-kt-model-" + UUID.randomUUID()
        val comment = Comment(key, "p-harbor", "t-kt-model-any", "Seal replaced")
        // Writing author or created_at would be refused by the core: they are left out.
        comments.insert(comment)
        assertEquals(comment, comments.get(key))
        alice.syncNow("comments")
        val pulled = comments.get(key)!!
        assertEquals(comment.copy(author = pulled.author, created_at = pulled.created_at), pulled)
        assertEquals("the server's word", "alice", pulled.author)
        assertNotNull(pulled.created_at)
        alice.close()
    }
}
