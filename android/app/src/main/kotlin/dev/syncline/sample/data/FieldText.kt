// Field values as the screens show them and as the user types them back: text, ticks, and due
// dates as days in the device's time zone.
package dev.syncline.sample.data

import dev.syncline.core.protocol.Value
import java.time.Instant
import java.time.LocalDate
import java.time.ZoneId

/** Values as text and back. */
object FieldText {
    /** [value] to read: "—" for none, ✓/✗ for a boolean, the text itself for text, a day for a time. */
    fun display(value: Value?): String = when (value) {
        null, is Value.Null -> "—"
        is Value.Text -> value.v1
        is Value.Boolean -> if (value.v1) "✓" else "✗"
        is Value.Timestamp -> dueDate(value)
        else -> value.toString()
    }

    /** [value]'s text, or null when it is not text (unset, null). */
    fun text(value: Value?): String? = (value as? Value.Text)?.v1

    /** A due date as the user types it (YYYY-MM-DD, the device's zone), or "" for none. */
    fun dueDate(value: Value?): String = (value as? Value.Timestamp)?.let {
        Instant.ofEpochMilli(it.v1).atZone(ZoneId.systemDefault()).toLocalDate().toString()
    } ?: ""

    /** The start of the typed day in the device's zone, as the core's timestamp; null if unreadable. */
    fun parseDueDate(text: String): Value? = runCatching {
        Value.Timestamp(LocalDate.parse(text).atStartOfDay(ZoneId.systemDefault()).toInstant().toEpochMilli())
    }.getOrNull()
}
