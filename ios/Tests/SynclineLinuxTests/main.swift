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
/// `what` is read only on failure, so it can describe the state the wait ended in.
func eventually(_ what: @autoclosure () -> String, _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(30)
    while try !condition() {
        if Date() > deadline { throw Failure(description: "never happened: \(what())") }
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

/// What a stream (or a listener) yielded, read by the test while another thread collects it.
final class Collected<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    private var failure: Error?
    func add(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    func fail(_ error: Error) { lock.lock(); failure = error; lock.unlock() }
    var all: [T] { lock.lock(); defer { lock.unlock() }; return items }
    /// Everything so far; throws the error the stream ended with, so that a test waiting for a
    /// value fails with the reason instead of running into its timeout.
    func checked() throws -> [T] {
        lock.lock(); defer { lock.unlock() }
        if let failure { throw Failure(description: "the stream ended with \(failure)") }
        return items
    }
}

func offlineEditsShowTheBannerAndSyncWhenConnectivityReturns() async throws {
    let phone = try open("phone")
    phone.reportConnectivity(connectivity: .offline)
    let keys = (0..<200).map { _ in newKey() }
    for (i, key) in keys.enumerated() {
        _ = try phone.insert(entity: "tasks", record: task(key, "Offline edit \(i)"))
    }
    let log = Collected<Banner>()
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

// MARK: - Live queries

/// The tasks whose key is `key`: a page of at most one record.
func byKey(_ key: String) -> Query {
    Query(filters: [Filter(field: "id", value: .text(key))], sort: [], limit: 10, offset: 0)
}

/// Collects what `stream` yields into `log` on a task of its own, until the stream ends (its
/// error goes into `log` too) or the task is cancelled.
func collect<T>(_ stream: AsyncThrowingStream<T, Error>, into log: Collected<T>) -> Task<Void, Never> {
    Task {
        do {
            for try await item in stream { log.add(item) }
        } catch {
            log.fail(error)
        }
    }
}

/// The newest page in `log`, for a failure's message.
func lastPage(_ log: Collected<Page>) -> String {
    log.all.last.map { "\($0)" } ?? "no page"
}

/// The one record of the newest page in `log` (nil before the first page or if it has none).
func newest(_ log: Collected<Page>) throws -> Record? {
    guard let page = try log.checked().last, page.records.count == 1 else { return nil }
    return page.records[0]
}

func aLocalInsertShowsUpPendingThenSynced() async throws {
    let client = try open("live-insert", testConfig(manual: true))
    let key = newKey()
    let log = Collected<Page>()
    let watcher = collect(client.watchStream(entity: "tasks", query: byKey(key)), into: log)
    defer { watcher.cancel() }
    try await eventually("the current (empty) page at once") { try log.checked().first?.records.isEmpty == true }
    _ = try client.insert(entity: "tasks", record: task(key, "Live insert"))
    try await eventually("the insert, pending: \(lastPage(log))") {
        let r = try newest(log)
        return r?.key == key && r?.values["title"] == .text("Live insert") && r?.state == .pending
    }
    _ = try await client.syncNow(unit: "tasks")
    try await eventually("the insert, synced: \(lastPage(log))") {
        let r = try newest(log)
        return r?.state == .synced && r?.version != nil && r?.values["title"] == .text("Live insert")
    }
}

func aPulledChangeShowsUp() async throws {
    let mine = try open("live-alice", testConfig(manual: true))
    let bobs = try open("live-bob", testConfig("demo-bob", manual: true))
    // A new task of p-harbor, the project alice and bob share.
    let key = newKey()
    _ = try mine.insert(entity: "tasks", record: task(key, "Shared with Bob"))
    _ = try await mine.syncNow(unit: "tasks")
    let log = Collected<Page>()
    let watcher = collect(mine.watchStream(entity: "tasks", query: byKey(key)), into: log)
    defer { watcher.cancel() }
    try await eventually("alice's task, synced") {
        let r = try newest(log)
        return r?.values["title"] == .text("Shared with Bob") && r?.state == .synced
    }
    _ = try await bobs.syncNow(unit: "tasks")
    try check(try bobs.get(entity: "tasks", key: key)?.values["title"] == .text("Shared with Bob"), "bob got the task")
    _ = try bobs.update(entity: "tasks", key: key, values: ["title": .text("Edited by Bob")])
    _ = try await bobs.syncNow(unit: "tasks")
    _ = try await mine.syncNow(unit: "tasks")
    try await eventually("bob's edit, pulled: \(lastPage(log))") {
        let r = try newest(log)
        return r?.values["title"] == .text("Edited by Bob") && r?.state == .synced
    }
}

func aConflictAndItsResolutionShowUp() async throws {
    let mine = try open("live-conflict-alice", testConfig(manual: true))
    let bobs = try open("live-conflict-bob", testConfig("demo-bob", manual: true))
    let key = newKey()
    _ = try mine.insert(entity: "tasks", record: task(key, "Original"))
    _ = try await mine.syncNow(unit: "tasks")
    _ = try await bobs.syncNow(unit: "tasks")
    let log = Collected<Page>()
    let watcher = collect(mine.watchStream(entity: "tasks", query: byKey(key)), into: log)
    defer { watcher.cancel() }
    // Both change the title; bob's reaches the server first. Tasks' policy is manual, so alice's
    // push of the same field goes to her inbox.
    _ = try bobs.update(entity: "tasks", key: key, values: ["title": .text("Title from Bob")])
    _ = try await bobs.syncNow(unit: "tasks")
    _ = try mine.update(entity: "tasks", key: key, values: ["title": .text("Title from Alice")])
    try await eventually("alice's edit, pending") {
        let r = try newest(log)
        return r?.values["title"] == .text("Title from Alice") && r?.state == .pending
    }
    let report = try await mine.syncNow(unit: "tasks")
    try check(report.entities.first?.toInbox == 1, "one conflict to the inbox: \(report)")
    try await eventually("the task in conflict: \(lastPage(log))") {
        try newest(log)?.state == .inConflict
    }
    guard let conflict = try mine.conflicts().first(where: { $0.key == key }) else {
        throw Failure(description: "no conflict about \(key) in \(try mine.conflicts())")
    }
    _ = try mine.resolve(id: conflict.id, resolution: .keepMine)
    try await eventually("alice's title, pending again: \(lastPage(log))") {
        let r = try newest(log)
        return r?.values["title"] == .text("Title from Alice") && r?.state == .pending
    }
    _ = try await mine.syncNow(unit: "tasks")
    try await eventually("alice's title, synced") {
        let r = try newest(log)
        return r?.values["title"] == .text("Title from Alice") && r?.state == .synced
    }
    _ = try await bobs.syncNow(unit: "tasks")
    try check(try bobs.get(entity: "tasks", key: key)?.values["title"] == .text("Title from Alice"), "alice's title stands on the server")
}

/// Records every call of a directly registered watch.
final class PageRecorder: PageListener, @unchecked Sendable {
    let pages = Collected<Page>()
    func onPage(page: Page) throws { pages.add(page) }
    func onError(error: SynclineError) throws { pages.fail(error) }
    /// Whether any page so far held one of `keys`.
    func sawAny(of keys: Set<String>) throws -> Bool {
        try pages.checked().contains { $0.records.contains { keys.contains($0.key) } }
    }
}

func aStoppedWatchIsNotCalledAgain() async throws {
    let client = try open("live-stop", testConfig(manual: true))
    // A project of this test's own (never synced: local tasks are all the query sees).
    let project = "p-swift-\(UUID().uuidString.lowercased())"
    let query = Query(filters: [Filter(field: "project_id", value: .text(project))], sort: [], limit: 100, offset: 0)
    func insert(_ key: String) throws {
        _ = try client.insert(entity: "tasks", record: Record(key: key, values: ["project_id": .text(project), "title": .text(key)]))
    }
    let stopped = PageRecorder()
    let control = PageRecorder()
    let stoppedHandle = try client.watch(entity: "tasks", query: query, listener: stopped)
    let controlHandle = try client.watch(entity: "tasks", query: query, listener: control)
    defer { controlHandle.stop() }
    let before = newKey()
    try insert(before)
    try await eventually("the watch to be stopped sees the first write") { try stopped.sawAny(of: [before]) }
    stoppedHandle.stop()
    // Writes after stop() returned, in a burst and then after quiet spells, so they land both
    // inside and after the throttle's interval. The core checks for stop after each read and
    // before each call, so no page read after stop() returned can reach the stopped listener:
    // none of these keys may show up there, however late a call already under way arrives.
    var after: Set<String> = []
    for i in 0..<6 {
        let key = newKey()
        try insert(key)
        after.insert(key)
        if i >= 3 { try await Task.sleep(nanoseconds: 300_000_000) }
    }
    try await eventually("the control watch sees every later write") {
        try control.pages.checked().last.map { page in after.isSubset(of: page.records.map(\.key)) } == true
    }
    // A stop that did not work would answer about when the control watch did; a second more
    // (a grace period, not a deadline: a working stop never answers) lets it show.
    try await Task.sleep(nanoseconds: 1_000_000_000)
    try check(try !stopped.sawAny(of: after), "the stopped watch was called with a later write: \(stopped.pages.all.count) pages")
}

func aSlowConsumerGetsTheNewestPage() async throws {
    let client = try open("live-slow", testConfig(manual: true))
    let project = "p-swift-\(UUID().uuidString.lowercased())"
    let query = Query(filters: [Filter(field: "project_id", value: .text(project))], sort: [], limit: 100, offset: 0)
    // The stream registers its watch when made; nobody reads it while the writes happen.
    let stream = client.watchStream(entity: "tasks", query: query)
    let control = PageRecorder()
    let controlHandle = try client.watch(entity: "tasks", query: query, listener: control)
    defer { controlHandle.stop() }
    try await eventually("the control's first page") { try !control.pages.checked().isEmpty }
    var keys: Set<String> = []
    for _ in 0..<4 {
        let key = newKey()
        _ = try client.insert(entity: "tasks", record: Record(key: key, values: ["project_id": .text(project), "title": .text(key)]))
        keys.insert(key)
        // Past the throttle's interval, so the core delivers a page per write.
        try await Task.sleep(nanoseconds: 300_000_000)
    }
    try await eventually("the control watch sees every write") {
        try control.pages.checked().last.map { keys.isSubset(of: $0.records.map(\.key)) } == true
    }
    // The stream's own watch answers about when the control did; a grace period lets it.
    try await Task.sleep(nanoseconds: 1_000_000_000)
    let log = Collected<Page>()
    let reader = collect(stream, into: log)
    defer { reader.cancel() }
    try await eventually("the stream's newest page, with every write: \(lastPage(log))") {
        try log.checked().last.map { keys.isSubset(of: $0.records.map(\.key)) } == true
    }
    // Buffering everything would hand out the first (empty) page first.
    try check(!log.all[0].records.isEmpty, "a late reader gets a newer page than the first: \(log.all.map(\.records.count))")
}

/// A handle that counts `stop()` calls before passing them on: how the test sees what a stream's
/// onTermination does with the core's watch.
final class SpyHandle: ListenerHandle, @unchecked Sendable {
    let stops = Collected<Void>()
    override func stop() {
        stops.add(())
        super.stop()
    }
}

/// The same core client behind another Swift reference, whose watches hand out SpyHandles. The
/// stream extensions call `watch`/`watchRecord` on `self`, so they get these. (Built from the
/// generated class's handle constructor: the only way to wrap a uniffi object.)
final class SpyClient: SynclineClient, @unchecked Sendable {
    let handles = Collected<SpyHandle>()
    private func spy(_ real: ListenerHandle) -> ListenerHandle {
        let spy = SpyHandle(unsafeFromHandle: real.uniffiCloneHandle())
        handles.add(spy)
        return spy
    }
    override func watch(entity: String, query: Query, listener: PageListener) throws -> ListenerHandle {
        spy(try super.watch(entity: entity, query: query, listener: listener))
    }
    override func watchRecord(entity: String, key: String, listener: RecordListener) throws -> ListenerHandle {
        spy(try super.watchRecord(entity: entity, key: key, listener: listener))
    }
}

func cancellingTheConsumerStopsTheCoreWatch() async throws {
    let client = try open("live-cancel", testConfig(manual: true))
    let spy = SpyClient(unsafeFromHandle: client.uniffiCloneHandle())
    // watchStream
    let pages = Collected<Page>()
    let pageConsumer = collect(spy.watchStream(entity: "tasks", query: byKey(newKey())), into: pages)
    try await eventually("watchStream's first page") { try !pages.checked().isEmpty }
    try check(spy.handles.all.count == 1, "one watch registered: \(spy.handles.all.count)")
    let pageHandle = spy.handles.all[0]
    try check(pageHandle.stops.all.isEmpty, "the watch runs while its stream is consumed")
    pageConsumer.cancel()
    try await eventually("cancelling watchStream's consumer stops its watch") { pageHandle.stops.all.count == 1 }
    // watchRecordStream
    let records = Collected<Record?>()
    let recordConsumer = collect(spy.watchRecordStream(entity: "tasks", key: newKey()), into: records)
    try await eventually("watchRecordStream's first value") { try !records.checked().isEmpty }
    try check(spy.handles.all.count == 2, "a second watch registered: \(spy.handles.all.count)")
    let recordHandle = spy.handles.all[1]
    try check(recordHandle.stops.all.isEmpty, "the record watch runs while its stream is consumed")
    recordConsumer.cancel()
    try await eventually("cancelling watchRecordStream's consumer stops its watch") { recordHandle.stops.all.count == 1 }
}

func aRecordStreamSeesChangesAndTheDeletion() async throws {
    let client = try open("live-record", testConfig(manual: true))
    let key = newKey()
    let log = Collected<Record?>()
    let watcher = collect(client.watchRecordStream(entity: "tasks", key: key), into: log)
    defer { watcher.cancel() }
    try await eventually("nil at once: no such record yet") { try log.checked().first.map { $0 == nil } == true }
    _ = try client.insert(entity: "tasks", record: task(key, "First title"))
    try await eventually("the insert") {
        let r = try log.checked().last ?? nil
        return r?.values["title"] == .text("First title") && r?.state == .pending
    }
    _ = try client.update(entity: "tasks", key: key, values: ["title": .text("Second title")])
    try await eventually("the change") { (try log.checked().last ?? nil)?.values["title"] == .text("Second title") }
    _ = try client.delete(entity: "tasks", key: key)
    try await eventually("nil again: the deletion") {
        let all = try log.checked()
        return all.count > 1 && all.last! == nil
    }
    let all = log.all
    try check(zip(all, all.dropFirst()).allSatisfy { $0 != $1 }, "never the same value twice in a row: \(all)")
}

func aWatchTheCoreRefusesEndsTheStreamWithItsError() async throws {
    let client = try open("live-refused", testConfig(manual: true))
    let unknownField = Query(filters: [Filter(field: "colour", value: .text("red"))], sort: [], limit: 10, offset: 0)
    do {
        for try await page in client.watchStream(entity: "tasks", query: unknownField) {
            throw Failure(description: "a query on an unknown field must be refused, got \(page)")
        }
        throw Failure(description: "the stream of a refused query must end with an error, not quietly")
    } catch SynclineError.InvalidInput(let detail) {
        try check(detail.contains("colour"), detail)
    }
    do {
        for try await record in client.watchRecordStream(entity: "nope", key: "k") {
            throw Failure(description: "an unknown entity must be refused, got \(String(describing: record))")
        }
        throw Failure(description: "the stream of a refused watch must end with an error, not quietly")
    } catch SynclineError.InvalidInput(let detail) {
        try check(detail.contains("nope"), detail)
    }
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

func everyRecordStateHasItsMark() async throws {
    let marks: [(RecordState?, String?)] = [
        (.pending, "record_pending"),
        (.inConflict, "record_in_conflict"),
        (.quarantined, "record_quarantined"),
        (.synced, nil),
        (nil, nil),
    ]
    let rows = Dictionary(uniqueKeysWithValues: documentedRows.map { ($0.key, $0) })
    try check(Set(marks.compactMap(\.1)) == Set(rows.keys.filter { $0.hasPrefix("record_") }), "every documented mark is covered")
    for (state, key) in marks {
        try check(english.recordMark(state) == key.map { rows[$0]!.english }, "en \(String(describing: state))")
        try check(german.recordMark(state) == key.map { rows[$0]!.german }, "de \(String(describing: state))")
    }
    try check(german.recordMark(.pending) == "Noch nicht synchronisiert", "de pending")
}

// The table check first: it checks every format's directives before anything formats with them.
let tests: [(String, () async throws -> Void)] = [
    ("theTablesAreTheOnesInTheDocs", theTablesAreTheOnesInTheDocs),
    ("offlineEditsShowTheBannerAndSyncWhenConnectivityReturns", offlineEditsShowTheBannerAndSyncWhenConnectivityReturns),
    ("aConflictIsSurfacedAndResolved", aConflictIsSurfacedAndResolved),
    ("aThrowingListenerDoesNotCrashTheCore", aThrowingListenerDoesNotCrashTheCore),
    ("errorsAreTyped", errorsAreTyped),
    ("connectivityMaps", connectivityMaps),
    ("aLocalInsertShowsUpPendingThenSynced", aLocalInsertShowsUpPendingThenSynced),
    ("aPulledChangeShowsUp", aPulledChangeShowsUp),
    ("aConflictAndItsResolutionShowUp", aConflictAndItsResolutionShowUp),
    ("aStoppedWatchIsNotCalledAgain", aStoppedWatchIsNotCalledAgain),
    ("aSlowConsumerGetsTheNewestPage", aSlowConsumerGetsTheNewestPage),
    ("cancellingTheConsumerStopsTheCoreWatch", cancellingTheConsumerStopsTheCoreWatch),
    ("aRecordStreamSeesChangesAndTheDeletion", aRecordStreamSeesChangesAndTheDeletion),
    ("aWatchTheCoreRefusesEndsTheStreamWithItsError", aWatchTheCoreRefusesEndsTheStreamWithItsError),
    ("germanBanners", germanBanners),
    ("theRulesOfTheDoc", theRulesOfTheDoc),
    ("everyReasonHasItsKey", everyReasonHasItsKey),
    ("everyRecordStateHasItsMark", everyRecordStateHasItsMark),
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
