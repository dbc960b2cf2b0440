// Apple only (iOS): BackgroundSync on BGTaskScheduler. Thin on purpose: when to ask and what a
// run does are decided in BackgroundSync, which the Linux tests cover.
#if canImport(BackgroundTasks) && os(iOS)
import BackgroundTasks
import Foundation

/// Asks iOS for `BGAppRefreshTask`s and hands each one to a `BackgroundSync`.
public final class AppRefreshScheduler: BackgroundScheduler, @unchecked Sendable {
    private let identifier: String

    /// A scheduler of task `identifier` (listed in Info.plist's BGTaskSchedulerPermittedIdentifiers).
    public init(identifier: String = BackgroundSync.taskIdentifier) { self.identifier = identifier }

    /// Runs the `BackgroundSync` that `sync` gives (nil: nobody signed in) for every task iOS
    /// launches; call before the app finishes launching.
    public func register(_ sync: @escaping @Sendable () async -> BackgroundSync?) {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            let run = Task {
                guard let sync = await sync() else { return task.setTaskCompleted(success: false) }
                await sync.run(RefreshRun(task: task))
            }
            task.expirationHandler = { run.cancel() }  // out of time: the run ends at once
        }
    }

    public func schedule(earliest: Date) throws {
        let request = BGAppRefreshTaskRequest(identifier: identifier)
        request.earliestBeginDate = earliest
        try BGTaskScheduler.shared.submit(request)
    }

    public func cancel() { BGTaskScheduler.shared.cancel(taskRequestWithIdentifier: identifier) }
}

/// A launched task as BackgroundSync sees it.
private final class RefreshRun: BackgroundRun, @unchecked Sendable {
    let task: BGTask
    init(task: BGTask) { self.task = task }
    func complete(success: Bool) { task.setTaskCompleted(success: success) }
}
#endif
