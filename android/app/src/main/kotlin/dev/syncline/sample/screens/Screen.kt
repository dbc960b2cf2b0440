// What every screen of the sample shares: where it draws, its words, the session, the way to
// other screens, and a coroutine scope that ends with it. A screen follows the core through the
// library's Flows collected in that scope (so leaving the screen stops the core's watches under
// it) and shows, never swallows, what fails: a live query that stopped, with Try again, and an
// action that did not work, with the core's reason.
package dev.syncline.sample.screens

import android.content.Context
import dev.syncline.core.types.SynclineException
import dev.syncline.sample.app.Navigator
import dev.syncline.sample.app.Session
import dev.syncline.sample.app.Shown
import dev.syncline.sample.app.Words
import dev.syncline.sample.components.ErrorLine
import dev.syncline.sample.components.Ui
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch

/** What the app gives every screen. */
class ScreenHost(
    /** The activity's themed context: the screens' views are made with it, so they follow its theme and language. */
    val context: Context,
    /** The app's words. */
    val words: Words,
    /** The app's look: its views, in its colours. */
    val ui: Ui,
    /** The signed-in session (its client, its writer thread). */
    val session: Session,
    /** The way to other screens. */
    val navigator: Navigator,
    /** The main thread's dispatcher. */
    val main: CoroutineDispatcher,
)

/** A screen: its view, the Flows it follows while it shows, and its actions. */
abstract class Screen(protected val host: ScreenHost) : Shown {
    /** Where the screen's views are made. */
    protected val context: Context = host.context

    /** The app's words. */
    protected val words: Words = host.words

    /** The app's look. */
    protected val ui: Ui = host.ui

    /** The screen's coroutines, on the main thread; cancelled by [end]. */
    protected val scope = CoroutineScope(SupervisorJob() + host.main)

    /** Ends the screen's collections, which stops the core's watches under them. */
    override fun end() {
        scope.cancel()
    }

    /**
     * Collects the Flow [flow] makes while the screen shows, calling [show] with each value on
     * the main thread. When it fails (the core could not read the answer), [error] says why
     * and offers Try again, which collects a new Flow from [flow].
     */
    protected fun <T> follow(flow: () -> Flow<T>, error: ErrorLine, show: (T) -> Unit) {
        scope.launch {
            flow()
                .catch { e -> error.show(words.get("app_read_failed", describe(e))) { follow(flow, error, show) } }
                .collect { show(it) }
        }
    }

    /**
     * Runs [write] on the session's writer thread (off the main thread, in order with the
     * screens' other writes, and to the end even if the user leaves the screen). Then, if the
     * screen still shows: when it worked, [error] hides; when it failed, [error] says why and
     * [failed] runs (to give back what the user typed, say).
     */
    protected fun act(error: ErrorLine, write: () -> Unit, failed: () -> Unit = {}) {
        host.session.write(write) { failure ->
            if (!scope.isActive) return@write
            if (failure == null) {
                error.hide()
            } else {
                error.show(words.get("app_action_failed", describe(failure)))
                failed()
            }
        }
    }

    /** A new error line for this screen (hidden until something fails). */
    protected fun errorLine(): ErrorLine = ErrorLine(ui, words)
}

/**
 * What went wrong, for the screen: the core's own description (uniffi's message would read
 * `detail=…`), else the exception's message.
 */
fun describe(error: Throwable): String = when (error) {
    is SynclineException.InvalidInput -> error.detail
    is SynclineException.NotAllowed -> error.detail
    is SynclineException.Storage -> error.detail
    is SynclineException.Unreachable -> error.detail
    is SynclineException.Timeout -> error.detail
    is SynclineException.SignInNeeded -> error.detail
    is SynclineException.Server -> error.detail
    is SynclineException.BadResponse -> error.detail
    is SynclineException.Discarded -> error.detail
    is SynclineException.Stopped -> error.detail
    else -> error.message ?: error.toString()
}
