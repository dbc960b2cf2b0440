// Apple only (iOS): BackgroundSync on BGTaskScheduler. Thin on purpose: when to ask and what a
// run does are decided in BackgroundSync, which the Linux tests cover.
#if canImport(BackgroundTasks) && os(iOS)
import BackgroundTasks
import Foundation

/// Asks iOS for `BGAppRefreshTask`s and hands each one to a `BackgroundSync`.
public final class AppRefreshScheduler: BackgroundScheduler, @unchecked Sendable {
    private let identifier: String

    /// A scheduler of the task `identifier` (listed in Info.plist's
    /// `BGTaskSchedulerPermittedIdentifiers`).
    public init(identifier: String = BackgroundSync.taskIdentifier) {
        self.identifier = identifier
    }

    /// Runs `sync` for every task iOS launches; call before the app finishes launching.
    public func register(_ sync: @escaping () -> BackgroundSync?) {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            guard let sync = sync() else { return task.setTaskCompleted(success: false) }
            let run = Task { await sync.run(RefreshRun(task)) }
            // Out of time: the run ends at once, tells iOS, and asks for the next one.
            task.expirationHandler = { run.cancel() }
        }
    }

    public func schedule(earliest: Date) throws {
        let request = BGAppRefreshTaskRequest(identifier: identifier)
        request.earliestBeginDate = earliest
        try BGTaskScheduler.shared.submit(request)
    }

    public func cancel() {
        BGTaskScheduler.shared.cancel(taskRequestWithIdentifier: identifier)
    }
}

/// A launched task as BackgroundSync sees it.
private final class RefreshRun: BackgroundRun, @unchecked Sendable {
    private let task: BGTask
    init(_ task: BGTask) { self.task = task }
    func complete(success: Bool) { task.setTaskCompleted(success: success) }
}
#endif
