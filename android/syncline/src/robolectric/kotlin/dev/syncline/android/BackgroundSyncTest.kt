// Background sync under Robolectric, on the real core and server: jobs scheduled with
// JobScheduler (ShadowJobScheduler), a job's run syncing what waits, a failure asking for a retry,
// and the app's foreground starts reported to the core.
package dev.syncline.android

import android.app.Activity
import android.app.Application
import android.app.job.JobInfo
import android.app.job.JobScheduler
import dev.syncline.core.SynclineClient
import dev.syncline.online
import dev.syncline.core.defaultConfig
import dev.syncline.core.manualAutoSync
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.Config
import dev.syncline.core.types.Connectivity
import dev.syncline.core.types.NetworkType
import dev.syncline.core.types.Record
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.annotation.Config as RobolectricConfig
import java.nio.file.Files
import java.util.UUID
import java.util.concurrent.ArrayBlockingQueue
import java.util.concurrent.TimeUnit

@RunWith(RobolectricTestRunner::class)
@RobolectricConfig(sdk = [35])
class BackgroundSyncTest {
    private val server: String = System.getenv("SYNCLINE_SERVER_URL") ?: error("SYNCLINE_SERVER_URL is not set")
    private val opened = mutableListOf<AutoCloseable>()

    @After
    fun close() = opened.reversed().forEach { it.close() }

    // Manual: only jobs (and the test) sync, so what a job does is what the test sees.
    private fun open(url: String = server): SynclineClient {
        val config: Config = defaultConfig(url, "demo-alice").copy(auto = manualAutoSync())
        val dir = Files.createTempDirectory("syncline-jobs")
        return SynclineClient.open(dir.resolve("jobs.db").toString(), sampleSchema(), config).also { opened += it }
    }

    private fun task(key: String) = Record(
        key = key,
        values = mapOf("project_id" to Value.Text("p-harbor"), "title" to Value.Text("From the background"), "done" to Value.Boolean(false)),
    )

    private val application: Application get() = RuntimeEnvironment.getApplication()

    private fun scheduler(): JobScheduler = requireNotNull(application.getSystemService(JobScheduler::class.java))

    /** Runs a job's work and waits for its verdict: whether the platform should retry. */
    private fun runJob(): Boolean {
        val verdict = ArrayBlockingQueue<Boolean>(1)
        assertTrue("a client is installed", BackgroundSync.run { verdict.put(it) })
        return verdict.poll(60, TimeUnit.SECONDS) ?: throw AssertionError("the job did not finish")
    }

    @Test
    fun installingSchedulesThePeriodicJobWithANetworkConstraint() {
        BackgroundSync.install(application, open())
        val job = scheduler().getPendingJob(BackgroundSync.PERIODIC_JOB_ID)
        assertNotNull("the periodic job is scheduled", job)
        assertTrue(job!!.isPeriodic)
        assertEquals(BackgroundSync.PERIODIC.toMillis(), job.intervalMillis)
        assertEquals(JobInfo.NETWORK_TYPE_ANY, job.networkType)
        assertEquals(JobInfo.BACKOFF_POLICY_EXPONENTIAL, job.backoffPolicy)
        assertEquals(SyncJobService::class.java.name, job.service.className)
    }

    @Test
    fun leavingTheForegroundWithPendingChangesSchedulesAJobWhoseRunSyncsThem() {
        val client = open()
        BackgroundSync.install(application, client)
        val activity = Robolectric.buildActivity(Activity::class.java).setup()
        assertFalse("nothing waits yet", BackgroundSync.scheduleIfPending(application))
        val key = "t-job-" + UUID.randomUUID()
        client.insert("tasks", task(key))
        assertEquals(1uL, client.status().pending)
        assertEquals(null, scheduler().getPendingJob(BackgroundSync.ONE_SHOT_JOB_ID))

        activity.pause().stop()
        val job = scheduler().getPendingJob(BackgroundSync.ONE_SHOT_JOB_ID)
        assertNotNull("leaving the foreground with a change waiting schedules a sync", job)
        assertEquals(JobInfo.NETWORK_TYPE_ANY, job!!.networkType)

        client.reportConnectivity(Connectivity.online(NetworkType.WIFI))
        assertFalse("a successful job needs no retry", runJob())
        assertEquals(0uL, client.status().pending)
        assertTrue(client.pendingKeys("tasks").isEmpty())
    }

    @Test
    fun aFailedJobAsksToBeRunAgain() {
        // Nothing listens on port 9 of loopback.
        val client = open("http://127.0.0.1:9")
        BackgroundSync.install(application, client)
        client.insert("tasks", task("t-job-" + UUID.randomUUID()))
        assertTrue("the platform retries it with backoff", runJob())
        assertEquals("the change still waits", 1uL, client.status().pending)
    }

    @Test
    fun theFirstActivityStartedTellsTheCoreTheAppIsBackAndOnlyTheFirst() {
        // Syncs only when told the app is back: what `resumed` does is then visible.
        val manual = manualAutoSync()
        val config = defaultConfig(server, "demo-alice").copy(auto = manual.copy(onResume = true))
        val dir = Files.createTempDirectory("syncline-resume")
        val client = SynclineClient.open(dir.resolve("resume.db").toString(), sampleSchema(), config).also { opened += it }
        BackgroundSync.install(application, client)
        client.reportConnectivity(Connectivity.online(NetworkType.WIFI))
        client.insert("tasks", task("t-resume-" + UUID.randomUUID()))
        val first = Robolectric.buildActivity(Activity::class.java).setup()
        val end = System.currentTimeMillis() + 30_000
        while (client.status().pending != 0uL) {
            if (System.currentTimeMillis() > end) throw AssertionError("the app's return did not sync")
            Thread.sleep(20)
        }
        // A second activity while the first is still started is not a return to the foreground.
        client.insert("tasks", task("t-resume-" + UUID.randomUUID()))
        val second = Robolectric.buildActivity(Activity::class.java).setup()
        Thread.sleep(1_000)
        assertEquals("no sync for a second activity", 1uL, client.status().pending)
        // Both leave, and the app comes back: that is a return, and it syncs.
        first.pause().stop()
        second.pause().stop()
        Robolectric.buildActivity(Activity::class.java).setup()
        val again = System.currentTimeMillis() + 30_000
        while (client.status().pending != 0uL) {
            if (System.currentTimeMillis() > again) throw AssertionError("coming back did not sync")
            Thread.sleep(20)
        }
    }
}
