// Typed models (SynclineCollection) against the real reference server: a Codable task written by
// alice and read typed by bob, updates both ways, a filtered query, live streams after a remote
// change, the exact Values a model becomes, and the errors that name the field and its type.
import Foundation
import Syncline
import SynclineCore
import SynclineTestSupport
import XCTest

/// A task of the sample schema with every field type: text, boolean, integer, timestamp (as a
/// Date and as Int64 ms), real, json (an array).
struct TaskItem: Codable, Equatable {
    var id: String
    var projectID: String
    var title: String
    var done: Bool?
    var notes: String?
    var priority: Int?
    var dueAt: Date?
    var assignee: String?
    var estimateHours: Double?
    var tags: [String]?
    var updatedAt: Int64?

    enum CodingKeys: String, CodingKey {
        case id, title, done, notes, priority, assignee, tags
        case projectID = "project_id", dueAt = "due_at", estimateHours = "estimate_hours", updatedAt = "updated_at"
    }

    init(_ id: String, _ title: String, assignee: String? = nil) {
        self.id = id
        projectID = "p-harbor"
        self.title = title
        self.assignee = assignee
    }
}

/// The expected error, or a failure saying what came instead.
func expectModelError<T>(_ expected: ModelError, _ body: () throws -> T) throws {
    let outcome: String
    do {
        outcome = "it succeeded: \(try body())"
    } catch let error as ModelError {
        try check(error == expected, "expected \(expected), got \(error)")
        return
    } catch {
        outcome = "it threw \(error)"
    }
    throw Failure(description: "expected \(expected), but \(outcome)")
}

/// The `undecodable` error `body` throws, or a failure.
func undecodable<T>(_ body: () throws -> T) throws -> (field: String, reason: String, text: String) {
    do {
        let value = try body()
        throw Failure(description: "expected an undecodable record, got \(value)")
    } catch let error as ModelError {
        guard case .undecodable(_, _, let field, let reason) = error else {
            throw Failure(description: "expected .undecodable, got \(error)")
        }
        return (field, reason, error.description)
    }
}

final class ModelsTests: XCTestCase {
    func testATypedTaskSyncsToBobAndBobsUpdateComesBack() async throws {
        let alice = try open("typed-alice", testConfig(manual: true))
        let bob = try open("typed-bob", testConfig("demo-bob", manual: true))
        let aliceTasks = try alice.collection(TaskItem.self, entity: "tasks")
        let bobTasks = try bob.collection(TaskItem.self, entity: "tasks")
        var sent = TaskItem(newKey(), "Inspect the pump", assignee: "alice")
        sent.done = false
        sent.notes = "Bring the long spanner"
        sent.priority = 2
        // Ahead of today: the test server runs the worked example's write rules, which refuse a
        // due date in the past.
        sent.dueAt = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 86_400).rounded(.down) * 86_400 + 30 * 86_400 + 0.25)
        sent.estimateHours = 1.5
        sent.tags = ["pump", "harbor"]
        sent.updatedAt = 1_700_000_000_123
        try aliceTasks.insert(sent)
        _ = try await alice.syncNow(unit: "tasks")
        _ = try await bob.syncNow(unit: "tasks")
        let received = try bobTasks.get(key: sent.id)
        try check(received == sent, "bob reads alice's task as she wrote it: \(String(describing: received)) != \(sent)")

        var edited = try XCTUnwrap(received)
        edited.title = "Inspect the pump (done)"
        edited.done = true
        edited.notes = nil
        let receipt = try bobTasks.update(edited)
        try check(receipt != nil, "bob's update is a mutation")
        try check(try bobTasks.update(edited) == nil, "the same model again changes nothing")
        _ = try await bob.syncNow(unit: "tasks")
        _ = try await alice.syncNow(unit: "tasks")
        let back = try aliceTasks.get(key: sent.id)
        try check(back == edited, "alice reads bob's update: \(String(describing: back)) != \(edited)")
        try check(back?.notes == nil && back?.tags == ["pump", "harbor"], "nil cleared notes, tags kept: \(String(describing: back))")

        try aliceTasks.delete(key: sent.id)
        try check(try aliceTasks.get(key: sent.id) == nil, "deleted")
    }

    func testAModelBecomesTheFieldsValues() throws {
        let client = try open("typed-values", testConfig(manual: true))
        let tasks = try client.collection(TaskItem.self, entity: "tasks")
        var task = TaskItem("t-values", "Values")
        task.done = true
        task.priority = 3
        task.dueAt = Date(timeIntervalSince1970: 1_800_000_000.123_4)
        task.estimateHours = 2
        task.tags = ["b", "a"]
        task.updatedAt = 42
        let record = try tasks.record(task)
        let expected: [String: Value] = [
            "project_id": .text("p-harbor"), "title": .text("Values"), "done": .boolean(true), "priority": .integer(3),
            "due_at": .timestamp(1_800_000_000_123), "estimate_hours": .real(2), "tags": .json(#"["b","a"]"#),
            "updated_at": .timestamp(42),
        ]
        try check(record.key == "t-values" && record.values == expected, "the record: \(record)")
        // Read back from the store, through the core's own types.
        try tasks.insert(task)
        let stored = try client.get(entity: "tasks", key: "t-values")
        try check(stored?.values["due_at"] == .timestamp(1_800_000_000_123), "a Date is stored in ms: \(String(describing: stored))")
        try check(stored?.values["notes"] ?? .null == .null, "a nil optional is no value: \(String(describing: stored))")
        let read = try XCTUnwrap(try tasks.get(key: "t-values"))
        try check(read.dueAt == Date(timeIntervalSince1970: 1_800_000_000.123), "the Date to the ms: \(String(describing: read.dueAt))")
        try check(read.tags == ["b", "a"] && read.estimateHours == 2 && read.updatedAt == 42, "read back: \(read)")
    }

    func testAnUpdateClearsTheModelsNilPropertiesAndKeepsTheFieldsItLacks() throws {
        let client = try open("typed-partial", testConfig(manual: true))
        var full = TaskItem(newKey(), "Full", assignee: "alice")
        full.notes = "kept"
        full.priority = 1
        full.tags = ["kept"]
        try client.collection(TaskItem.self, entity: "tasks").insert(full)
        /// A list row's model: a few of the task's fields.
        struct Row: Codable { var id: String; var title: String; var assignee: String? }
        let rows = try client.collection(Row.self, entity: "tasks")
        var row = try XCTUnwrap(try rows.get(key: full.id))
        row.title = "Renamed from a row"
        row.assignee = nil
        try check(try rows.update(row) != nil, "the row's update is a mutation")
        let stored = try XCTUnwrap(try client.get(entity: "tasks", key: full.id)).values
        try check(stored["title"] == .text("Renamed from a row"), "the title changed: \(stored)")
        try check(stored["assignee"] ?? .null == .null, "the row's nil assignee cleared the field: \(stored)")
        try check(stored["notes"] == .text("kept") && stored["priority"] == .integer(1) && stored["tags"] == .json(#"["kept"]"#),
                  "the fields the row lacks are kept: \(stored)")
    }

    func testAQueryWithAFilterReturnsTheMatchingModelsInOrder() async throws {
        let alice = try open("typed-query-alice", testConfig(manual: true))
        let bob = try open("typed-query-bob", testConfig("demo-bob", manual: true))
        let aliceTasks = try alice.collection(TaskItem.self, entity: "tasks")
        let crew = "crew-\(UUID().uuidString)"
        try aliceTasks.insert(TaskItem(newKey(), "B: paint the railing", assignee: crew))
        try aliceTasks.insert(TaskItem(newKey(), "A: check the ropes", assignee: crew))
        try aliceTasks.insert(TaskItem(newKey(), "C: someone else's", assignee: "\(crew)-other"))
        _ = try await alice.syncNow(unit: "tasks")
        _ = try await bob.syncNow(unit: "tasks")
        let query = Query.all(limit: 100).filter("assignee", .text(crew)).order("title")
        let titles = try bob.collection(TaskItem.self, entity: "tasks").query(query).map(\.title)
        try check(titles == ["A: check the ropes", "B: paint the railing"], "bob's query: \(titles)")
        let descending = try aliceTasks.query(Query.all(limit: 1).filter("assignee", .text(crew)).order("title", .descending))
        try check(descending.map(\.title) == ["B: paint the railing"], "descending, limit 1: \(descending.map(\.title))")
    }

    func testStreamsYieldModelsAfterARemoteChange() async throws {
        let alice = try open("typed-live-alice", testConfig(manual: true))
        let bob = try open("typed-live-bob", testConfig("demo-bob", manual: true))
        let aliceTasks = try alice.collection(TaskItem.self, entity: "tasks")
        let bobTasks = try bob.collection(TaskItem.self, entity: "tasks")
        let key = newKey()
        let pages = Collected<[TaskItem]>()
        let records = Collected<TaskItem?>()
        let pageWatcher = collect(aliceTasks.watchStream(Query.all(limit: 10).filter("id", .text(key))), into: pages)
        let recordWatcher = collect(aliceTasks.watchStream(key: key), into: records)
        defer { pageWatcher.cancel(); recordWatcher.cancel() }
        try await eventually("the empty page and nil at once") {
            try pages.checked().first?.isEmpty == true && records.checked().first.map { $0 == nil } == true
        }
        try bobTasks.insert(TaskItem(key, "From Bob"))
        _ = try await bob.syncNow(unit: "tasks")
        _ = try await alice.syncNow(unit: "tasks")
        try await eventually("bob's task in alice's streams: \(pages.all.last ?? [])") {
            try pages.checked().last?.map(\.title) == ["From Bob"] && (records.checked().last ?? nil)?.title == "From Bob"
        }
        var renamed = try XCTUnwrap(try bobTasks.get(key: key))
        renamed.title = "Renamed by Bob"
        try bobTasks.update(renamed)
        _ = try await bob.syncNow(unit: "tasks")
        _ = try await alice.syncNow(unit: "tasks")
        try await eventually("bob's rename in alice's streams: \(pages.all.last ?? [])") {
            try pages.checked().last == [renamed] && (records.checked().last ?? nil) == renamed
        }
        try bobTasks.delete(key: key)
        _ = try await bob.syncNow(unit: "tasks")
        _ = try await alice.syncNow(unit: "tasks")
        try await eventually("bob's deletion in alice's streams") {
            try pages.checked().last?.isEmpty == true && records.checked().count > 2 && records.checked().last! == nil
        }
    }

    func testWritesThatDoNotFitTheSchemaNameTheFieldAndType() throws {
        let client = try open("typed-mismatch", testConfig(manual: true))
        struct WithServerOnly: Codable { var id = "t-x", project_id = "p-harbor", title = "x", internal_notes = "secret" }
        try expectModelError(.unknownField(entity: "tasks", field: "internal_notes")) {
            try client.collection(WithServerOnly.self, entity: "tasks").insert(WithServerOnly())
        }
        struct Typo: Codable { var id = "t-x", project_id = "p-harbor", titel = "x" }
        try expectModelError(.unknownField(entity: "tasks", field: "titel")) {
            try client.collection(Typo.self, entity: "tasks").insert(Typo())
        }
        struct DoneAsText: Codable { var id = "t-x", project_id = "p-harbor", title = "x", done = "yes" }
        try expectModelError(.wrongType(entity: "tasks", field: "done", expected: .boolean, found: "text")) {
            try client.collection(DoneAsText.self, entity: "tasks").insert(DoneAsText())
        }
        struct FractionalPriority: Codable { var id = "t-x", project_id = "p-harbor", title = "x"; var priority = 1.5 }
        try expectModelError(.wrongType(entity: "tasks", field: "priority", expected: .integer, found: "real")) {
            try client.collection(FractionalPriority.self, entity: "tasks").update(FractionalPriority())
        }
        struct NumericKey: Codable { var id = 7; var project_id = "p-harbor", title = "x" }
        try expectModelError(.wrongType(entity: "tasks", field: "id", expected: .text, found: "integer")) {
            try client.collection(NumericKey.self, entity: "tasks").insert(NumericKey())
        }
        struct NoKey: Codable { var project_id = "p-harbor", title = "x" }
        try expectModelError(.notARecord(entity: "tasks", reason: "no id (the entity's key)")) {
            try client.collection(NoKey.self, entity: "tasks").record(NoKey())
        }
        try expectModelError(.notARecord(entity: "tasks", reason: "it encodes to array, not to an object")) {
            try client.collection([String].self, entity: "tasks").insert(["t-x"])
        }
        struct Comment: Codable { var id = "c-x", project_id = "p-harbor", task_id = "t-x", body = "hi"; var author: String? }
        let comments = try client.collection(Comment.self, entity: "comments")
        try expectModelError(.readOnlyField(entity: "comments", field: "author")) {
            try comments.insert(Comment(author: "alice"))
        }
        try check(try comments.record(Comment()).values["author"] == nil, "a nil server field is left out")
        try expectModelError(.unknownEntity("nope")) { try client.collection(TaskItem.self, entity: "nope") }
        try check(try client.pendingKeys(entity: "tasks").isEmpty, "nothing refused reached the store")
        let error = ModelError.wrongType(entity: "tasks", field: "done", expected: .boolean, found: "text")
        try check(error.description == "tasks.done: expected boolean, found text", error.description)
        try check(ModelError.unknownField(entity: "tasks", field: "internal_notes").description
                  == "tasks.internal_notes: no such field on the device (unknown, or server-only)", "unknownField's words")
    }

    func testRowsThatDoNotFitTheModelThrowNamingTheField() async throws {
        let client = try open("typed-undecodable", testConfig(manual: true))
        let key = newKey()
        _ = try client.insert(entity: "tasks", record: Record(key: key, values: [
            "project_id": .text("p-harbor"), "title": .text("Stored"), "done": .boolean(true), "tags": .json(#"{"a":1}"#),
        ]))
        struct DoneAsText: Codable { var id: String; var done: String }
        let doneAsText = try undecodable { try client.collection(DoneAsText.self, entity: "tasks").get(key: key) }
        try check(doneAsText.field == "done" && doneAsText.reason == "expected String, found boolean", "\(doneAsText)")
        try check(doneAsText.text == "tasks \(key).done: cannot decode: expected String, found boolean", doneAsText.text)
        struct NotesRequired: Codable { var id: String; var notes: String }
        let notes = try undecodable { try client.collection(NotesRequired.self, entity: "tasks").query(.all(limit: 1).filter("id", .text(key))) }
        try check(notes.field == "notes" && notes.reason.hasPrefix("expected "), "\(notes)")
        struct TagsAsList: Codable { var id: String; var tags: [String] }
        let tags = try undecodable { try client.collection(TagsAsList.self, entity: "tasks").get(key: key) }
        try check(tags.field == "tags", "\(tags)")
        // In a stream: the error ends it.
        let log = Collected<[DoneAsText]>()
        let watcher = collect(try client.collection(DoneAsText.self, entity: "tasks").watchStream(.all(limit: 1).filter("id", .text(key))), into: log)
        defer { watcher.cancel() }
        try await eventually("the stream ends with the error") {
            do {
                _ = try log.checked()
                return false
            } catch {
                return "\(error)".contains("tasks \(key).done: cannot decode")
            }
        }
        try check(log.all.isEmpty, "no page of a model that does not fit: \(log.all)")
    }
}
