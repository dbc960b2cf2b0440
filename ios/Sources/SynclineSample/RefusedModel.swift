// The refused changes screen: each change the server refused, with its reason in words; send it
// again, edit it and send it, or discard it (which undoes it here). Fed by the core's live watch
// of the refused changes.
import Foundation
import Observation
import SynclineCore

/// A field of a refused change, as the user may edit it.
public struct RefusedField: Identifiable, Equatable, Sendable {
    /// The field's name.
    public let id: String
    /// Its value as sent.
    public let sent: String
    /// Its value as edited; starts as sent. Kept while the list changes around it.
    public var edited: String
}

/// A change the server refused.
public struct RefusedItem: Identifiable, Equatable, Sendable {
    /// Its sequence number, which the actions take.
    public let id: UInt64
    /// The record's entity.
    public let entity: String
    /// The record's key.
    public let key: String
    /// What the change did.
    public let op: Op
    /// A name for it (its title, else its key).
    public let title: String
    /// Why the server refused it, in words.
    public let reason: String
    /// The values it set, to edit (none for a deletion), by name.
    public var fields: [RefusedField]
}

/// The changes the server refused, live, with the screen's actions.
@MainActor
@Observable
public final class RefusedModel {
    /// The refused changes, oldest first; each field's `edited` is the user's to change.
    public var refused: [RefusedItem] = []
    /// Why the last action failed, or why the list stopped; nil after one that worked.
    public private(set) var error: String?

    private let client: SynclineClient
    private let feeds = LiveFeeds()

    /// The refused changes of `client`, followed until the model is released.
    public init(client: SynclineClient) {
        self.client = client
        feeds.follow(client.refusedStream()) { [weak self] list in
            self?.show(list)
        } failed: { [weak self] error in
            self?.error = "Cannot read the refused changes: \(describe(error))"
        }
    }

    /// Sends change `seq` again as it was (for a refusal that may have gone away, such as
    /// access the user has been given since).
    public func retry(_ seq: UInt64) {
        error = attempt { _ = try client.retryQuarantined(seq: seq) }
    }

    /// Sends change `seq` again with its fields as edited, each read as its field's type (a
    /// value that does not fit is refused, and nothing is sent).
    public func sendEdited(_ seq: UInt64) {
        guard let item = refused.first(where: { $0.id == seq }) else { return }
        error = attempt {
            guard let schema = client.schema().first(where: { $0.name == item.entity }) else {
                throw SynclineError.InvalidInput(detail: "unknown entity \(item.entity)")
            }
            var values: [String: Value] = [:]
            for field in item.fields where field.edited != field.sent {
                guard let def = schema.fields.first(where: { $0.name == field.id }) else { continue }
                values[field.id] = try FieldText.parse(field.edited, as: def)
            }
            _ = try client.editQuarantined(seq: seq, values: values)
        }
    }

    /// Drops change `seq` and undoes it on this device.
    public func discard(_ seq: UInt64) {
        error = attempt { try client.discardQuarantined(seq: seq) }
    }

    /// The server's rejection code in words (docs/protocol.md lists them); its own message for
    /// a code this version does not know.
    static func reason(code: String, message: String) -> String {
        switch code {
        case "forbidden": return "You don't have access to this project"
        case "not_found": return "It no longer exists on the server"
        case "invalid_value": return "A value is not allowed, or a required one is missing"
        case "read_only", "read_only_field": return "It can't be changed from a device"
        case "append_only": return "It can be added, but not changed or deleted"
        case "unknown_entity", "unknown_field": return "The server does not know it: update the app"
        default: return message
        }
    }

    /// Shows a new list, keeping what the user typed into the changes still in it.
    private func show(_ list: [QuarantinedMutation]) {
        let typed = Dictionary(uniqueKeysWithValues: refused.map { item in
            (item.id, Dictionary(uniqueKeysWithValues: item.fields.map { ($0.id, $0.edited) }))
        })
        refused = list.map { q in
            let fields = q.values.keys.sorted().map { name in
                let sent = FieldText.editable(q.values[name])
                return RefusedField(id: name, sent: sent, edited: typed[q.seq]?[name] ?? sent)
            }
            return RefusedItem(id: q.seq, entity: q.entity, key: q.key, op: q.op, title: q.values["title"]?.text ?? q.key,
                               reason: Self.reason(code: q.code, message: q.message), fields: fields)
        }
    }
}
