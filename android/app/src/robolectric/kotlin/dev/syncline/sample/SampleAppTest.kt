// The sample app under Robolectric, on the real core and the real server: sign in, the projects,
// a project's tasks fed by a live query, a task added offline marked until it syncs, a task with
// its comments, a conflict and a refused change reached from the banner's Review. Each screen is
// drawn to docs/screenshots/android/ in English and German, light and dark, compared with the
// committed image, and checked for layout (also at font scales 1.3 and 2.0) and for TalkBack.
package dev.syncline.sample

import android.net.ConnectivityManager
import android.net.NetworkCapabilities
import android.view.View
import android.view.ViewGroup
import android.widget.CheckBox
import android.widget.EditText
import android.widget.TextView
import dev.syncline.android.SyncBannerView
import dev.syncline.android.until
import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.manualAutoSync
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.BannerKind
import dev.syncline.core.types.Record
import dev.syncline.core.types.RecordState
import kotlinx.coroutines.runBlocking
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.Shadows.shadowOf
import org.robolectric.android.controller.ActivityController
import org.robolectric.annotation.Config
import org.robolectric.annotation.GraphicsMode
import org.robolectric.shadows.ShadowNetwork
import org.robolectric.shadows.ShadowNetworkCapabilities
import java.nio.file.Files
import java.util.TimeZone
import java.util.UUID

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], qualifiers = "w411dp-h891dp-xxhdpi")
@GraphicsMode(GraphicsMode.Mode.NATIVE)
class SampleAppTest {
    private val server: String = testServer

    init {
        useXmlResources()
    }

    private val zone = TimeZone.getDefault()

    // Due dates are shown as days in the device's zone: in UTC, the images are the same on every
    // machine (t-ridge-1 is due at 08:00 UTC, the day before elsewhere west of UTC-8).
    @Before
    fun inUtc() = TimeZone.setDefault(TimeZone.getTimeZone("UTC"))

    @After
    fun inTheMachinesZone() = TimeZone.setDefault(zone)

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
            assertEquals("Sign in", barTitle(root))
            assertNull("no Up on the first screen", upButton(root))
            drawEverywhere(controller, "sign-in") { it.byTag<View>("sign-in") != null }
            root.byTag<EditText>("url")!!.setText(server)
            // Carol: p-ridge is hers alone, so no other test's writes change what the screenshots show.
            root.byTag<EditText>("token")!!.setText("demo-carol")
            root.byTag<View>("sign-in")!!.performClick()

            // The projects carol sees, from a live query fed by the first sync.
            until("carol's project") { root.byTag<View>("project:p-ridge") != null }
            // The first sync goes on after the projects arrive: wait for it (and its banner) to end.
            until("the first sync to end") { bannerHidden(root) }
            assertEquals("Projects", barTitle(root))
            drawEverywhere(controller, "projects") { it.byTag<View>("project:p-ridge") != null && bannerHidden(it) }
            root.byTag<View>("project:p-ridge")!!.performClick()
            until("the project's tasks") { root.byTag<View>("task:t-ridge-1") != null }
            assertEquals("the project's name is the title", "Ridge substation upgrade", barTitle(root))
            assertNotNull("Up from the tasks", upButton(root))

            // The network goes away; carol adds a task: it shows at once, marked as not synced.
            val connectivity = shadowOf(activity.getSystemService(ConnectivityManager::class.java))
            val network = ShadowNetwork.newInstance(7)
            connectivity.networkCallbacks.toList().forEach { it.onLost(network) }
            root.byTag<EditText>("new-task")!!.setText("Check the valves")
            root.byTag<View>("add")!!.performClick()
            until("the new task, marked") {
                texts(root).contains("Check the valves") && texts(root).contains("Not synced yet")
            }
            until("the offline banner") { texts(root).contains("You're offline · 1 change waiting to sync") }
            drawEverywhere(controller, "tasks-offline") {
                texts(it).contains("Check the valves") && it.byTag<View>("mark") != null && bannerIs(it, BannerKind.OFFLINE)
            }

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

    private fun signedIn(token: String): ActivityController<MainActivity> {
        val controller = startAndSignIn(server, token)
        val root = controller.get().window.decorView
        until("the projects") { root.byTag<View>("project:p-ridge") != null || root.byTag<View>("project:p-harbor") != null }
        until("the first sync to end") { bannerHidden(root) }
        return controller
    }

    @Test
    fun aConflictAndARefusedChangeAreReviewedFromTheBannerInTheUsersWords() {
        val controller = signedIn("demo-carol")
        val activity = controller.get()
        val root = activity.window.decorView
        val client = activity.client!!
        val tablet = otherDevice("demo-carol")
        try {
            // A task both devices know; both change its title, the tablet's reaching the server
            // first. The phone's edit is made before the tablet pushes: the phone is live, and
            // would otherwise have the tablet's title (hinted at once) before making its own.
            val key = "t-" + UUID.randomUUID()
            client.insert("tasks", Record(key = key, values = mapOf("project_id" to Value.Text("p-ridge"), "title" to Value.Text("Inspect the breaker"), "done" to Value.Boolean(false))))
            until("the insert to sync") { client.status().pending == 0uL }
            runBlocking { tablet.syncNow("tasks") }
            tablet.update("tasks", Record(key = key, values = mapOf("title" to Value.Text("Inspect breaker B2"))))
            client.update("tasks", Record(key = key, values = mapOf("title" to Value.Text("Inspect breaker B1"))))
            runBlocking { tablet.syncNow("tasks") }
            // Tasks are settled by the user: the phone's sync puts the overlap in the inbox, and
            // the banner says so, with Review (beside "Syncing…" at first, then alone).
            until("Review in the banner") { appBanner(root)?.reviewOffered == true }
            assertTrue(appBanner(root)!!.performReviewClick())
            val id = client.conflicts().single().id
            until("the conflict on screen") { root.byTag<View>("keep-mine:$id") != null }
            assertEquals("Conflicts", barTitle(root))
            // In the user's words: the entity's and the field's names, not the schema's.
            val shown = texts(root)
            assertTrue(shown.toString(), shown.containsAll(listOf("Task", "Inspect breaker B1", "Title", "Before: Inspect the breaker", "Theirs: Inspect breaker B2", "Mine: Inspect breaker B1")))
            assertFalse(shown.toString(), shown.any { it.contains("tasks") || it.contains("title") })
            // Review again, on the conflicts already: no second copy of the screen to go back through.
            until("the banner to say a decision waits") { bannerIs(root, BannerKind.NEEDS_DECISION) }
            appBanner(root)!!.performReviewClick()
            drawEverywhere(controller, "conflicts") { it.byTag<View>("keep-mine:$id") != null && bannerIs(it, BannerKind.NEEDS_DECISION) }
            root.byTag<View>("keep-mine:$id")!!.performClick()
            // The resolution is written off the main thread and its counts published after its
            // commit: an empty inbox with the old "0 pending" can be seen before her version is
            // even queued. Her title, synced, is only there once it reached the server.
            until("the resolution to reach the server") {
                client.conflicts().isEmpty() && client.status().pending == 0uL &&
                    client.get("tasks", key)?.let { it.state == RecordState.SYNCED && it.values["title"] == Value.Text("Inspect breaker B1") } == true
            }
            runBlocking { tablet.syncNow("tasks") }
            assertEquals("the server has hers", Value.Text("Inspect breaker B1"), tablet.get("tasks", key)?.values?.get("title"))
            until("the screen to say so") { texts(root).contains("Nothing waits for your decision.") }

            // Up, to the projects.
            upButton(root)!!.performClick()
            until("the projects") { root.byTag<View>("project:p-ridge") != null }
            assertNull("Up goes to the first screen", upButton(root))

            // A task in a project carol is not a member of: the server refuses it, and Review
            // opens the refused changes, as no conflict waits.
            client.insert("tasks", Record(key = "t-" + UUID.randomUUID(), values = mapOf("project_id" to Value.Text("p-harbor"), "title" to Value.Text("Not my project"), "done" to Value.Boolean(false))))
            until("the refusal") { client.status().quarantined == 1uL }
            until("Review in the banner") { appBanner(root)?.reviewOffered == true }
            appBanner(root)!!.performReviewClick()
            val seq = client.quarantined().single().seq
            until("the refused change on screen") { root.byTag<View>("discard:$seq") != null }
            assertEquals("Refused changes", barTitle(root))
            // Why, in words from the server's code; its own message only as a detail, its
            // `quotes` as quotation marks.
            assertEquals("You don't have access to this project", root.byTag<TextView>("reason:$seq")!!.text.toString())
            val detail = root.byTag<TextView>("message:$seq")!!.text.toString()
            assertTrue(detail, detail.startsWith("The server said: ") && detail.contains("“p-harbor”") && !detail.contains("`"))
            // As for the conflict: the refusal is counted before the sync's banner goes.
            until("the banner to say a decision waits") { bannerIs(root, BannerKind.NEEDS_DECISION) }
            drawEverywhere(controller, "refused") { it.byTag<View>("discard:$seq") != null && bannerIs(it, BannerKind.NEEDS_DECISION) }
            root.byTag<View>("discard:$seq")!!.performClick()
            until("the refused change to go") { client.status().quarantined == 0uL && texts(root).contains("Nothing waits for your decision.") }

            // Another refusal, this time edited and sent again: still refused (the project is not
            // hers), now with the new title, until discarded too.
            client.insert("tasks", Record(key = "t-" + UUID.randomUUID(), values = mapOf("project_id" to Value.Text("p-harbor"), "title" to Value.Text("Still not mine"), "done" to Value.Boolean(false))))
            until("the second refusal on screen") { client.status().quarantined == 1uL && client.quarantined().isNotEmpty() && root.byTag<View>("edit:${client.quarantined().single().seq}") != null }
            val second = client.quarantined().single().seq
            root.byTag<EditText>("edit:$second")!!.setText("Edited title")
            root.byTag<View>("send-edited:$second")!!.performClick()
            until("the edited change to come back refused") {
                client.quarantined().singleOrNull()?.let { it.seq != second && it.values["title"] == Value.Text("Edited title") } == true
            }
            until("the edited refusal on screen") {
                client.quarantined().singleOrNull()?.let { root.byTag<View>("discard:${it.seq}") } != null
            }
            root.byTag<View>("discard:${client.quarantined().single().seq}")!!.performClick()
            // Read from the store as well: the status's count of the refusal may not be in yet
            // (it is refreshed when the sync ends), and would read 0 before the discard.
            until("the edited refusal to go") { client.quarantined().isEmpty() && client.status().quarantined == 0uL }

            // The office refuses a due date in the past (the test server runs the worked
            // example's write rules): its own words are the reason, framed in the language, with
            // no "The server said" detail under them.
            val yesterday = (System.currentTimeMillis() / 86_400_000 - 1) * 86_400_000
            client.insert("tasks", Record(key = "t-" + UUID.randomUUID(), values = mapOf("project_id" to Value.Text("p-ridge"), "title" to Value.Text("Due yesterday"), "due_at" to Value.Timestamp(yesterday))))
            until("the office's refusal on screen") { client.quarantined().singleOrNull()?.let { root.byTag<View>("reason:${it.seq}") } != null }
            val office = client.quarantined().single().seq
            assertEquals(
                "Refused by the office: The due date is in the past: pick today or a later day.",
                root.byTag<TextView>("reason:$office")!!.text.toString(),
            )
            assertNull("the office's words are the reason, not a detail", root.byTag<View>("message:$office"))
            drawEverywhere(controller, "refused-by-office") { it.byTag<View>("discard:$office") != null && bannerIs(it, BannerKind.NEEDS_DECISION) }
            root.byTag<View>("discard:$office")!!.performClick()
            until("the office's refusal to go") { client.quarantined().isEmpty() && client.status().quarantined == 0uL }

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
            // A task of the demo data, with its notes, its due date and carol's comment.
            root.byTag<View>("project:p-ridge")!!.performClick()
            until("the tasks") { root.byTag<View>("task:t-ridge-1") != null }
            root.byTag<View>("task:t-ridge-1")!!.performClick()
            val fenceLine = { view: View ->
                view.byTag<EditText>("title")?.text?.toString() == "Survey the fence line" && view.byTag<View>("comment:c-ridge-1") != null && bannerHidden(view)
            }
            until("the task screen") { fenceLine(root) }
            assertEquals("Task", barTitle(root))
            drawEverywhere(controller, "task", fenceLine)
            upButton(root)!!.performClick()

            val key = "t-" + UUID.randomUUID()
            client.insert("tasks", Record(key = key, values = mapOf("project_id" to Value.Text("p-ridge"), "title" to Value.Text("Label the cables"), "done" to Value.Boolean(false))))
            until("the new task") { root.byTag<View>("task:$key") != null }
            // Tick it off in the list.
            root.byTag<CheckBox>("done:$key")!!.performClick()
            until("the tick to be saved") { client.get("tasks", key)?.values?.get("done") == Value.Boolean(true) }
            root.byTag<View>("task:$key")!!.performClick()
            until("the task screen") { root.byTag<EditText>("title")?.text?.toString() == "Label the cables" }
            root.byTag<EditText>("title")!!.setText("Label the cables in bay 3")
            root.byTag<EditText>("notes")!!.setText("Use the yellow tags")
            // Ahead of today: the test server runs the worked example's write rules, which
            // refuse a due date in the past.
            val dueDay = java.time.LocalDate.now().plusDays(100).toString()
            root.byTag<EditText>("due")!!.setText(dueDay)
            root.byTag<View>("save")!!.performClick()
            root.byTag<EditText>("new-comment")!!.setText("Started on the left side")
            root.byTag<View>("add-comment")!!.performClick()
            until("the comment, synced, with the server's author") {
                tagged(root, "comment:").any { texts(it) == listOf("Started on the left side", "carol") } && client.status().pending == 0uL
            }
            runBlocking { tablet.syncNow("all") }
            val task = tablet.get("tasks", key)!!
            assertEquals(Value.Text("Label the cables in bay 3"), task.values["title"])
            assertEquals(Value.Text("Use the yellow tags"), task.values["notes"])
            assertEquals(Value.Boolean(true), task.values["done"])
            val due = (task.values["due_at"] as Value.Timestamp).v1
            assertEquals(dueDay, java.time.Instant.ofEpochMilli(due).atZone(java.time.ZoneId.systemDefault()).toLocalDate().toString())
            // Leave p-ridge as it was for the other screens' screenshots (comments stay: append-only).
            client.delete("tasks", key)
            until("the delete to sync") { client.status().pending == 0uL }
        } finally {
            tablet.close()
            controller.pause().stop().destroy()
        }
    }

    /** Whether the app's banner is hidden. */
    private fun bannerHidden(root: View): Boolean =
        bannerIs(root, BannerKind.HIDDEN) && appBanner(root)?.visibility == View.GONE

    /** Whether the app's banner shows [kind]. */
    private fun bannerIs(root: View, kind: BannerKind): Boolean = appBanner(root)?.banner?.kind == kind

    /** The app's banner. */
    private fun appBanner(root: View): SyncBannerView? = all(root).filterIsInstance<SyncBannerView>().firstOrNull()

    /** The app bar's title. */
    private fun barTitle(root: View): String? = root.byTag<TextView>("bar-title")?.text?.toString()

    /** The app bar's Up, when shown. */
    private fun upButton(root: View): View? = all(root).firstOrNull { it.contentDescription == "Navigate up" && it.isShown }

    /** The views under [root] whose tag starts with [prefix]. */
    private fun tagged(root: View, prefix: String): List<View> = all(root).filter { (it.tag as? String)?.startsWith(prefix) == true }

    private fun all(view: View): List<View> = listOf(view) + when (view) {
        is ViewGroup -> (0 until view.childCount).flatMap { all(view.getChildAt(it)) }
        else -> emptyList()
    }
}
