// The connectivity mapping the Android network monitor uses, as plain Kotlin.
package dev.syncline

import dev.syncline.core.types.Connectivity
import dev.syncline.core.types.NetworkType
import org.junit.Assert.assertEquals
import org.junit.Test

/** Connectivity.of and friends, which NetworkMonitor feeds to the core. */
class ConnectivityTest {
    @Test
    fun unvalidatedNetworksCountAsOffline() {
        val offline = Connectivity(connected = false, kind = NetworkType.NONE, metered = false)
        assertEquals(offline, Connectivity.offline())
        assertEquals(offline, Connectivity.of(false, wifi = true, cellular = false, ethernet = false, notMetered = true))
    }

    @Test
    fun transportsAndMeteringMap() {
        assertEquals(Connectivity(true, NetworkType.WIFI, false), Connectivity.of(true, wifi = true, cellular = false, ethernet = false, notMetered = true))
        assertEquals(Connectivity(true, NetworkType.CELLULAR, true), Connectivity.of(true, wifi = false, cellular = true, ethernet = false, notMetered = false))
        assertEquals(Connectivity(true, NetworkType.ETHERNET, false), Connectivity.of(true, wifi = false, cellular = false, ethernet = true, notMetered = true))
        assertEquals(Connectivity(true, NetworkType.OTHER, false), Connectivity.of(true, wifi = false, cellular = false, ethernet = false, notMetered = true))
    }

    @Test
    fun wifiWinsOverTheOtherTransports() {
        assertEquals(NetworkType.WIFI, Connectivity.of(true, wifi = true, cellular = true, ethernet = true, notMetered = true).kind)
        assertEquals(NetworkType.ETHERNET, Connectivity.of(true, wifi = false, cellular = true, ethernet = true, notMetered = true).kind)
    }
}
