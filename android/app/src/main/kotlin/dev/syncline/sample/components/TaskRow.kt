// A task in a project's list: its tick box, its title (which opens it), and its mark while it is
// not synced ("Not synced yet", "Refused by the server", …, in the library's words).
package dev.syncline.sample.components

import android.content.Context
import android.util.TypedValue
import android.view.Gravity
import android.widget.CheckBox
import android.widget.LinearLayout
import android.widget.TextView
import dev.syncline.sample.data.Task

/**
 * [task]'s row, marked with [mark] (null: synced, no mark). Ticking calls [onDone] with the new
 * state; tapping the title calls [onOpen].
 */
class TaskRow(
    context: Context,
    task: Task,
    mark: String?,
    onDone: (Boolean) -> Unit,
    onOpen: () -> Unit,
) : LinearLayout(context) {
    init {
        orientation = HORIZONTAL
        tag = "task:${task.key}"
        gravity = Gravity.CENTER_VERTICAL
        addView(
            CheckBox(context).apply {
                isChecked = task.done
                contentDescription = task.name
                // Set after isChecked, so that drawing the row does not count as a tick.
                setOnCheckedChangeListener { _, checked -> onDone(checked) }
            },
        )
        addView(
            TextView(context).apply {
                text = task.name
                tag = "open:${task.key}"
                setTextSize(TypedValue.COMPLEX_UNIT_SP, 16f)
                setOnClickListener { onOpen() }
            },
            LayoutParams(0, LayoutParams.WRAP_CONTENT, 1f),
        )
        if (mark != null) {
            addView(TextView(context).apply { text = mark; tag = "mark"; setTextColor(MARK_AMBER) })
        }
    }

    private companion object {
        /** The marks' amber: reads as "not done yet" without alarming like the error red. */
        const val MARK_AMBER = 0xFF8A6D00.toInt()
    }
}
