// SyncBannerModel, the banner SwiftUI binds to: fed by a real client (offline, failed, sign-in
// needed, back online), its countdown moving with the clock, Retry offered only when it helps,
// a decision waiting (a real conflict, a real quarantined mutation) said under every banner with
// Review leading to its inbox, and the German words through Bundle.module.
import Foundation
import Syncline
import SynclineCore
import SynclineTestSupport
import XCTest

/// A clock the test moves by hand (ms since the Unix epoch).
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var ms: Int64 = 1_000_000
    var now: Int64 { lock.lock(); defer { lock.unlock() }; return ms }
    func advance(_ by: Int64) { lock.lock(); ms += by; lock.unlock() }
}

/// Counts calls of an action.
final class Calls: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var count: Int { lock.lock(); defer { lock.unlock() }; return n }
    func record() { lock.lock(); n += 1; lock.unlock() }
}

func failedBanner(at: Int64, reason: FailureReason = .serverError(status: 503), canRetry: Bool = true) -> Banner {
    Banner(kind: .failed, pending: 1, conflicts: 0, quarantined: 0, entitiesDone: 0, entitiesTotal: 0,
           reason: reason, nextRetryAt: at, canRetry: canRetry)
}

/// Records where Review led.
@MainActor
final class Reviews {
    var opened: [DecisionInbox] = []
}

/// A client of alice's with a conflict waiting about a task bob renamed on the server too (tasks'
/// policy is manual); it syncs only when asked, and is online.
func clientWithAConflict(_ name: String) async throws -> SynclineClient {
    let mine = try open(name, testConfig(manual: true))
    let bobs = try open("\(name)-bob", testConfig("demo-bob", manual: true))
    mine.reportConnectivity(connectivity: wifi)
    bobs.reportConnectivity(connectivity: wifi)
    let key = newKey()
    _ = try mine.insert(entity: "tasks", record: task(key, "Original"))
    _ = try await mine.syncNow(unit: "all")
    _ = try await bobs.syncNow(unit: "all")
    _ = try bobs.update(entity: "tasks", patch: Record(key: key, values: ["title": .text("Bob's title")]))
    _ = try await bobs.syncNow(unit: "all")
    _ = try mine.update(entity: "tasks", patch: Record(key: key, values: ["title": .text("Alice's title")]))
    _ = try await mine.syncNow(unit: "all")
    try check(mine.status().conflicts == 1, "one conflict: \(mine.status())")
    return mine
}

/// Has `client` (alice) add a task to carol's project and sync: the server rejects it, and it is
/// quarantined.
func quarantineOne(_ client: SynclineClient) async throws {
    _ = try client.insert(entity: "tasks", record: Record(key: newKey(), version: nil,
        values: ["project_id": .text("p-ridge"), "title": .text("Not my project"), "done": .boolean(false)]))
    _ = try? await client.syncNow(unit: "all")
}

let wifi = Connectivity.of(satisfied: true, wifi: true, cellular: false, wired: false, expensive: false, constrained: false)

final class SyncBannerModelTests: XCTestCase {
    @MainActor
    func testItFollowsTheClientOfflineThenHidesOnceSynced() async throws {
        let client = try open("banner-model")
        let model = SyncBannerModel(client: client, words: BannerText(localization: "en")!)
        client.reportConnectivity(connectivity: .offline)
        _ = try client.insert(entity: "tasks", record: task(newKey(), "Offline one"))
        _ = try client.insert(entity: "tasks", record: task(newKey(), "Offline two"))
        try await eventually("the offline banner: \(String(describing: model.title))") {
            model.title == "You're offline · 2 changes waiting to sync"
        }
        XCTAssertTrue(model.isVisible)
        XCTAssertNil(model.detail)
        XCTAssertNil(model.retryLabel, "no Retry while offline: nothing failed")
        XCTAssertEqual(model.accessibilityLabel, "You're offline · 2 changes waiting to sync")
        client.reportConnectivity(connectivity: wifi)
        try await eventually("hidden once synced: \(String(describing: model.title))") {
            !model.isVisible && client.status().pending == 0
        }
        XCTAssertNil(model.accessibilityLabel)
        XCTAssertNil(model.retryInSeconds)
    }

    @MainActor
    func testTheCountdownMovesEverySecondAndRetryCallsBack() async throws {
        let clock = ManualClock()
        let retries = Calls()
        let model = SyncBannerModel(words: BannerText(localization: "en")!, now: { clock.now }, retry: { retries.record() })
        model.show(failedBanner(at: clock.now + 3_000))
        XCTAssertEqual(model.title, "Sync failed: server error (503)")
        XCTAssertEqual(model.detail, "Retrying in 3 s")
        XCTAssertEqual(model.retryInSeconds, 3)
        XCTAssertEqual(model.retryLabel, "Retry")
        XCTAssertEqual(model.accessibilityLabel, "Sync failed: server error (503), Retrying in 3 s")
        // The model re-reads the clock by itself every second while a retry is ahead.
        clock.advance(2_000)
        try await eventually("the countdown to move: \(String(describing: model.detail))") { model.detail == "Retrying in 1 s" }
        XCTAssertEqual(model.retryInSeconds, 1)
        clock.advance(5_000)
        try await eventually("the retry to be due: \(String(describing: model.detail))") { model.detail == "Retrying now" }
        XCTAssertEqual(model.retryInSeconds, 0)
        model.retry()
        XCTAssertEqual(retries.count, 1)
        // A hidden banner: no words, no countdown, and Retry does nothing.
        model.show(Banner(kind: .hidden, pending: 0, conflicts: 0, quarantined: 0, entitiesDone: 0, entitiesTotal: 0,
                          reason: nil, nextRetryAt: nil, canRetry: false))
        XCTAssertFalse(model.isVisible)
        XCTAssertNil(model.detail)
        XCTAssertNil(model.retryInSeconds)
        model.retry()
        XCTAssertEqual(retries.count, 1, "no Retry on a hidden banner")
    }

    @MainActor
    func testSignInNeededOffersNoRetry() async throws {
        let client = try open("banner-model-token", testConfig("not-a-token", manual: true))
        let model = SyncBannerModel(client: client, words: BannerText(localization: "en")!)
        client.reportConnectivity(connectivity: wifi)
        _ = try? await client.syncNow(unit: "all")
        try await eventually("sign-in needed: \(String(describing: model.title))") { model.title == "Sync failed: sign-in needed" }
        XCTAssertNil(model.retryLabel, "retrying cannot help: the user must sign in")
        XCTAssertNil(model.retryInSeconds)
    }

    @MainActor
    func testAnUnreachableServerOffersRetryAndRetryingSchedulesAnotherAttempt() async throws {
        // A port nothing listens on: the sync fails as unreachable and the core plans a retry.
        var config = defaultConfig(serverUrl: "http://127.0.0.1:9", token: "demo-alice")
        config.auto.onStart = false
        config.auto.afterChange = 0.05
        config.auto.offlineDebounce = 0
        config.auto.periodic = nil
        let client = try open("banner-model-unreachable", config)
        let model = SyncBannerModel(client: client, words: BannerText(localization: "en")!)
        client.reportConnectivity(connectivity: wifi)
        _ = try client.insert(entity: "tasks", record: task(newKey(), "Nowhere to go"))
        try await eventually("the failure: \(String(describing: model.title))") {
            model.title == "Sync failed: server unreachable" && model.retryInSeconds != nil
        }
        XCTAssertEqual(model.retryLabel, "Retry")
        let firstAttempt = model.banner?.nextRetryAt
        model.retry()
        try await eventually("another attempt, with its own retry time") {
            model.banner?.nextRetryAt != nil && model.banner?.nextRetryAt != firstAttempt
        }
        XCTAssertEqual(client.status().pending, 1, "the mutation is still pending")
    }

    @MainActor
    func testGermanWords() async throws {
        let clock = ManualClock()
        let model = SyncBannerModel(words: BannerText(localization: "de")!, now: { clock.now }, retry: {})
        model.show(failedBanner(at: clock.now + 4_200))
        XCTAssertEqual(model.title, "Synchronisierung fehlgeschlagen: Serverfehler (503)")
        XCTAssertEqual(model.detail, "Neuer Versuch in 5 s")
        XCTAssertEqual(model.retryLabel, "Erneut versuchen")
        XCTAssertEqual(model.accessibilityLabel, "Synchronisierung fehlgeschlagen: Serverfehler (503), Neuer Versuch in 5 s")
        XCTAssertNil(BannerText(localization: "fr"), "no French table in the package")
    }

    @MainActor
    func testAConflictWaitingIsSaidUnderEveryBannerAndReviewOpensTheConflicts() async throws {
        let client = try await clientWithAConflict("banner-decision")
        let model = SyncBannerModel(client: client, words: BannerText(localization: "en")!)
        let reviews = Reviews()
        model.onReview = { reviews.opened.append($0) }
        // Idle and online with a conflict waiting: the decision is the title, never "up to date".
        try await eventually("the decision banner: \(String(describing: model.banner))") {
            model.banner?.kind == .needsDecision
        }
        XCTAssertEqual(model.title, "1 change needs your decision")
        XCTAssertNil(model.decision, "the title says it already")
        XCTAssertEqual(model.reviewLabel, "Review")
        XCTAssertEqual(model.reviewTarget, .conflicts)
        XCTAssertEqual(model.tone, .decision)
        XCTAssertNil(model.retryLabel)
        XCTAssertEqual(model.accessibilityLabel, "1 change needs your decision")
        model.review()
        XCTAssertEqual(reviews.opened, [.conflicts])

        // Offline with an edit waiting: the offline banner, and the decision still under it.
        client.reportConnectivity(connectivity: .offline)
        _ = try client.insert(entity: "tasks", record: task(newKey(), "Offline edit"))
        try await eventually("offline, the decision under it: \(String(describing: model.title))") {
            model.title == "You're offline · 1 change waiting to sync"
        }
        XCTAssertEqual(model.decision, "1 change needs your decision")
        XCTAssertEqual(model.reviewLabel, "Review")
        XCTAssertEqual(model.tone, .offline)
        XCTAssertEqual(model.accessibilityLabel, "You're offline · 1 change waiting to sync, 1 change needs your decision")
        model.review()
        XCTAssertEqual(reviews.opened, [.conflicts, .conflicts])

        // Settled: no decision line, no Review, and Review does nothing.
        let conflict = try XCTUnwrap(try client.conflicts().first)
        _ = try client.resolve(id: conflict.id, resolution: .keepMine)
        try await eventually("the decision gone: \(String(describing: model.decision))") {
            model.decision == nil && model.reviewLabel == nil && model.title?.hasPrefix("You're offline") == true
        }
        XCTAssertNil(model.reviewTarget)
        model.review()
        XCTAssertEqual(reviews.opened.count, 2, "nothing to review")
    }

    @MainActor
    func testAQuarantinedMutationAloneLeadsToTheRefusedChangesInGerman() async throws {
        let client = try open("banner-quarantine", testConfig(manual: true))
        client.reportConnectivity(connectivity: wifi)
        let model = SyncBannerModel(client: client, words: BannerText(localization: "de")!)
        let reviews = Reviews()
        model.onReview = { reviews.opened.append($0) }
        try await quarantineOne(client)
        try await eventually("the decision banner: \(String(describing: model.banner))") {
            model.banner?.kind == .needsDecision && model.banner?.quarantined == 1
        }
        XCTAssertEqual(model.title, "1 Änderung braucht deine Entscheidung")
        XCTAssertEqual(model.reviewLabel, "Ansehen")
        XCTAssertEqual(model.reviewTarget, .quarantine, "no conflicts: the refused changes")
        model.review()
        XCTAssertEqual(reviews.opened, [.quarantine])

        // A second one: the count in the words.
        try await quarantineOne(client)
        try await eventually("two waiting: \(String(describing: model.title))") {
            model.title == "2 Änderungen brauchen deine Entscheidung"
        }
    }

    @MainActor
    func testEveryKindCarriesTheDecisionLineAndConflictsComeFirst() async throws {
        let clock = ManualClock()
        let model = SyncBannerModel(words: BannerText(localization: "en")!, now: { clock.now }, retry: {})
        func waiting(_ kind: BannerKind, conflicts: UInt64, quarantined: UInt64) -> Banner {
            Banner(kind: kind, pending: 2, conflicts: conflicts, quarantined: quarantined, entitiesDone: 1, entitiesTotal: 3,
                   reason: kind == .failed ? .timeout : nil, nextRetryAt: kind == .failed ? clock.now + 3_000 : nil,
                   canRetry: kind == .failed)
        }
        let expected: [(BannerKind, String, BannerTone)] = [
            (.syncing, "Syncing…", .syncing),
            (.failed, "Sync failed: the server took too long", .failed),
            (.offline, "You're offline · 2 changes waiting to sync", .offline),
            (.needsDecision, "3 changes need your decision", .decision),
            // A hidden banner that still counts decisions (the core never sends one): not hidden.
            (.hidden, "3 changes need your decision", .decision),
        ]
        for (kind, title, tone) in expected {
            model.show(waiting(kind, conflicts: 1, quarantined: 2))
            XCTAssertEqual(model.title, title, "\(kind)")
            XCTAssertEqual(model.decision, title == "3 changes need your decision" ? nil : "3 changes need your decision", "\(kind)")
            XCTAssertEqual(model.reviewLabel, "Review", "\(kind)")
            XCTAssertEqual(model.reviewTarget, .conflicts, "conflicts first: \(kind)")
            XCTAssertEqual(model.tone, tone, "\(kind)")
            XCTAssertTrue(model.accessibilityLabel?.contains("3 changes need your decision") == true, "\(kind)")
        }
        model.show(waiting(.failed, conflicts: 0, quarantined: 1))
        XCTAssertEqual(model.title, "Sync failed: the server took too long")
        XCTAssertEqual(model.detail, "Retrying in 3 s")
        XCTAssertEqual(model.decision, "1 change needs your decision")
        XCTAssertEqual(model.retryLabel, "Retry", "Retry and Review side by side")
        XCTAssertEqual(model.reviewTarget, .quarantine)
        XCTAssertEqual(model.accessibilityLabel, "Sync failed: the server took too long, Retrying in 3 s, 1 change needs your decision")
        model.show(waiting(.hidden, conflicts: 0, quarantined: 0))
        XCTAssertFalse(model.isVisible)
        XCTAssertNil(model.tone)
        XCTAssertNil(model.reviewLabel)
    }
}
