// Android only: feeds the OS's connectivity to the core. Thin on purpose: the mapping lives in
// plain Kotlin (Connectivity.of), which the JVM tests cover; this file needs an Android SDK to
// build and is not compiled on our Linux machines.
package dev.syncline.android

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import dev.syncline.Connectivity
import dev.syncline.core.SynclineClient
import dev.syncline.report

/** Watches the default network and reports every change to [client]; call [stop] when done. */
class NetworkMonitor(context: Context, private val client: SynclineClient) {
    private val manager: ConnectivityManager =
        requireNotNull(context.getSystemService(ConnectivityManager::class.java)) { "this device has no ConnectivityManager" }

    private val callback = object : ConnectivityManager.NetworkCallback() {
        override fun onCapabilitiesChanged(network: Network, caps: NetworkCapabilities) {
            client.report(
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
            client.report(Connectivity.OFFLINE)
        }
    }

    /** Starts watching; the first callback reports the current network. */
    fun start() {
        if (manager.activeNetwork == null) client.report(Connectivity.OFFLINE)
        manager.registerDefaultNetworkCallback(callback)
    }

    /** Stops watching. */
    fun stop() {
        manager.unregisterNetworkCallback(callback)
    }
}
