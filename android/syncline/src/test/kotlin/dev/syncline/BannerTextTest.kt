// The banner's words: the string files against docs/banner-text.md, and the rules that choose and
// fill the strings (the same as the Rust apps' words, words/src/table.rs).
package dev.syncline

import dev.syncline.core.types.Banner
import dev.syncline.core.types.BannerKind
import dev.syncline.core.types.FailureReason
import dev.syncline.core.types.RecordState
import dev.syncline.core.types.StorageErrorKind
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.util.Locale

/** BannerText over the real strings.xml files, English and German. */
class BannerTextTest {
    private val en = XmlStrings("values", Locale.ENGLISH)
    private val de = XmlStrings("values-de", Locale.GERMAN)
    private val english = BannerText(en)
    private val german = BannerText(de)
    private val now = 1_000_000L

    /** key, English, German: the rows between the markers of docs/banner-text.md. */
    private fun documented(): List<Triple<String, String, String>> {
        val doc = File(repoRoot, "docs/banner-text.md").readText()
        val begin = doc.indexOf("<!-- strings:begin -->")
        val end = doc.indexOf("<!-- strings:end -->")
        assertTrue("the markers in docs/banner-text.md", begin >= 0 && end > begin)
        return doc.substring(begin, end).lines()
            .filter { it.startsWith("| ") && !it.startsWith("| key") }
            .map { line ->
                val cells = line.trim('|').split(" | ").map { it.trim() }
                Triple(cells[0], cells[1], cells[2])
            }
    }

    private fun banner(kind: BannerKind) = Banner(
        kind = kind, pending = 0uL, conflicts = 0uL, quarantined = 0uL, entitiesDone = 0u, entitiesTotal = 0u,
        reason = null, nextRetryAt = null, canRetry = false,
    )

    @Test
    fun theFilesHoldExactlyTheDocumentedKeys() {
        val keys = documented().map { it.first }.toSet()
        assertEquals("values/strings.xml", keys, en.table.keys)
        assertEquals("values-de/strings.xml", keys, de.table.keys)
    }

    @Test
    fun everyStringRendersAsTheDocsSay() {
        for ((key, englishDoc, germanDoc) in documented()) {
            // Arguments go in the order the English column names them; a translation that reorders
            // them says so with its positions (%2$d before %1$d).
            val names = Regex("\\{(\\w+)\\}").findAll(englishDoc).map { it.groupValues[1] }.distinct().toList()
            for ((strings, doc) in listOf(en to englishDoc, de to germanDoc)) {
                val sample = mapOf<String, Any>(
                    "count" to 3, "done" to 1, "total" to 3, "seconds" to 5, "status" to 503,
                    "reason" to BannerText(strings).reason(FailureReason.ServerError(503u)),
                    "message" to "The due date is in the past.",
                )
                val args = names.map { sample[it] ?: throw AssertionError("$key: no sample value for {$it}") }
                val expected = names.fold(doc) { text, name -> text.replace("{$name}", sample.getValue(name).toString()) }
                assertEquals(key, expected, strings.get(key, *args.toTypedArray()))
            }
        }
    }

    @Test
    fun germanBanners() {
        val offline = banner(BannerKind.OFFLINE).copy(pending = 3uL)
        val syncing = banner(BannerKind.SYNCING).copy(entitiesDone = 1u, entitiesTotal = 3u)
        val failed = banner(BannerKind.FAILED).copy(
            reason = FailureReason.ServerError(503u),
            nextRetryAt = now + 4_200,
            canRetry = true,
        )
        val diskFull = banner(BannerKind.FAILED).copy(reason = FailureReason.Storage(StorageErrorKind.DISK_FULL))
        val shown = listOf(offline, syncing, failed, diskFull).map { listOfNotNull(german.title(it), german.detail(it, now)) }
        shown.forEach { println(it.joinToString(" — ")) }
        assertEquals(
            listOf(
                listOf("Du bist offline · 3 Änderungen warten auf Synchronisierung"),
                listOf("Synchronisiere…", "1 von 3"),
                listOf("Synchronisierung fehlgeschlagen: Serverfehler (503)", "Neuer Versuch in 5 s"),
                listOf("Synchronisierung fehlgeschlagen: Gerätespeicher ist voll"),
            ),
            shown,
        )
        assertEquals("Erneut versuchen", german.retryLabel(failed))
        assertEquals("Synchronisierung fehlgeschlagen: Serverfehler (503). Neuer Versuch in 5 s", german.accessibilityDescription(failed, now))
    }

    @Test
    fun thePendingCountChoosesTheOfflineSentence() {
        val offline = banner(BannerKind.OFFLINE)
        assertEquals("You're offline", english.title(offline))
        assertEquals("You're offline · 1 change waiting to sync", english.title(offline.copy(pending = 1uL)))
        assertEquals("You're offline · 2 changes waiting to sync", english.title(offline.copy(pending = 2uL)))
        assertEquals("Du bist offline · 1 Änderung wartet auf Synchronisierung", german.title(offline.copy(pending = 1uL)))
        assertNull(english.detail(offline.copy(pending = 2uL), now))
    }

    @Test
    fun theRetryCountdownRoundsUp() {
        val failed = banner(BannerKind.FAILED).copy(reason = FailureReason.Unreachable, canRetry = true)
        fun at(offset: Long) = english.detail(failed.copy(nextRetryAt = now + offset), now)
        assertEquals("Retrying in 1 s", at(1))
        assertEquals("Retrying in 1 s", at(1_000))
        assertEquals("Retrying in 2 s", at(1_001))
        assertEquals("Retrying in 300 s", at(300_000))
        assertEquals("Retrying now", at(0))
        assertEquals("Retrying now", at(-5_000))
        assertEquals("Neuer Versuch läuft", german.detail(failed.copy(nextRetryAt = now), now))
        assertNull("no retry planned", english.detail(failed, now))
    }

    @Test
    fun progressShowsOnlyForMoreThanOneEntity() {
        val syncing = banner(BannerKind.SYNCING)
        assertEquals("Syncing…", english.title(syncing))
        assertNull(english.detail(syncing, now))
        assertNull(english.detail(syncing.copy(entitiesTotal = 1u), now))
        assertEquals("0 of 2", english.detail(syncing.copy(entitiesTotal = 2u), now))
        assertEquals("2 of 2", english.detail(syncing.copy(entitiesDone = 2u, entitiesTotal = 2u), now))
    }

    @Test
    fun everyReasonHasItsOwnWords() {
        val expected = mapOf(
            FailureReason.Unreachable to "server unreachable",
            FailureReason.Timeout to "the server took too long",
            FailureReason.SignInNeeded to "sign-in needed",
            FailureReason.ServerError(500u) to "server error (500)",
            FailureReason.Rejected(400u) to "request refused by the server (400)",
            FailureReason.BadResponse to "bad answer from the server",
            FailureReason.Storage(StorageErrorKind.DISK_FULL) to "this device is out of storage",
            FailureReason.Storage(StorageErrorKind.CORRUPT) to "the local data is damaged",
            FailureReason.Storage(StorageErrorKind.READ_ONLY) to "the local data cannot be written",
            FailureReason.Storage(StorageErrorKind.BUSY) to "the local data is busy",
            FailureReason.Storage(StorageErrorKind.OTHER) to "this device's storage failed",
            FailureReason.Internal to "unexpected error",
        )
        assertEquals("every storage kind", StorageErrorKind.entries.size, expected.keys.count { it is FailureReason.Storage })
        for ((reason, words) in expected) {
            assertEquals(words, english.reason(reason))
            assertNotEquals("$reason is translated", words, german.reason(reason))
        }
        assertEquals("Sync failed: server error (500)", english.title(banner(BannerKind.FAILED).copy(reason = FailureReason.ServerError(500u))))
    }

    @Test
    fun aFailureWithoutAReasonIsUnexpected() {
        assertEquals("Sync failed: unexpected error", english.title(banner(BannerKind.FAILED)))
    }

    @Test
    fun aHiddenBannerSaysNothing() {
        // Counts alone (conflicts waiting) do not make a banner: the kind decides.
        val hidden = banner(BannerKind.HIDDEN).copy(pending = 2uL, conflicts = 1uL, canRetry = true)
        assertNull(english.title(hidden))
        assertNull(english.detail(hidden, now))
        assertNull(english.accessibilityDescription(hidden, now))
    }

    @Test
    fun retryIsOfferedOnlyWhenItHelps() {
        val failed = banner(BannerKind.FAILED).copy(reason = FailureReason.Unreachable, canRetry = true)
        assertEquals("Retry", english.retryLabel(failed))
        assertNull(english.retryLabel(failed.copy(reason = FailureReason.SignInNeeded, canRetry = false)))
    }

    @Test
    fun theAccessibilityDescriptionIsOneUtterance() {
        val syncing = banner(BannerKind.SYNCING).copy(entitiesDone = 1u, entitiesTotal = 3u)
        assertEquals("Syncing… 1 of 3", english.accessibilityDescription(syncing, now))
        assertEquals("Syncing…", english.accessibilityDescription(syncing.copy(entitiesTotal = 1u), now))
        assertEquals(
            "You're offline, 3 changes waiting to sync",
            english.accessibilityDescription(banner(BannerKind.OFFLINE).copy(pending = 3uL), now),
        )
        val failed = banner(BannerKind.FAILED).copy(reason = FailureReason.Timeout, nextRetryAt = now + 2_000)
        assertEquals("Sync failed: the server took too long. Retrying in 2 s", english.accessibilityDescription(failed, now))
    }

    @Test
    fun everyRecordStateHasItsMark() {
        val rows = documented().associateBy { it.first }
        val marks = mapOf(
            RecordState.PENDING to "record_pending",
            RecordState.IN_CONFLICT to "record_in_conflict",
            RecordState.QUARANTINED to "record_quarantined",
        )
        assertEquals("every documented mark", rows.keys.filter { it.startsWith("record_") }.toSet(), marks.values.toSet())
        for ((state, key) in marks) {
            assertEquals(rows.getValue(key).second, english.recordMark(state))
            assertEquals(rows.getValue(key).third, german.recordMark(state))
        }
        assertEquals("Noch nicht synchronisiert", german.recordMark(RecordState.PENDING))
        assertNull("a synced record has no mark", english.recordMark(RecordState.SYNCED))
        assertNull("nor one with no state", english.recordMark(null))
    }

    @Test
    fun theOfficesRefusalIsFramedInTheLanguage() {
        val words = "Due dates must be today or later."
        assertEquals("Refused by the office: $words", english.officeRefusal("rule:due_in_past", words))
        assertEquals("Vom Büro abgelehnt: $words", german.officeRefusal("rule:due_in_past", words))
        assertNull("the server's own codes get the app's words", english.officeRefusal("forbidden", "outside your projects"))
    }
}
