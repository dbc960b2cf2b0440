// SyncBannerModel, the banner SwiftUI binds to: fed by a real client (offline, failed, sign-in
// needed, back online), its countdown moving with the clock, Retry offered only when it helps,
// and the German words through Bundle.module.
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
}
