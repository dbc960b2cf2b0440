// The sample app's session and screens when something fails, under Robolectric on the real core
// and the real server: a sign-in that does not work (typed, or kept from an earlier launch), the
// kept sign-in that does and Back through the screens, a live list the core cannot read (its
// error on screen, and Try again following it anew), an action that fails (its reason on
// screen). None of this is drawn to a screenshot: the images of the working screens are
// SampleAppTest's.
package dev.syncline.sample

import android.content.Context
import android.view.View
import android.view.ViewGroup
import android.widget.Button
import android.widget.EditText
import dev.syncline.android.until
import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.manualAutoSync
import dev.syncline.core.protocol.EntitySchema
import dev.syncline.core.protocol.FieldType
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.Record
import dev.syncline.core.types.SynclineException
import dev.syncline.sample.components.ErrorLine
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.android.controller.ActivityController
import org.robolectric.annotation.Config
import org.robolectric.annotation.GraphicsMode
import java.io.File
import java.util.UUID

// The same configuration as SampleAppTest, hence the same sandbox: a sandbox of its own would load
// the generated bindings in a second class loader, whose callbacks the core cannot reach once the
// other loader has registered its own (listeners then fail with "Invalid handle").
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], qualifiers = "w411dp-h891dp-xxhdpi")
@GraphicsMode(GraphicsMode.Mode.NATIVE)
class SessionAndErrorsTest {
    private val server: String = testServer

    init {
        useXmlResources()
    }

    /** The error lines showing an error. */
    private fun errors(view: View): List<ErrorLine> = when (view) {
        is ErrorLine -> listOfNotNull(view.takeIf { it.text != null })
        is ViewGroup -> (0 until view.childCount).flatMap { errors(view.getChildAt(it)) }
        else -> emptyList()
    }

    private fun signIn(url: String, token: String): ActivityController<MainActivity> = startAndSignIn(url, token)

    @Test
    fun aSignInThatFailsSaysWhyOnTheSignInScreen() {
        val controller = signIn("not a server", "demo-carol")
        val root = controller.get().window.decorView
        try {
            until("the sign-in's error") { errors(root).isNotEmpty() }
            val error = errors(root).single().text!!
            assertTrue(error, error.startsWith("Cannot sign in: ") && error.contains("not a server"))
            assertTrue("still on the sign-in screen", root.byTag<View>("sign-in") != null)
        } finally {
            controller.pause().stop().destroy()
        }
    }

    @Test
    @Suppress("DEPRECATION") // onBackPressed: the app handles Back the pre-predictive way (API 35).
    fun aKeptSignInOpensTheProjectsAtLaunchOrSaysWhyItCannot() {
        // Kept from an earlier launch, but no longer usable: the app says why, on the sign-in screen.
        RuntimeEnvironment.getApplication().getSharedPreferences("syncline", Context.MODE_PRIVATE).edit()
            .putString("url", "not a server").putString("token", "demo-carol").commit()
        val first = Robolectric.buildActivity(MainActivity::class.java).setup()
        val root = first.get().window.decorView
        try {
            until("the kept sign-in's error") { errors(root).isNotEmpty() }
            assertTrue(errors(root).single().text!!.startsWith("Cannot sign in: "))
            // Signing in again by hand works, and is kept in place of the old one.
            root.byTag<EditText>("url")!!.setText(server)
            root.byTag<Button>("sign-in")!!.performClick()
            until("the projects") { root.byTag<View>("project:p-ridge") != null }
        } finally {
            first.pause().stop().destroy()
        }

        val second = Robolectric.buildActivity(MainActivity::class.java).setup()
        val activity = second.get()
        val again = activity.window.decorView
        try {
            until("the projects, without signing in") { again.byTag<View>("project:p-ridge") != null }
            assertTrue("no sign-in form", again.byTag<View>("sign-in") == null)
            // Back goes down the screens' stack, and leaves the app from the first.
            again.byTag<View>("project:p-ridge")!!.performClick()
            until("the tasks") { again.byTag<View>("new-task") != null }
            activity.onBackPressed()
            assertTrue("the tasks are gone", again.byTag<View>("new-task") == null)
            // The projects screen is made again, and its list comes from its own live query.
            until("back on the projects") { again.byTag<View>("project:p-ridge") != null }
            activity.onBackPressed()
            assertTrue("Back from the first screen leaves", activity.isFinishing)
        } finally {
            second.pause().stop().destroy()
        }
    }

    @Test
    fun aListTheCoreCannotReadShowsWhyAndTryAgainFollowsItAnew() {
        // Before the app starts, its database gets a refused task whose `done` was sent as a
        // timestamp (by a build whose schema said so): the app's schema says boolean, so the
        // core cannot read the quarantined list back.
        val path = RuntimeEnvironment.getApplication().getDatabasePath("syncline.db").also { it.parentFile?.mkdirs() }.path
        val seq = runBlocking { refusedWithDoneAsTimestamp(path) }

        val controller = signIn(server, "demo-carol")
        val activity = controller.get()
        val root = activity.window.decorView
        try {
            until("the refused changes button") { root.byTag<View>("refused") != null }
            root.byTag<View>("refused")!!.performClick()
            until("the list's error") { errors(root).isNotEmpty() }
            val error = errors(root).single()
            assertTrue(error.text, error.text!!.startsWith("Cannot show the latest data: ") && error.text!!.contains("done"))
            assertTrue("nothing listed", !texts(root).contains("Nothing waits for your decision."))

            // Trying again while the data is unreadable fails again, and says so again.
            assertTrue(error.performTryAgain())
            until("the error again") { errors(root).isNotEmpty() }

            // Discarding works without reading the values; then the list reads, and Try again shows it.
            activity.client!!.discardQuarantined(seq)
            errors(root).single().performTryAgain()
            until("the empty list") { texts(root).contains("Nothing waits for your decision.") }
            assertTrue("no error left", errors(root).isEmpty())
        } finally {
            controller.pause().stop().destroy()
        }
    }

    @Test
    fun anActionThatFailsShowsWhy() {
        val controller = signIn(server, "demo-carol")
        val activity = controller.get()
        val root = activity.window.decorView
        try {
            until("the projects") { root.byTag<View>("project:p-ridge") != null }
            val client = activity.client!!
            // p-harbor is not carol's: the server refuses her task there.
            client.insert("tasks", Record(key = "t-" + UUID.randomUUID(), values = mapOf("project_id" to Value.Text("p-harbor"), "title" to Value.Text("Not hers"), "done" to Value.Boolean(false))))
            until("the refused changes button") { root.byTag<View>("refused") != null }
            root.byTag<View>("refused")!!.performClick()
            val seq = client.quarantined().single().seq
            until("the refused change on screen") { root.byTag<View>("discard:$seq") != null }

            // Discarded behind the screen's back: the list on screen is stale until the main
            // thread runs again, and its Discard now names a mutation that is gone.
            client.discardQuarantined(seq)
            root.byTag<View>("discard:$seq")!!.performClick()
            until("the action's error") { errors(root).isNotEmpty() }
            val error = errors(root).single().text!!
            assertTrue(error, error.startsWith("That did not work: "))
            until("the list without it") { texts(root).contains("Nothing waits for your decision.") }
        } finally {
            controller.pause().stop().destroy()
        }
    }

    /**
     * Makes carol's device database at [path] hold one task the server refused, with its `done`
     * sent as a timestamp; returns the refused mutation's seq. The client is closed and its store
     * with it before this returns, so the app opens the file alone.
     */
    private suspend fun refusedWithDoneAsTimestamp(path: String): ULong {
        val schema: List<EntitySchema> = sampleSchema().map { entity ->
            if (entity.name != "tasks") return@map entity
            entity.copy(fields = entity.fields.map { if (it.name == "done") it.copy(fieldType = FieldType.TIMESTAMP) else it })
        }
        val device = SynclineClient.open(path, schema, defaultConfig(server, "demo-carol").copy(auto = manualAutoSync()))
        device.insert("tasks", Record(key = "t-" + UUID.randomUUID(), values = mapOf("project_id" to Value.Text("p-ridge"), "title" to Value.Text("Sent by an old build"), "done" to Value.Timestamp(0))))
        // The push is answered first (refused: the server's `done` is a boolean); the pull after
        // it fails, since the server's tasks hold booleans where this schema wants timestamps.
        val pull = runCatching { device.syncNow("tasks") }.exceptionOrNull()
        assertTrue("the pull fails on the server's booleans: $pull", pull is SynclineException.BadResponse)
        val seq = device.quarantined().single().seq
        device.close()
        // The last connection to close checkpoints the WAL into the file and removes it.
        val wal = File("$path-wal")
        val deadline = System.currentTimeMillis() + 30_000
        while (wal.exists()) {
            if (System.currentTimeMillis() > deadline) throw AssertionError("the device's store never closed: its WAL stays")
            Thread.sleep(10)
        }
        return seq
    }
}
