// The SwiftUI sample app: the sample tasks as a live query, the sync banner in the user's language
// (BannerText over the package's Localizable.strings), and the OS's network path and app
// lifecycle fed to the core. Add it to an Xcode iOS app target that depends on the Syncline
// package (needs a Mac; not built on Linux). For German banners, list `de` in the app's
// localizations (CFBundleLocalizations in Info.plist): iOS picks a package's language from the
// app's own.
import SwiftUI
import Syncline
import SynclineCore

@main
struct SynclineSampleApp: App {
    @StateObject private var model = SampleModel()
    @Environment(\.scenePhase) private var phase

    var body: some Scene {
        WindowGroup {
            ContentView(model: model)
                .onChange(of: phase) { newPhase in
                    if newPhase == .active { model.client?.resumed() }
                }
        }
    }
}

@MainActor
final class SampleModel: ObservableObject {
    @Published var banner: Banner?
    @Published var tasks: [Record] = []
    /// Why the store could not be opened, or why the task list stopped.
    @Published var openError: String?
    private(set) var client: SynclineClient?
    private var monitor: NetworkMonitor?

    init() {
        do {
            let dir = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            let config = defaultConfig(serverUrl: "http://127.0.0.1:8787", token: "demo-alice")
            let client = try SynclineClient.open(path: dir.appendingPathComponent("syncline.db").path, entities: try sampleSchema(), config: config)
            setLogSink(sink: OSLogSink(), maxLevel: .info)
            self.client = client
            let monitor = NetworkMonitor(client: client)
            monitor.start()
            self.monitor = monitor
            Task { [weak self] in
                for await status in client.statusStream() {
                    self?.banner = status.banner
                }
            }
            // The list is a live query: a new page after every change of `tasks` (a tap, a
            // pulled page, a settled conflict), each record with its sync state.
            let byTitle = Query(filters: [], sort: [Sort(field: "title", order: .ascending)], limit: 500, offset: 0)
            Task { [weak self] in
                do {
                    for try await page in client.watchStream(entity: "tasks", query: byTitle) {
                        self?.tasks = page.records
                    }
                } catch {
                    self?.openError = "Cannot read the tasks: \(error)"
                }
            }
        } catch {
            openError = "Cannot open the store: \(error)"
        }
    }

    /// Ticks or unticks `task`; the live query shows the change (and its pending mark).
    func toggle(_ task: Record) {
        let done = task.values["done"] == .boolean(true)
        _ = try? client?.update(entity: "tasks", key: task.key, values: ["done": .boolean(!done)])
    }
}

/// The sync banner; redrawn every second so the retry countdown moves between status changes.
struct BannerView: View {
    let banner: Banner
    let retry: () -> Void
    private let words = BannerText()

    var body: some View {
        TimelineView(.periodic(from: .now, by: 1)) { context in
            let now = Int64(context.date.timeIntervalSince1970 * 1000)
            if let title = words.title(banner) {
                HStack {
                    VStack(alignment: .leading) {
                        Text(title)
                        if let detail = words.detail(banner, now: now) {
                            Text(detail).foregroundStyle(.secondary)
                        }
                    }
                    .accessibilityElement(children: .ignore)
                    .accessibilityLabel(words.accessibilityLabel(banner, now: now) ?? title)
                    Spacer()
                    if let label = words.retryLabel(banner) { Button(label, action: retry) }
                }
                .padding(8)
                .background(banner.kind == .failed ? Color.red.opacity(0.2) : Color.yellow.opacity(0.2))
            }
        }
    }
}

struct ContentView: View {
    @ObservedObject var model: SampleModel
    private let words = BannerText()

    var body: some View {
        NavigationStack {
            VStack(spacing: 0) {
                if let error = model.openError {
                    Text(error).padding(8)
                }
                if let banner = model.banner {
                    BannerView(banner: banner) { model.client?.retry() }
                }
                List(model.tasks, id: \.key) { task in
                    Button {
                        model.toggle(task)
                    } label: {
                        HStack {
                            Image(systemName: task.values["done"] == .boolean(true) ? "checkmark.circle.fill" : "circle")
                            VStack(alignment: .leading) {
                                if case .text(let title)? = task.values["title"] { Text(title) }
                                if let mark = words.recordMark(task.state) {
                                    Text(mark).font(.caption).foregroundStyle(.secondary)
                                }
                            }
                        }
                    }
                }
            }
            .navigationTitle("Tasks")
        }
    }
}
