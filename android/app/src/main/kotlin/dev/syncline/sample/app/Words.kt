// The app's words: its own strings (res/values*/strings.xml, keys `app_*`) and the library's
// banner and record marks, in the activity's language; and the user's names for what the core
// names by its schema (entities, fields) and for the server's refusal codes. Screens never hold
// English themselves.
package dev.syncline.sample.app

import dev.syncline.BannerText
import dev.syncline.Strings

/** The app's words: its own and the library's, from one string table. */
class Words(private val strings: Strings) {
    /** The banner's and the record marks' words. */
    val banner = BannerText(strings)

    /** One of the app's own strings, formatted with [args]. */
    fun get(key: String, vararg args: Any): String = strings.get(key, *args)

    /** What users call a record of [entity] ("Task" for `tasks`); the table's name for one the app does not know. */
    fun entity(entity: String): String = when (entity) {
        "tasks" -> get("app_entity_task")
        "comments" -> get("app_entity_comment")
        "projects" -> get("app_entity_project")
        else -> entity
    }

    /** What users call [field] ("Title" for `title`); its name for one the app does not know. */
    fun field(field: String): String = when (field) {
        "title" -> get("app_field_title")
        "notes" -> get("app_field_notes")
        "done" -> get("app_field_done")
        "due_at" -> get("app_field_due")
        else -> field
    }

    /**
     * Why the server refused a mutation, in words, from its `code` (docs/protocol.md; the same
     * mapping as iOS's QuarantineModel); null for a code this version does not know, whose
     * server message is then all there is.
     */
    fun refusal(code: String): String? = when (code) {
        "forbidden" -> get("app_refused_forbidden")
        "not_found" -> get("app_refused_not_found")
        "invalid_value" -> get("app_refused_invalid_value")
        "read_only", "read_only_field" -> get("app_refused_read_only")
        "append_only" -> get("app_refused_append_only")
        "unknown_entity", "unknown_field" -> get("app_refused_unknown")
        else -> null
    }
}
