// Apple only: the sample app's entry point, for an Xcode iOS app target depending on the
// SynclineSample product. Its Info.plist lists BackgroundSync.taskIdentifier under
// BGTaskSchedulerPermittedIdentifiers, `fetch` under UIBackgroundModes, and `de` among its
// localizations (for the German banner and screens). What it shows and does lives in
// SynclineSample's models.
import Syncline
import SynclineCore
import SynclineSample
import SynclineSampleViews
import SwiftUI

@main
struct SynclineSampleApp: App {
    @State private var session: SessionModel
    @State private var monitor: NetworkMonitor?
    @Environment(\.scenePhase) private var phase
    private let scheduler = AppRefreshScheduler()

    init() {
        setLogSink(sink: OSLogSink(), maxLevel: .info)
        let folder = URL.applicationSupportDirectory
        let session = SessionModel(directory: folder, credentials: FileCredentialStore(url: folder.appending(path: "credentials.json")))
        _session = State(initialValue: session)
        // Registered before launch ends, as iOS requires; a run may find the app just launched.
        scheduler.register { [scheduler] in await session.backgroundSync(scheduler: scheduler) }
    }

    var body: some Scene {
        WindowGroup {
            SampleRootView(session: session)
                .task { if session.client == nil && session.hasKeptCredentials { await session.signIn() } }
                .onChange(of: session.client.map(ObjectIdentifier.init)) {
                    monitor?.stop()
                    monitor = session.client.map(NetworkMonitor.init)
                    monitor?.start()
                }
        }
        .onChange(of: phase) { _, now in
            if now == .active { session.client?.resumed() }
            // In the background the live stream closes (no connection keeps the radio awake);
            // back in the foreground it opens again, with a sync.
            if now == .background {
                session.client?.paused()
                Task { await session.backgroundSync(scheduler: scheduler)?.appDidEnterBackground() }
            }
        }
    }
}
