// Idiomatic Kotlin over the generated bindings: the status, the banner, live queries, the
// conflict inbox and the quarantined mutations as Flows, and the connectivity mapping the Android
// network monitor uses. Every listener of the core becomes a Flow through one helper
// (listenerFlow), so they all register, deliver, fail and stop the same way. Plain Kotlin (no
// android.*), so the JVM tests cover it.
package dev.syncline

import dev.syncline.core.ConflictListener
import dev.syncline.core.ListenerHandle
import dev.syncline.core.PageListener
import dev.syncline.core.QuarantineListener
import dev.syncline.core.RecordListener
import dev.syncline.core.StatusListener
import dev.syncline.core.SynclineClient
import dev.syncline.core.types.Banner
import dev.syncline.core.types.Conflict
import dev.syncline.core.types.Connectivity
import dev.syncline.core.types.NetworkType
import dev.syncline.core.types.Page
import dev.syncline.core.types.QuarantinedMutation
import dev.syncline.core.types.Query
import dev.syncline.core.types.Record
import dev.syncline.core.types.SyncStatus
import dev.syncline.core.types.SynclineException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.channels.SendChannel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn

/**
 * What a listener handed to the core does with its calls: each value goes into the Flow's
 * channel, an error closes the Flow with it. The core calls listeners on a thread of its own, so
 * [send] never suspends (trySend: the channel is conflated, and a value sent after the Flow
 * closed is dropped).
 */
private class Forward<T>(private val channel: SendChannel<T>) {
    fun send(value: T) {
        channel.trySend(value)
    }

    // A Flow cannot deliver an error and go on (the core's watch would), so the error ends it:
    // the collector sees the core's SynclineException and may collect again.
    fun fail(error: SynclineException) {
        channel.close(error)
    }
}

/**
 * The one way a core listener becomes a Flow. [register] hands the core a listener that calls
 * the [Forward] it is given, and returns the core's handle. Cold: each collection registers its
 * own listener. Cancelling the collection, or an error, stops the handle (no call begins after
 * stop()) and frees it now rather than when the GC gets to it. A registration the core refuses
 * (a bad query) throws, which fails the collection with the core's exception. Conflated, like
 * the core's own one-slot mailboxes: a slow collector gets the newest value, never a backlog.
 */
private fun <T> SynclineClient.listenerFlow(register: SynclineClient.(Forward<T>) -> ListenerHandle): Flow<T> =
    callbackFlow {
        // An error may close the channel before register returns (the core calls the listener
        // from the moment it starts): awaitClose then returns at once and still stops the handle.
        val handle = this@listenerFlow.register(Forward(channel))
        awaitClose {
            handle.stop()
            handle.close()
        }
    }.conflate()

/**
 * The client's status: the current value first, then every change. Conflated like the core's
 * own listener: a slow collector sees the latest status, never a backlog. Collecting registers
 * a listener with the core; cancelling the collection stops it.
 */
fun SynclineClient.statusFlow(): Flow<SyncStatus> = listenerFlow<SyncStatus> { to ->
    listen(object : StatusListener {
        override fun onStatus(status: SyncStatus) = to.send(status)
    })
}

/** The banner to show, changing only when it does. */
fun SynclineClient.bannerFlow(): Flow<Banner> = statusFlow().map { it.banner }.distinctUntilChanged()

/** The status as a StateFlow in [scope] (e.g. a ViewModel's), starting from the current value. */
fun SynclineClient.statusState(scope: CoroutineScope): StateFlow<SyncStatus> =
    statusFlow().stateIn(scope, SharingStarted.Eagerly, status())

/**
 * The page [query] selects from [entity], live: the current page first, then a new one after
 * every committed change of [entity] (local writes, pulled pages, push answers, conflicts
 * settled, quarantined mutations retried or discarded), never the same page twice. Cold:
 * collecting starts a watch in the core, cancelling the collection stops it. Conflated, so a
 * slow collector gets the newest page rather than a backlog of stale ones. A bad query fails the
 * collection at once with the core's [SynclineException]; so does a failed re-read (the core's
 * watch would go on, but a Flow has no way to deliver an error and keep going).
 */
fun SynclineClient.watchFlow(entity: String, query: Query): Flow<Page> = listenerFlow<Page> { to ->
    watch(entity, query, object : PageListener {
        override fun onPage(page: Page) = to.send(page)
        override fun onError(error: SynclineException) = to.fail(error)
    })
}

/**
 * The record of [entity] with [key], live: now (`null` when there is none), then after every
 * change of it, its deletion (`null`) included. Cold, cancellable and conflated like
 * [watchFlow]; an unknown entity or a failed re-read fails the collection with the core's
 * [SynclineException].
 */
fun SynclineClient.watchRecordFlow(entity: String, key: String): Flow<Record?> = listenerFlow<Record?> { to ->
    watchRecord(entity, key, object : RecordListener {
        override fun onRecord(record: Record?) = to.send(record)
        override fun onError(error: SynclineException) = to.fail(error)
    })
}

/**
 * The conflicts waiting in the inbox for the user, oldest first, live: the current list first,
 * then a new one after every commit that changed it (a sync that put a conflict in the inbox, a
 * conflict resolved), never the same list twice. A conflicts screen follows this rather than
 * reading again on every status change. Cold, cancellable and conflated like [watchFlow]; a
 * failed read fails the collection with the core's [SynclineException].
 */
fun SynclineClient.conflictsFlow(): Flow<List<Conflict>> = listenerFlow<List<Conflict>> { to ->
    watchConflicts(object : ConflictListener {
        override fun onConflicts(conflicts: List<Conflict>) = to.send(conflicts)
        override fun onError(error: SynclineException) = to.fail(error)
    })
}

/**
 * The quarantined mutations (the server rejected them; users read "Refused by the server"),
 * oldest first, live like [conflictsFlow]: a new list after a push that quarantined one, and
 * after one is retried, edited or discarded. A failed read fails the collection with the core's
 * [SynclineException].
 */
fun SynclineClient.quarantinedFlow(): Flow<List<QuarantinedMutation>> = listenerFlow<List<QuarantinedMutation>> { to ->
    watchQuarantined(object : QuarantineListener {
        override fun onQuarantined(mutations: List<QuarantinedMutation>) = to.send(mutations)
        override fun onError(error: SynclineException) = to.fail(error)
    })
}

/** No usable network. */
fun Connectivity.Companion.offline(): Connectivity = Connectivity(connected = false, kind = NetworkType.NONE, metered = false)

/** Connected through [kind]. */
fun Connectivity.Companion.online(kind: NetworkType, metered: Boolean = false): Connectivity =
    Connectivity(connected = true, kind = kind, metered = metered)

/**
 * From the facts Android's NetworkCapabilities gives: whether the network is validated for
 * internet, its transports, and whether it is unmetered. A network that has not been validated
 * (a captive portal) counts as offline: the core could not reach the server through it anyway.
 */
fun Connectivity.Companion.of(
    validatedInternet: Boolean,
    wifi: Boolean,
    cellular: Boolean,
    ethernet: Boolean,
    notMetered: Boolean,
): Connectivity {
    if (!validatedInternet) return offline()
    val kind = when {
        wifi -> NetworkType.WIFI
        ethernet -> NetworkType.ETHERNET
        cellular -> NetworkType.CELLULAR
        else -> NetworkType.OTHER
    }
    return online(kind, metered = !notMetered)
}
