// BackgroundSync's decisions with a fake scheduler and the real core and server: when it asks
// for a run, what a run does (sync, complete, ask for the next), the backoff after failures, no
// retry when the user must sign in, a run that runs out of time or is expired by the OS, and a
// run that meets the foreground engine's own sync.
import Foundation
import Syncline
import SynclineCore
import SynclineTestSupport
import XCTest

let launch = Date(timeIntervalSince1970: 1_800_000_000)

func background(_ client: SynclineClient, _ scheduler: FakeScheduler, budget: TimeInterval = 25) -> BackgroundSync {
    BackgroundSync(client: client, scheduler: scheduler, period: 1800, firstBackoff: 60, maxBackoff: 200,
                   budget: budget, clock: { launch })
}

/// An online client with a pending mutation, whose server accepts connections and never answers
/// (keep the server alive while the test runs).
func stuckClient(_ name: String) throws -> (SynclineClient, SilentServer) {
    let silent = try SilentServer()
    let client = try open(name, manualConfig(silent.url))
    client.reportConnectivity(connectivity: wifi)
    _ = try client.insert(entity: "tasks", record: task(newKey(), "Stuck"))
    return (client, silent)
}

final class BackgroundSyncTests: XCTestCase {
    func testLeavingTheForegroundAsksForARunAtOnceOnlyWhenMutationsArePending() throws {
        let client = try open("bg-enter", manualConfig(serverURL))
        let scheduler = FakeScheduler()
        let sync = background(client, scheduler)
        sync.appDidEnterBackground()
        XCTAssertEqual(scheduler.requests, [launch.addingTimeInterval(1800)], "nothing pending: one period later")
        _ = try client.insert(entity: "tasks", record: task(newKey(), "Waiting"))
        sync.appDidEnterBackground()
        XCTAssertEqual(scheduler.requests.last, launch, "a mutation is pending: as soon as the OS allows")
        struct Refused: Error {}
        scheduler.refusal = Refused()
        sync.appDidEnterBackground()
        XCTAssertTrue(sync.scheduleError is Refused, "the OS's refusal is kept for the app to see")
    }

    func testARunSyncsWhatWaitsCompletesAndAsksForTheNextPeriod() async throws {
        let client = try open("bg-run", manualConfig(serverURL))
        client.reportConnectivity(connectivity: wifi)
        let key = newKey()
        _ = try client.insert(entity: "tasks", record: task(key, "Synced in the background"))
        let scheduler = FakeScheduler()
        let run = FakeRun()
        let outcome = await background(client, scheduler).run(run)
        XCTAssertEqual(outcome, .synced)
        XCTAssertEqual(run.completions, [true])
        XCTAssertEqual(scheduler.requests, [launch.addingTimeInterval(1800)])
        XCTAssertEqual(client.status().pending, 0)
        let other = try open("bg-run-other", manualConfig(serverURL))
        other.reportConnectivity(connectivity: wifi)
        _ = try await other.syncNow(unit: "tasks")
        XCTAssertEqual(try other.get(entity: "tasks", key: key)?.values["title"], .text("Synced in the background"))
    }

    func testAFailedRunIsRetriedWithABackoffThatDoublesUpToItsCap() async throws {
        let client = try open("bg-fail", manualConfig("http://127.0.0.1:9"))
        client.reportConnectivity(connectivity: wifi)
        _ = try client.insert(entity: "tasks", record: task(newKey(), "Nowhere to go"))
        let scheduler = FakeScheduler()
        let run = FakeRun()
        let sync = background(client, scheduler)
        var outcomes: [BackgroundOutcome] = []
        for _ in 0..<4 { outcomes.append(await sync.run(run)) }
        XCTAssertEqual(outcomes, [.retryLater(after: 60), .retryLater(after: 120), .retryLater(after: 200), .retryLater(after: 200)])
        XCTAssertEqual(scheduler.requests, [60, 120, 200, 200].map { launch.addingTimeInterval($0) })
        XCTAssertEqual(run.completions, [false, false, false, false])
        XCTAssertEqual(client.status().pending, 1, "the mutation is still pending")
    }

    func testSignInNeededAsksForNoRetry() async throws {
        let client = try open("bg-token", manualConfig(serverURL, token: "not-a-token"))
        client.reportConnectivity(connectivity: wifi)
        let scheduler = FakeScheduler()
        let run = FakeRun()
        let outcome = await background(client, scheduler).run(run)
        XCTAssertEqual(outcome, .signInNeeded)
        XCTAssertEqual(run.completions, [false])
        XCTAssertEqual(scheduler.requests, [], "retrying cannot help until the user signs in")
        XCTAssertEqual(scheduler.cancelled, 1, "the pending request is withdrawn")
    }

    func testARunEndsAtItsBudgetWhenTheServerDoesNotAnswer() async throws {
        let (client, silent) = try stuckClient("bg-budget")
        defer { withExtendedLifetime(silent) {} }
        let scheduler = FakeScheduler()
        let run = FakeRun()
        // The core's own request timeout is 30 s; the run gives up after its budget.
        let outcome = await background(client, scheduler, budget: 0.3).run(run)
        XCTAssertEqual(outcome, .retryLater(after: 60))
        XCTAssertEqual(run.completions, [false])
        XCTAssertEqual(scheduler.requests, [launch.addingTimeInterval(60)])
    }

    func testTheOSExpiringARunEndsItAtOnce() async throws {
        let (client, silent) = try stuckClient("bg-expire")
        defer { withExtendedLifetime(silent) {} }
        let scheduler = FakeScheduler()
        let run = FakeRun()
        let sync = background(client, scheduler)
        // As AppRefreshScheduler's expiration handler does: cancel the run's task.
        let running = Task { await sync.run(run) }
        try await Task.sleep(nanoseconds: 200_000_000)
        running.cancel()
        let outcome = await running.value
        XCTAssertEqual(outcome, .retryLater(after: 60))
        XCTAssertEqual(run.completions, [false])
    }

    func testARunMeetingTheForegroundSyncWaitsItsTurn() async throws {
        let client = try open("bg-together", manualConfig(serverURL))
        client.reportConnectivity(connectivity: wifi)
        let project = "p-harbor"
        let marker = "together-\(UUID().uuidString.prefix(8))"
        for i in 0..<50 {
            _ = try client.insert(entity: "tasks", record: Record(key: newKey(), version: nil,
                values: ["project_id": .text(project), "title": .text("\(marker) \(i)")]))
        }
        let run = FakeRun()
        async let foreground = client.syncNow(unit: "all")
        async let backgroundRun = background(client, FakeScheduler()).run(run)
        let (report, outcome) = try await (foreground, backgroundRun)
        XCTAssertEqual(report.unit, "all")
        XCTAssertEqual(outcome, .synced, "the core ran the two syncs one after the other")
        XCTAssertEqual(client.status().pending, 0)
        let other = try open("bg-together-other", manualConfig(serverURL))
        other.reportConnectivity(connectivity: wifi)
        _ = try await other.syncNow(unit: "tasks")
        let page = try other.query(entity: "tasks", query: Query(filters: [Filter(field: "project_id", value: .text(project))], sort: [], limit: 10_000, offset: 0))
        let titles = page.records.compactMap { record -> String? in
            if case .text(let title)? = record.values["title"], title.hasPrefix(marker) { return title }
            return nil
        }
        XCTAssertEqual(titles.count, 50, "each mutation applied once on the server")
    }
}
