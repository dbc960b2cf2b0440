// What the live-query tests share (WatchFlowTest, InboxFlowTest): a Flow collected in the
// background to wait on, and a client that counts the core's calls to the listeners under a
// Flow, to see from outside whether cancelling a collection stopped the core's watch.
package dev.syncline

import dev.syncline.core.ConflictListener
import dev.syncline.core.ListenerHandle
import dev.syncline.core.PageListener
import dev.syncline.core.QuarantineListener
import dev.syncline.core.SynclineClient
import dev.syncline.core.UniffiWithHandle
import dev.syncline.core.types.Conflict
import dev.syncline.core.types.Page
import dev.syncline.core.types.QuarantinedMutation
import dev.syncline.core.types.Query
import dev.syncline.core.types.SynclineException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import java.util.concurrent.atomic.AtomicInteger

/**
 * A flow collected in the background into a channel, so that a test can act, then wait for the
 * answer it expects. Waits are generous (30 s): the tests assert what arrives, never how fast.
 */
internal class Collected<T>(scope: CoroutineScope, flow: Flow<T>) {
    private val items = Channel<T>(Channel.UNLIMITED)
    val job: Job = scope.launch { flow.collect { items.send(it) } }
    private var last: Any? = "nothing yet"

    /** The next item, whatever it is. */
    suspend fun next(): T = within("item") { receive() }

    /** The first item (skipping others) that satisfies [predicate]. */
    suspend fun until(what: String, predicate: (T) -> Boolean): T = within(what) {
        var item = receive()
        while (!predicate(item)) item = receive()
        item
    }

    private suspend fun receive(): T = items.receive().also { last = it }

    // withTimeout rather than withTimeoutOrNull: a record flow's item may itself be null.
    private suspend fun <R> within(what: String, block: suspend () -> R): R = try {
        withTimeout(30_000) { block() }
    } catch (e: TimeoutCancellationException) {
        throw AssertionError("no $what within 30 s; the last item: $last")
    }
}

/**
 * The same core client (a second reference to the same Rust object), with every call the core
 * makes to a watch's listener counted before it reaches the listener a Flow passed in: the only
 * way to see, from outside, whether cancelling a collection stopped the core's watch.
 */
internal class CountingClient(real: SynclineClient) : SynclineClient(UniffiWithHandle, real.uniffiCloneHandle()) {
    val calls = AtomicInteger()

    override fun watch(entity: String, query: Query, listener: PageListener): ListenerHandle =
        super.watch(entity, query, object : PageListener {
            override fun onPage(page: Page) {
                calls.incrementAndGet()
                listener.onPage(page)
            }

            override fun onError(error: SynclineException) {
                calls.incrementAndGet()
                listener.onError(error)
            }
        })

    override fun watchConflicts(listener: ConflictListener): ListenerHandle =
        super.watchConflicts(object : ConflictListener {
            override fun onConflicts(conflicts: List<Conflict>) {
                calls.incrementAndGet()
                listener.onConflicts(conflicts)
            }

            override fun onError(error: SynclineException) {
                calls.incrementAndGet()
                listener.onError(error)
            }
        })

    override fun watchQuarantined(listener: QuarantineListener): ListenerHandle =
        super.watchQuarantined(object : QuarantineListener {
            override fun onQuarantined(mutations: List<QuarantinedMutation>) {
                calls.incrementAndGet()
                listener.onQuarantined(mutations)
            }

            override fun onError(error: SynclineException) {
                calls.incrementAndGet()
                listener.onError(error)
            }
        })
}
