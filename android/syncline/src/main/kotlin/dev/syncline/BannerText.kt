// The core's structured banner in words. The core sends no sentences; every front end applies the
// same rules (docs/banner-text.md, words/src/banner_text.rs) to its own string table. Plain Kotlin over a
// string lookup, so the JVM tests cover every rule; the Android lookup is
// dev.syncline.android.ResourceStrings.
package dev.syncline

import dev.syncline.core.types.Banner
import dev.syncline.core.types.BannerKind
import dev.syncline.core.types.FailureReason
import dev.syncline.core.types.RecordState
import dev.syncline.core.types.StorageErrorKind

/**
 * A string table keyed by the names in docs/banner-text.md. [args] fill `%1$…`, `%2$…` in the
 * order the key's placeholders appear in the table's English column.
 */
fun interface Strings {
    /** The string [key] in the user's language, formatted with [args]. */
    fun get(key: String, vararg args: Any): String
}

/** Words for a [Banner] and for a record's sync state, from [strings]. */
class BannerText(private val strings: Strings) {
    /** The banner's first line; null when the banner is hidden. */
    fun title(banner: Banner): String? = when (banner.kind) {
        BannerKind.HIDDEN -> null
        BannerKind.SYNCING -> strings.get("banner_syncing")
        // The core always sends a reason with a failed banner; were one missing, "unexpected
        // error" (as the terminal client says) beats a title with a hole in it.
        BannerKind.FAILED -> strings.get("banner_failed", reason(banner.reason ?: FailureReason.Internal))
        BannerKind.OFFLINE -> when (banner.pending) {
            0uL -> strings.get("banner_offline")
            1uL -> strings.get("banner_offline_pending_one")
            // Unsigned numbers box as kotlin.ULong/UInt/UShort, which `%d` refuses: hence toLong().
            else -> strings.get("banner_offline_pending_other", banner.pending.toLong())
        }
        BannerKind.NEEDS_DECISION -> decision(banner)
    }

    /**
     * The line that says a decision waits (conflicts and quarantined mutations together), whatever
     * the banner's kind, so that no other banner hides it; null when none waits. For
     * [BannerKind.NEEDS_DECISION] it is the title.
     */
    fun decision(banner: Banner): String? = when (val count = banner.conflicts + banner.quarantined) {
        0uL -> null
        1uL -> strings.get("banner_decision_one")
        else -> strings.get("banner_decision_other", count.toLong())
    }

    /** The label of the action that opens the waiting decisions; null when none waits. */
    fun decisionLabel(banner: Banner): String? =
        if (banner.conflicts + banner.quarantined > 0uL) strings.get("banner_decision_action") else null

    /**
     * The banner's second line at [nowMs] (ms since the epoch): the progress of a sync over more
     * than one entity, or when the core retries a failed one. Call again as time passes: the
     * countdown is not in the banner, only the time it ends.
     */
    fun detail(banner: Banner, nowMs: Long): String? = when (banner.kind) {
        BannerKind.SYNCING ->
            if (banner.entitiesTotal > 1u) {
                strings.get("banner_syncing_progress", banner.entitiesDone.toLong(), banner.entitiesTotal.toLong())
            } else {
                null
            }
        BannerKind.FAILED -> banner.nextRetryAt?.let { at ->
            // Rounded up, so "in 1 s" lasts until the retry starts and "now" means now.
            val seconds = ((at - nowMs).coerceAtLeast(0) + 999) / 1000
            if (seconds == 0L) strings.get("banner_retry_now") else strings.get("banner_retry_in", seconds)
        }
        else -> null
    }

    /**
     * The label of the failed banner's Retry action; null when nothing failed or retrying cannot
     * help (e.g. the user must sign in). The same rule as Swift's and the Rust words'.
     */
    fun retryLabel(banner: Banner): String? =
        if (banner.kind == BannerKind.FAILED && banner.canRetry) strings.get("banner_retry_action") else null

    /**
     * The banner as one utterance for a screen reader (a content description): the title and the
     * detail at [nowMs]; null when the banner is hidden.
     */
    fun accessibilityDescription(banner: Banner, nowMs: Long): String? {
        // The middle dot separates two phrases for the eye only; a comma makes a screen reader pause.
        val title = title(banner)?.replace(" · ", ", ") ?: return null
        // The decision line, when it is not the title already.
        val decision = decision(banner)?.takeIf { banner.kind != BannerKind.NEEDS_DECISION }
        val detail = listOfNotNull(detail(banner, nowMs), decision).joinToString(". ").ifEmpty { return title }
        // "Syncing…" already ends a sentence; a second full stop would be read as another pause.
        return if (title.last() in ".…!?") "$title $detail" else "$title. $detail"
    }

    /** Why a sync failed, in words (the `{reason}` of the failed banner's title). */
    fun reason(reason: FailureReason): String = when (reason) {
        FailureReason.Unreachable -> strings.get("reason_unreachable")
        FailureReason.Timeout -> strings.get("reason_timeout")
        FailureReason.SignInNeeded -> strings.get("reason_sign_in_needed")
        is FailureReason.ServerError -> strings.get("reason_server_error", reason.status.toInt())
        is FailureReason.Rejected -> strings.get("reason_rejected", reason.status.toInt())
        FailureReason.BadResponse -> strings.get("reason_bad_response")
        is FailureReason.Storage -> strings.get(
            when (reason.kind) {
                StorageErrorKind.DISK_FULL -> "reason_disk_full"
                StorageErrorKind.CORRUPT -> "reason_storage_corrupt"
                StorageErrorKind.READ_ONLY -> "reason_storage_read_only"
                StorageErrorKind.BUSY -> "reason_storage_busy"
                StorageErrorKind.OTHER -> "reason_storage_failed"
            },
        )
        FailureReason.Internal -> strings.get("reason_internal")
    }

    /**
     * The mark for a record in a list (its [state], as every query and watch delivers it); null
     * for a synced record, which needs none. Say it to screen readers too: it tells the user
     * that a change has not reached the server, or needs them.
     */
    fun recordMark(state: RecordState?): String? = when (state) {
        RecordState.PENDING -> strings.get("record_pending")
        RecordState.IN_CONFLICT -> strings.get("record_in_conflict")
        RecordState.QUARANTINED -> strings.get("record_quarantined")
        RecordState.SYNCED, null -> null
    }

    /**
     * Why a refused (quarantined) change was refused, when the office's write rules refused it
     * (its [code] starts with `rule:`): "Refused by the office: " and the office's own [message],
     * which is meant for the user. Null for the server's own codes, which an app says in its
     * own words (docs/protocol.md lists them).
     */
    fun officeRefusal(code: String, message: String): String? =
        if (code.startsWith(OFFICE_CODE_PREFIX)) strings.get("refused_by_office", message) else null

    private companion object {
        /** The start of the code of a refusal by the office's write rules (docs/backend.md). */
        const val OFFICE_CODE_PREFIX = "rule:"
    }
}
