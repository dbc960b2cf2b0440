// The sample app under Robolectric, on the real core and the real server: sign in, the projects,
// a project's tasks fed by a live query, a task added offline marked until it syncs. Each screen
// is drawn to docs/screenshots/android/ and compared with the committed image.
package dev.syncline.sample

import android.net.ConnectivityManager
import android.net.NetworkCapabilities
import android.os.Looper
import android.view.View
import android.view.ViewGroup
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import dev.syncline.Strings
import dev.syncline.XmlStrings
import dev.syncline.android.Screenshots
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import org.robolectric.annotation.GraphicsMode
import org.robolectric.shadows.ShadowNetwork
import org.robolectric.shadows.ShadowNetworkCapabilities
import java.util.Locale

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], qualifiers = "w411dp-h891dp-xxhdpi")
@GraphicsMode(GraphicsMode.Mode.NATIVE)
class SampleAppTest {
    private val server: String = System.getenv("SYNCLINE_SERVER_URL") ?: error("SYNCLINE_SERVER_URL is not set")

    init {
        val library = XmlStrings("values", Locale.ENGLISH)
        val app = XmlStrings("values", Locale.ENGLISH, module = "android/app")
        MainActivity.strings = { _ ->
            Strings { key, args -> if (key.startsWith("app_")) app.get(key, *args) else library.get(key, *args) }
        }
    }

    private fun until(what: String, seconds: Int = 30, done: () -> Boolean) {
        val end = System.currentTimeMillis() + seconds * 1000L
        while (!done()) {
            if (System.currentTimeMillis() > end) throw AssertionError("timed out waiting for $what")
            shadowOf(Looper.getMainLooper()).idle()
            Thread.sleep(10)
        }
    }

    private fun <T : View> View.byTag(tag: String): T? = findViewWithTag(tag)

    private fun texts(view: View): List<String> = when (view) {
        is TextView -> listOf(view.text.toString())
        is ViewGroup -> (0 until view.childCount).flatMap { texts(view.getChildAt(it)) }
        else -> emptyList()
    }

    private fun wifi(): NetworkCapabilities {
        val caps = ShadowNetworkCapabilities.newInstance()
        shadowOf(caps).addTransportType(NetworkCapabilities.TRANSPORT_WIFI)
        shadowOf(caps).addCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET)
        shadowOf(caps).addCapability(NetworkCapabilities.NET_CAPABILITY_VALIDATED)
        return caps
    }

    @Test
    fun fromSignInToATaskAddedOfflineThatSyncsWhenTheNetworkIsBack() {
        val controller = Robolectric.buildActivity(MainActivity::class.java).setup()
        val activity = controller.get()
        val root = activity.window.decorView
        try {
            // Sign in.
            root.byTag<EditText>("url")!!.setText(server)
            // Carol: p-ridge is hers alone, so no other test's writes change what the screenshots show.
            root.byTag<EditText>("token")!!.setText("demo-carol")
            val content: View = root.findViewById<ViewGroup>(android.R.id.content)!!.getChildAt(0)
            Screenshots.check("app-sign-in", content)
            root.byTag<Button>("sign-in")!!.performClick()

            // The projects carol sees, from a live query fed by the first sync.
            until("carol's project") { root.byTag<Button>("project:p-ridge") != null }
            Screenshots.check("app-projects", content)
            root.byTag<Button>("project:p-ridge")!!.performClick()
            until("the project's tasks") { texts(root).any { it.startsWith("Tasks in") } && root.byTag<View>("task:t-ridge-1") != null }

            // The network goes away; carol adds a task: it shows at once, marked as not synced.
            val connectivity = shadowOf(activity.getSystemService(ConnectivityManager::class.java))
            val network = ShadowNetwork.newInstance(7)
            connectivity.networkCallbacks.toList().forEach { it.onLost(network) }
            root.byTag<EditText>("new-task")!!.setText("Check the valves")
            root.byTag<Button>("add")!!.performClick()
            until("the new task, marked") {
                texts(root).contains("Check the valves") && texts(root).contains("Not synced yet")
            }
            until("the offline banner") { texts(root).contains("You're offline · 1 change waiting to sync") }
            Screenshots.check("app-tasks-offline", content)

            // The network is back: the core syncs by itself, the mark and the banner go.
            connectivity.networkCallbacks.toList().forEach { it.onCapabilitiesChanged(network, wifi()) }
            until("the sync") { !texts(root).contains("Not synced yet") && activity.client?.status()?.pending == 0uL }
            assertNull("no mark left", texts(root).firstOrNull { it == "Not synced yet" })
            assertNotNull(activity.client)
        } finally {
            controller.pause().stop().destroy()
        }
    }
}
