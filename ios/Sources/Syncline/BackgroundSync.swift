// Syncing while the app is in the background, decided in plain Swift: when to ask the OS for a
// run, and what one run does. The OS side is a small protocol (`BackgroundScheduler`); on iOS
// `AppRefreshScheduler` (BackgroundTasks, Apple only) adapts BGTaskScheduler to it, and the tests
// here use a fake that records the requests.
import Foundation
import SynclineCore

/// What `BackgroundSync` asks of the OS: one pending request for a background run at a time.
public protocol BackgroundScheduler: AnyObject, Sendable {
    /// Asks for a run no earlier than `earliest`, replacing the request already pending.
    func schedule(earliest: Date) throws
    /// Withdraws the pending request.
    func cancel()
}

/// One background run the OS granted (a `BGAppRefreshTask` on iOS).
public protocol BackgroundRun: AnyObject, Sendable {
    /// Tells the OS the run is over; `success` false when it did not get its work done.
    func complete(success: Bool)
}

/// How a background run ended, and so what was asked for next.
public enum BackgroundOutcome: Equatable, Sendable {
    /// Synced; the next run is asked for one period later.
    case synced
    /// The sync failed or ran out of time; the next run is asked for after this backoff.
    case retryLater(after: TimeInterval)
    /// The server refused the token: no run is asked for until the app signs in again (a new
    /// `appDidEnterBackground()`), since retrying cannot help.
    case signInNeeded
}

/// Background sync of one client. The app makes one at launch, hands its scheduler the run
/// handler, and calls `appDidEnterBackground()` when the app leaves the foreground.
///
/// - **When:** as the app moves to the background, a run as soon as the OS allows while mutations
///   are pending, else one `period` later; after each run, the next (one period later, or after a
///   backoff that doubles with each failure in a row, from `firstBackoff` up to `maxBackoff`).
/// - **A run:** one sync of every entity through the core, which runs one sync at a time whoever
///   asks (its own engine in the foreground or this run), so a run never races the app's sync.
///   It ends when the sync does, when its time budget is spent, or when its task is cancelled
///   (the OS's expiration), whichever comes first; the OS is told whether it completed.
public final class BackgroundSync: @unchecked Sendable {
    /// The task identifier to list under `BGTaskSchedulerPermittedIdentifiers` in Info.plist.
    public static let taskIdentifier = "dev.syncline.refresh"

    private let client: SynclineClient
    private let scheduler: BackgroundScheduler
    private let period: TimeInterval
    private let firstBackoff: TimeInterval
    private let maxBackoff: TimeInterval
    private let budget: TimeInterval
    private let clock: @Sendable () -> Date
    private let lock = NSLock()
    /// Failed runs in a row (the backoff's exponent).
    private var failures = 0

    /// Background sync of `client` through `scheduler`. `period`: between runs when all is well
    /// (iOS decides the actual time; it is a lower bound). `budget`: how long a run may sync
    /// (an app refresh task gets about 30 s in all).
    public init(client: SynclineClient, scheduler: BackgroundScheduler, period: TimeInterval = 30 * 60,
                firstBackoff: TimeInterval = 60, maxBackoff: TimeInterval = 6 * 60 * 60, budget: TimeInterval = 25,
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.client = client
        self.scheduler = scheduler
        self.period = period
        self.firstBackoff = firstBackoff
        self.maxBackoff = maxBackoff
        self.budget = budget
        self.clock = clock
    }

    /// The app left the foreground: asks for a run at once when mutations are pending (they
    /// would otherwise wait until the app comes back), else one period later.
    public func appDidEnterBackground() {
        let pending = client.status().pending
        ask(after: pending > 0 ? 0 : period)
    }

    /// Runs one granted background run: syncs, tells the OS how it went, and asks for the next
    /// run. Returns what it decided.
    @discardableResult
    public func run(_ task: BackgroundRun) async -> BackgroundOutcome {
        let ended = await syncWithinBudget()
        let outcome: BackgroundOutcome
        switch ended {
        case .synced:
            lock.withLock { failures = 0 }
            outcome = .synced
            ask(after: period)
        case .signInNeeded:
            outcome = .signInNeeded
            scheduler.cancel()
        case .failed, .outOfTime:
            let delay = lock.withLock { () -> TimeInterval in
                let delay = min(firstBackoff * pow(2, Double(min(failures, 30))), maxBackoff)
                failures += 1
                return delay
            }
            outcome = .retryLater(after: delay)
            ask(after: delay)
        }
        task.complete(success: ended == .synced)
        return outcome
    }

    /// Why the OS last refused a request (background refresh turned off for the app, too many
    /// requests); nil once one is accepted. The app syncs when it comes back to the foreground
    /// either way, as it always does.
    public var scheduleError: Error? { lock.withLock { lastScheduleError } }
    private var lastScheduleError: Error?

    private func ask(after delay: TimeInterval) {
        do {
            try scheduler.schedule(earliest: clock().addingTimeInterval(delay))
            lock.withLock { lastScheduleError = nil }
        } catch {
            lock.withLock { lastScheduleError = error }
        }
    }

    /// How the sync of one run ended.
    private enum Ended: Equatable { case synced, failed, signInNeeded, outOfTime }

    /// Syncs everything, or gives up when the budget is spent or the calling task is cancelled.
    /// A sync given up on goes on in the core (it cannot be torn mid-way); the next run or the
    /// foreground engine finds its work done or queued.
    private func syncWithinBudget() async -> Ended {
        let first = FirstOf<Ended>()
        let client = self.client
        Task {
            do {
                _ = try await client.syncNow(unit: "all")
                first.offer(.synced)
            } catch SynclineError.SignInNeeded {
                first.offer(.signInNeeded)
            } catch {
                first.offer(.failed)
            }
        }
        let timer = Task { [budget] in
            try? await Task.sleep(nanoseconds: UInt64(budget * 1_000_000_000))
            first.offer(.outOfTime)
        }
        let ended = await withTaskCancellationHandler {
            await first.value
        } onCancel: {
            first.offer(.outOfTime)
        }
        timer.cancel()
        return ended
    }
}

/// The first of several values offered from different tasks; later offers are ignored.
final class FirstOf<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: T?
    private var waiter: CheckedContinuation<T, Never>?

    /// Offers `value`; only the first offer counts.
    func offer(_ value: T) {
        lock.lock()
        guard result == nil else { lock.unlock(); return }
        result = value
        let waiting = waiter
        waiter = nil
        lock.unlock()
        waiting?.resume(returning: value)
    }

    /// The first value offered, once there is one.
    var value: T {
        get async {
            await withCheckedContinuation { continuation in
                lock.lock()
                if let result {
                    lock.unlock()
                    continuation.resume(returning: result)
                } else {
                    waiter = continuation
                    lock.unlock()
                }
            }
        }
    }
}
