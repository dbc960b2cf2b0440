// Android only: the core's log in Logcat, under the tag "Syncline".
package dev.syncline.android

import android.util.Log
import dev.syncline.core.LogLevel
import dev.syncline.core.LogSink

/** Writes the core's log records to Logcat; install with `setLogSink(LogcatSink(), LogLevel.INFO)`. */
class LogcatSink : LogSink {
    override fun log(level: LogLevel, target: String, message: String) {
        val priority = when (level) {
            LogLevel.ERROR -> Log.ERROR
            LogLevel.WARN -> Log.WARN
            LogLevel.INFO -> Log.INFO
            LogLevel.DEBUG -> Log.DEBUG
            LogLevel.TRACE -> Log.VERBOSE
        }
        Log.println(priority, "Syncline", "$target: $message")
    }
}
