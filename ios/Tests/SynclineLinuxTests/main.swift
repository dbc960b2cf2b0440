// The generated Swift bindings and the AsyncStream wrappers with a real Swift compiler, against the
// real reference server on loopback (SYNCLINE_SERVER_URL, started with --seed-demo). A plain
// executable (swiftc) so it runs the same on Linux and on a Mac; prints
// `swift tests: N passed, M failed` and exits non-zero on a failure.
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

guard let server = ProcessInfo.processInfo.environment["SYNCLINE_SERVER_URL"] else {
    print("SYNCLINE_SERVER_URL is not set")
    exit(2)
}

func testConfig(_ token: String = "demo-alice", manual: Bool = false) throws -> ClientConfig {
    var c = try defaultConfig(serverUrl: server, token: token)
    if manual {
        c.autoSync = try manualAutoSync()
    } else {
        // No sync at open: the tests report connectivity first, as a shell does.
        c.autoSync.onStart = false
        c.autoSync.afterChangeMs = 50
        c.autoSync.offlineDebounceMs = 0
        c.autoSync.periodicMs = nil
    }
    return c
}

func open(_ name: String, _ given: ClientConfig? = nil) throws -> SynclineClient {
    let config = try given ?? testConfig()
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("syncline-swift-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return try SynclineClient.open(path: dir.appendingPathComponent("\(name).db").path, entities: try sampleSchema(), config: config)
}

func task(_ title: String) -> [String: FieldValue] {
    ["project_id": .text(value: "p-harbor"), "title": .text(value: title), "done": .boolean(value: false)]
}

func newKey() -> String { "t-swift-\(UUID().uuidString.lowercased())" }

/// Collects banners from the stream until `stop` holds for one.
final class BannerLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Banner] = []
    func add(_ b: Banner) { lock.lock(); items.append(b); lock.unlock() }
    var all: [Banner] { lock.lock(); defer { lock.unlock() }; return items }
}

func offlineEditsShowTheBannerAndSyncWhenConnectivityReturns() async throws {
    let phone = try open("phone")
    try phone.reportConnectivity(connected: false, networkType: .none, metered: false)
    let keys = (0..<200).map { _ in newKey() }
    for (i, key) in keys.enumerated() {
        _ = try phone.insert(entity: "tasks", key: key, fields: task("Offline edit \(i)"))
    }
    let log = BannerLog()
    let watcher = Task {
        for await banner in phone.bannerStream() { log.add(banner) }
    }
    try await eventually("the offline banner with the count") {
        log.all.last?.title == "You're offline · 200 changes waiting to sync"
    }
    try phone.report(Connectivity.of(satisfied: true, wifi: true, cellular: false, wired: false, expensive: false, constrained: false))
    try await eventually("synced and hidden") {
        try log.all.last?.kind == .hidden && phone.status().pending == 0
    }
    watcher.cancel()
    try check(log.all.contains { $0.kind == .syncing && $0.title == "Syncing…" }, "saw Syncing… in \(log.all.map { $0.kind })")
    try check(try phone.networkType() == .wifi, "network type")
    let tablet = try open("tablet", try testConfig(manual: true))
    _ = try await tablet.syncNow(unit: "tasks")
    let record = try tablet.get(entity: "tasks", key: keys[199])
    try check(record?.fields["title"] == .text(value: "Offline edit 199"), "the edit is on the server: \(String(describing: record))")
}

func aConflictIsSurfacedAndResolved() async throws {
    let a = try open("a", try testConfig(manual: true))
    let b = try open("b", try testConfig(manual: true))
    let key = newKey()
    _ = try a.insert(entity: "tasks", key: key, fields: task("Original"))
    _ = try await a.syncNow(unit: "tasks")
    _ = try await b.syncNow(unit: "tasks")
    _ = try a.update(entity: "tasks", key: key, fields: ["title": .text(value: "Title from A")])
    _ = try await a.syncNow(unit: "tasks")
    _ = try b.update(entity: "tasks", key: key, fields: ["title": .text(value: "Title from B")])
    let report = try await b.syncNow(unit: "tasks")
    try check(report.entities.first?.toInbox == 1, "one conflict to the inbox: \(report)")
    let conflicts = try b.conflicts()
    try check(conflicts.count == 1 && conflicts[0].fields == ["title"], "the conflict: \(conflicts)")
    try check(conflicts[0].local?["title"] == .text(value: "Title from B"), "mine kept")
    try check(conflicts[0].remote?["title"] == .text(value: "Title from A"), "theirs shown")
    try check(try b.status().conflicts == 1, "status counts it")
    _ = try b.resolve(id: conflicts[0].id, resolution: .keepTheirs)
    _ = try await b.syncNow(unit: "tasks")
    try check(try b.get(entity: "tasks", key: key)?.fields["title"] == .text(value: "Title from A"), "theirs stands")
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
    let handle = try client.listen(listener: listener)
    try client.reportConnectivity(connected: true, networkType: .ethernet, metered: false)
    let report = try await client.syncNow(unit: "all")
    try check(report.unit == "all", "synced")
    _ = try client.insert(entity: "tasks", key: newKey(), fields: task("After the throw"))
    _ = try await client.syncNow(unit: "tasks")
    try await eventually("the listener kept being called") { listener.calls >= 2 }
    try handle.stop()
}

func errorsAreTyped() async throws {
    let client = try open("errors", try testConfig(manual: true))
    do {
        _ = try client.insert(entity: "nope", key: "k", fields: [:])
        throw Failure(description: "an unknown entity must be refused")
    } catch SynclineError.InvalidInput(let message) {
        try check(message.contains("nope"), message)
    }
    try client.reportConnectivity(connected: false, networkType: .none, metered: false)
    do {
        _ = try await client.syncNow(unit: "all")
        throw Failure(description: "offline must be refused")
    } catch SynclineError.Offline {}
    let refused = try open("refused", try testConfig("not-a-token", manual: true))
    do {
        _ = try await refused.syncNow(unit: "all")
        throw Failure(description: "a bad token must be refused")
    } catch SynclineError.SignInNeeded(let code, _) {
        try check(code == "unauthorized", code)
    }
    let banner = try refused.status().banner
    try check(banner.kind == .failed && banner.title == "Sync failed: sign-in needed" && !banner.showRetry, "\(banner)")
}

func connectivityMaps() async throws {
    try check(Connectivity.of(satisfied: false, wifi: true, cellular: false, wired: false, expensive: false, constrained: false) == .offline, "unsatisfied")
    let cell = Connectivity.of(satisfied: true, wifi: false, cellular: true, wired: false, expensive: true, constrained: false)
    try check(cell == Connectivity(connected: true, type: .cellular, metered: true), "\(cell)")
}

let tests: [(String, () async throws -> Void)] = [
    ("offlineEditsShowTheBannerAndSyncWhenConnectivityReturns", offlineEditsShowTheBannerAndSyncWhenConnectivityReturns),
    ("aConflictIsSurfacedAndResolved", aConflictIsSurfacedAndResolved),
    ("aThrowingListenerDoesNotCrashTheCore", aThrowingListenerDoesNotCrashTheCore),
    ("errorsAreTyped", errorsAreTyped),
    ("connectivityMaps", connectivityMaps),
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
