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
    /** What it draws (the navigator scrolls it). */
    val view: View

    /** Ends it: it is no longer shown, and stops following the core. */
    fun end()
}

/**
 * Shows one screen at a time in [content], made by [screenFor] from its [Route]. Going back
 * makes the previous route's screen again rather than keeping it alive out of sight: a screen
 * follows the core only while it shows.
 */
class Navigator(private val content: FrameLayout, private val screenFor: (Route) -> Shown) {
    private val stack = ArrayDeque<Route>()
    private var current: Shown? = null

    /** The route shown, or null before the first. */
    val route: Route? get() = stack.lastOrNull()

    /** Shows [route] on top of the current one. */
    fun go(route: Route) {
        stack.addLast(route)
        show(route)
    }

    /** Shows [route] alone: Back from it leaves the app (after signing in, for instance). */
    fun start(route: Route) {
        stack.clear()
        go(route)
    }

    /** Shows the route below the current one; false when there is none (Back leaves the app). */
    fun back(): Boolean {
        if (stack.size < 2) return false
        stack.removeLast()
        show(stack.last())
        return true
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
    }
}
