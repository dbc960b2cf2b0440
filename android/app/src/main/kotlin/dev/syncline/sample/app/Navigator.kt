// Navigation between the sample's screens: a stack of routes, one screen shown at a time below
// the banner, and each screen ended when another replaces it (which stops its live queries).
// The navigator knows screens only as a view and an end, so this package never depends on the
// screens that use it.
package dev.syncline.sample.app

import android.view.View
import android.widget.FrameLayout
import android.widget.ScrollView

/** Where the user is: one route per screen, with what that screen shows. */
sealed interface Route {
    /** The sign-in form; [failure] says why the last sign-in did not work, if it did not. */
    data class SignIn(val failure: String? = null) : Route

    /** The user's projects, with the way to the conflicts and the refused changes. */
    data object Projects : Route

    /** The tasks of [project], whose name is [name]. */
    data class Tasks(val project: String, val name: String) : Route

    /** The task with [key], with its comments. */
    data class Task(val key: String) : Route

    /** The conflicts waiting for the user. */
    data object Conflicts : Route

    /** The quarantined mutations ("Refused changes" on screen). */
    data object Quarantined : Route
}

/** A screen as the navigator sees it. */
interface Shown {
    /** Its title, for the app bar. */
    val title: String

    /** What it draws (the navigator scrolls it). */
    val view: View

    /** Ends it: it is no longer shown, and stops following the core. */
    fun end()
}

/**
 * Shows one screen at a time in the frame [showIn] gives it, made by [screenFor] from its
 * [Route], and tells [shown] each one shown and whether there is one to go back (Up) to. Going
 * back makes the previous route's screen again rather than keeping it alive out of sight: a
 * screen follows the core only while it shows.
 */
class Navigator(
    private val screenFor: (Route) -> Shown,
    private val shown: (Shown, canGoBack: Boolean) -> Unit,
) {
    private lateinit var content: FrameLayout
    private val stack = ArrayDeque<Route>()
    private var current: Shown? = null

    /** The route shown, or null before the first. */
    val route: Route? get() = stack.lastOrNull()

    /** Shows [route] on top of the current one; nothing when it is the current one already. */
    fun go(route: Route) {
        if (route == this.route) return
        stack.addLast(route)
        show(route)
    }

    /** Shows [route] alone: Back from it leaves the app (after signing in, for instance). */
    fun start(route: Route) {
        stack.clear()
        stack.addLast(route)
        show(route)
    }

    /** Shows the route below the current one; false when there is none (Back leaves the app). */
    fun back(): Boolean {
        if (stack.size < 2) return false
        stack.removeLast()
        show(stack.last())
        return true
    }

    /**
     * Shows screens in [content] from now on, the current route's at once (when the activity
     * made its views anew, for a new configuration: dark mode, language, font size): the same
     * place, made in the new look.
     */
    fun showIn(content: FrameLayout) {
        this.content = content
        route?.let(::show)
    }

    /** Ends the screen shown (the activity is going). */
    fun end() {
        current?.end()
        current = null
    }

    private fun show(route: Route) {
        end()
        content.removeAllViews()
        val screen = screenFor(route)
        current = screen
        content.addView(ScrollView(content.context).apply { addView(screen.view) })
        shown(screen, stack.size > 1)
    }
}
