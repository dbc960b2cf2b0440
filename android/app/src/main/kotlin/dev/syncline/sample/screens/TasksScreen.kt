// A project's tasks, live: tick one off, open one, add one (offline too); each task not yet
// synced carries its mark.
package dev.syncline.sample.screens

import dev.syncline.sample.app.Route
import dev.syncline.sample.components.TaskRow
import dev.syncline.sample.data.SampleData
import dev.syncline.sample.data.Task

/** The tasks of [project] (named [name]), live, from [data]. */
class TasksScreen(
    host: ScreenHost,
    private val data: SampleData,
    private val project: String,
    name: String,
) : Screen(host) {
    override val title = name
    private val rows = ui.stack()
    private val newTask = ui.field("new-task", words.get("app_new_task"))
    private val listError = errorLine()
    private val actionError = errorLine()

    override val view = ui.stack().apply {
        addView(listError)
        addView(rows)
        addView(
            ui.padded().apply {
                addView(newTask.view)
                addView(ui.actions(ui.primaryButton(words.get("app_add"), "add") { add() }))
            },
        )
        addView(actionError)
    }

    init {
        follow({ data.tasksOf(project) }, listError, ::show)
    }

    private fun show(tasks: List<Task>) {
        rows.removeAllViews()
        if (tasks.isEmpty()) rows.addView(ui.secondary(words.get("app_no_tasks")).apply { setPadding(ui.dp(16), ui.dp(16), ui.dp(16), 0) })
        tasks.forEachIndexed { i, task ->
            if (i > 0) rows.addView(ui.divider())
            rows.addView(
                TaskRow(
                    ui,
                    task,
                    words.banner.recordMark(task.state),
                    onDone = { done -> act(actionError, { data.setDone(task.key, done) }) },
                    onOpen = { host.navigator.go(Route.Task(task.key)) },
                ),
            )
        }
    }

    private fun add() {
        val text = newTask.text.trim()
        if (text.isEmpty()) return
        // Emptied at once, ready for the next task; given back if the task could not be added.
        newTask.edit.setText("")
        act(actionError, { data.addTask(project, text) }, failed = { if (newTask.edit.text.isEmpty()) newTask.edit.setText(text) })
    }
}
