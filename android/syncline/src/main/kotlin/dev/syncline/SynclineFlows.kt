// Idiomatic Kotlin over the generated bindings: the status, the banner and live queries as Flows,
// and the connectivity mapping the Android network monitor uses. Plain Kotlin (no android.*), so
// the JVM tests cover it.
package dev.syncline

import dev.syncline.core.PageListener
import dev.syncline.core.RecordListener
import dev.syncline.core.StatusListener
import dev.syncline.core.SynclineClient
import dev.syncline.core.types.Banner
import dev.syncline.core.types.Connectivity
import dev.syncline.core.types.NetworkType
import dev.syncline.core.types.Page
import dev.syncline.core.types.Query
import dev.syncline.core.types.Record
import dev.syncline.core.types.SyncStatus
import dev.syncline.core.types.SynclineException
import kotlinx.coroutines.CoroutineScope
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
 * The client's status: the current value first, then every change. Conflated like the core's
 * own listener: a slow collector sees the latest status, never a backlog. Collecting registers
 * a listener with the core; cancelling the collection stops it.
 */
fun SynclineClient.statusFlow(): Flow<SyncStatus> = callbackFlow {
    val handle = listen(object : StatusListener {
        override fun onStatus(status: SyncStatus) {
            trySend(status)
        }
    })
    awaitClose {
        handle.stop()
        handle.close()
    }
}.conflate()

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
fun SynclineClient.watchFlow(entity: String, query: Query): Flow<Page> = callbackFlow {
    val handle = watch(entity, query, object : PageListener {
        override fun onPage(page: Page) {
            trySend(page)
        }

        override fun onError(error: SynclineException) {
            close(error)
        }
    })
    // stop() ends the calls now; close() frees the handle now rather than when the GC gets to it.
    awaitClose {
        handle.stop()
        handle.close()
    }
}.conflate()

/**
 * The record of [entity] with [key], live: now (`null` when there is none), then after every
 * change of it, its deletion (`null`) included. Cold, cancellable and conflated like
 * [watchFlow]; an unknown entity or a failed re-read fails the collection with the core's
 * [SynclineException].
 */
fun SynclineClient.watchRecordFlow(entity: String, key: String): Flow<Record?> = callbackFlow {
    val handle = watchRecord(entity, key, object : RecordListener {
        override fun onRecord(record: Record?) {
            trySend(record)
        }

        override fun onError(error: SynclineException) {
            close(error)
        }
    })
    awaitClose {
        handle.stop()
        handle.close()
    }
}.conflate()

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
