// Android only: syncing while the app is in the background, with the framework's JobScheduler
// (not WorkManager: AndroidX is not needed, and the code runs under Robolectric here), and
// telling the core when the app comes to the foreground.
package dev.syncline.android

import android.app.Activity
import android.app.Application
import android.app.job.JobInfo
import android.app.job.JobParameters
import android.app.job.JobScheduler
import android.app.job.JobService
import android.content.ComponentName
import android.content.Context
import android.os.Bundle
import dev.syncline.core.SynclineClient
import dev.syncline.core.types.FailureReason
import kotlinx.coroutines.runBlocking
import java.time.Duration

/**
 * Background sync. The app hands over its one client at start ([install]); jobs then sync it
 * through the core, which runs one sync at a time whoever asks (the foreground engine or a job),
 * so a job never races the app's own sync.
 *
 * - a periodic job every [PERIODIC] (the platform's floor is 15 minutes) when any network is up;
 * - a one-shot job, as soon as a network is up, when changes wait and the device goes offline or
 *   the app leaves the foreground ([scheduleIfPending]).
 *
 * A failed job asks the platform to run it again with exponential backoff from [BACKOFF].
 */
object BackgroundSync {
    /** The periodic job's id (any fixed number the app does not use itself). */
    const val PERIODIC_JOB_ID = 0x5359_4e01

    /** The one-shot job's id. */
    const val ONE_SHOT_JOB_ID = 0x5359_4e02

    /** How often the periodic job runs. */
    val PERIODIC: Duration = Duration.ofMinutes(30)

    /** The first retry's delay after a failed job; the platform doubles it each time. */
    val BACKOFF: Duration = Duration.ofSeconds(30)

    /** The sync unit jobs sync (the core's automatic unit). */
    const val UNIT = "all"

    @Volatile
    private var client: SynclineClient? = null

    /**
     * Makes [client] the one jobs sync, schedules the periodic job, and reports the app's
     * foreground starts to the core (first activity started: [SynclineClient.resumed]; last one
     * stopped: [scheduleIfPending]). Call once, from `Application.onCreate`.
     */
    fun install(application: Application, client: SynclineClient) {
        this.client = client
        schedulePeriodic(application)
        application.registerActivityLifecycleCallbacks(ForegroundReporter(application, client))
    }

    /** Schedules (or keeps) the periodic job. */
    fun schedulePeriodic(context: Context) {
        val scheduler = scheduler(context)
        if (scheduler.getPendingJob(PERIODIC_JOB_ID) != null) return
        scheduler.schedule(
            job(context, PERIODIC_JOB_ID)
                .setPeriodic(PERIODIC.toMillis())
                .setPersisted(false)
                .build(),
        )
    }

    /** Schedules the one-shot job when changes are waiting; returns whether it did. */
    fun scheduleIfPending(context: Context): Boolean {
        val client = client ?: return false
        if (client.status().pending == 0uL) return false
        scheduler(context).schedule(job(context, ONE_SHOT_JOB_ID).build())
        return true
    }

    /**
     * The work of a job: one sync of [UNIT], off the main thread, then [finished] with whether
     * the platform should retry it (it failed and retrying can help: not when the user must sign
     * in first). Returns false when there is nothing to run (no client installed).
     */
    fun run(finished: (retry: Boolean) -> Unit): Boolean {
        val client = client ?: return false
        Thread({
            val failed = runCatching { runBlocking { client.syncNow(UNIT) } }.isFailure
            val signIn = client.status().banner.reason == FailureReason.SignInNeeded
            finished(failed && !signIn)
        }, "syncline-job").start()
        return true
    }

    private fun job(context: Context, id: Int): JobInfo.Builder =
        JobInfo.Builder(id, ComponentName(context, SyncJobService::class.java))
            .setRequiredNetworkType(JobInfo.NETWORK_TYPE_ANY)
            .setBackoffCriteria(BACKOFF.toMillis(), JobInfo.BACKOFF_POLICY_EXPONENTIAL)

    private fun scheduler(context: Context): JobScheduler =
        requireNotNull(context.getSystemService(JobScheduler::class.java)) { "this device has no JobScheduler" }
}

/** The job service the platform starts for [BackgroundSync]'s jobs (declared in the manifest). */
class SyncJobService : JobService() {
    override fun onStartJob(params: JobParameters): Boolean =
        BackgroundSync.run { retry -> jobFinished(params, retry) }

    // Stopped by the platform (the network went away): run it again later.
    override fun onStopJob(params: JobParameters): Boolean = true
}

/**
 * Tells the core when the app comes to the foreground ([SynclineClient.resumed]: a sync, and the
 * live stream opens) and when it leaves ([SynclineClient.paused]: the live stream closes, so no
 * connection keeps the radio awake), and schedules a sync when it leaves with changes waiting.
 */
private class ForegroundReporter(
    private val context: Context,
    private val client: SynclineClient,
) : Application.ActivityLifecycleCallbacks {
    private var started = 0

    override fun onActivityStarted(activity: Activity) {
        if (started++ == 0) runCatching { client.resumed() }
    }

    override fun onActivityStopped(activity: Activity) {
        if (--started == 0) {
            runCatching { client.paused() }
            BackgroundSync.scheduleIfPending(context)
        }
    }

    override fun onActivityCreated(activity: Activity, savedInstanceState: Bundle?) {}
    override fun onActivityResumed(activity: Activity) {}
    override fun onActivityPaused(activity: Activity) {}
    override fun onActivitySaveInstanceState(activity: Activity, outState: Bundle) {}
    override fun onActivityDestroyed(activity: Activity) {}
}
