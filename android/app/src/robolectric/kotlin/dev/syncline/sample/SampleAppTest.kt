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
import dev.syncline.android.Screenshots
import dev.syncline.android.until
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
import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.manualAutoSync
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.BannerKind
import dev.syncline.core.types.Record
import dev.syncline.core.types.RecordState
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import java.nio.file.Files
import java.util.UUID

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], qualifiers = "w411dp-h891dp-xxhdpi")
@GraphicsMode(GraphicsMode.Mode.NATIVE)
class SampleAppTest {
    private val server: String = testServer

    init {
        useEnglishXmlStrings()
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
            // Sign in (drawn before typing: the server's port changes from run to run).
            val content: View = root.findViewById<ViewGroup>(android.R.id.content)!!.getChildAt(0)
            Screenshots.check("app-sign-in", content)
            root.byTag<EditText>("url")!!.setText(server)
            // Carol: p-ridge is hers alone, so no other test's writes change what the screenshots show.
            root.byTag<EditText>("token")!!.setText("demo-carol")
            root.byTag<Button>("sign-in")!!.performClick()

            // The projects carol sees, from a live query fed by the first sync.
            until("carol's project") { root.byTag<Button>("project:p-ridge") != null }
            // The first sync goes on after the projects arrive: wait for it (and its banner) to end.
            until("the first sync to end") { bannerHidden(root) }
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
    /** Another device of [token]'s user, syncing only when told. */
    private fun otherDevice(token: String): SynclineClient {
        val dir = Files.createTempDirectory("syncline-other")
        return SynclineClient.open(dir.resolve("other.db").toString(), sampleSchema(), defaultConfig(server, token).copy(auto = manualAutoSync()))
    }

    private fun signedIn(token: String): org.robolectric.android.controller.ActivityController<MainActivity> {
        val controller = startAndSignIn(server, token)
        val root = controller.get().window.decorView
        until("the projects") { root.byTag<View>("project:p-ridge") != null || root.byTag<View>("project:p-harbor") != null }
        until("the first sync to end") { bannerHidden(root) }
        return controller
    }

    @Test
    fun aConflictIsResolvedOnTheConflictsScreenAndARefusedChangeDiscarded() {
        val controller = signedIn("demo-carol")
        val activity = controller.get()
        val root = activity.window.decorView
        val client = activity.client!!
        val tablet = otherDevice("demo-carol")
        try {
            // A task both devices know; the tablet changes its title first, then the phone.
            val key = "t-" + UUID.randomUUID()
            client.insert("tasks", Record(key = key, values = mapOf("project_id" to Value.Text("p-ridge"), "title" to Value.Text("Inspect the breaker"), "done" to Value.Boolean(false))))
            until("the insert to sync") { client.status().pending == 0uL }
            runBlocking { tablet.syncNow("tasks") }
            tablet.update("tasks", key, mapOf("title" to Value.Text("Inspect breaker B2")))
            runBlocking { tablet.syncNow("tasks") }
            client.update("tasks", key, mapOf("title" to Value.Text("Inspect breaker B1")))
            // Tasks are settled by the user: the phone's sync puts the overlap in the inbox.
            until("the conflict") { root.byTag<Button>("conflicts") != null }
            root.byTag<Button>("conflicts")!!.performClick()
            until("the conflict on screen") { texts(root).any { it.startsWith("title — was: Inspect the breaker") } }
            // The status counts the conflict while its sync still runs: the banner, fed by a
            // listener of its own, may still say "Syncing…" before it says a decision waits.
            until("the banner to say a decision waits") { bannerIs(root, BannerKind.NEEDS_DECISION) }
            val content: View = root.findViewById<ViewGroup>(android.R.id.content)!!.getChildAt(0)
            Screenshots.check("app-conflicts", content)
            val conflict = client.conflicts().single()
            root.byTag<Button>("keep-mine:${conflict.id}")!!.performClick()
            // The resolution is written off the main thread and its counts published after its
            // commit: an empty inbox with the old "0 pending" can be seen before her version is
            // even queued. Her title, synced, is only there once it reached the server.
            until("the resolution to reach the server") {
                client.conflicts().isEmpty() && client.status().pending == 0uL &&
                    client.get("tasks", key)?.let { it.state == RecordState.SYNCED && it.values["title"] == Value.Text("Inspect breaker B1") } == true
            }
            runBlocking { tablet.syncNow("tasks") }
            assertEquals("the server has hers", Value.Text("Inspect breaker B1"), tablet.get("tasks", key)?.values?.get("title"))
            until("the screen to say so") { texts(root).contains("Nothing here.") }

            // A task in a project carol is not a member of: the server refuses it.
            client.insert("tasks", Record(key = "t-" + UUID.randomUUID(), values = mapOf("project_id" to Value.Text("p-harbor"), "title" to Value.Text("Not my project"), "done" to Value.Boolean(false))))
            until("the refusal") { client.status().quarantined == 1uL }
            // Back from the conflicts to the projects, then to the refused changes.
            val back = allButtons(root).first { it.text.toString() == "Back" }
            back.performClick()
            until("the refused changes button") { root.byTag<Button>("refused") != null }
            root.byTag<Button>("refused")!!.performClick()
            until("the refused change on screen") { texts(root).any { it.startsWith("Refused by the server: ") } }
            // As for the conflict: the refusal is counted before the sync's banner goes.
            until("the banner to say a decision waits") { bannerIs(root, BannerKind.NEEDS_DECISION) }
            Screenshots.check("app-refused", root.findViewById<ViewGroup>(android.R.id.content)!!.getChildAt(0))
            val seq = client.quarantined().single().seq
            root.byTag<Button>("discard:$seq")!!.performClick()
            until("the refused change to go") { client.status().quarantined == 0uL && texts(root).contains("Nothing here.") }

            // Another refusal, this time edited and sent again: still refused (the project is not
            // hers), now with the new title, until discarded too.
            client.insert("tasks", Record(key = "t-" + UUID.randomUUID(), values = mapOf("project_id" to Value.Text("p-harbor"), "title" to Value.Text("Still not mine"), "done" to Value.Boolean(false))))
            until("the second refusal on screen") { client.status().quarantined == 1uL && client.quarantined().isNotEmpty() && root.byTag<View>("edit:${client.quarantined().single().seq}") != null }
            val second = client.quarantined().single().seq
            root.byTag<EditText>("edit:$second")!!.setText("Edited title")
            root.byTag<Button>("send-edited:$second")!!.performClick()
            until("the edited change to come back refused") {
                client.quarantined().singleOrNull()?.let { it.seq != second && it.values["title"] == Value.Text("Edited title") } == true
            }
            until("the edited refusal on screen") {
                client.quarantined().singleOrNull()?.let { root.byTag<View>("discard:${it.seq}") } != null
            }
            root.byTag<Button>("discard:${client.quarantined().single().seq}")!!.performClick()
            // Read from the store as well: the status's count of the refusal may not be in yet
            // (it is refreshed when the sync ends), and would read 0 before the discard.
            until("the edited refusal to go") { client.quarantined().isEmpty() && client.status().quarantined == 0uL }

            // Leave p-ridge as it was: the other screens' screenshots show its tasks.
            client.delete("tasks", key)
            until("the delete to sync") { client.status().pending == 0uL }
        } finally {
            tablet.close()
            controller.pause().stop().destroy()
        }
    }

    @Test
    fun aTaskIsRenamedAndCommentedOnAndTheServerSetsTheAuthor() {
        val controller = signedIn("demo-carol")
        val activity = controller.get()
        val root = activity.window.decorView
        val client = activity.client!!
        val tablet = otherDevice("demo-carol")
        try {
            val key = "t-" + UUID.randomUUID()
            client.insert("tasks", Record(key = key, values = mapOf("project_id" to Value.Text("p-ridge"), "title" to Value.Text("Label the cables"), "done" to Value.Boolean(false))))
            root.byTag<Button>("project:p-ridge")!!.performClick()
            until("the new task") { root.byTag<View>("open:$key") != null }
            // Tick it off in the list.
            val row = root.byTag<ViewGroup>("task:$key")!!
            (row.getChildAt(0) as android.widget.CheckBox).performClick()
            until("the tick to be saved") { client.get("tasks", key)?.values?.get("done") == Value.Boolean(true) }
            root.byTag<View>("open:$key")!!.performClick()
            until("the task screen") { root.byTag<EditText>("title")?.text?.toString() == "Label the cables" }
            root.byTag<EditText>("title")!!.setText("Label the cables in bay 3")
            root.byTag<EditText>("notes")!!.setText("Use the yellow tags")
            root.byTag<EditText>("due")!!.setText("2027-03-15")
            root.byTag<Button>("save")!!.performClick()
            root.byTag<EditText>("new-comment")!!.setText("Started on the left side")
            root.byTag<Button>("add-comment")!!.performClick()
            until("the comment, synced, with the server's author") {
                texts(root).any { it.startsWith("carol · Started on the left side") } && client.status().pending == 0uL
            }
            runBlocking { tablet.syncNow("all") }
            val task = tablet.get("tasks", key)!!
            assertEquals(Value.Text("Label the cables in bay 3"), task.values["title"])
            assertEquals(Value.Text("Use the yellow tags"), task.values["notes"])
            assertEquals(Value.Boolean(true), task.values["done"])
            val due = (task.values["due_at"] as Value.Timestamp).v1
            assertEquals("2027-03-15", java.time.Instant.ofEpochMilli(due).atZone(java.time.ZoneId.systemDefault()).toLocalDate().toString())
            // Leave p-ridge as it was for the other screens' screenshots (comments stay: append-only).
            client.delete("tasks", key)
            until("the delete to sync") { client.status().pending == 0uL }
        } finally {
            tablet.close()
            controller.pause().stop().destroy()
        }
    }

    /** Whether the app's banner (the first view of its content) is hidden. */
    private fun bannerHidden(root: View): Boolean =
        bannerIs(root, BannerKind.HIDDEN) && appBanner(root)?.visibility == View.GONE

    /** Whether the app's banner shows [kind]. */
    private fun bannerIs(root: View, kind: BannerKind): Boolean = appBanner(root)?.banner?.kind == kind

    /** The app's banner: the first view of its content. */
    private fun appBanner(root: View): dev.syncline.android.SyncBannerView? {
        val content = root.findViewById<ViewGroup>(android.R.id.content)?.getChildAt(0) as? ViewGroup ?: return null
        return content.getChildAt(0) as? dev.syncline.android.SyncBannerView
    }

    private fun allButtons(view: View): List<Button> = when (view) {
        is Button -> listOf(view)
        is ViewGroup -> (0 until view.childCount).flatMap { allButtons(view.getChildAt(it)) }
        else -> emptyList()
    }
}
