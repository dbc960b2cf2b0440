// The signed-in session: the server's URL and the token kept between launches, the client
// opened for them off the main thread, and what runs beside the screens while it is open (the
// network monitor, background sync) and the one thread every screen's writes go through. It
// outlives the activity's views, which are made anew when the configuration changes.
package dev.syncline.sample.app

import android.app.Activity
import android.content.Context
import dev.syncline.android.BackgroundSync
import dev.syncline.android.NetworkMonitor
import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.sampleSchema
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicReference

/** What the user signed in with. */
data class Credentials(
    /** The sync server's URL. */
    val url: String,
    /** The user's token. */
    val token: String,
)

/**
 * The session of [activity]: opens the client and keeps the credentials of the last sign-in
 * that worked in the app's private preferences. [main] is the main thread's dispatcher. Close it
 * when the activity goes.
 */
class Session(
    private val activity: Activity,
    private val main: CoroutineDispatcher,
) : AutoCloseable {
    /** The open client, or null until a sign-in worked. */
    var client: SynclineClient? = null
        private set

    /** Called on the main thread with the client once one is open (the banner follows it). */
    var opened: ((SynclineClient) -> Unit)? = null

    private val scope = CoroutineScope(SupervisorJob() + main)
    private var opening = false

    // One thread for every write, whichever screen asks: writes land in the order the user made
    // them, and a write outlives the screen it was made on (Back right after Save still saves).
    private val writer = Executors.newSingleThreadExecutor { Thread(it, "sample-writes") }.asCoroutineDispatcher()
    private val closeOnExit = mutableListOf<AutoCloseable>()
    private val prefs = activity.getSharedPreferences(PREFS, Context.MODE_PRIVATE)

    /** The credentials of the last sign-in that worked, or null. */
    fun kept(): Credentials? {
        val url = prefs.getString(URL, null) ?: return null
        val token = prefs.getString(TOKEN, null) ?: return null
        return Credentials(url, token)
    }

    /**
     * Opens the client for [credentials] off the main thread (it opens its database), then, on
     * the main thread: the network monitor and background sync follow it, the credentials are
     * kept, [opened] is told, and [done] is called with null; or with why it failed.
     */
    fun open(credentials: Credentials, done: (Throwable?) -> Unit) {
        // A second tap while the first opens (or after) would open the same file twice.
        if (opening || client != null) return
        opening = true
        val path = activity.getDatabasePath(DATABASE).also { it.parentFile?.mkdirs() }.path
        scope.launch {
            val opened = AtomicReference<SynclineClient>()
            try {
                withContext(Dispatchers.IO) {
                    opened.set(SynclineClient.open(path, sampleSchema(), defaultConfig(credentials.url, credentials.token)))
                }
            } catch (e: CancellationException) {
                // The session closed while the database was opening: nobody else would close it.
                opened.get()?.close()
                throw e
            } catch (e: Exception) {
                opening = false
                done(e)
                return@launch
            }
            opening = false
            started(opened.get(), credentials)
            done(null)
        }
    }

    private fun started(client: SynclineClient, credentials: Credentials) {
        this.client = client
        closeOnExit += client
        val monitor = NetworkMonitor(activity, client)
        monitor.start()
        closeOnExit += AutoCloseable { monitor.stop() }
        BackgroundSync.install(activity.application, client)
        prefs.edit().putString(URL, credentials.url).putString(TOKEN, credentials.token).apply()
        opened?.invoke(client)
    }

    /**
     * Runs [write] on the writer thread, after every write asked before it; then, on the main
     * thread, [done] gets its failure, or null.
     */
    fun write(write: () -> Unit, done: (Throwable?) -> Unit) {
        scope.launch {
            done(withContext(writer) { runCatching(write).exceptionOrNull() })
        }
    }

    /** Stops following the client and closes it (writes not yet run are dropped). */
    override fun close() {
        // Cancelled first: an open finishing now must not start a client nobody will close.
        scope.cancel()
        writer.close()
        closeOnExit.reversed().forEach { runCatching { it.close() } }
        closeOnExit.clear()
        client = null
    }

    private companion object {
        const val PREFS = "syncline"
        const val URL = "url"
        const val TOKEN = "token"
        const val DATABASE = "syncline.db"
    }
}
