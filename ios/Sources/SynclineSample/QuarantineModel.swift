// The quarantine screen: each quarantined mutation (one the server rejected), with the server's
// reason in words; send it again, edit it and send it, or discard it (which undoes it here). Fed
// by the core's live watch of the quarantined mutations. Users read "Refused changes".
import Foundation
import Observation
import SynclineCore

/// A field of a quarantined mutation, as the user may edit it.
public struct QuarantineField: Identifiable, Equatable, Sendable {
    /// The field's name.
    public let id: String
    /// Its value as sent.
    public let sent: String
    /// Its value as edited; starts as sent. Kept while the list changes around it.
    public var edited: String
}

/// A quarantined mutation.
public struct QuarantineItem: Identifiable, Equatable, Sendable {
    /// Its sequence number, which the actions take.
    public let id: UInt64
    /// The record's entity.
    public let entity: String
    /// The record's key.
    public let key: String
    /// What the mutation did.
    public let op: Op
    /// A name for it (its title, else its key).
    public let title: String
    /// Why the server rejected it, in words.
    public let reason: String
    /// The values it set, to edit (none for a deletion), by name.
    public var fields: [QuarantineField]
}

/// The quarantined mutations, live, with the screen's actions.
@MainActor
@Observable
public final class QuarantineModel {
    /// The quarantined mutations, oldest first; each field's `edited` is the user's to change.
    public var quarantined: [QuarantineItem] = []
    /// Why the last action failed, or why the list stopped; nil after one that worked.
    public private(set) var error: String?

    private let client: SynclineClient
    private let feeds = LiveFeeds()

    /// The quarantined mutations of `client`, followed until the model is released.
    public init(client: SynclineClient) {
        self.client = client
        feeds.follow(client.quarantinedStream()) { [weak self] list in
            self?.show(list)
        } failed: { [weak self] error in
            self?.error = "Cannot read the refused changes: \(describe(error))"
        }
    }

    /// Sends mutation `seq` again as it was (for a rejection that may have gone away, such as
    /// access the user has been given since).
    public func retry(_ seq: UInt64) {
        error = attempt { _ = try client.retryQuarantined(seq: seq) }
    }

    /// Sends mutation `seq` again with its fields as edited, each read as its field's type (a
    /// value that does not fit is an error, and nothing is sent).
    public func sendEdited(_ seq: UInt64) {
        guard let item = quarantined.first(where: { $0.id == seq }) else { return }
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

    /// Drops mutation `seq` and undoes it on this device.
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

    /// Shows a new list, keeping what the user typed into the mutations still in it.
    private func show(_ list: [QuarantinedMutation]) {
        let typed = Dictionary(uniqueKeysWithValues: quarantined.map { item in
            (item.id, Dictionary(uniqueKeysWithValues: item.fields.map { ($0.id, $0.edited) }))
        })
        quarantined = list.map { q in
            let fields = q.values.keys.sorted().map { name in
                let sent = FieldText.editable(q.values[name])
                return QuarantineField(id: name, sent: sent, edited: typed[q.seq]?[name] ?? sent)
            }
            return QuarantineItem(id: q.seq, entity: q.entity, key: q.key, op: q.op, title: q.values["title"]?.text ?? q.key,
                                  reason: Self.reason(code: q.code, message: q.message), fields: fields)
        }
    }
}
