// The sample app's data, apart from its screens: what each screen follows (the library's Flows
// over the core's live queries, the inbox and the quarantined mutations) and what it writes, in
// the terms of the sample's schema (schema/sample.toml: projects read-only, tasks edited offline,
// comments append-only). The screens draw what these give and never name a field themselves.
package dev.syncline.sample.data

import dev.syncline.conflictsFlow
import dev.syncline.core.SynclineClient
import dev.syncline.core.protocol.Value
import dev.syncline.core.types.Conflict
import dev.syncline.core.types.Filter
import dev.syncline.core.types.QuarantinedMutation
import dev.syncline.core.types.Query
import dev.syncline.core.types.Record
import dev.syncline.core.types.RecordState
import dev.syncline.core.types.Resolution
import dev.syncline.core.types.Sort
import dev.syncline.core.types.SortOrder
import dev.syncline.quarantinedFlow
import dev.syncline.statusFlow
import dev.syncline.watchFlow
import dev.syncline.watchRecordFlow
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.map
import java.util.UUID

/** A project the user is a member of. */
data class Project(
    /** Its key. */
    val key: String,
    /** Its name (its key when it has none). */
    val name: String,
    /** What it is about; null when it says nothing. */
    val description: String?,
)

/** A task, with its sync state. */
data class Task(
    /** Its key. */
    val key: String,
    /** The project it belongs to. */
    val project: String?,
    /** Its title as stored (a `Value.Text`, unless the record lacks one). */
    val title: Value?,
    /** Whether it is ticked off. */
    val done: Boolean,
    /** Its notes; null when it has none. */
    val notes: String?,
    /** When it is due (a `Value.Timestamp`), or null/`Value.Null`. */
    val due: Value?,
    /** Synced, pending, in conflict or quarantined: the mark the list shows (read records have one). */
    val state: RecordState?,
) {
    /** The title to show in a list (the key when it has none). */
    val name: String get() = FieldText.text(title) ?: key
}

/** A comment on a task. */
data class Comment(
    /** Its key. */
    val key: String,
    /** Who wrote it, as the server set it; null until the server has it. */
    val author: String?,
    /** What it says, for display. */
    val body: String,
    /** Its sync state, for its mark. */
    val state: RecordState?,
)

/** How many conflicts and quarantined mutations wait, from the status. */
data class Waiting(
    /** Conflicts in the inbox. */
    val conflicts: ULong,
    /** Mutations the server refused. */
    val quarantined: ULong,
)

/** A task's edit: the fields that changed, or why it cannot be saved. */
sealed interface TaskEdit {
    /** The fields to write (empty: nothing changed). */
    data class Changes(val values: Map<String, Value>) : TaskEdit

    /** The due date is not a day the app can read (YYYY-MM-DD): nothing is written. */
    data object UnreadableDueDate : TaskEdit
}

/** The sample's live queries and writes over [client]. */
class SampleData(private val client: SynclineClient) {
    /** The user's projects, live. */
    fun projects(): Flow<List<Project>> = client.watchFlow(PROJECTS, all()).map { page ->
        page.records.map { Project(it.key, FieldText.text(it.values["name"]) ?: it.key, FieldText.text(it.values["description"])?.ifBlank { null }) }
    }

    /** How many conflicts and quarantined mutations wait, changing only when a count does. */
    fun waiting(): Flow<Waiting> =
        client.statusFlow().map { Waiting(it.conflicts, it.quarantined) }.distinctUntilChanged()

    /** The tasks of [project], live. */
    fun tasksOf(project: String): Flow<List<Task>> =
        client.watchFlow(TASKS, all(Filter("project_id", Value.Text(project)))).map { page -> page.records.map(::task) }

    /** The task with [key], live; null while there is none. */
    fun task(key: String): Flow<Task?> = client.watchRecordFlow(TASKS, key).map { it?.let(::task) }

    /** The comments on task [key], live. */
    fun commentsOn(key: String): Flow<List<Comment>> =
        client.watchFlow(COMMENTS, all(Filter("task_id", Value.Text(key)))).map { page ->
            page.records.map { Comment(it.key, FieldText.text(it.values["author"]), FieldText.display(it.values["body"]), it.state) }
        }

    /** Adds a task titled [title] to [project], not done. */
    fun addTask(project: String, title: String) {
        client.insert(
            TASKS,
            Record(
                key = "t-" + UUID.randomUUID(),
                values = mapOf("project_id" to Value.Text(project), "title" to Value.Text(title), "done" to Value.Boolean(false)),
            ),
        )
    }

    /** Ticks task [key] off ([done]) or back on. */
    fun setDone(key: String, done: Boolean) {
        client.update(TASKS, Record(key = key, values = mapOf("done" to Value.Boolean(done))))
    }

    /** Writes [edit]'s fields to task [key]. */
    fun save(key: String, edit: TaskEdit.Changes) {
        if (edit.values.isNotEmpty()) client.update(TASKS, Record(key = key, values = edit.values))
    }

    /** Adds a comment saying [body] to task [task] of [project]. */
    fun addComment(project: String, task: String, body: String) {
        // The author and the time are the server's to set (docs/schema.md): naming them here
        // would be refused.
        client.insert(
            COMMENTS,
            Record(
                key = "c-" + UUID.randomUUID(),
                values = mapOf("project_id" to Value.Text(project), "task_id" to Value.Text(task), "body" to Value.Text(body)),
            ),
        )
    }

    /** The conflicts waiting for the user, live: the inbox's own Flow, never a status change. */
    fun conflicts(): Flow<List<Conflict>> = client.conflictsFlow()

    /** Settles conflict [id] as the user chose. */
    fun resolve(id: Long, resolution: Resolution) {
        client.resolve(id, resolution)
    }

    /** The mutations the server refused, live, like [conflicts]. */
    fun quarantined(): Flow<List<QuarantinedMutation>> = client.quarantinedFlow()

    /** Sends quarantined mutation [seq] again as it was. */
    fun retry(seq: ULong) {
        client.retryQuarantined(seq)
    }

    /** Sends quarantined mutation [m] again with the title [title]. */
    fun sendWithTitle(m: QuarantinedMutation, title: String) {
        client.editQuarantined(m.seq, m.values + ("title" to Value.Text(title)))
    }

    /** Discards quarantined mutation [seq], which undoes it on this device. */
    fun discard(seq: ULong) {
        client.discardQuarantined(seq)
    }

    companion object {
        /** What names conflict [c]'s record: its title here, else the server's, else before. */
        fun title(c: Conflict): String = FieldText.display(c.local?.get("title") ?: c.remote?.get("title") ?: c.base["title"])

        /** What names the record of quarantined mutation [m]: the title it sent. */
        fun title(m: QuarantinedMutation): String = FieldText.display(m.values["title"])

        private const val PROJECTS = "projects"
        private const val TASKS = "tasks"
        private const val COMMENTS = "comments"

        /**
         * What saving [title], [notes] and [due] (as typed) over [before] writes: only the fields
         * that changed. An empty title keeps the old one (tasks need one); an empty due date
         * clears it.
         */
        fun edit(before: Task, title: String, notes: String, due: String): TaskEdit {
            val changes = mutableMapOf<String, Value>()
            if (title.isNotEmpty() && Value.Text(title) != before.title) changes["title"] = Value.Text(title)
            if (notes != before.notes.orEmpty()) changes["notes"] = Value.Text(notes)
            if (due != FieldText.dueDate(before.due)) {
                val at = FieldText.parseDueDate(due)
                if (due.isNotEmpty() && at == null) return TaskEdit.UnreadableDueDate
                changes["due_at"] = at ?: Value.Null
            }
            return TaskEdit.Changes(changes)
        }

        // Every list of the sample is short (a team's projects, a project's tasks): one page,
        // in key order, so that a list keeps its order while it is edited.
        private fun all(vararg filters: Filter) =
            Query(filters = filters.toList(), sort = listOf(Sort("id", SortOrder.ASCENDING)), limit = 500u, offset = 0u)

        private fun task(record: Record) = Task(
            key = record.key,
            project = FieldText.text(record.values["project_id"]),
            title = record.values["title"],
            done = (record.values["done"] as? Value.Boolean)?.v1 == true,
            notes = FieldText.text(record.values["notes"]),
            due = record.values["due_at"],
            state = record.state,
        )
    }
}
