// The quarantined mutations, which users read as "Refused changes": each with the server's
// reason; send it again, send it with a new title, or discard it (which undoes it here). Follows
// the quarantined list itself (quarantinedFlow), never a status change.
package dev.syncline.sample.screens

import android.widget.EditText
import dev.syncline.core.types.QuarantinedMutation
import dev.syncline.core.types.RecordState
import dev.syncline.sample.components.button
import dev.syncline.sample.components.column
import dev.syncline.sample.components.heading
import dev.syncline.sample.components.label
import dev.syncline.sample.components.stack
import dev.syncline.sample.data.SampleData

/** The mutations the server refused, live, from [data], with the user's three ways out. */
class QuarantinedScreen(host: ScreenHost, private val data: SampleData) : Screen(host) {
    private val items = context.stack()
    private val listError = errorLine()
    private val actionError = errorLine()

    /** The title fields shown, by seq. */
    private var titles = mapOf<ULong, EditText>()

    override val view = context.column().apply {
        addView(listError)
        addView(actionError)
        addView(items)
        addView(context.button(words.get("app_back")) { host.navigator.back() })
    }

    init {
        follow({ data.quarantined() }, listError, ::show)
    }

    private fun show(mutations: List<QuarantinedMutation>) {
        // A title being edited stays while the list changes around it.
        val typed = titles.mapValues { it.value.text.toString() }
        items.removeAllViews()
        items.addView(context.heading(words.get("app_quarantined", mutations.size)))
        if (mutations.isEmpty()) items.addView(context.label(words.get("app_nothing")))
        titles = mutations.associate { q -> q.seq to mutation(q, typed[q.seq]) }
    }

    /** Adds [q]'s views; returns its title field, holding [typed] if the user typed there. */
    private fun mutation(q: QuarantinedMutation, typed: String?): EditText {
        val title = SampleData.title(q)
        items.addView(context.label("${q.entity} · $title", sp = 18f))
        items.addView(context.label("${words.banner.recordMark(RecordState.QUARANTINED)}: ${q.message}"))
        items.addView(context.button(words.get("app_retry"), "retry:${q.seq}") { act(actionError, { data.retry(q.seq) }) })
        // Edit: the same change with a new title, sent again (say, after the reason was fixed).
        val edited = EditText(context).apply {
            setText(typed ?: title)
            tag = "edit:${q.seq}"
        }
        items.addView(edited)
        items.addView(
            context.button(words.get("app_send_edited"), "send-edited:${q.seq}") {
                val typedTitle = edited.text.toString()
                act(actionError, { data.sendWithTitle(q, typedTitle) })
            },
        )
        items.addView(context.button(words.get("app_discard"), "discard:${q.seq}") { act(actionError, { data.discard(q.seq) }) })
        return edited
    }
}
