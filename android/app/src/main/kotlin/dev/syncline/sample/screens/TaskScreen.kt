// One task: rename it, edit its notes and due date (saving writes only the fields that changed),
// and its comments, append-only (added, never edited), with the author the server sets. The task
// and its comments are each followed live.
package dev.syncline.sample.screens

import android.text.InputType
import dev.syncline.sample.data.Comment
import dev.syncline.sample.data.FieldText
import dev.syncline.sample.data.SampleData
import dev.syncline.sample.data.Task
import dev.syncline.sample.data.TaskEdit

/** Task [key] and its comments, live, from [data]. */
class TaskScreen(host: ScreenHost, private val data: SampleData, private val key: String) : Screen(host) {
    override val title = words.get("app_task")
    private val titleField = ui.field("title", words.field("title"))
    private val notesField = ui.field("notes", words.field("notes"), inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_MULTI_LINE)
    private val dueField = ui.field("due", words.field("due_at"), hint = words.get("app_due_hint"))
    private val comments = ui.stack()
    private val newComment = ui.field("new-comment", words.get("app_new_comment"), inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_FLAG_MULTI_LINE)
    private val taskError = errorLine()
    private val saveError = errorLine()
    private val commentsError = errorLine()
    private val commentError = errorLine()

    /** The task as last read; null until the first read. */
    private var loaded: Task? = null

    override val view = ui.stack().apply {
        addView(taskError)
        addView(
            ui.padded().apply {
                addView(titleField.view)
                addView(notesField.view)
                addView(dueField.view)
                addView(ui.actions(ui.primaryButton(words.get("app_save"), "save") { save() }))
            },
        )
        addView(saveError)
        addView(ui.section(words.get("app_comments")))
        addView(commentsError)
        addView(comments)
        addView(
            ui.padded().apply {
                addView(newComment.view)
                addView(ui.actions(ui.outlinedButton(words.get("app_add_comment"), "add-comment") { comment() }))
            },
        )
        addView(commentError)
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
            titleField.edit.setText(FieldText.display(task.title))
            notesField.edit.setText(task.notes.orEmpty())
            dueField.edit.setText(FieldText.dueDate(task.due))
        }
    }

    private fun showComments(list: List<Comment>) {
        comments.removeAllViews()
        if (list.isEmpty()) comments.addView(ui.secondary(words.get("app_no_comments")).apply { setPadding(ui.dp(16), 0, ui.dp(16), ui.dp(8)) })
        for (c in list) {
            // The body, and below it who wrote it (once the server said) and its mark.
            val about = listOfNotNull(c.author, words.banner.recordMark(c.state)).joinToString(" · ")
            comments.addView(
                ui.stack().apply {
                    tag = "comment:${c.key}"
                    setPadding(ui.dp(16), ui.dp(8), ui.dp(16), ui.dp(8))
                    addView(ui.text(c.body))
                    if (about.isNotEmpty()) addView(ui.secondary(about))
                },
            )
        }
    }

    private fun save() {
        val before = loaded ?: return
        val edit = SampleData.edit(
            before,
            title = titleField.text.trim(),
            notes = notesField.text,
            due = dueField.text.trim(),
        )
        when (edit) {
            TaskEdit.UnreadableDueDate -> dueField.edit.error = words.get("app_due_unreadable")
            is TaskEdit.Changes -> if (edit.values.isNotEmpty()) act(saveError, { data.save(key, edit) })
        }
    }

    private fun comment() {
        val body = newComment.text.trim()
        val project = loaded?.project ?: return
        if (body.isEmpty()) return
        newComment.edit.setText("")
        act(commentError, { data.addComment(project, key, body) }, failed = { if (newComment.edit.text.isEmpty()) newComment.edit.setText(body) })
    }
}
