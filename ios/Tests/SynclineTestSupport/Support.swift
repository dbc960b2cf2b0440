// What the Swift test targets share: checks that throw (XCTest reports the thrown message),
// waits that poll, clients of the reference server the test runner started
// (SYNCLINE_SERVER_URL, with --seed-demo), and collectors for what streams and listeners yield.
import Foundation
import Syncline
import SynclineCore

/// The reference server the tests talk to (empty when the runner did not start one).
public let serverURL = ProcessInfo.processInfo.environment["SYNCLINE_SERVER_URL"] ?? ""

/// The repository's root (docs/ holds the reference texts), found from this file's own path, so
/// it works in the repository and in the copy `scripts/binding-tests` builds.
public let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

public struct Failure: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

public func check(_ condition: Bool, _ what: @autoclosure () -> String) throws {
    if !condition { throw Failure(description: what()) }
}

/// Polls `condition` for up to 30 s (generous for a loaded machine; nothing asserts speed), on
/// the caller's actor (a test on the main actor reads its models there). `what` is read only on
/// failure, so it can describe the state the wait ended in.
public func eventually(_ what: @autoclosure () -> String, isolation: isolated (any Actor)? = #isolation,
                       _ condition: () throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(30)
    while try !condition() {
        if Date() > deadline { throw Failure(description: "never happened: \(what())") }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
}


public func testConfig(_ token: String = "demo-alice", manual: Bool = false) -> Config {
    var c = defaultConfig(serverUrl: serverURL, token: token)
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

public func open(_ name: String, _ given: Config? = nil) throws -> SynclineClient {
    guard !serverURL.isEmpty else {
        throw Failure(description: "SYNCLINE_SERVER_URL is not set: run the tests with scripts/binding-tests swift, which starts the reference server")
    }
    let config = given ?? testConfig()
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("syncline-swift-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return try SynclineClient.open(path: dir.appendingPathComponent("\(name).db").path, entities: try sampleSchema(), config: config)
}

public func task(_ key: String, _ title: String) -> Record {
    Record(key: key, version: nil, values: ["project_id": .text("p-harbor"), "title": .text(title), "done": .boolean(false)])
}

public func newKey() -> String { "t-swift-\(UUID().uuidString.lowercased())" }

/// What a stream (or a listener) yielded, read by the test while another thread collects it.
public final class Collected<T>: @unchecked Sendable {
    public init() {}
    private let lock = NSLock()
    private var items: [T] = []
    private var failure: Error?
    public func add(_ item: T) { lock.lock(); items.append(item); lock.unlock() }
    public func fail(_ error: Error) { lock.lock(); failure = error; lock.unlock() }
    public var all: [T] { lock.lock(); defer { lock.unlock() }; return items }
    /// Everything so far; throws the error the stream ended with, so that a test waiting for a
    /// value fails with the reason instead of running into its timeout.
    public func checked() throws -> [T] {
        lock.lock(); defer { lock.unlock() }
        if let failure { throw Failure(description: "the stream ended with \(failure)") }
        return items
    }
}

/// The tasks whose key is `key`: a page of at most one record.
public func byKey(_ key: String) -> Query {
    Query(filters: [Filter(field: "id", value: .text(key))], sort: [], limit: 10, offset: 0)
}

/// Collects what `stream` yields into `log` on a task of its own, until the stream ends (its
/// error goes into `log` too) or the task is cancelled.
public func collect<T>(_ stream: AsyncThrowingStream<T, Error>, into log: Collected<T>) -> Task<Void, Never> {
    Task {
        do {
            for try await item in stream { log.add(item) }
        } catch {
            log.fail(error)
        }
    }
}

/// The newest page in `log`, for a failure's message.
public func lastPage(_ log: Collected<Page>) -> String {
    log.all.last.map { "\($0)" } ?? "no page"
}

/// The one record of the newest page in `log` (nil before the first page or if it has none).
public func newest(_ log: Collected<Page>) throws -> Record? {
    guard let page = try log.checked().last, page.records.count == 1 else { return nil }
    return page.records[0]
}

/// Records every call of a directly registered watch.
public final class PageRecorder: PageListener, @unchecked Sendable {
    public init() {}
    public let pages = Collected<Page>()
    public func onPage(page: Page) throws { pages.add(page) }
    public func onError(error: SynclineError) throws { pages.fail(error) }
    /// Whether any page so far held one of `keys`.
    public func sawAny(of keys: Set<String>) throws -> Bool {
        try pages.checked().contains { $0.records.contains { keys.contains($0.key) } }
    }
}

#if canImport(Glibc)
import Glibc
private let streamSocket = Int32(SOCK_STREAM.rawValue)
#else
import Darwin
private let streamSocket = SOCK_STREAM
#endif

/// A server on loopback that accepts connections and never answers: a sync against it hangs
/// until its timeout, as against a server stuck behind a bad network.
public final class SilentServer {
    private let fd: Int32
    /// Its URL, for a client's config.
    public let url: String

    /// Listens on a free loopback port.
    public init() throws {
        let fd = socket(AF_INET, streamSocket, 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(fd, address, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, address, &length) == 0
            }
        }
        guard fd >= 0, bound else { throw Failure(description: "cannot listen on loopback: errno \(errno)") }
        self.fd = fd
        url = "http://127.0.0.1:\(UInt16(bigEndian: addr.sin_port))"
    }

    deinit { close(fd) }
}

/// A client config for `url` that syncs only when asked (no automatic syncs to race the test).
public func manualConfig(_ url: String, token: String = "demo-alice") -> Config {
    var config = defaultConfig(serverUrl: url, token: token)
    config.auto = manualAutoSync()
    return config
}

/// Records what BackgroundSync asks of the OS.
public final class FakeScheduler: BackgroundScheduler, @unchecked Sendable {
    public init() {}
    private let lock = NSLock()
    private var asked: [Date] = []
    private var cancels = 0
    /// When set, `schedule` throws it (the OS refusing).
    public var refusal: Error?
    public var requests: [Date] { lock.lock(); defer { lock.unlock() }; return asked }
    public var cancelled: Int { lock.lock(); defer { lock.unlock() }; return cancels }
    public func schedule(earliest: Date) throws {
        if let refusal { throw refusal }
        lock.lock(); asked.append(earliest); lock.unlock()
    }
    public func cancel() { lock.lock(); cancels += 1; lock.unlock() }
}

/// Records how a run was completed.
public final class FakeRun: BackgroundRun, @unchecked Sendable {
    public init() {}
    private let lock = NSLock()
    private var results: [Bool] = []
    public var completions: [Bool] { lock.lock(); defer { lock.unlock() }; return results }
    public func complete(success: Bool) { lock.lock(); results.append(success); lock.unlock() }
}

