// A project's tasks, live: tick one off, open one, add one (offline too); each task not yet
// synced carries its mark.
package dev.syncline.sample.screens

import dev.syncline.sample.app.Route
import dev.syncline.sample.components.TaskRow
import dev.syncline.sample.components.button
import dev.syncline.sample.components.column
import dev.syncline.sample.components.field
import dev.syncline.sample.components.heading
import dev.syncline.sample.components.stack
import dev.syncline.sample.data.SampleData
import dev.syncline.sample.data.Task

/** The tasks of [project] (named [name]), live, from [data]. */
class TasksScreen(
    host: ScreenHost,
    private val data: SampleData,
    private val project: String,
    name: String,
) : Screen(host) {
    private val rows = context.stack()
    private val title = context.field("new-task", words.get("app_new_task"))
    private val listError = errorLine()
    private val actionError = errorLine()

    override val view = context.column().apply {
        addView(context.heading(words.get("app_tasks", name)))
        addView(listError)
        addView(rows)
        addView(title)
        addView(context.button(words.get("app_add"), "add") { add() })
        addView(actionError)
        addView(context.button(words.get("app_back")) { host.navigator.back() })
    }

    init {
        follow({ data.tasksOf(project) }, listError, ::show)
    }

    private fun show(tasks: List<Task>) {
        rows.removeAllViews()
        for (task in tasks) {
            rows.addView(
                TaskRow(
                    context,
                    task,
                    words.banner.recordMark(task.state),
                    onDone = { done -> act(actionError, { data.setDone(task.key, done) }) },
                    onOpen = { host.navigator.go(Route.Task(task.key)) },
                ),
            )
        }
    }

    private fun add() {
        val text = title.text.toString().trim()
        if (text.isEmpty()) return
        // Emptied at once, ready for the next task; given back if the task could not be added.
        title.setText("")
        act(actionError, { data.addTask(project, text) }, failed = { if (title.text.isEmpty()) title.setText(text) })
    }
}
