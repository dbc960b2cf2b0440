// The projects screen: the user's projects (read-only: only the server's admins edit them), each
// leading to its tasks, and above them the way to the conflicts and to the refused changes while
// any wait (their counts come with the status).
package dev.syncline.sample.screens

import dev.syncline.sample.app.Route
import dev.syncline.sample.components.button
import dev.syncline.sample.components.column
import dev.syncline.sample.components.heading
import dev.syncline.sample.components.stack
import dev.syncline.sample.data.Project
import dev.syncline.sample.data.SampleData
import dev.syncline.sample.data.Waiting

/** The user's projects, live, from [data]. */
class ProjectsScreen(host: ScreenHost, private val data: SampleData) : Screen(host) {
    private val waiting = context.stack()
    private val error = errorLine()
    private val projects = context.stack()

    override val view = context.column().apply {
        addView(waiting)
        addView(error)
        addView(projects)
    }

    init {
        follow({ data.waiting() }, error, ::showWaiting)
        follow({ data.projects() }, error, ::showProjects)
    }

    private fun showWaiting(counts: Waiting) {
        waiting.removeAllViews()
        if (counts.conflicts > 0uL) {
            // Unsigned numbers box as kotlin.ULong, which `%d` refuses: hence toLong().
            waiting.addView(context.button(words.get("app_conflicts", counts.conflicts.toLong()), "conflicts") { host.navigator.go(Route.Conflicts) })
        }
        if (counts.quarantined > 0uL) {
            // Tagged with the users' word: SampleAppTest finds the button by it.
            waiting.addView(context.button(words.get("app_quarantined", counts.quarantined.toLong()), "refused") { host.navigator.go(Route.Quarantined) })
        }
    }

    private fun showProjects(list: List<Project>) {
        projects.removeAllViews()
        projects.addView(context.heading(words.get("app_projects")))
        for (p in list) {
            projects.addView(context.button(p.name, "project:${p.key}") { host.navigator.go(Route.Tasks(p.key, p.name)) })
        }
    }
}
