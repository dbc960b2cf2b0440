// The quarantine screen: each quarantined mutation (one the server rejected), named as users read
// it ("Task · Inspect pump"), with the rejection code in words and the server's own message only
// as a detail; send it again, edit it and send it, or discard it (which undoes it here). Fed by
// the core's live watch of the quarantined mutations. Users read "Refused changes".
import Foundation
import Observation
import Syncline
import SynclineCore

/// A field of a quarantined mutation, as the user may edit it.
public struct QuarantineField: Identifiable, Equatable, Sendable {
    /// The field's name.
    public let id: String
    /// Its name as users read it ("Project").
    public let label: String
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
    /// The entity as users read it ("Task").
    public let entityName: String
    /// The record's key.
    public let key: String
    /// What the mutation did.
    public let op: Op
    /// A name for it (its title, else its key).
    public let title: String
    /// Entity and name as the heading users read: "Task · Inspect pump".
    public let heading: String
    /// Why the server rejected it: its rejection code in words, or the office's own words when
    /// its write rules refused it ("Refused by the office: …").
    public let reason: String
    /// The server's own message, as a detail: "The server said: …"; nil for the office's
    /// refusal, whose words are the reason.
    public let detail: String?
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

    /// The sample's words, for the screen's labels.
    public let text: SampleText
    /// The library's words, for the frame around the office's refusals.
    public let banner: BannerText

    private let client: SynclineClient
    private let feeds = LiveFeeds()

    /// The quarantined mutations of `client`, followed until the model is released; in `text`'s
    /// and `banner`'s words.
    public init(client: SynclineClient, text: SampleText = SampleText(), banner: BannerText = BannerText()) {
        self.client = client
        self.text = text
        self.banner = banner
        feeds.follow(client.quarantinedStream()) { [weak self] list in
            self?.show(list)
        } failed: { [weak self] error in
            self?.error = text("sample_read_failed_quarantine", describe(error))
        }
    }

    /// Sends mutation `seq` again as it was (for a rejection that may have gone away, such as
    /// access the user has been given since).
    public func retry(_ seq: UInt64) {
        error = attempt(text) { _ = try client.retryQuarantined(seq: seq) }
    }

    /// Sends mutation `seq` again with its fields as edited, each read as its field's type (a
    /// value that does not fit is an error, and nothing is sent).
    public func sendEdited(_ seq: UInt64) {
        guard let item = quarantined.first(where: { $0.id == seq }) else { return }
        error = attempt(text) {
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
        error = attempt(text) { try client.discardQuarantined(seq: seq) }
    }

    /// Shows a new list, keeping what the user typed into the mutations still in it.
    private func show(_ list: [QuarantinedMutation]) {
        let typed = Dictionary(uniqueKeysWithValues: quarantined.map { item in
            (item.id, Dictionary(uniqueKeysWithValues: item.fields.map { ($0.id, $0.edited) }))
        })
        quarantined = list.map { q in
            let fields = q.values.keys.sorted().map { name in
                let sent = FieldText.editable(q.values[name])
                return QuarantineField(id: name, label: text.fieldName(name), sent: sent, edited: typed[q.seq]?[name] ?? sent)
            }
            let title = q.values["title"]?.text ?? q.key
            // The code in words (SampleText.rejection); the server's message only as the detail.
            // The office's refusal is its own words for the user, framed in the language.
            let office = banner.officeRefusal(code: q.code, message: q.message)
            return QuarantineItem(id: q.seq, entity: q.entity, entityName: text.entityName(q.entity), key: q.key, op: q.op,
                                  title: title, heading: text.heading(entity: q.entity, title: title),
                                  reason: office ?? text.rejection(code: q.code),
                                  detail: office == nil ? text("sample_server_said", q.message) : nil, fields: fields)
        }
    }
}
