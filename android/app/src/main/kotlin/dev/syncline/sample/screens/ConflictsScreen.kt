// The conflicts screen: each record both sides changed, per field the value before, mine and
// theirs; keep mine, keep theirs, or use a value the user types. Follows the inbox itself
// (conflictsFlow): a new list comes after every change of it, never on a mere status change.
package dev.syncline.sample.screens

import android.widget.EditText
import dev.syncline.core.protocol.Value
import dev.syncline.core.types.Conflict
import dev.syncline.core.types.Resolution
import dev.syncline.sample.components.button
import dev.syncline.sample.components.column
import dev.syncline.sample.components.heading
import dev.syncline.sample.components.label
import dev.syncline.sample.components.stack
import dev.syncline.sample.data.FieldText
import dev.syncline.sample.data.SampleData

/** The conflicts waiting in the inbox, live, from [data], with the user's three ways to settle one. */
class ConflictsScreen(host: ScreenHost, private val data: SampleData) : Screen(host) {
    private val items = context.stack()
    private val listError = errorLine()
    private val actionError = errorLine()

    /** The merged-value fields shown, by conflict id and field name. */
    private var merged = mapOf<Long, Map<String, EditText>>()

    override val view = context.column().apply {
        addView(listError)
        addView(actionError)
        addView(items)
        addView(context.button(words.get("app_back")) { host.navigator.back() })
    }

    init {
        follow({ data.conflicts() }, listError, ::show)
    }

    private fun show(conflicts: List<Conflict>) {
        // What the user typed stays while the list changes around it (another conflict arrives).
        val typed = merged.mapValues { (_, fields) -> fields.mapValues { it.value.text.toString() } }
        items.removeAllViews()
        items.addView(context.heading(words.get("app_conflicts", conflicts.size)))
        if (conflicts.isEmpty()) items.addView(context.label(words.get("app_nothing")))
        merged = conflicts.associate { c -> c.id to conflict(c, typed[c.id].orEmpty()) }
    }

    /** Adds [c]'s views; returns its merged-value fields, filled with [typed] where the user typed. */
    private fun conflict(c: Conflict, typed: Map<String, String>): Map<String, EditText> {
        items.addView(context.label("${c.entity} · ${SampleData.title(c)}", sp = 18f))
        val fields = mutableMapOf<String, EditText>()
        for (field in c.fields) {
            val before = FieldText.display(c.base[field])
            val mine = FieldText.display(c.local?.get(field))
            val theirs = FieldText.display(c.remote?.get(field))
            items.addView(context.label(words.get("app_conflict_field", field, before, mine, theirs)))
            val edit = EditText(context).apply {
                setText(typed[field] ?: mine)
                tag = "merged:${c.id}:$field"
            }
            fields[field] = edit
            items.addView(edit)
        }
        items.addView(context.button(words.get("app_keep_mine"), "keep-mine:${c.id}") { resolve(c.id, Resolution.KeepMine) })
        items.addView(context.button(words.get("app_keep_theirs"), "keep-theirs:${c.id}") { resolve(c.id, Resolution.KeepTheirs) })
        items.addView(
            context.button(words.get("app_use_merged"), "merged:${c.id}") {
                // Sent as text: a value that does not fit its field's type is refused by the
                // core, and the error line says so.
                resolve(c.id, Resolution.Merged(fields.mapValues { Value.Text(it.value.text.toString()) }))
            },
        )
        return fields
    }

    private fun resolve(id: Long, resolution: Resolution) {
        act(actionError, { data.resolve(id, resolution) })
    }
}
