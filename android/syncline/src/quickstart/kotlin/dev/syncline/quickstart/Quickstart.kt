// The Kotlin quickstart (docs/quickstart.md): alice and bob share a typed task through the
// demo server (`cargo run -p syncline-cli -- demo`, or SYNCLINE_SERVER_URL) and settle a
// conflict. Prints each step; exits non-zero when one does not turn out as expected.
package dev.syncline.quickstart

import dev.syncline.BannerText
import dev.syncline.all
import dev.syncline.collection
import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.manualAutoSync
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.Query
import dev.syncline.core.types.Resolution
import dev.syncline.filter
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.serialization.Serializable
import java.nio.file.Files
import java.util.UUID

/** The app's task: the key, and the fields of the schema's tasks it uses. */
@Serializable
data class Task(val id: String, val project_id: String, val title: String, val done: Boolean = false)

/** The English words printed below; on Android, BannerText(ResourceStrings(context)). */
val english = mapOf("banner_decision_one" to "1 change needs your decision", "record_in_conflict" to "In conflict")

/** A client on a fresh store that syncs when told (an app keeps the automatic sync). */
fun open(server: String, token: String): SynclineClient {
    val path = Files.createTempDirectory("syncline-quickstart").resolve("app.db").toString()
    return SynclineClient.open(path, sampleSchema(), defaultConfig(server, token).copy(auto = manualAutoSync()))
}

/** The story, step by step; a failed `check` ends it with an exception (exit status 1). */
fun main() = runBlocking {
    val server = System.getenv("SYNCLINE_SERVER_URL") ?: "http://127.0.0.1:8787"
    val harbor = Query.all(limit = 1000u).filter("project_id", Value.Text("p-harbor"))

    // 1. Alice signs in on a fresh device and syncs everything.
    val alice = open(server, "demo-alice")
    alice.syncNow("all")
    val before = alice.query("tasks", harbor).records.size
    check(before > 0) { "the demo's p-harbor has tasks" }
    println("1. alice synced: $before tasks in p-harbor")

    // 2. Her tasks as Task: the class is checked against the schema here.
    val tasks = alice.collection<Task>("tasks")
    println("2. a collection of Task")

    // 3. A live query, printing the count whenever it changes.
    println("3. a live query of p-harbor's tasks")
    val count = MutableStateFlow(0)
    val live = launch {
        tasks.watchFlow(harbor).map { it.size }.distinctUntilChanged().collect {
            count.value = it
            println("   live query: $it tasks in p-harbor")
        }
    }
    withTimeout(10_000) { count.first { it == before } }

    // 4. A new task: saved at once (the live query sees it), then synced.
    val task = Task(id = "t-${UUID.randomUUID()}", project_id = "p-harbor", title = "Inspect pump")
    tasks.insert(task)
    withTimeout(10_000) { count.first { it == before + 1 } }
    alice.syncNow("all")
    println("4. alice added and synced ${task.id}")

    // 5. Bob syncs on his device and reads it, typed.
    val bob = open(server, "demo-bob")
    bob.syncNow("all")
    val bobTasks = bob.collection<Task>("tasks")
    val seen = bobTasks.get(task.id)
    check(seen == task) { "bob reads $seen" }
    println("5. bob reads $seen")

    // 6. Both rename it before bob's edit is pushed: alice syncs first, so bob's sync finds a
    // conflict (tasks use the manual policy). Bob merges the titles and syncs.
    tasks.update(task.copy(title = "Inspect pump (alice)"))
    bobTasks.update(seen.copy(title = "Inspect pump (bob)"))
    alice.syncNow("all")
    bob.syncNow("all")
    val conflict = bob.conflicts().single()
    check(conflict.key == task.id && conflict.fields == listOf("title")) { "bob's conflict: $conflict" }
    val words = BannerText { key, args -> english.getValue(key).format(*args) }
    println("6. bob's banner: ${words.title(bob.banner())}; the task: ${words.recordMark(bob.get("tasks", task.id)?.state)}")
    bob.resolve(conflict.id, Resolution.Merged(mapOf("title" to Value.Text("Inspect pump (alice and bob)"))))
    bob.syncNow("all")
    check(bob.conflicts().isEmpty()) { "bob's conflicts: ${bob.conflicts()}" }

    // 7. Alice syncs and reads the merged title.
    alice.syncNow("all")
    val merged = tasks.get(task.id)
    check(merged?.title == "Inspect pump (alice and bob)") { "alice reads $merged" }
    println("7. alice reads \"${merged.title}\"")

    live.cancelAndJoin()
    alice.close()
    bob.close()
}
