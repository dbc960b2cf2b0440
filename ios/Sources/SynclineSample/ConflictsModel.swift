// The conflicts screen: each record both sides changed, named as users read it ("Task · Inspect
// pump"), per field the value before, mine and theirs; keep mine, keep theirs, or a merged value
// the user types (checked against the field's type). Fed by the core's live watch of the inbox.
import Foundation
import Observation
import SynclineCore

/// One field of a conflict.
public struct ConflictField: Identifiable, Equatable, Sendable {
    /// The field's name.
    public let id: String
    /// Its name as users read it ("Title").
    public let label: String
    /// The field in one line: "Title — before: … · mine: … · theirs: …".
    public let summary: String
    /// Its value before the local edit.
    public let base: String
    /// Its value here ("—" when this device deleted the record).
    public let mine: String
    /// Its value on the server ("—" when the server deleted the record).
    public let theirs: String
    /// The merged value as typed; starts as mine. Kept while the list changes around it.
    public var merged: String
}

/// A record in conflict.
public struct ConflictItem: Identifiable, Equatable, Sendable {
    /// Names it for the actions.
    public let id: Int64
    /// The record's entity.
    public let entity: String
    /// The entity as users read it ("Task").
    public let entityName: String
    /// The record's key.
    public let key: String
    /// A name for it (its title, else its key).
    public let title: String
    /// Entity and name as the heading users read: "Task · Inspect pump".
    public let heading: String
    /// Whether this device deleted it.
    public let deletedHere: Bool
    /// Whether the server deleted it.
    public let deletedThere: Bool
    /// The fields both sides changed.
    public var fields: [ConflictField]
}

/// The conflicts waiting for the user, live, with the screen's actions.
@MainActor
@Observable
public final class ConflictsModel {
    /// The conflicts, oldest first; each field's `merged` is the user's to edit.
    public var conflicts: [ConflictItem] = []
    /// Why the last action failed, or why the list stopped; nil after one that worked.
    public private(set) var error: String?

    /// The sample's words, for the screen's labels.
    public let text: SampleText

    private let client: SynclineClient
    private let feeds = LiveFeeds()

    /// The conflicts of `client`, followed until the model is released; in `text`'s words.
    public init(client: SynclineClient, text: SampleText = SampleText()) {
        self.client = client
        self.text = text
        feeds.follow(client.conflictsStream()) { [weak self] conflicts in
            self?.show(conflicts)
        } failed: { [weak self] error in
            self?.error = text("sample_read_failed_conflicts", describe(error))
        }
    }

    /// Settles conflict `id` with this device's version.
    public func keepMine(_ id: Int64) {
        error = attempt(text) { _ = try client.resolve(id: id, resolution: .keepMine) }
    }

    /// Settles conflict `id` with the server's version.
    public func keepTheirs(_ id: Int64) {
        error = attempt(text) { _ = try client.resolve(id: id, resolution: .keepTheirs) }
    }

    /// Settles conflict `id` with its fields' `merged` values, each read as its field's type
    /// (a value that does not fit is refused, and nothing is settled).
    public func merge(_ id: Int64) {
        guard let item = conflicts.first(where: { $0.id == id }) else { return }
        error = attempt(text) {
            let schema = try entitySchema(item.entity)
            var values: [String: Value] = [:]
            for field in item.fields {
                guard let def = schema.fields.first(where: { $0.name == field.id }) else { continue }
                values[field.id] = try FieldText.parse(field.merged, as: def)
            }
            _ = try client.resolve(id: id, resolution: .merged(values: values))
        }
    }

    private func entitySchema(_ name: String) throws -> EntitySchema {
        guard let schema = client.schema().first(where: { $0.name == name }) else {
            throw SynclineError.InvalidInput(detail: "unknown entity \(name)")
        }
        return schema
    }

    /// Shows a new list, keeping what the user typed into the conflicts still in it.
    private func show(_ list: [Conflict]) {
        let typed = Dictionary(uniqueKeysWithValues: conflicts.map { item in
            (item.id, Dictionary(uniqueKeysWithValues: item.fields.map { ($0.id, $0.merged) }))
        })
        conflicts = list.map { c in
            let title = c.local?["title"]?.text ?? c.remote?["title"]?.text ?? c.base["title"]?.text ?? c.key
            let fields = c.fields.map { name in
                let (base, mine, theirs) = (FieldText.display(c.base[name]), FieldText.display(c.local?[name]),
                                            FieldText.display(c.remote?[name]))
                return ConflictField(id: name, label: text.fieldName(name),
                                     summary: text("sample_conflict_field", text.fieldName(name), base, mine, theirs),
                                     base: base, mine: mine, theirs: theirs,
                                     merged: typed[c.id]?[name] ?? FieldText.editable(c.local?[name] ?? c.remote?[name]))
            }
            return ConflictItem(id: c.id, entity: c.entity, entityName: text.entityName(c.entity), key: c.key, title: title,
                                heading: text.heading(entity: c.entity, title: title),
                                deletedHere: c.local == nil, deletedThere: c.remote == nil, fields: fields)
        }
    }
}
