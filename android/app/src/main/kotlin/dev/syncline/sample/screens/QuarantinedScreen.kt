// The quarantined mutations, which users read as "Refused changes": each with why, in words
// mapped from the server's code (its own message only as a detail below), or the office's own
// words when its write rules refused it ("Refused by the office: …"); send it again, send it
// with a new title, or discard it (which undoes it here). Follows the quarantined list itself
// (quarantinedFlow), never a status change.
package dev.syncline.sample.screens

import android.widget.EditText
import dev.syncline.core.types.QuarantinedMutation
import dev.syncline.core.types.RecordState
import dev.syncline.sample.data.SampleData

/** The mutations the server refused, live, from [data], with the user's three ways out. */
class QuarantinedScreen(host: ScreenHost, private val data: SampleData) : Screen(host) {
    override val title = words.get("app_quarantined")
    private val items = ui.stack().apply { setPadding(0, ui.dp(8), 0, ui.dp(8)) }
    private val listError = errorLine()
    private val actionError = errorLine()

    /** The title fields shown, by seq. */
    private var titles = mapOf<ULong, EditText>()

    override val view = ui.stack().apply {
        addView(listError)
        addView(actionError)
        addView(items)
    }

    init {
        follow({ data.quarantined() }, listError, ::show)
    }

    private fun show(mutations: List<QuarantinedMutation>) {
        // A title being edited stays while the list changes around it.
        val typed = titles.mapValues { it.value.text.toString() }
        items.removeAllViews()
        if (mutations.isEmpty()) items.addView(ui.secondary(words.get("app_nothing")).apply { setPadding(ui.dp(16), ui.dp(8), ui.dp(16), 0) })
        titles = mutations.associate { q -> q.seq to mutation(q, typed[q.seq]) }
    }

    /** Adds [q]'s card; returns its title field, holding [typed] if the user typed there. */
    private fun mutation(q: QuarantinedMutation, typed: String?): EditText {
        val title = SampleData.title(q)
        val card = ui.card()
        card.addView(ui.secondary(words.entity(q.entity)))
        card.addView(ui.text(title, sp = 18f, bold = true))
        // The office's refusal is its own words for the user, framed in the language; the
        // server's own codes are said in the app's words, with its message as a detail.
        val office = words.banner.officeRefusal(q.code, q.message)
        val why = office ?: words.refusal(q.code) ?: words.banner.recordMark(RecordState.QUARANTINED)!!
        card.addView(ui.text(why, tag = "reason:${q.seq}").apply { setPadding(0, ui.dp(8), 0, ui.dp(4)) })
        if (office == null) card.addView(ui.secondary(words.get("app_server_said", quoted(q.message)), tag = "message:${q.seq}"))
        // Edit: the same change with a new title, sent again (say, after the reason was fixed).
        val edited = ui.field("edit:${q.seq}", words.field("title"))
        edited.edit.setText(typed ?: title)
        card.addView(edited.view)
        card.addView(
            ui.actions(
                ui.textButton(words.get("app_send_edited"), "send-edited:${q.seq}") {
                    val typedTitle = edited.text
                    act(actionError, { data.sendWithTitle(q, typedTitle) })
                },
            ),
        )
        card.addView(
            ui.actions(
                ui.textButton(words.get("app_discard"), "discard:${q.seq}", color = ui.palette.error) { act(actionError, { data.discard(q.seq) }) },
                ui.outlinedButton(words.get("app_retry"), "retry:${q.seq}") { act(actionError, { data.retry(q.seq) }) },
            ),
        )
        items.addView(card)
        return edited.edit
    }

    /** The server's message with its `code quotes` as the language's quotation marks. */
    private fun quoted(message: String): String = Regex("`([^`]*)`").replace(message) { words.get("app_quoted", it.groupValues[1]) }
}
