// The main thread as a coroutine dispatcher, for the screens' collections and the session's
// answers. Not Dispatchers.Main: that needs kotlinx-coroutines-android, which the library's
// Gradle build brings but scripts/binding-tests' classpath (kotlinx-coroutines-core only) does
// not, and on Android it is no more than a Handler on the main Looper anyway.
package dev.syncline.sample.app

import android.os.Handler
import android.os.Looper
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.asCoroutineDispatcher
import java.util.concurrent.Executor

/**
 * A dispatcher that runs its coroutines on the main thread, each step posted to the main
 * Looper (never run in place, so a step started from a listener's thread never touches a view).
 */
fun mainThread(): CoroutineDispatcher {
    val handler = Handler(Looper.getMainLooper())
    return Executor { step -> handler.post(step) }.asCoroutineDispatcher()
}
