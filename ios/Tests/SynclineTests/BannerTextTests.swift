// BannerText against the reference texts of docs/banner-text.md and the package's string tables:
// every key in both languages, every placeholder, every rule (plurals, the countdown's rounding,
// when Retry shows). The words come through Bundle.module, as in an app.
import Foundation
@testable import Syncline
import SynclineCore
import SynclineTestSupport
import XCTest

/// One row of the table in docs/banner-text.md.
struct DocRow {
    let key: String
    let english: String
    let german: String
}

/// The rows between the doc's `strings:begin` and `strings:end` markers, as words/src/table.rs
/// reads them.
func documented() throws -> [DocRow] {
    let doc = try String(contentsOfFile: repositoryRoot.appendingPathComponent("docs/banner-text.md").path, encoding: .utf8)
    guard let begin = doc.range(of: "<!-- strings:begin -->"), let end = doc.range(of: "<!-- strings:end -->") else {
        throw Failure(description: "docs/banner-text.md has no strings:begin/end markers")
    }
    return try doc[begin.upperBound..<end.lowerBound]
        .split(separator: "\n")
        .filter { $0.hasPrefix("| ") && !$0.hasPrefix("| key") }
        .map { line in
            let cells = line.trimmingCharacters(in: CharacterSet(charactersIn: "|"))
                .components(separatedBy: " | ")
                .map { $0.trimmingCharacters(in: .whitespaces) }
            try check(cells.count == 3, "a row of three cells: \(line)")
            return DocRow(key: cells[0], english: cells[1], german: cells[2])
        }
}

/// A `Localizable.strings` file as its key → format table, read by Foundation's property-list
/// parser (CoreFoundation's, which also reads these files on Apple systems).
func stringsTable(_ language: String) throws -> [String: String] {
    let path = repositoryRoot.appendingPathComponent("ios/Sources/Syncline/Resources/\(language).lproj/Localizable.strings").path
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    guard let table = try PropertyListSerialization.propertyList(from: data, options: [], format: nil) as? [String: String] else {
        throw Failure(description: "\(path) is not a table of strings")
    }
    return table
}

/// The words of the package's own tables, through `Bundle.module` as an app gets them (the
/// language named, not the process's). Every rule below is checked through these.
let english = BannerText(localization: "en")!
let german = BannerText(localization: "de")!


/// The doc's sample values (its placeholders by name); `{reason}` stays a placeholder, since
/// the doc's row shows it unfilled.
let samples: [String: String] = ["count": "3", "done": "1", "total": "3", "seconds": "5", "status": "503", "reason": "{reason}",
                                 "message": "{message}"]

/// The `{name}` placeholders of a doc text, in order.
func placeholders(_ text: String) -> [String] {
    var names: [String] = []
    var rest = Substring(text)
    while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
        names.append(String(rest[rest.index(after: open)..<close]))
        rest = rest[rest.index(after: close)...]
    }
    return names
}

/// The `%` directives of a format as (argument position, conversion); any other directive is
/// an error, since a wrong one (`%d` for `%lld`, `%@` for a number) misreads its argument.
func directives(_ format: String) throws -> [(position: Int, conversion: String)] {
    var found: [(Int, String)] = []
    var next = 1
    var rest = Substring(format)
    while let percent = rest.firstIndex(of: "%") {
        rest = rest[rest.index(after: percent)...]
        var position = next
        let digits = rest.prefix { $0.isNumber }
        if !digits.isEmpty, rest.dropFirst(digits.count).first == "$" {
            position = Int(digits)!
            rest = rest.dropFirst(digits.count + 1)
        } else {
            next += 1
        }
        if rest.hasPrefix("lld") {
            found.append((position, "lld")); rest = rest.dropFirst(3)
        } else if rest.hasPrefix("@") {
            found.append((position, "@")); rest = rest.dropFirst(1)
        } else {
            throw Failure(description: "unexpected directive in \(format.debugDescription)")
        }
    }
    return found
}

/// Renders `key` of `table` with the doc's sample values, after checking that its directives
/// take exactly the doc's placeholders (numbers as `%lld`, the reason as `%@`).
func renderSample(_ key: String, _ language: String, _ table: [String: String], english doc: String) throws -> String {
    guard let format = table[key] else { throw Failure(description: "\(language): missing key \(key)") }
    let names = placeholders(doc)
    let found = try directives(format)
    // Text placeholders (a reason, the office's message) are `%@`; counts are `%lld`.
    let isText = { (name: String) in name == "reason" || name == "message" }
    let wanted = names.enumerated().map { (position: $0.offset + 1, conversion: isText($0.element) ? "@" : "lld") }
    try check(found.map { "\($0.position)\($0.conversion)" }.sorted() == wanted.map { "\($0.position)\($0.conversion)" }.sorted(),
              "\(language) \(key): \(format.debugDescription) does not take \(names)")
    let args: [CVarArg] = names.map { name -> CVarArg in isText(name) ? samples[name]! : Int64(samples[name]!)! }
    return BannerText { _ in format }.text(key, args)
}

/// A doc text with the sample values in its placeholders.
func filled(_ doc: String) -> String {
    samples.reduce(doc) { text, sample in text.replacingOccurrences(of: "{\(sample.key)}", with: sample.value) }
}

func banner(_ kind: BannerKind, pending: UInt64 = 0, done: UInt32 = 0, total: UInt32 = 0,
            reason: FailureReason? = nil, nextRetryAt: Int64? = nil, canRetry: Bool = false) -> Banner {
    Banner(kind: kind, pending: pending, conflicts: 0, quarantined: 0, entitiesDone: done, entitiesTotal: total,
           reason: reason, nextRetryAt: nextRetryAt, canRetry: canRetry)
}

/// Title and detail on one line, as the terminal client's test shows them.
func line(_ words: BannerText, _ b: Banner, now: Int64) -> String {
    [words.title(b), words.detail(b, now: now)].compactMap { $0 }.joined(separator: " — ")
}


final class BannerTextTests: XCTestCase {
    func testTheTablesAreTheOnesInTheDocs() async throws {
        let documentedRows = try documented()
        let englishTable = try stringsTable("en")
        let germanTable = try stringsTable("de")
        let keys = Set(documentedRows.map(\.key))
        try check(keys.count == documentedRows.count && keys.count >= 20, "the doc lists \(keys.count) keys once each")
        for (language, table) in [("en", englishTable), ("de", germanTable)] {
            try check(Set(table.keys) == keys, "\(language): extra \(Set(table.keys).subtracting(keys).sorted()), missing \(keys.subtracting(table.keys).sorted())")
        }
        for row in documentedRows {
            let en = try renderSample(row.key, "en", englishTable, english: row.english)
            try check(en == filled(row.english), "en \(row.key): \(en.debugDescription) != \(filled(row.english).debugDescription)")
            let de = try renderSample(row.key, "de", germanTable, english: row.english)
            try check(de == filled(row.german), "de \(row.key): \(de.debugDescription) != \(filled(row.german).debugDescription)")
        }
    }


    func testGermanBanners() async throws {
        let now: Int64 = 1_000_000
        let shown = [
            banner(.offline, pending: 3),
            banner(.syncing, done: 1, total: 3),
            banner(.failed, reason: .serverError(status: 503), nextRetryAt: now + 4_200, canRetry: true),
            banner(.failed, reason: .storage(kind: .diskFull)),
        ].map { line(german, $0, now: now) }
        for text in shown { print("  de: \(text)") }
        try check(shown == [
            "Du bist offline · 3 Änderungen warten auf Synchronisierung",
            "Synchronisiere… — 1 von 3",
            "Synchronisierung fehlgeschlagen: Serverfehler (503) — Neuer Versuch in 5 s",
            "Synchronisierung fehlgeschlagen: Gerätespeicher ist voll",
        ], "\(shown)")
        let failed = banner(.failed, reason: .serverError(status: 503), nextRetryAt: now + 4_200, canRetry: true)
        try check(german.retryLabel(failed) == "Erneut versuchen", "Retry label")
        try check(german.accessibilityLabel(failed, now: now) == "Synchronisierung fehlgeschlagen: Serverfehler (503), Neuer Versuch in 5 s",
                  "\(String(describing: german.accessibilityLabel(failed, now: now)))")
        try check(german.title(banner(.hidden, pending: 3)) == nil && german.accessibilityLabel(banner(.hidden), now: now) == nil, "hidden")
    }

    func testTheRulesOfTheDoc() async throws {
        let now: Int64 = 1_000_000
        // Offline: no count, one, many.
        try check(english.title(banner(.offline)) == "You're offline", "offline, nothing pending")
        try check(english.title(banner(.offline, pending: 1)) == "You're offline · 1 change waiting to sync", "one pending")
        try check(german.title(banner(.offline, pending: 1)) == "Du bist offline · 1 Änderung wartet auf Synchronisierung", "one pending, de")
        // The progress line only for a unit of more than one entity.
        try check(english.detail(banner(.syncing, done: 0, total: 1), now: now) == nil, "one entity: no progress line")
        try check(english.detail(banner(.syncing, done: 2, total: 3), now: now) == "2 of 3", "progress")
        // The countdown rounds up; 0 s is "now"; no retry time, no line.
        let retrying = { (at: Int64) in english.detail(banner(.failed, reason: .timeout, nextRetryAt: at), now: now) }
        try check(retrying(now + 5_000) == "Retrying in 5 s" && retrying(now + 5_001) == "Retrying in 6 s" && retrying(now + 1) == "Retrying in 1 s",
                  "rounding up: \([retrying(now + 5_000), retrying(now + 5_001), retrying(now + 1)])")
        try check(retrying(now) == "Retrying now" && retrying(now - 3_000) == "Retrying now", "due or overdue")
        try check(german.detail(banner(.failed, reason: .timeout, nextRetryAt: now), now: now) == "Neuer Versuch läuft", "due, de")
        try check(english.detail(banner(.failed, reason: .timeout), now: now) == nil, "no retry time")
        // Retry only on a failed banner that says it helps.
        try check(english.retryLabel(banner(.failed, reason: .unreachable, canRetry: true)) == "Retry", "Retry")
        try check(english.retryLabel(banner(.failed, reason: .unreachable)) == nil && english.retryLabel(banner(.offline, canRetry: true)) == nil, "no Retry")
        // A failed banner without a reason still says something.
        try check(english.title(banner(.failed)) == "Sync failed: unexpected error", "no reason")
        try check(english.accessibilityLabel(banner(.syncing, done: 1, total: 3), now: now) == "Syncing…, 1 of 3", "accessibility")
    }

    func testEveryReasonHasItsKey() async throws {
        let reasons: [(FailureReason, String)] = [
            (.unreachable, "reason_unreachable"),
            (.timeout, "reason_timeout"),
            (.signInNeeded, "reason_sign_in_needed"),
            (.serverError(status: 503), "reason_server_error"),
            (.rejected(status: 503), "reason_rejected"),
            (.badResponse, "reason_bad_response"),
            (.storage(kind: .diskFull), "reason_disk_full"),
            (.storage(kind: .corrupt), "reason_storage_corrupt"),
            (.storage(kind: .readOnly), "reason_storage_read_only"),
            (.storage(kind: .busy), "reason_storage_busy"),
            (.storage(kind: .other), "reason_storage_failed"),
            (.internal, "reason_internal"),
        ]
        let rows = Dictionary(uniqueKeysWithValues: try documented().map { ($0.key, $0) })
        try check(Set(reasons.map(\.1)) == Set(rows.keys.filter { $0.hasPrefix("reason_") }), "every documented reason is covered")
        for (reason, key) in reasons {
            let row = rows[key]!
            try check(english.reason(reason) == filled(row.english), "en \(reason): \(english.reason(reason))")
            try check(german.reason(reason) == filled(row.german), "de \(reason): \(german.reason(reason))")
        }
    }

    func testEveryRecordStateHasItsMark() async throws {
        let marks: [(RecordState?, String?)] = [
            (.pending, "record_pending"),
            (.inConflict, "record_in_conflict"),
            (.quarantined, "record_quarantined"),
            (.synced, nil),
            (nil, nil),
        ]
        let rows = Dictionary(uniqueKeysWithValues: try documented().map { ($0.key, $0) })
        try check(Set(marks.compactMap(\.1)) == Set(rows.keys.filter { $0.hasPrefix("record_") }), "every documented mark is covered")
        for (state, key) in marks {
            try check(english.recordMark(state) == key.map { rows[$0]!.english }, "en \(String(describing: state))")
            try check(german.recordMark(state) == key.map { rows[$0]!.german }, "de \(String(describing: state))")
        }
        try check(german.recordMark(.pending) == "Noch nicht synchronisiert", "de pending")
    }

    func testTheOfficesRefusalIsFramedInTheLanguage() async throws {
        let words = "Due dates must be today or later."
        try check(english.officeRefusal(code: "rule:due_in_past", message: words) == "Refused by the office: \(words)", "en")
        try check(german.officeRefusal(code: "rule:due_in_past", message: words) == "Vom Büro abgelehnt: \(words)", "de")
        try check(english.officeRefusal(code: "forbidden", message: "outside your projects") == nil, "the server's own codes")
    }

    // The table check first: it checks every format's directives before anything formats with them.
}
