// Android only: feeds the OS's connectivity to the core. Thin on purpose: the mapping lives in
// plain Kotlin (Connectivity.of in SynclineFlows.kt), which the JVM tests cover; this file runs
// under Robolectric (ConnectivityBannerTest).
package dev.syncline.android

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import dev.syncline.core.SynclineClient
import dev.syncline.core.types.Connectivity
import dev.syncline.of
import dev.syncline.offline

/** Watches the default network and reports every change to [client]; call [stop] when done. */
class NetworkMonitor(context: Context, private val client: SynclineClient) {
    private val appContext: Context = context.applicationContext
    private val manager: ConnectivityManager =
        requireNotNull(context.getSystemService(ConnectivityManager::class.java)) { "this device has no ConnectivityManager" }

    private val callback = object : ConnectivityManager.NetworkCallback() {
        override fun onCapabilitiesChanged(network: Network, caps: NetworkCapabilities) {
            client.reportConnectivity(
                Connectivity.of(
                    validatedInternet = caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_VALIDATED),
                    wifi = caps.hasTransport(NetworkCapabilities.TRANSPORT_WIFI),
                    cellular = caps.hasTransport(NetworkCapabilities.TRANSPORT_CELLULAR),
                    ethernet = caps.hasTransport(NetworkCapabilities.TRANSPORT_ETHERNET),
                    notMetered = caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED),
                ),
            )
        }

        override fun onLost(network: Network) {
            client.reportConnectivity(Connectivity.offline())
            // Changes made from now on wait for a network: a job syncs them when one is back,
            // even if the app is no longer in the foreground by then.
            BackgroundSync.scheduleIfPending(appContext)
        }
    }

    /** Starts watching; the first callback reports the current network. */
    fun start() {
        // No callback comes at all when there is no network, and until a report the core assumes
        // one: it would try to sync and show "Sync failed" instead of "You're offline".
        if (manager.activeNetwork == null) client.reportConnectivity(Connectivity.offline())
        manager.registerDefaultNetworkCallback(callback)
    }

    /** Stops watching. */
    fun stop() {
        manager.unregisterNetworkCallback(callback)
    }
}
