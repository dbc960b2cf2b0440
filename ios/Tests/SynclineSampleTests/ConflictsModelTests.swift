// The conflicts screen through its model, with the real core and server: a conflict with a
// second device settled by keep mine, keep theirs and a typed merge (a value of the wrong type
// refused), what the user typed kept while the list changes.
import Foundation
import Syncline
import SynclineCore
import SynclineSample
import SynclineTestSupport
import XCTest

/// A task of p-harbor that alice (`client`) and bob (`bob`) both have, synced.
func sharedTask(_ client: SynclineClient, _ bob: SynclineClient, title: String) async throws -> String {
    let key = newKey()
    _ = try client.insert(entity: "tasks", record: Record(key: key, version: nil,
        values: ["project_id": .text("p-harbor"), "title": .text(title), "priority": .integer(1)]))
    _ = try await client.syncNow(unit: "all")
    _ = try await bob.syncNow(unit: "all")
    return key
}

/// Bob changes `values` of task `key` and syncs; then alice changes `mine` and syncs: the
/// fields both changed go to alice's inbox (tasks' conflict policy is manual).
func conflict(_ client: SynclineClient, _ bob: SynclineClient, _ key: String, theirs: [String: Value], mine: [String: Value]) async throws {
    _ = try bob.update(entity: "tasks", patch: Record(key: key, values: theirs))
    _ = try await bob.syncNow(unit: "all")
    _ = try client.update(entity: "tasks", patch: Record(key: key, values: mine))
    _ = try await client.syncNow(unit: "all")
}

final class ConflictsModelTests: XCTestCase {
    @MainActor
    func testAConflictIsSettledByKeepMineKeepTheirsOrATypedMerge() async throws {
        // Syncs only when the test says: an automatic sync could pull bob's edit before alice
        // makes hers, and there would be no conflict to settle.
        let client = try open("inbox-alice", manualConfig(serverURL))
        client.reportConnectivity(connectivity: wifi)
        let bob = try await serverView("demo-bob")
        let model = ConflictsModel(client: client, text: sampleEnglish)
        try await eventually("the empty list at once") { client.status().conflicts == 0 && model.conflicts.isEmpty && model.error == nil }

        // Keep mine: the server ends up with alice's title.
        let first = try await sharedTask(client, bob, title: "Original")
        try await conflict(client, bob, first, theirs: ["title": .text("Bob's title")], mine: ["title": .text("Alice's title")])
        try await eventually("the conflict on screen: \(model.conflicts)") { model.conflicts.count == 1 }
        let item = model.conflicts[0]
        XCTAssertEqual(item.key, first)
        XCTAssertEqual(item.title, "Alice's title")
        XCTAssertEqual(item.entity, "tasks")
        XCTAssertEqual(item.entityName, "Task", "the entity as users read it")
        XCTAssertEqual(item.heading, "Task · Alice's title")
        XCTAssertEqual(item.fields.map(\.id), ["title"])
        XCTAssertEqual(item.fields[0].label, "Title")
        XCTAssertEqual(item.fields[0].summary, "Title — before: Original · mine: Alice's title · theirs: Bob's title")
        XCTAssertEqual(item.fields[0].base, "Original")
        XCTAssertEqual(item.fields[0].mine, "Alice's title")
        XCTAssertEqual(item.fields[0].theirs, "Bob's title")
        XCTAssertEqual(item.fields[0].merged, "Alice's title", "the merge starts from mine")
        model.keepMine(item.id)
        XCTAssertNil(model.error)
        try await eventually("settled, off the list") { model.conflicts.isEmpty }
        _ = try await client.syncNow(unit: "all")
        _ = try await bob.syncNow(unit: "all")
        XCTAssertEqual(try bob.get(entity: "tasks", key: first)?.values["title"], .text("Alice's title"), "mine on the server")

        // A typed merge of a text and a number; what the user typed stays while a new conflict
        // joins the list; a number that is not one is refused and settles nothing.
        let second = try await sharedTask(client, bob, title: "Second")
        try await conflict(client, bob, second, theirs: ["title": .text("Bob 2"), "priority": .integer(5)],
                           mine: ["title": .text("Alice 2"), "priority": .integer(3)])
        try await eventually("the second conflict") { model.conflicts.count == 1 }
        XCTAssertEqual(model.conflicts[0].fields.map(\.id).sorted(), ["priority", "title"])
        let title = try XCTUnwrap(model.conflicts[0].fields.firstIndex { $0.id == "title" })
        let priority = try XCTUnwrap(model.conflicts[0].fields.firstIndex { $0.id == "priority" })
        model.conflicts[0].fields[title].merged = "Alice and Bob"
        model.conflicts[0].fields[priority].merged = "high"
        let third = try await sharedTask(client, bob, title: "Third")
        try await conflict(client, bob, third, theirs: ["title": .text("Bob 3")], mine: ["title": .text("Alice 3")])
        try await eventually("two conflicts: \(model.conflicts.map(\.key))") { model.conflicts.count == 2 }
        let merging = try XCTUnwrap(model.conflicts.first { $0.key == second })
        XCTAssertEqual(merging.fields.first { $0.id == "title" }?.merged, "Alice and Bob", "typing survives the list changing")
        model.merge(merging.id)
        XCTAssertEqual(model.error, "Priority: \"high\" is not a whole number")
        XCTAssertEqual(client.status().conflicts, 2, "nothing settled")
        let index = try XCTUnwrap(model.conflicts.firstIndex { $0.key == second })
        let field = try XCTUnwrap(model.conflicts[index].fields.firstIndex { $0.id == "priority" })
        model.conflicts[index].fields[field].merged = "4"
        model.merge(merging.id)
        XCTAssertNil(model.error)

        // Keep theirs: alice's device takes bob's title.
        let bobs = try XCTUnwrap(model.conflicts.first { $0.key == third })
        model.keepTheirs(bobs.id)
        XCTAssertNil(model.error)
        try await eventually("all settled") { model.conflicts.isEmpty }
        _ = try await client.syncNow(unit: "all")
        _ = try await bob.syncNow(unit: "all")
        XCTAssertEqual(try bob.get(entity: "tasks", key: second)?.values["title"], .text("Alice and Bob"))
        XCTAssertEqual(try bob.get(entity: "tasks", key: second)?.values["priority"], .integer(4), "the merge, typed")
        XCTAssertEqual(try client.get(entity: "tasks", key: third)?.values["title"], .text("Bob 3"), "theirs, here")
        XCTAssertEqual(try bob.get(entity: "tasks", key: third)?.values["title"], .text("Bob 3"))
    }
}
