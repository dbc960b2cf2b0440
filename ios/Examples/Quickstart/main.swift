// Syncline in Swift: alice and bob share the project p-harbor on the demo server
// (`cargo run -p syncline-cli -- demo`, or the server SYNCLINE_SERVER_URL names).
import Foundation
import Syncline
import SynclineCore

let server = ProcessInfo.processInfo.environment["SYNCLINE_SERVER_URL"] ?? "http://127.0.0.1:8787"
let english = BannerText(localization: "en")!

/// A user's client on a fresh local store. Here the story says when to sync (`syncNow`); an app
/// keeps the default config, which syncs by itself.
func openClient(token: String) throws -> SynclineClient {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("quickstart-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    var config = defaultConfig(serverUrl: server, token: token)
    config.auto = manualAutoSync()
    return try SynclineClient.open(path: folder.appendingPathComponent("app.db").path,
                                   entities: sampleSchema(), config: config)
}

/// Stops the program with exit status 1 unless `condition` holds.
func expect(_ condition: Bool, _ what: String) {
    if !condition { print("FAILED: \(what)"); exit(1) }
}

/// What the live query (step 3) counted last; top-level code and its tasks run on the main actor.
var liveCount = 0

do {
    // 1. Alice's client, synced once.
    let alice = try openClient(token: "demo-alice")
    _ = try await alice.syncNow(unit: "all")
    let harbor = Query.all(limit: 10_000).filter("project_id", .text("p-harbor"))
    let before = try alice.query(entity: "tasks", query: harbor).records.count
    print("1. alice has \(before) tasks in p-harbor")

    // 2. Tasks as a Codable struct (not named `Task`, which is Swift's concurrency task).
    struct TaskItem: Codable, Equatable {
        var id: String
        var project_id: String
        var title: String
        var done: Bool?
    }
    let tasks = try alice.collection(TaskItem.self, entity: "tasks")
    print("2. a collection of TaskItem for the entity tasks")

    // 3. A live query: the page now, then again after every change, as a screen's list follows it.
    let live = Task {
        for try await page in tasks.watchStream(harbor) where page.count != liveCount {
            liveCount = page.count
            print("   live query: \(page.count) tasks in p-harbor")
        }
    }
    print("3. a live query prints p-harbor's task count whenever it changes")

    // 4. Alice adds a task: saved locally at once, then synced.
    let crane = TaskItem(id: "t-\(UUID().uuidString.lowercased())", project_id: "p-harbor",
                         title: "Inspect the crane", done: false)
    try tasks.insert(crane)
    _ = try await alice.syncNow(unit: "all")
    print("4. alice added \"\(crane.title)\" and synced")

    // 5. Bob syncs and reads it, typed.
    let bob = try openClient(token: "demo-bob")
    _ = try await bob.syncNow(unit: "all")
    let bobsTasks = try bob.collection(TaskItem.self, entity: "tasks")
    let bobsCopy = try bobsTasks.get(key: crane.id)
    expect(bobsCopy == crane, "bob reads alice's task: \(String(describing: bobsCopy))")
    print("5. bob reads \"\(bobsCopy!.title)\"")

    // 6. Both rename it; alice syncs first, so bob's sync finds a conflict (tasks: manual policy).
    var alicesEdit = crane, bobsEdit = crane
    alicesEdit.title = "Inspect the crane before Friday"
    bobsEdit.title = "Inspect the crane and its cables"
    try tasks.update(alicesEdit)
    try bobsTasks.update(bobsEdit)
    _ = try await alice.syncNow(unit: "all")
    _ = try await bob.syncNow(unit: "all")
    let conflict = try bob.conflicts().first { $0.key == crane.id }
    expect(conflict?.fields == ["title"], "a conflict on the title: \(String(describing: conflict))")
    print("6. bob's sync found a conflict on the title; his banner: \(english.title(bob.banner()) ?? "")")
    let merged = "Inspect the crane and its cables before Friday"
    _ = try bob.resolve(id: conflict!.id, resolution: .merged(values: ["title": .text(merged)]))
    _ = try await bob.syncNow(unit: "all")
    print("   bob merged the titles and synced")

    // 7. Alice syncs and sees the merged title.
    _ = try await alice.syncNow(unit: "all")
    let final = try tasks.get(key: crane.id)
    expect(final?.title == merged, "alice sees the merge: \(String(describing: final))")
    print("7. alice sees \"\(final!.title)\"")
    print("   alice's banner: \(english.title(alice.banner()) ?? "hidden (all synced)")")
    live.cancel()
    expect(liveCount == before + 1, "the live query counted alice's new task: \(liveCount)")
} catch {
    print("FAILED: \(error)")
    exit(1)
}
