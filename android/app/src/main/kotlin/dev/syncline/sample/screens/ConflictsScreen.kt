// The conflicts screen: each record both sides changed, in the user's words (the entity's name,
// each field's name), per field the value before, theirs and mine; keep mine, keep theirs, or use
// a value the user types. No action is filled: the user chooses between equals. Follows the inbox
// itself (conflictsFlow): a new list comes after every change of it, never on a mere status
// change.
package dev.syncline.sample.screens

import android.widget.EditText
import dev.syncline.core.protocol.Value
import dev.syncline.core.types.Conflict
import dev.syncline.core.types.Resolution
import dev.syncline.sample.data.FieldText
import dev.syncline.sample.data.SampleData

/** The conflicts waiting in the inbox, live, from [data], with the user's three ways to settle one. */
class ConflictsScreen(host: ScreenHost, private val data: SampleData) : Screen(host) {
    override val title = words.get("app_conflicts")
    private val items = ui.stack().apply { setPadding(0, ui.dp(8), 0, ui.dp(8)) }
    private val listError = errorLine()
    private val actionError = errorLine()

    /** The merged-value fields shown, by conflict id and field name. */
    private var merged = mapOf<Long, Map<String, EditText>>()

    override val view = ui.stack().apply {
        addView(listError)
        addView(actionError)
        addView(items)
    }

    init {
        follow({ data.conflicts() }, listError, ::show)
    }

    private fun show(conflicts: List<Conflict>) {
        // What the user typed stays while the list changes around it (another conflict arrives).
        val typed = merged.mapValues { (_, fields) -> fields.mapValues { it.value.text.toString() } }
        items.removeAllViews()
        if (conflicts.isEmpty()) items.addView(ui.secondary(words.get("app_nothing")).apply { setPadding(ui.dp(16), ui.dp(8), ui.dp(16), 0) })
        merged = conflicts.associate { c -> c.id to conflict(c, typed[c.id].orEmpty()) }
    }

    /** Adds [c]'s card; returns its merged-value fields, filled with [typed] where the user typed. */
    private fun conflict(c: Conflict, typed: Map<String, String>): Map<String, EditText> {
        val card = ui.card()
        card.addView(ui.secondary(words.entity(c.entity)))
        card.addView(ui.text(SampleData.title(c), sp = 18f, bold = true))
        val fields = mutableMapOf<String, EditText>()
        for (field in c.fields) {
            card.addView(ui.text(words.field(field), sp = 14f, bold = true, tag = "field:${c.id}:$field").apply { setPadding(0, ui.dp(12), 0, ui.dp(4)) })
            card.addView(ui.secondary(words.get("app_conflict_before", FieldText.display(c.base[field]))))
            card.addView(ui.text(words.get("app_conflict_theirs", FieldText.display(c.remote?.get(field)))))
            card.addView(ui.text(words.get("app_conflict_mine", FieldText.display(c.local?.get(field)))))
            val edit = ui.field("merged:${c.id}:$field", words.get("app_conflict_merged"))
            edit.edit.setText(typed[field] ?: FieldText.display(c.local?.get(field)))
            fields[field] = edit.edit
            card.addView(edit.view)
        }
        card.addView(
            ui.actions(
                ui.textButton(words.get("app_use_merged"), "merged:${c.id}") {
                    // Sent as text: a value that does not fit its field's type is refused by the
                    // core, and the error line says so.
                    resolve(c.id, Resolution.Merged(fields.mapValues { Value.Text(it.value.text.toString()) }))
                },
            ),
        )
        card.addView(
            ui.actions(
                ui.outlinedButton(words.get("app_keep_theirs"), "keep-theirs:${c.id}") { resolve(c.id, Resolution.KeepTheirs) },
                ui.outlinedButton(words.get("app_keep_mine"), "keep-mine:${c.id}") { resolve(c.id, Resolution.KeepMine) },
            ),
        )
        items.addView(card)
        return fields
    }

    private fun resolve(id: Long, resolution: Resolution) {
        act(actionError, { data.resolve(id, resolution) })
    }
}
