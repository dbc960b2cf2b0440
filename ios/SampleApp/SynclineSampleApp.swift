// The SwiftUI sample app: the sample project/task data, the sync banner, and the OS's network
// path and app lifecycle fed to the core. Add it to an Xcode iOS app target that depends on the
// Syncline package (needs a Mac; not built on Linux).
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
                    if newPhase == .active { try? model.client?.resumed() }
                }
        }
    }
}

@MainActor
final class SampleModel: ObservableObject {
    @Published var banner: Banner?
    @Published var tasks: [SyncRecord] = []
    private(set) var client: SynclineClient?
    private var monitor: NetworkMonitor?

    init() {
        do {
            let dir = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            let config = try defaultConfig(serverUrl: "http://127.0.0.1:8787", token: "demo-alice")
            let client = try SynclineClient.open(path: dir.appendingPathComponent("syncline.db").path, entities: try sampleSchema(), config: config)
            try setLogSink(sink: OSLogSink(), maxLevel: .info)
            self.client = client
            let monitor = NetworkMonitor(client: client)
            monitor.start()
            self.monitor = monitor
            Task { [weak self] in
                for await status in client.statusStream() {
                    self?.banner = status.banner
                    self?.reload()
                }
            }
        } catch {
            banner = Banner(kind: .failed, title: "Cannot open the store: \(error)", nextRetryAt: nil, progressDone: 0, progressTotal: 0, showRetry: false)
        }
    }

    func reload() {
        let query = QuerySpec(filters: [], sort: [Sort(field: "title", order: .ascending)], limit: 500, offset: 0)
        tasks = (try? client?.query(entity: "tasks", query: query).records) ?? []
    }

    func toggle(_ task: SyncRecord) {
        let done = task.fields["done"] == .boolean(value: true)
        _ = try? client?.update(entity: "tasks", key: task.key, fields: ["done": .boolean(value: !done)])
        reload()
    }
}

struct ContentView: View {
    @ObservedObject var model: SampleModel

    var body: some View {
        NavigationStack {
            VStack(spacing: 0) {
                if let banner = model.banner, let title = banner.title {
                    HStack {
                        Text(title)
                        if let detail = try? bannerDetail(banner: banner, nowMs: Int64(Date().timeIntervalSince1970 * 1000)) {
                            Text(detail).foregroundStyle(.secondary)
                        }
                        Spacer()
                        if banner.showRetry { Button("Retry") { try? model.client?.retry() } }
                    }
                    .padding(8)
                    .background(banner.kind == .failed ? Color.red.opacity(0.2) : Color.yellow.opacity(0.2))
                }
                List(model.tasks, id: \.key) { task in
                    Button {
                        model.toggle(task)
                    } label: {
                        HStack {
                            Image(systemName: task.fields["done"] == .boolean(value: true) ? "checkmark.circle.fill" : "circle")
                            if case .text(let title)? = task.fields["title"] { Text(title) }
                        }
                    }
                }
            }
            .navigationTitle("Tasks")
        }
    }
}
