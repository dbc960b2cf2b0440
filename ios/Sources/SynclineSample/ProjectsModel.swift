// The projects screen: the user's projects (read-only: only the server's admins edit them), and
// how many conflicts and quarantined mutations wait, which lead to their own screens.
import Foundation
import Observation
import SynclineCore

/// A project in the list.
public struct ProjectRow: Identifiable, Equatable, Sendable {
    /// The project's key.
    public let id: String
    /// Its name.
    public let name: String
    /// Its description, if it has one.
    public let description: String?
}

/// The projects the user is a member of, live.
@MainActor
@Observable
public final class ProjectsModel {
    /// The projects, by name.
    public private(set) var projects: [ProjectRow] = []
    /// How many conflicts wait for the user (the status's count).
    public private(set) var conflicts: UInt64 = 0
    /// How many mutations are quarantined (the status's count).
    public private(set) var quarantined: UInt64 = 0
    /// Why the list stopped (a failed read); nil while it is live.
    public private(set) var error: String?

    /// The sample's words, for the screen's labels.
    public let text: SampleText

    private let feeds = LiveFeeds()

    /// The projects of `client`'s user, followed until the model is released; the screen's words
    /// in `text`.
    public init(client: SynclineClient, text: SampleText = SampleText()) {
        self.text = text
        let byName = Query(filters: [], sort: [Sort(field: "name", order: .ascending)], limit: 1000, offset: 0)
        feeds.follow(client.watchStream(entity: "projects", query: byName)) { [weak self] page in
            self?.projects = page.records.map { record in
                ProjectRow(id: record.key, name: record.values["name"]?.text ?? record.key,
                           description: record.values["description"]?.text)
            }
        } failed: { [weak self] error in
            self?.error = text("sample_read_failed_projects", describe(error))
        }
        feeds.follow(client.statusStream()) { [weak self] status in
            self?.conflicts = status.conflicts
            self?.quarantined = status.quarantined
        }
    }
}
