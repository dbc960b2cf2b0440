// The sample app under Robolectric with a colleague's edits arriving live (issue 21): alice's
// screen of p-harbor is open and she does nothing; bob's device (a second core, bob's token)
// adds a task, ticks it, then deletes it, each pushed to the server at once. Alice's open list
// shows each step by itself: no sync is asked for, no periodic sync is due (15 minutes), and she
// makes no edit of her own that would sync after it. Only the live stream's hint brings them.
// The row is drawn unticked and ticked (docs/screenshots/android/app-live-tick-*).
package dev.syncline.sample

import android.view.View
import android.widget.CheckBox
import dev.syncline.android.Screenshots
import dev.syncline.android.until
import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.manualAutoSync
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.BannerKind
import dev.syncline.core.types.Record
import dev.syncline.core.types.SyncState
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import org.robolectric.annotation.GraphicsMode
import java.nio.file.Files
import java.util.UUID

@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], qualifiers = "w411dp-h891dp-xxhdpi")
@GraphicsMode(GraphicsMode.Mode.NATIVE)
class LiveTest {
    init {
        useXmlResources()
    }

    /** Bob's phone: a core of its own that syncs only when told, as the test tells it. */
    private fun bobsPhone(): SynclineClient {
        val dir = Files.createTempDirectory("syncline-bob")
        val config = defaultConfig(testServer, "demo-bob").copy(auto = manualAutoSync(), live = false)
        return SynclineClient.open(dir.resolve("bob.db").toString(), sampleSchema(), config)
    }

    /** Pushes bob's change now; when the server had it (System.nanoTime). */
    private fun push(bob: SynclineClient): Long {
        val start = System.nanoTime()
        runBlocking { bob.syncNow("tasks") }
        val done = System.nanoTime()
        println("live: bob's push took ${(done - start) / 1_000_000} ms")
        return done
    }

    @Test
    fun bobTicksATaskAndAlicesOpenScreenShowsItWithoutAnyAction() {
        val controller = startAndSignIn(testServer, "demo-alice")
        val activity = controller.get()
        val root = activity.window.decorView
        val bob = bobsPhone()
        try {
            until("alice's projects") { root.byTag<View>("project:p-harbor") != null }
            root.byTag<View>("project:p-harbor")!!.performClick()
            until("the harbor's tasks") { root.byTag<View>("task:t-harbor-1") != null }
            val alice = activity.client!!
            until("alice's device to be live") { alice.isLive() }
            // Her first sync is over: from here on, only a hint can start one.
            until("alice's first sync to end") { alice.status().state is SyncState.Idle }

            // Bob adds a task: it appears on alice's screen by itself.
            val key = "t-live-" + UUID.randomUUID()
            bob.insert("tasks", Record(key = key, values = mapOf("project_id" to Value.Text("p-harbor"), "title" to Value.Text("Check the fence gate"), "done" to Value.Boolean(false))))
            var pushed = push(bob)
            until("bob's new task on alice's screen") { root.byTag<View>("task:$key") != null }
            println("live: bob's new task on alice's screen ${(System.nanoTime() - pushed) / 1_000_000} ms after bob's push")
            val box = { root.byTag<CheckBox>("done:$key") }
            assertEquals("not ticked yet", false, box()!!.isChecked)
            until("the banner to go after the hinted sync") { alice.status().state is SyncState.Idle && alice.banner().kind == BannerKind.HIDDEN }
            Screenshots.check("app-live-tick-before", root.byTag<View>("task:$key")!!)

            // Bob ticks it off: alice's box is ticked by itself.
            bob.update("tasks", Record(key = key, values = mapOf("done" to Value.Boolean(true))))
            pushed = push(bob)
            until("bob's tick on alice's screen") { box()?.isChecked == true }
            println("live: bob's tick on alice's screen ${(System.nanoTime() - pushed) / 1_000_000} ms after bob's push")
            assertEquals("alice's store has it too", Value.Boolean(true), alice.get("tasks", key)?.values?.get("done"))
            assertEquals("alice changed nothing", 0uL, alice.status().pending)
            until("the banner to go after the hinted sync") { alice.status().state is SyncState.Idle && alice.banner().kind == BannerKind.HIDDEN }
            Screenshots.check("app-live-tick-after", root.byTag<View>("task:$key")!!)

            // Bob deletes it: it leaves alice's screen by itself (and p-harbor is as it was).
            bob.delete("tasks", key)
            runBlocking { bob.syncNow("tasks") }
            until("bob's delete on alice's screen") { root.byTag<View>("task:$key") == null }
            assertTrue("still live", alice.isLive())
        } finally {
            bob.close()
            controller.pause().stop().destroy()
        }
    }
}
