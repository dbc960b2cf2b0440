// Idiomatic Swift over the generated bindings: the status, the banner and live queries as async
// sequences, and the connectivity mapping the iOS network monitor uses. Plain Swift (Foundation
// at most, no Apple-only frameworks), so the Linux tests cover it.
import Foundation
import SynclineCore

/// Forwards the core's status callbacks into an AsyncStream continuation.
final class StreamListener: StatusListener, @unchecked Sendable {
    private let continuation: AsyncStream<SyncStatus>.Continuation

    init(_ continuation: AsyncStream<SyncStatus>.Continuation) {
        self.continuation = continuation
    }

    func onStatus(status: SyncStatus) throws {
        continuation.yield(status)
    }
}

/// Forwards what a watch delivers (a page, a record, the conflicts, the quarantined mutations)
/// into an AsyncThrowingStream continuation; a read error ends the stream with it (an
/// AsyncThrowingStream cannot go on after throwing). One class for every kind of watch: the
/// listener protocol each kind needs is added below, for its element type.
final class WatchForwarder<Element>: @unchecked Sendable {
    private let continuation: AsyncThrowingStream<Element, Error>.Continuation

    init(_ continuation: AsyncThrowingStream<Element, Error>.Continuation) {
        self.continuation = continuation
    }

    func forward(_ element: Element) {
        continuation.yield(element)
    }

    func onError(error: SynclineError) throws {
        continuation.finish(throwing: error)
    }
}

extension WatchForwarder: PageListener where Element == Page {
    func onPage(page: Page) throws { forward(page) }
}

extension WatchForwarder: RecordListener where Element == Record? {
    func onRecord(record: Record?) throws { forward(record) }
}

extension WatchForwarder: ConflictListener where Element == [Conflict] {
    func onConflicts(conflicts: [Conflict]) throws { forward(conflicts) }
}

extension WatchForwarder: QuarantineListener where Element == [QuarantinedMutation] {
    func onQuarantined(mutations: [QuarantinedMutation]) throws { forward(mutations) }
}

/// The handle of a watch whose stream may end before the core has even returned it: the core
/// calls the listener on its own thread from the moment `watch` starts, so an error can finish
/// the stream before `watch` returns the handle. A stop that comes first is remembered and
/// applied to the handle when it arrives.
final class WatchRegistration: @unchecked Sendable {
    private let lock = NSLock()
    private var handle: ListenerHandle?
    private var stopped = false

    /// Keeps `handle`, or stops it at once if the stream has already ended.
    func started(_ handle: ListenerHandle) {
        lock.lock()
        let late = stopped
        if !late { self.handle = handle }
        lock.unlock()
        if late { handle.stop() }
    }

    /// Stops the watch (once the handle is there) and lets it go.
    func stop() {
        lock.lock()
        stopped = true
        let current = handle
        handle = nil
        lock.unlock()
        current?.stop()
    }
}

extension SynclineClient {
    /// Builds a stream over a core watch that `start` registers with the stream's continuation.
    /// Buffers only the newest answer (a slow consumer gets the latest page, never a backlog);
    /// ending the iteration or its task stops the watch; a watch the core refuses ends the
    /// stream with the core's error.
    private func liveStream<Element>(
        _ start: (AsyncThrowingStream<Element, Error>.Continuation) throws -> ListenerHandle
    ) -> AsyncThrowingStream<Element, Error> {
        AsyncThrowingStream(Element.self, bufferingPolicy: .bufferingNewest(1)) { continuation in
            let registration = WatchRegistration()
            // Set before the watch starts, so that a stream ended by the very first answer
            // (an error) still stops it: a handler set after the end would never run, and the
            // core would go on calling a listener nobody reads.
            continuation.onTermination = { _ in registration.stop() }
            do {
                registration.started(try start(continuation))
            } catch {
                continuation.finish(throwing: error)
            }
        }
    }

    /// The page of `query` over `entity`, live: the current page first, then a new one after
    /// every committed change of `entity` (local writes, syncs, conflict resolution), throttled
    /// by the core and never the same page twice. Buffers only the newest page, so a slow
    /// consumer sees the latest, never a backlog. Ending the iteration (or its task) stops the
    /// watch. A query the core refuses (unknown entity or field) or a failed read ends the
    /// stream with that `SynclineError`; watch again to go on.
    public func watchStream(entity: String, query: Query) -> AsyncThrowingStream<Page, Error> {
        liveStream { continuation in
            try self.watch(entity: entity, query: query, listener: WatchForwarder(continuation))
        }
    }

    /// One record of `entity`, live: its current value first (nil if there is none), then every
    /// change, and nil once it is deleted; throttled by the core and never the same value twice.
    /// Buffers only the newest value. Ending the iteration (or its task) stops the watch. An
    /// unknown entity or a failed read ends the stream with that `SynclineError`.
    public func watchRecordStream(entity: String, key: String) -> AsyncThrowingStream<Record?, Error> {
        liveStream { continuation in
            try self.watchRecord(entity: entity, key: key, listener: WatchForwarder(continuation))
        }
    }

    /// The conflicts waiting for the user, live: the current list first, then a new one after
    /// every change of it (a sync finding a conflict, a resolution), never the same list twice.
    /// Buffers only the newest list. Ending the iteration (or its task) stops the watch; a failed
    /// read ends the stream with that `SynclineError`.
    public func conflictsStream() -> AsyncThrowingStream<[Conflict], Error> {
        liveStream { continuation in
            try self.watchConflicts(listener: WatchForwarder(continuation))
        }
    }

    /// The quarantined mutations (those the server rejected), live, like `conflictsStream()`: the
    /// current list first, then a new one after every change of it (a sync that quarantines a
    /// mutation, a retry, an edit, a discard), never the same list twice.
    public func quarantinedStream() -> AsyncThrowingStream<[QuarantinedMutation], Error> {
        liveStream { continuation in
            try self.watchQuarantined(listener: WatchForwarder(continuation))
        }
    }

    /// The client's status: the current value first, then every change. Buffers only the newest
    /// value, like the core's own listener: a slow consumer sees the latest status, never a
    /// backlog. Ending the iteration (or the task) stops the listener.
    public func statusStream() -> AsyncStream<SyncStatus> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = self.listen(listener: StreamListener(continuation))
            continuation.onTermination = { _ in handle.stop() }
        }
    }

    /// The banner to show, changing only when it does; `BannerText` puts it into words.
    public func bannerStream() -> AsyncStream<Banner> {
        let statuses = statusStream()
        return AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task {
                var last: Banner?
                for await status in statuses where status.banner != last {
                    last = status.banner
                    continuation.yield(status.banner)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension Connectivity {
    /// No network (what the core's `Connectivity::offline()` is).
    public static let offline = Connectivity(connected: false, kind: .none, metered: false)

    /// From the facts NWPath gives: satisfied or not, its interface types, expensive or
    /// constrained (iOS's two kinds of metered). A path over several interfaces counts as the
    /// first of Wi-Fi, wired, cellular that it uses.
    public static func of(satisfied: Bool, wifi: Bool, cellular: Bool, wired: Bool, expensive: Bool, constrained: Bool) -> Connectivity {
        guard satisfied else { return .offline }
        let kind: NetworkType = wifi ? .wifi : wired ? .ethernet : cellular ? .cellular : .other
        return Connectivity(connected: true, kind: kind, metered: expensive || constrained)
    }
}
