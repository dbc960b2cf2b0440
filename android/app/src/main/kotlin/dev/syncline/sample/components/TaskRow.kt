// A task in a project's list: its tick box, its title and below it its mark while it is not
// synced ("Not synced yet", "Refused by the server", …, in the library's words); the row opens it.
package dev.syncline.sample.components

import android.content.res.ColorStateList
import android.view.Gravity
import android.view.View
import android.widget.CheckBox
import android.widget.ImageView
import android.widget.LinearLayout
import dev.syncline.sample.data.Task

/**
 * [task]'s row, marked with [mark] (null: synced, no mark). Ticking calls [onDone] with the new
 * state; tapping the row elsewhere calls [onOpen].
 */
class TaskRow(
    ui: Ui,
    task: Task,
    mark: String?,
    onDone: (Boolean) -> Unit,
    onOpen: () -> Unit,
) : LinearLayout(ui.context) {
    init {
        orientation = HORIZONTAL
        tag = "task:${task.key}"
        gravity = Gravity.CENTER_VERTICAL
        minimumHeight = ui.dp(if (mark != null) 72 else 56)
        setPadding(ui.dp(4), ui.dp(4), ui.dp(8), ui.dp(4))
        background = ui.rowBackground()
        isClickable = true
        isFocusable = true
        setOnClickListener { onOpen() }
        addView(
            CheckBox(ui.context).apply {
                isChecked = task.done
                tag = "done:${task.key}"
                contentDescription = task.name
                buttonTintList = ColorStateList(
                    arrayOf(intArrayOf(android.R.attr.state_checked), intArrayOf()),
                    intArrayOf(ui.palette.primary, ui.palette.onSurfaceVariant),
                )
                minimumWidth = ui.dp(48)
                minWidth = ui.dp(48)
                minimumHeight = ui.dp(48)
                minHeight = ui.dp(48)
                gravity = Gravity.CENTER
                // Set after isChecked, so that drawing the row does not count as a tick.
                setOnCheckedChangeListener { _, checked -> onDone(checked) }
            },
        )
        addView(
            ui.stack().apply {
                setPadding(ui.dp(4), 0, 0, 0)
                addView(ui.text(task.name))
                if (mark != null) addView(ui.text(mark, sp = 14f, color = ui.palette.mark, tag = "mark"))
            },
            LayoutParams(0, LayoutParams.WRAP_CONTENT, 1f),
        )
        addView(
            ImageView(ui.context).apply {
                setImageDrawable(Icon(Icon.Glyph.CHEVRON, ui.palette.onSurfaceVariant, ui.dp(24)))
                importantForAccessibility = View.IMPORTANT_FOR_ACCESSIBILITY_NO
            },
            LayoutParams(ui.dp(24), ui.dp(24)),
        )
    }
}
