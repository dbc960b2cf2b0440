// What the sample's model tests share: a signed-in session against the reference server, with
// quick automatic syncs, and a second device to look at what reached the server.
import Foundation
import Syncline
import SynclineCore
import SynclineSample
import SynclineTestSupport
import XCTest

/// A scratch folder of the test's own.
func scratchFolder() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("syncline-sample-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// A client config that syncs soon after each change and at once when the network comes back,
/// as the app's defaults do, only sooner (the tests wait for it).
let quickSyncs: @Sendable (Credentials) -> Config = { credentials in
    var config = defaultConfig(serverUrl: credentials.serverURL, token: credentials.token)
    config.auto.onStart = false
    config.auto.afterChange = 0.05
    config.auto.offlineDebounce = 0
    config.auto.periodic = nil
    return config
}

let english = BannerText(localization: "en")!
let german = BannerText(localization: "de")!
/// The sample's own words in English and German, through Bundle.module as the app gets them.
let sampleEnglish = SampleText(localization: "en")!
let sampleGerman = SampleText(localization: "de")!

/// A session keeping its databases and credentials in `folder`, with `token` typed (and the
/// reference server's URL), not signed in yet; with its credential store.
@MainActor
func makeSession(in folder: URL, token: String) -> (SessionModel, FileCredentialStore) {
    let store = FileCredentialStore(url: folder.appendingPathComponent("credentials.json"))
    let session = SessionModel(directory: folder, credentials: store, words: english, text: sampleEnglish, configure: quickSyncs)
    session.serverURL = serverURL
    session.token = token
    return (session, store)
}

/// A session signed in as `token`'s user on the reference server, online.
@MainActor
func signedIn(_ token: String = "demo-alice") async throws -> (SessionModel, SynclineClient) {
    let (session, _) = makeSession(in: try scratchFolder(), token: token)
    let worked = await session.signIn()
    guard worked, let client = session.client else {
        throw Failure(description: "sign-in failed: \(String(describing: session.error))")
    }
    client.reportConnectivity(connectivity: wifi)
    return (session, client)
}

/// Another device of `token`'s user, synced now: what the server has.
func serverView(_ token: String = "demo-bob") async throws -> SynclineClient {
    let device = try open("server-view", manualConfig(serverURL, token: token))
    device.reportConnectivity(connectivity: wifi)
    _ = try await device.syncNow(unit: "all")
    return device
}

let wifi = Connectivity.of(satisfied: true, wifi: true, cellular: false, wired: false, expensive: false, constrained: false)
