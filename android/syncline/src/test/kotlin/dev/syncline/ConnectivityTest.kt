// The connectivity mapping the Android network monitor uses, as plain Kotlin.
package dev.syncline

import dev.syncline.core.NetworkType
import org.junit.Assert.assertEquals
import org.junit.Test

class ConnectivityTest {
    @Test
    fun unvalidatedNetworksCountAsOffline() {
        assertEquals(Connectivity.OFFLINE, Connectivity.of(false, wifi = true, cellular = false, ethernet = false, notMetered = true))
    }

    @Test
    fun transportsAndMeteringMap() {
        assertEquals(Connectivity(true, NetworkType.WIFI, false), Connectivity.of(true, wifi = true, cellular = false, ethernet = false, notMetered = true))
        assertEquals(Connectivity(true, NetworkType.CELLULAR, true), Connectivity.of(true, wifi = false, cellular = true, ethernet = false, notMetered = false))
        assertEquals(Connectivity(true, NetworkType.OTHER, false), Connectivity.of(true, wifi = false, cellular = false, ethernet = false, notMetered = true))
    }
}
