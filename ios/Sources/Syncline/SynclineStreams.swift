// Idiomatic Swift over the generated bindings: the status and banner as AsyncStreams, and the
// connectivity mapping the iOS network monitor uses. Plain Swift (no Apple-only frameworks), so
// the Linux tests cover it.
#if canImport(SynclineCore)
import SynclineCore
#endif

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

extension SynclineClient {
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
