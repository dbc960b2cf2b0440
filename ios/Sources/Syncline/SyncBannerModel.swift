// The sync banner as a SwiftUI view binds to it: the core's banner in words, with the Retry
// action, a countdown that moves every second, and the decision line with its Review action
// whenever conflicts or quarantined mutations wait (docs/banner-text.md: whatever the kind). An
// `@Observable` class (Observation), which works on Linux too, so the tests here drive the very
// model the app shows.
import Foundation
import Observation
import SynclineCore

/// Where the banner's Review action leads: the conflicts when any wait, else the quarantined
/// mutations (which users read as "Refused changes").
public enum DecisionInbox: Equatable, Sendable {
    /// The conflicts waiting in the inbox.
    case conflicts
    /// The quarantined mutations.
    case quarantine

    /// The inbox Review opens for `banner`; nil when no decision waits.
    public init?(_ banner: Banner) {
        if banner.conflicts > 0 {
            self = .conflicts
        } else if banner.quarantined > 0 {
            self = .quarantine
        } else {
            return nil
        }
    }
}

/// The banner to show on every screen, kept current from the client's `bannerStream()`: title,
/// detail, whether Retry is offered, the seconds until the core retries by itself, the decision
/// line and its Review action, its tone (for the palette's colours), and one phrase for
/// VoiceOver. Everything is nil while the banner is hidden. Lives on the main actor, where
/// SwiftUI reads it.
@MainActor
@Observable
public final class SyncBannerModel {
    /// The banner as the core last reported it (nil before the first report).
    public private(set) var banner: Banner?
    /// The first line ("You're offline · 2 changes waiting to sync"); nil while hidden.
    public private(set) var title: String?
    /// The second line ("1 of 3", "Retrying in 12 s"); nil when there is none.
    public private(set) var detail: String?
    /// The Retry button's label; nil when there is no Retry to offer (nothing failed, or only
    /// signing in again can help).
    public private(set) var retryLabel: String?
    /// Whole seconds until the core's own retry (rounded up; 0 when it is due); nil when none is
    /// planned.
    public private(set) var retryInSeconds: Int64?
    /// The line that says decisions wait ("1 change needs your decision"), under any banner
    /// while conflicts or quarantined mutations wait; nil when none waits, and when it is the
    /// title already (a `.needsDecision` banner).
    public private(set) var decision: String?
    /// The Review button's label ("Review"); nil when no decision waits. `review()` acts on it.
    public private(set) var reviewLabel: String?
    /// The inbox Review opens: the conflicts when any wait, else the quarantined mutations;
    /// nil when none waits.
    public private(set) var reviewTarget: DecisionInbox?
    /// The banner's tone, which picks its colours from `SyncPalette`; nil while hidden.
    public private(set) var tone: BannerTone?
    /// Title, detail and decision as one phrase, for the banner's accessibility label.
    public private(set) var accessibilityLabel: String?

    /// Whether the banner shows at all.
    public var isVisible: Bool { title != nil }

    /// What Review does: the app opens `reviewTarget`'s screen (set it once, where the
    /// navigation lives). Not observed.
    @ObservationIgnored public var onReview: (@MainActor (DecisionInbox) -> Void)?

    private let words: BannerText
    private let now: @Sendable () -> Int64
    private let retryAction: @Sendable () -> Void
    // Not observed: the tasks that feed the model and move its countdown. Cancelled in deinit,
    // which runs off the main actor (hence nonisolated; a Task handle is safe to cancel anywhere).
    @ObservationIgnored nonisolated(unsafe) private var feeding: Task<Void, Never>?
    @ObservationIgnored nonisolated(unsafe) private var ticking: Task<Void, Never>?

    /// A model that follows `client`'s banner until it is released (or `stop()`); Retry calls
    /// the client's `retry()`. `now` (ms since the Unix epoch) is the clock of the countdown.
    public convenience init(client: SynclineClient, words: BannerText = BannerText(),
                            now: @escaping @Sendable () -> Int64 = SyncBannerModel.systemNow) {
        self.init(words: words, now: now, retry: { client.retry() })
        let banners = client.bannerStream()
        feeding = Task { [weak self] in
            for await banner in banners {
                guard let self else { return }
                self.show(banner)
            }
        }
    }

    /// A model that shows only what `show(_:)` is given (previews, tests); Retry calls `retry`.
    public init(words: BannerText = BannerText(), now: @escaping @Sendable () -> Int64 = SyncBannerModel.systemNow,
                retry: @escaping @Sendable () -> Void) {
        self.words = words
        self.now = now
        self.retryAction = retry
    }

    deinit {
        feeding?.cancel()
        ticking?.cancel()
    }

    /// The system clock in ms since the Unix epoch, as the core's `nextRetryAt` counts.
    public nonisolated static let systemNow: @Sendable () -> Int64 = {
        Int64((Date().timeIntervalSince1970 * 1000).rounded())
    }

    /// Shows `banner`, and while it counts down to a retry, updates the countdown every second.
    public func show(_ banner: Banner) {
        self.banner = banner
        refresh()
        let countsDown = banner.kind == .failed && banner.nextRetryAt != nil
        if countsDown && ticking == nil {
            ticking = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: 1_000_000_000)
                    guard let self else { return }
                    self.refresh()
                }
            }
        } else if !countsDown {
            ticking?.cancel()
            ticking = nil
        }
    }

    /// Puts the current banner into words again at the clock's time (the countdown moves; the
    /// banner does not). `show` keeps calling it every second while a retry is ahead.
    public func refresh() {
        guard let banner else { return }
        let at = now()
        let line = words.decision(banner)
        // A decision waiting is never hidden: a banner with nothing else to say (a hidden one
        // that still counts decisions, as a hand-made banner may) shows the decision as its title.
        let own = banner.kind == .needsDecision ? nil : words.title(banner)
        title = own ?? line
        detail = words.detail(banner, now: at)
        decision = own == nil ? nil : line
        retryLabel = words.retryLabel(banner)
        reviewLabel = words.decisionLabel(banner)
        reviewTarget = DecisionInbox(banner)
        tone = title == nil ? nil : BannerTone(banner)
        accessibilityLabel = title.map { title in
            ([title] + [detail, decision].compactMap { $0 }).joined(separator: ", ")
        }
        retryInSeconds = BannerText.secondsToRetry(banner, now: at)
    }

    /// The Retry action: asks the core to sync again now. Does nothing when Retry is not offered.
    public func retry() {
        guard retryLabel != nil else { return }
        retryAction()
    }

    /// The Review action: hands `reviewTarget` to `onReview`, which opens its screen. Does
    /// nothing when no decision waits.
    public func review() {
        guard let reviewTarget else { return }
        onReview?(reviewTarget)
    }

    /// Stops following the client (the model keeps its last banner).
    public func stop() {
        feeding?.cancel()
        feeding = nil
        ticking?.cancel()
        ticking = nil
    }
}
