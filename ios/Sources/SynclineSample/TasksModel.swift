// A project's tasks: the list, live, each with its "Not synced yet" mark until the server has it;
// add, tick, rename and note a task. Every edit is a local write (a mutation): it shows at once,
// offline too, and syncs when it can.
import Foundation
import Observation
import Syncline
import SynclineCore

/// A task as the list and its screen show it.
public struct TaskRow: Identifiable, Equatable, Sendable {
    /// The task's key.
    public let id: String
    /// Its title.
    public let title: String
    /// Whether it is ticked off.
    public let done: Bool
    /// Its notes, if any.
    public let notes: String?
    /// When it is due, if set.
    public let due: Date?
    /// Its sync state (nil: never synced, not written here).
    public let state: RecordState?
    /// The mark next to it ("Not synced yet", "In conflict", "Refused by the server"); nil once
    /// synced.
    public let mark: String?

    init(_ record: Record, words: BannerText) {
        id = record.key
        title = record.values["title"]?.text ?? record.key
        done = record.values["done"] == .boolean(true)
        notes = record.values["notes"]?.text
        due = FieldText.date(record.values["due_at"])
        state = record.state
        mark = words.recordMark(record.state)
    }
}

/// The tasks of one project, live, with the list's actions.
@MainActor
@Observable
public final class TasksModel {
    /// The project's key.
    public let projectID: String
    /// Its tasks, by title.
    public private(set) var tasks: [TaskRow] = []
    /// Why the last action failed, or why the list stopped; nil after one that worked.
    public private(set) var error: String?
    /// The title of the task being added; `addNewTask()` adds it.
    public var newTitle = ""

    private let client: SynclineClient
    private let feeds = LiveFeeds()

    /// The sample's words, for the screen's labels.
    public let text: SampleText

    /// The tasks of `projectID`, followed until the model is released; marks in `words`, the
    /// screen's own words in `text`.
    public init(client: SynclineClient, projectID: String, words: BannerText = BannerText(), text: SampleText = SampleText()) {
        self.client = client
        self.projectID = projectID
        self.text = text
        let query = Query(filters: [Filter(field: "project_id", value: .text(projectID))],
                          sort: [Sort(field: "title", order: .ascending)], limit: 1000, offset: 0)
        feeds.follow(client.watchStream(entity: "tasks", query: query)) { [weak self] page in
            self?.tasks = page.records.map { TaskRow($0, words: words) }
        } failed: { [weak self] error in
            self?.error = text("sample_read_failed_tasks", describe(error))
        }
    }

    /// Adds a task titled `title` (trimmed; an empty title adds nothing); returns its key.
    @discardableResult
    public func add(title: String) -> String? {
        let title = title.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty else { return nil }
        let key = "t-\(UUID().uuidString.lowercased())"
        let record = Record(key: key, version: nil,
                            values: ["project_id": .text(projectID), "title": .text(title), "done": .boolean(false)])
        error = attempt(text) { _ = try client.insert(entity: "tasks", record: record) }
        return error == nil ? key : nil
    }

    /// Adds a task titled `newTitle`, and empties it once added.
    public func addNewTask() {
        if add(title: newTitle) != nil { newTitle = "" }
    }

    /// Ticks the task off, or back on.
    public func toggle(_ id: String) {
        error = attempt(text) { try TaskEdits.toggle(client, id) }
    }

    /// Renames the task (an empty title is refused: tasks need one).
    public func rename(_ id: String, to title: String) {
        error = attempt(text) { try TaskEdits.rename(client, id, title) }
    }

    /// Sets the task's notes (empty: none).
    public func setNotes(_ id: String, _ notes: String) {
        error = attempt(text) { try TaskEdits.setNotes(client, id, notes) }
    }
}

/// The task edits the list and the task's screen share.
enum TaskEdits {
    /// Renames task `id`; a title of only spaces is refused.
    static func rename(_ client: SynclineClient, _ id: String, _ title: String) throws {
        let title = title.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty else { throw FieldTextError(field: "title", problem: .titleNeeded) }
        _ = try client.update(entity: "tasks", patch: Record(key: id, values: ["title": .text(title)]))
    }

    /// Ticks task `id` off, or back on, from its state in the store: the list on screen may not
    /// show the latest write yet (a live query answers after the commit, throttled).
    static func toggle(_ client: SynclineClient, _ id: String) throws {
        guard let task = try client.get(entity: "tasks", key: id) else {
            throw SynclineError.NotFound(entity: "tasks", key: id)
        }
        _ = try client.update(entity: "tasks", patch: Record(key: id, values: ["done": .boolean(task.values["done"] != .boolean(true))]))
    }

    /// Sets the notes of task `id`; empty notes are none.
    static func setNotes(_ client: SynclineClient, _ id: String, _ notes: String) throws {
        _ = try client.update(entity: "tasks", patch: Record(key: id, values: ["notes": notes.isEmpty ? .null : .text(notes)]))
    }
}
