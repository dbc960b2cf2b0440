// The generated Swift bindings, the AsyncStream wrappers and BannerText with a real Swift
// compiler, against the real reference server on loopback (SYNCLINE_SERVER_URL, started with
// --seed-demo) and the real string tables: SYNCLINE_ROOT is a folder laid out like the repository
// with at least docs/banner-text.md and ios/Sources/Syncline/Resources/*.lproj. A plain executable
// (swiftc) so it runs the same on Linux and on a Mac; prints `swift tests: N passed, M failed`
// and exits non-zero on a failure.
import Foundation

struct Failure: Error, CustomStringConvertible {
    let description: String
}

func check(_ condition: Bool, _ what: @autoclosure () -> String) throws {
    if !condition { throw Failure(description: what()) }
}

/// Polls `condition` for up to 30 s (generous for a loaded machine; nothing asserts speed).
func eventually(_ what: String, _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(30)
    while try !condition() {
        if Date() > deadline { throw Failure(description: "never happened: \(what)") }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
}

// Line by line even into a pipe: a crash (a bad format in a table crashes String(format:)) must
// not swallow the lines of the tests before it.
setvbuf(stdout, nil, _IOLBF, 0)

let env = ProcessInfo.processInfo.environment
guard let server = env["SYNCLINE_SERVER_URL"], let root = env["SYNCLINE_ROOT"] else {
    print("SYNCLINE_SERVER_URL and SYNCLINE_ROOT must be set")
    exit(2)
}

// MARK: - The string tables and the reference doc

/// One row of the table in docs/banner-text.md.
struct DocRow {
    let key: String
    let english: String
    let german: String
}

/// The rows between the doc's `strings:begin` and `strings:end` markers, as cli/src/words.rs
/// reads them.
func documented() throws -> [DocRow] {
    let doc = try String(contentsOfFile: "\(root)/docs/banner-text.md", encoding: .utf8)
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
    let path = "\(root)/ios/Sources/Syncline/Resources/\(language).lproj/Localizable.strings"
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    guard let table = try PropertyListSerialization.propertyList(from: data, options: [], format: nil) as? [String: String] else {
        throw Failure(description: "\(path) is not a table of strings")
    }
    return table
}

/// BannerText over a table, returning the key for a missing string as Bundle does.
func words(_ table: [String: String]) -> BannerText {
    BannerText { key in table[key] ?? key }
}

let documentedRows = try documented()
let englishTable = try stringsTable("en")
let germanTable = try stringsTable("de")
let english = words(englishTable)
let german = words(germanTable)

// MARK: - The client against the server

func testConfig(_ token: String = "demo-alice", manual: Bool = false) -> Config {
    var c = defaultConfig(serverUrl: server, token: token)
    if manual {
        c.auto = manualAutoSync()
    } else {
        // No sync at open: the tests report connectivity first, as a shell does.
        c.auto.onStart = false
        c.auto.afterChange = 0.05
        c.auto.offlineDebounce = 0
        c.auto.periodic = nil
    }
    return c
}

func open(_ name: String, _ given: Config? = nil) throws -> SynclineClient {
    let config = given ?? testConfig()
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("syncline-swift-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return try SynclineClient.open(path: dir.appendingPathComponent("\(name).db").path, entities: try sampleSchema(), config: config)
}

func task(_ key: String, _ title: String) -> Record {
    Record(key: key, version: nil, values: ["project_id": .text("p-harbor"), "title": .text(title), "done": .boolean(false)])
}

func newKey() -> String { "t-swift-\(UUID().uuidString.lowercased())" }

/// The banners a stream yielded, read by the test while another task collects them.
final class BannerLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Banner] = []
    func add(_ b: Banner) { lock.lock(); items.append(b); lock.unlock() }
    var all: [Banner] { lock.lock(); defer { lock.unlock() }; return items }
}

func offlineEditsShowTheBannerAndSyncWhenConnectivityReturns() async throws {
    let phone = try open("phone")
    phone.reportConnectivity(connectivity: .offline)
    let keys = (0..<200).map { _ in newKey() }
    for (i, key) in keys.enumerated() {
        _ = try phone.insert(entity: "tasks", record: task(key, "Offline edit \(i)"))
    }
    let log = BannerLog()
    let watcher = Task {
        for await banner in phone.bannerStream() { log.add(banner) }
    }
    try await eventually("the offline banner with the count") {
        guard let last = log.all.last else { return false }
        return last.kind == .offline && last.pending == 200
            && english.title(last) == "You're offline · 200 changes waiting to sync"
    }
    phone.reportConnectivity(connectivity: .of(satisfied: true, wifi: true, cellular: false, wired: false, expensive: false, constrained: false))
    try await eventually("synced and hidden") {
        log.all.last?.kind == .hidden && phone.status().pending == 0
    }
    watcher.cancel()
    try check(log.all.contains { $0.kind == .syncing && english.title($0) == "Syncing…" }, "saw Syncing… in \(log.all.map { $0.kind })")
    try check(english.title(log.all.last!) == nil, "a hidden banner has no words")
    try check(phone.networkType() == .wifi, "network type")
    let tablet = try open("tablet", testConfig(manual: true))
    _ = try await tablet.syncNow(unit: "tasks")
    let record = try tablet.get(entity: "tasks", key: keys[199])
    try check(record?.values["title"] == .text("Offline edit 199"), "the edit is on the server: \(String(describing: record))")
}

func aConflictIsSurfacedAndResolved() async throws {
    let a = try open("a", testConfig(manual: true))
    let b = try open("b", testConfig(manual: true))
    let key = newKey()
    _ = try a.insert(entity: "tasks", record: task(key, "Original"))
    _ = try await a.syncNow(unit: "tasks")
    _ = try await b.syncNow(unit: "tasks")
    _ = try a.update(entity: "tasks", key: key, values: ["title": .text("Title from A")])
    _ = try await a.syncNow(unit: "tasks")
    _ = try b.update(entity: "tasks", key: key, values: ["title": .text("Title from B")])
    let report = try await b.syncNow(unit: "tasks")
    try check(report.entities.first?.toInbox == 1, "one conflict to the inbox: \(report)")
    let conflicts = try b.conflicts()
    try check(conflicts.count == 1 && conflicts[0].fields == ["title"], "the conflict: \(conflicts)")
    try check(conflicts[0].local?["title"] == .text("Title from B"), "mine kept")
    try check(conflicts[0].remote?["title"] == .text("Title from A"), "theirs shown")
    try check(b.status().conflicts == 1, "status counts it")
    _ = try b.resolve(id: conflicts[0].id, resolution: .keepTheirs)
    _ = try await b.syncNow(unit: "tasks")
    try check(try b.get(entity: "tasks", key: key)?.values["title"] == .text("Title from A"), "theirs stands")
    try check(try b.conflicts().isEmpty, "inbox empty")
}

final class ThrowingListener: StatusListener, @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var calls: Int { lock.lock(); defer { lock.unlock() }; return n }
    func onStatus(status: SyncStatus) throws {
        lock.lock(); n += 1; lock.unlock()
        throw CallbackError.Failed(detail: "a bug in the app's listener")
    }
}

func aThrowingListenerDoesNotCrashTheCore() async throws {
    let client = try open("throwing")
    let listener = ThrowingListener()
    let handle = client.listen(listener: listener)
    client.reportConnectivity(connectivity: Connectivity(connected: true, kind: .ethernet, metered: false))
    let report = try await client.syncNow(unit: "all")
    try check(report.unit == "all", "synced")
    _ = try client.insert(entity: "tasks", record: task(newKey(), "After the throw"))
    _ = try await client.syncNow(unit: "tasks")
    try await eventually("the listener kept being called") { listener.calls >= 2 }
    handle.stop()
}

func errorsAreTyped() async throws {
    let client = try open("errors", testConfig(manual: true))
    do {
        _ = try client.insert(entity: "nope", record: Record(key: "k", version: nil, values: [:]))
        throw Failure(description: "an unknown entity must be refused")
    } catch SynclineError.InvalidInput(let detail) {
        try check(detail.contains("nope"), detail)
    }
    do {
        _ = try client.update(entity: "tasks", key: "t-nobody", values: ["title": .text("x")])
        throw Failure(description: "updating a missing record must be refused")
    } catch SynclineError.NotFound(let entity, let key) {
        try check(entity == "tasks" && key == "t-nobody", "\(entity)/\(key)")
    }
    client.reportConnectivity(connectivity: .offline)
    do {
        _ = try await client.syncNow(unit: "all")
        throw Failure(description: "offline must be refused")
    } catch SynclineError.Offline {}
    let refused = try open("refused", testConfig("not-a-token", manual: true))
    do {
        _ = try await refused.syncNow(unit: "all")
        throw Failure(description: "a bad token must be refused")
    } catch SynclineError.SignInNeeded(let code, _) {
        try check(code == "unauthorized", code)
    }
    let banner = refused.status().banner
    try check(banner.kind == .failed && banner.reason == .signInNeeded && !banner.canRetry, "\(banner)")
    try check(english.title(banner) == "Sync failed: sign-in needed", "\(String(describing: english.title(banner)))")
    try check(english.retryLabel(banner) == nil, "no Retry when the user must sign in")
}

func connectivityMaps() async throws {
    try check(Connectivity.of(satisfied: false, wifi: true, cellular: false, wired: false, expensive: false, constrained: false) == .offline, "unsatisfied")
    let cell = Connectivity.of(satisfied: true, wifi: false, cellular: true, wired: false, expensive: true, constrained: false)
    try check(cell == Connectivity(connected: true, kind: .cellular, metered: true), "\(cell)")
    let both = Connectivity.of(satisfied: true, wifi: true, cellular: true, wired: false, expensive: false, constrained: true)
    try check(both == Connectivity(connected: true, kind: .wifi, metered: true), "\(both)")
}

// MARK: - BannerText against the tables and the doc

/// The doc's sample values (its placeholders by name); `{reason}` stays a placeholder, since
/// the doc's row shows it unfilled.
let samples: [String: String] = ["count": "3", "done": "1", "total": "3", "seconds": "5", "status": "503", "reason": "{reason}"]

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
    let wanted = names.enumerated().map { (position: $0.offset + 1, conversion: $0.element == "reason" ? "@" : "lld") }
    try check(found.map { "\($0.position)\($0.conversion)" }.sorted() == wanted.map { "\($0.position)\($0.conversion)" }.sorted(),
              "\(language) \(key): \(format.debugDescription) does not take \(names)")
    let args: [CVarArg] = names.map { name -> CVarArg in name == "reason" ? samples[name]! : Int64(samples[name]!)! }
    return BannerText { _ in format }.text(key, args)
}

/// A doc text with the sample values in its placeholders.
func filled(_ doc: String) -> String {
    samples.reduce(doc) { text, sample in text.replacingOccurrences(of: "{\(sample.key)}", with: sample.value) }
}

func theTablesAreTheOnesInTheDocs() async throws {
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

func banner(_ kind: BannerKind, pending: UInt64 = 0, done: UInt32 = 0, total: UInt32 = 0,
            reason: FailureReason? = nil, nextRetryAt: Int64? = nil, canRetry: Bool = false) -> Banner {
    Banner(kind: kind, pending: pending, conflicts: 0, quarantined: 0, entitiesDone: done, entitiesTotal: total,
           reason: reason, nextRetryAt: nextRetryAt, canRetry: canRetry)
}

/// Title and detail on one line, as the terminal client's test shows them.
func line(_ words: BannerText, _ b: Banner, now: Int64) -> String {
    [words.title(b), words.detail(b, now: now)].compactMap { $0 }.joined(separator: " — ")
}

func germanBanners() async throws {
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

func theRulesOfTheDoc() async throws {
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

func everyReasonHasItsKey() async throws {
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
    let rows = Dictionary(uniqueKeysWithValues: documentedRows.map { ($0.key, $0) })
    try check(Set(reasons.map(\.1)) == Set(rows.keys.filter { $0.hasPrefix("reason_") }), "every documented reason is covered")
    for (reason, key) in reasons {
        let row = rows[key]!
        try check(english.reason(reason) == filled(row.english), "en \(reason): \(english.reason(reason))")
        try check(german.reason(reason) == filled(row.german), "de \(reason): \(german.reason(reason))")
    }
}

// The table check first: it checks every format's directives before anything formats with them.
let tests: [(String, () async throws -> Void)] = [
    ("theTablesAreTheOnesInTheDocs", theTablesAreTheOnesInTheDocs),
    ("offlineEditsShowTheBannerAndSyncWhenConnectivityReturns", offlineEditsShowTheBannerAndSyncWhenConnectivityReturns),
    ("aConflictIsSurfacedAndResolved", aConflictIsSurfacedAndResolved),
    ("aThrowingListenerDoesNotCrashTheCore", aThrowingListenerDoesNotCrashTheCore),
    ("errorsAreTyped", errorsAreTyped),
    ("connectivityMaps", connectivityMaps),
    ("germanBanners", germanBanners),
    ("theRulesOfTheDoc", theRulesOfTheDoc),
    ("everyReasonHasItsKey", everyReasonHasItsKey),
]
var passed = 0
var failed = 0
for (name, test) in tests {
    do {
        try await test()
        passed += 1
        print("ok   \(name)")
    } catch {
        failed += 1
        print("FAIL \(name): \(error)")
    }
}
print("swift tests: \(passed) passed, \(failed) failed")
exit(failed == 0 ? 0 : 1)
