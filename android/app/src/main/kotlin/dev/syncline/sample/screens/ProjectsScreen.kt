// The projects screen: the user's projects (read-only: only the server's admins edit them), each
// leading to its tasks, and above them, while any wait, the way to the conflicts and to the
// refused changes (their counts come with the status).
package dev.syncline.sample.screens

import dev.syncline.sample.app.Route
import dev.syncline.sample.data.Project
import dev.syncline.sample.data.SampleData
import dev.syncline.sample.data.Waiting

/** The user's projects, live, from [data]. */
class ProjectsScreen(host: ScreenHost, private val data: SampleData) : Screen(host) {
    override val title = words.get("app_projects")
    private val waiting = ui.stack()
    private val error = errorLine()
    private val projects = ui.stack()

    override val view = ui.stack().apply {
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
        if (counts.conflicts == 0uL && counts.quarantined == 0uL) return
        waiting.addView(ui.section(words.get("app_waiting")))
        if (counts.conflicts > 0uL) {
            waiting.addView(ui.row(words.get("app_conflicts"), trailing = counts.conflicts.toString(), tag = "conflicts") { host.navigator.go(Route.Conflicts) })
        }
        if (counts.quarantined > 0uL) {
            // Tagged with the users' word: the tests find the row by it.
            waiting.addView(ui.row(words.get("app_quarantined"), trailing = counts.quarantined.toString(), tag = "refused") { host.navigator.go(Route.Quarantined) })
        }
        waiting.addView(ui.section(words.get("app_projects")))
    }

    private fun showProjects(list: List<Project>) {
        projects.removeAllViews()
        list.forEachIndexed { i, p ->
            if (i > 0) projects.addView(ui.divider())
            projects.addView(ui.row(p.name, subtitle = p.description, tag = "project:${p.key}") { host.navigator.go(Route.Tasks(p.key, p.name)) })
        }
    }
}
