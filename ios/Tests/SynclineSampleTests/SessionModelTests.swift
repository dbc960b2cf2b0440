// Sign-in: typed URL and token checked, the client opened and the banner following it, the
// credentials kept for the next launch and forgotten at sign-out.
import Foundation
import Syncline
import SynclineCore
import SynclineSample
import SynclineTestSupport
import XCTest

final class SessionModelTests: XCTestCase {
    @MainActor
    func testSignInOpensTheClientAndKeepsTheCredentialsUntilSignOut() async throws {
        let folder = try scratchFolder()
        let store = FileCredentialStore(url: folder.appendingPathComponent("credentials.json"))
        let session = SessionModel(directory: folder, credentials: store, words: english, configure: quickSyncs)
        XCTAssertFalse(session.hasKeptCredentials)
        session.serverURL = "not a url"
        session.token = "demo-alice"
        let badURL = await session.signIn()
        XCTAssertFalse(badURL)
        XCTAssertEqual(session.error, "Enter the server's URL, such as https://sync.example.com")
        XCTAssertNil(session.client)
        session.serverURL = serverURL
        session.token = "  "
        let noToken = await session.signIn()
        XCTAssertFalse(noToken)
        XCTAssertEqual(session.error, "Enter your token")
        session.token = " demo-alice "
        let worked = await session.signIn()
        XCTAssertTrue(worked, String(describing: session.error))
        XCTAssertNil(session.error)
        XCTAssertNotNil(session.banner)
        let client = try XCTUnwrap(session.client)
        client.reportConnectivity(connectivity: wifi)
        _ = try await client.syncNow(unit: "all")
        XCTAssertNotNil(try client.get(entity: "projects", key: "p-harbor"), "alice's project arrived")
        // The next launch finds the credentials (trimmed) and the same database.
        let relaunched = SessionModel(directory: folder, credentials: store, words: english, configure: quickSyncs)
        XCTAssertTrue(relaunched.hasKeptCredentials)
        XCTAssertEqual(relaunched.serverURL, serverURL)
        XCTAssertEqual(relaunched.token, "demo-alice")
        session.signOut()
        XCTAssertNil(session.client)
        XCTAssertNil(session.banner)
        XCTAssertEqual(session.token, "")
        XCTAssertEqual(session.serverURL, serverURL, "the URL stays typed")
        XCTAssertNil(store.load(), "the token is forgotten")
        let reopened = await relaunched.signIn()
        XCTAssertTrue(reopened)
        XCTAssertNotNil(try relaunched.client?.get(entity: "projects", key: "p-harbor"), "the same user's database, kept")
    }

    @MainActor
    func testAnotherUserGetsADatabaseOfTheirOwn() async throws {
        let (session, _) = makeSession(in: try scratchFolder(), token: "demo-alice")
        _ = await session.signIn()
        let alice = try XCTUnwrap(session.client)
        alice.reportConnectivity(connectivity: wifi)
        _ = try await alice.syncNow(unit: "all")
        session.signOut()
        session.token = "demo-carol"
        _ = await session.signIn()
        let carol = try XCTUnwrap(session.client)
        XCTAssertNil(try carol.get(entity: "projects", key: "p-harbor"), "carol's store holds nothing of alice's")
    }

    @MainActor
    func testABackgroundLaunchOpensTheKeptSessionForItsRun() async throws {
        let folder = try scratchFolder()
        // The app's session syncs only when asked: with quickSyncs its client would push the
        // mutation 50 ms after the write (or leave its queued sync in the file for the launched
        // client to run at once), racing the check that the mutation is still pending.
        let store = FileCredentialStore(url: folder.appendingPathComponent("credentials.json"))
        let first = SessionModel(directory: folder, credentials: store, words: english,
                                 configure: { manualConfig($0.serverURL, token: $0.token) })
        first.serverURL = serverURL
        first.token = "demo-alice"
        _ = await first.signIn()
        let key = newKey()
        _ = try first.client?.insert(entity: "tasks", record: task(key, "Left for the background"))
        // iOS launches the app for a run: nothing is open until the run asks.
        let launched = SessionModel(directory: folder, credentials: store, words: english, configure: quickSyncs)
        XCTAssertNil(launched.client)
        let scheduler = FakeScheduler()
        let made = await launched.backgroundSync(scheduler: scheduler)
        let sync = try XCTUnwrap(made)
        let client = try XCTUnwrap(launched.client, "opened from the kept credentials")
        let again = await launched.backgroundSync(scheduler: scheduler)
        XCTAssertTrue(again === sync, "one BackgroundSync per client")
        client.reportConnectivity(connectivity: wifi)
        XCTAssertEqual(client.status().pending, 1, "the mutation left pending by the app")
        let outcome = await sync.run(FakeRun())
        XCTAssertEqual(outcome, .synced)
        XCTAssertEqual(client.status().pending, 0)
        launched.signOut()
        let signedOut = await launched.backgroundSync(scheduler: scheduler)
        XCTAssertNil(signedOut, "nobody signed in: no run")
    }
}
