// Waiting in a Robolectric test for what the core does on its own threads: the main looper is
// paused, so the test runs its queue (the views' updates) while it waits.
package dev.syncline.android

import android.os.Looper
import org.robolectric.Shadows.shadowOf

/** Runs the main thread's queue until [done], for up to [seconds]; fails naming [what]. */
fun until(what: String, seconds: Int = 30, done: () -> Boolean) {
    val end = System.currentTimeMillis() + seconds * 1000L
    while (!done()) {
        if (System.currentTimeMillis() > end) throw AssertionError("timed out waiting for $what")
        shadowOf(Looper.getMainLooper()).idle()
        Thread.sleep(10)
    }
}
