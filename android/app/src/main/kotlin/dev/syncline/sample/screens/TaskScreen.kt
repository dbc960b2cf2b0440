// One task: rename it, edit its notes and due date (saving writes only the fields that changed),
// and its comments, append-only (added, never edited), with the author the server sets. The task
// and its comments are each followed live.
package dev.syncline.sample.screens

import dev.syncline.sample.components.button
import dev.syncline.sample.components.column
import dev.syncline.sample.components.field
import dev.syncline.sample.components.heading
import dev.syncline.sample.components.label
import dev.syncline.sample.components.stack
import dev.syncline.sample.data.Comment
import dev.syncline.sample.data.FieldText
import dev.syncline.sample.data.SampleData
import dev.syncline.sample.data.Task
import dev.syncline.sample.data.TaskEdit

/** Task [key] and its comments, live, from [data]. */
class TaskScreen(host: ScreenHost, private val data: SampleData, private val key: String) : Screen(host) {
    private val titleField = context.field("title")
    private val notesField = context.field("notes", words.get("app_notes"))
    private val dueField = context.field("due", words.get("app_due_hint"))
    private val comments = context.stack()
    private val newComment = context.field("new-comment", words.get("app_new_comment"))
    private val taskError = errorLine()
    private val saveError = errorLine()
    private val commentsError = errorLine()
    private val commentError = errorLine()

    /** The task as last read; null until the first read. */
    private var loaded: Task? = null

    override val view = context.column().apply {
        addView(taskError)
        addView(titleField)
        addView(notesField)
        addView(dueField)
        addView(context.button(words.get("app_save"), "save") { save() })
        addView(saveError)
        addView(context.heading(words.get("app_comments")))
        addView(commentsError)
        addView(comments)
        addView(newComment)
        addView(context.button(words.get("app_add_comment"), "add-comment") { comment() })
        addView(commentError)
        addView(context.button(words.get("app_back")) { host.navigator.back() })
    }

    init {
        follow({ data.task(key) }, taskError, ::showTask)
        follow({ data.commentsOn(key) }, commentsError, ::showComments)
    }

    private fun showTask(task: Task?) {
        // Deleted (here or on the server): the fields keep what they showed.
        task ?: return
        val first = loaded == null
        loaded = task
        // Filled once: later changes (a sync, this screen's own save) must not overwrite what
        // the user is typing.
        if (first) {
            titleField.setText(FieldText.display(task.title))
            notesField.setText(task.notes.orEmpty())
            dueField.setText(FieldText.dueDate(task.due))
        }
    }

    private fun showComments(list: List<Comment>) {
        comments.removeAllViews()
        for (c in list) {
            val line = listOfNotNull(c.author, c.body, words.banner.recordMark(c.state)).joinToString(" · ")
            comments.addView(context.label(line, tag = "comment:${c.key}"))
        }
    }

    private fun save() {
        val before = loaded ?: return
        val edit = SampleData.edit(
            before,
            title = titleField.text.toString().trim(),
            notes = notesField.text.toString(),
            due = dueField.text.toString().trim(),
        )
        when (edit) {
            TaskEdit.UnreadableDueDate -> dueField.error = words.get("app_due_hint")
            is TaskEdit.Changes -> if (edit.values.isNotEmpty()) act(saveError, { data.save(key, edit) })
        }
    }

    private fun comment() {
        val body = newComment.text.toString().trim()
        val project = loaded?.project ?: return
        if (body.isEmpty()) return
        newComment.setText("")
        act(commentError, { data.addComment(project, key, body) }, failed = { if (newComment.text.isEmpty()) newComment.setText(body) })
    }
}
