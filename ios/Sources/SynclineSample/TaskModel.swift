// One task's screen: the task, live, to rename, tick, note and date; and its comments, live and
// append-only (added, never edited), with their author and time set by the server.
import Foundation
import Observation
import Syncline
import SynclineCore

/// A comment on a task.
public struct CommentRow: Identifiable, Equatable, Sendable {
    /// The comment's key.
    public let id: String
    /// Who wrote it, as the server recorded (nil until the server has it).
    public let author: String?
    /// What it says.
    public let body: String
    /// When the server received it (nil until it has).
    public let createdAt: Date?
    /// Its sync state (nil: never synced, not written here), which picks the mark's colour.
    public let state: RecordState?
    /// "Not synced yet" until the server has it, and so on; nil once synced.
    public let mark: String?
}

/// One task and its comments, live, with the screen's actions.
@MainActor
@Observable
public final class TaskModel {
    /// The task's key.
    public let taskID: String
    /// The task; nil before the first read, and once it is deleted (`isGone`).
    public private(set) var task: TaskRow?
    /// Whether the task was there and is no more (deleted here or on the server).
    public private(set) var isGone = false
    /// Its comments, oldest first; those not yet on the server last.
    public private(set) var comments: [CommentRow] = []
    /// Why the last action failed, or why a feed stopped; nil after one that worked.
    public private(set) var error: String?
    /// The title as the user edits it: it follows the task until edited; `saveTitle()` saves it.
    public var titleDraft = ""
    /// The notes as the user edits them, like `titleDraft`; `saveNotes()` saves them.
    public var notesDraft = ""
    /// The comment being written; `sendComment()` adds it.
    public var commentDraft = ""
    // What the drafts last showed of the task: a draft still equal to it was not edited.
    @ObservationIgnored private var shown = (title: "", notes: "")

    private let client: SynclineClient
    private var projectID: String?
    private let feeds = LiveFeeds()

    /// The sample's words, for the screen's labels.
    public let text: SampleText

    /// Task `taskID` and its comments, followed until the model is released; marks in `words`,
    /// the screen's own words in `text`.
    public init(client: SynclineClient, taskID: String, words: BannerText = BannerText(), text: SampleText = SampleText()) {
        self.client = client
        self.taskID = taskID
        self.text = text
        feeds.follow(client.watchRecordStream(entity: "tasks", key: taskID)) { [weak self] record in
            guard let self else { return }
            if let record {
                let task = TaskRow(record, words: words)
                self.task = task
                self.projectID = record.values["project_id"]?.text
                if self.titleDraft == self.shown.title { self.titleDraft = task.title }
                if self.notesDraft == self.shown.notes { self.notesDraft = task.notes ?? "" }
                self.shown = (task.title, task.notes ?? "")
            } else {
                self.isGone = self.task != nil
                self.task = nil
            }
        } failed: { [weak self] error in
            self?.error = text("sample_read_failed_task", describe(error))
        }
        let query = Query(filters: [Filter(field: "task_id", value: .text(taskID))], sort: [], limit: 1000, offset: 0)
        feeds.follow(client.watchStream(entity: "comments", query: query)) { [weak self] page in
            self?.comments = page.records.map { record in
                CommentRow(id: record.key, author: record.values["author"]?.text, body: record.values["body"]?.text ?? "",
                           createdAt: FieldText.date(record.values["created_at"]), state: record.state,
                           mark: words.recordMark(record.state))
            }
            .sorted { ($0.createdAt ?? .distantFuture, $0.id) < ($1.createdAt ?? .distantFuture, $1.id) }
        } failed: { [weak self] error in
            self?.error = text("sample_read_failed_comments", describe(error))
        }
    }

    /// Renames the task (an empty title is refused: tasks need one).
    public func rename(_ title: String) {
        error = attempt(text) { try TaskEdits.rename(client, taskID, title) }
    }

    /// Sets the notes (empty: none).
    public func setNotes(_ notes: String) {
        error = attempt(text) { try TaskEdits.setNotes(client, taskID, notes) }
    }

    /// Saves the edited title (`titleDraft`).
    public func saveTitle() { rename(titleDraft) }

    /// Saves the edited notes (`notesDraft`).
    public func saveNotes() { setNotes(notesDraft) }

    /// Adds the comment written in `commentDraft`, and empties it once added.
    public func sendComment() {
        addComment(commentDraft)
        if error == nil { commentDraft = "" }
    }

    /// Sets when the task is due (nil: not at any time).
    public func setDue(_ due: Date?) {
        error = attempt(text) { _ = try client.update(entity: "tasks", patch: Record(key: taskID, values: ["due_at": due.map(FieldText.timestamp) ?? .null])) }
    }

    /// Ticks the task off, or back on.
    public func toggle() {
        error = attempt(text) { try TaskEdits.toggle(client, taskID) }
    }

    /// Adds a comment saying `body` (trimmed; an empty one adds nothing). The server sets its
    /// author and time.
    public func addComment(_ body: String) {
        let body = body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !body.isEmpty else { return }
        guard let projectID else {
            error = text("sample_task_not_loaded")
            return
        }
        let record = Record(key: "c-\(UUID().uuidString.lowercased())", version: nil,
                            values: ["project_id": .text(projectID), "task_id": .text(taskID), "body": .text(body)])
        error = attempt(text) { _ = try client.insert(entity: "comments", record: record) }
    }
}
