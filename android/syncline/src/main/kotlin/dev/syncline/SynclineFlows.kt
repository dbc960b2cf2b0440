// Idiomatic Kotlin over the generated bindings: the status and banner as Flows, and the
// connectivity mapping the Android network monitor uses. Plain Kotlin (no android.*), so the JVM
// tests cover it.
package dev.syncline

import dev.syncline.core.StatusListener
import dev.syncline.core.SynclineClient
import dev.syncline.core.types.Banner
import dev.syncline.core.types.Connectivity
import dev.syncline.core.types.NetworkType
import dev.syncline.core.types.SyncStatus
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
