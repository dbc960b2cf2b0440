// Sign-in: the server's URL and the user's token, kept between launches, and the client opened
// for them. Every other screen's model is made from the client this one opens.
import Foundation
import Observation
import Syncline
import SynclineCore

/// What the user signed in with.
public struct Credentials: Codable, Equatable, Sendable {
    /// The sync server's URL.
    public var serverURL: String
    /// The user's token.
    public var token: String

    /// Credentials for `serverURL` and `token`.
    public init(serverURL: String, token: String) {
        self.serverURL = serverURL
        self.token = token
    }
}

/// Keeps the credentials between launches.
public protocol CredentialStore: Sendable {
    /// The credentials kept, if any.
    func load() -> Credentials?
    /// Keeps `credentials`, replacing any before.
    func save(_ credentials: Credentials) throws
    /// Forgets them.
    func clear() throws
}

/// Credentials in a JSON file of the app's own (Application Support on iOS). On iOS the file is
/// encrypted until the device is first unlocked after a restart, and readable after: a
/// background run needs the token while the phone is locked. An app whose threat model asks for
/// more keeps the token in the Keychain behind this same protocol.
public struct FileCredentialStore: CredentialStore {
    /// The file.
    public let url: URL

    /// A store in `url`.
    public init(url: URL) {
        self.url = url
    }

    public func load() -> Credentials? {
        guard let data = try? Data(contentsOf: url) else { return nil }
        return try? JSONDecoder().decode(Credentials.self, from: data)
    }

    public func save(_ credentials: Credentials) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try JSONEncoder().encode(credentials).write(to: url, options: [.atomic, .completeFileProtectionUntilFirstUserAuthentication])
    }

    public func clear() throws {
        if FileManager.default.fileExists(atPath: url.path) {
            try FileManager.default.removeItem(at: url)
        }
    }
}

/// The sign-in screen and the session it opens.
@MainActor
@Observable
public final class SessionModel {
    /// The server's URL as typed.
    public var serverURL: String
    /// The token as typed.
    public var token: String
    /// The open client; nil until signed in.
    public private(set) var client: SynclineClient?
    /// The banner every screen shows, following `client`.
    public private(set) var banner: SyncBannerModel?
    /// Whether the client is being opened (it opens its database).
    public private(set) var isOpening = false
    /// Why the last sign-in failed; nil after one that worked.
    public private(set) var error: String?

    /// The sample's words, for the screens' labels (each screen's model gets them too).
    public let text: SampleText

    private let directory: URL
    private let credentials: CredentialStore
    private let words: BannerText
    private let configure: @Sendable (Credentials) -> Config

    /// A session keeping its databases in `directory` and its credentials in `credentials` (the
    /// fields start with those kept). `configure` makes a client's config (the core's defaults).
    /// The banner speaks `words`, the screens `text`.
    public init(directory: URL, credentials: CredentialStore, words: BannerText = BannerText(), text: SampleText = SampleText(),
                configure: @escaping @Sendable (Credentials) -> Config = { defaultConfig(serverUrl: $0.serverURL, token: $0.token) }) {
        self.directory = directory
        self.credentials = credentials
        self.words = words
        self.text = text
        self.configure = configure
        let kept = credentials.load()
        serverURL = kept?.serverURL ?? ""
        token = kept?.token ?? ""
    }

    /// Whether credentials were kept from an earlier sign-in (the app then calls `signIn()` at
    /// launch, without showing the sign-in screen).
    public var hasKeptCredentials: Bool { credentials.load() != nil }

    /// Opens the client for the typed URL and token, off the main actor, and keeps them for the
    /// next launch. Returns whether it worked; `error` says why not.
    @discardableResult
    public func signIn() async -> Bool {
        let typed = Credentials(serverURL: serverURL.trimmingCharacters(in: .whitespacesAndNewlines),
                                token: token.trimmingCharacters(in: .whitespacesAndNewlines))
        guard let url = URL(string: typed.serverURL), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            error = text("sample_sign_in_url_needed")
            return false
        }
        guard !typed.token.isEmpty else {
            error = text("sample_sign_in_token_needed")
            return false
        }
        isOpening = true
        defer { isOpening = false }
        let path = directory.appendingPathComponent(Self.databaseName(typed)).path
        let config = configure(typed)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let client = try await Task.detached {
                try SynclineClient.open(path: path, entities: try sampleSchema(), config: config)
            }.value
            try credentials.save(typed)
            self.client = client
            banner = SyncBannerModel(client: client, words: words)
            error = nil
            return true
        } catch {
            self.error = text("sample_sign_in_failed", describe(error))
            return false
        }
    }

    /// The background sync of the open client through `scheduler`, made once per client; nil
    /// when nobody is signed in. When iOS launched the app in the background for a run, nothing
    /// is open yet: the client is opened first from the kept credentials.
    public func backgroundSync(scheduler: BackgroundScheduler) async -> BackgroundSync? {
        if client == nil && hasKeptCredentials {
            await signIn()
        }
        guard let client else { return nil }
        if let made = background, made.client === client { return made.sync }
        let sync = BackgroundSync(client: client, scheduler: scheduler)
        background = (client, sync)
        return sync
    }

    @ObservationIgnored private var background: (client: SynclineClient, sync: BackgroundSync)?

    /// Closes the session and forgets the token (the URL stays typed). The database stays on the
    /// device, with any pending mutations: signing in again as the same user finds them.
    public func signOut() {
        banner?.stop()
        banner = nil
        background = nil
        client = nil
        token = ""
        try? credentials.clear()
    }

    /// One database per server and user: another user signing in on the device never sees the
    /// first one's data. Named by a stable hash (FNV-1a) of the URL and token, not the token.
    static func databaseName(_ credentials: Credentials) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(credentials.serverURL)\n\(credentials.token)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return "syncline-\(String(hash, radix: 16)).db"
    }
}
