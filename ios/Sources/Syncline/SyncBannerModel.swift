// The sync banner as a SwiftUI view binds to it: the core's banner in words, with the Retry
// action and a countdown that moves every second. An `@Observable` class (Observation), which
// works on Linux too, so the tests here drive the very model the app shows.
import Foundation
import Observation
import SynclineCore

/// The banner to show on every screen, kept current from the client's `bannerStream()`: title,
/// detail, whether Retry is offered, the seconds until the core retries by itself, and one
/// phrase for VoiceOver. Everything is nil while the banner is hidden. Lives on the main actor,
/// where SwiftUI reads it.
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
    /// Title and detail as one phrase, for the banner's accessibility label.
    public private(set) var accessibilityLabel: String?

    /// Whether the banner shows at all.
    public var isVisible: Bool { title != nil }

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
        title = words.title(banner)
        detail = words.detail(banner, now: at)
        retryLabel = words.retryLabel(banner)
        accessibilityLabel = words.accessibilityLabel(banner, now: at)
        retryInSeconds = BannerText.secondsToRetry(banner, now: at)
    }

    /// The Retry action: asks the core to sync again now. Does nothing when Retry is not offered.
    public func retry() {
        guard retryLabel != nil else { return }
        retryAction()
    }

    /// Stops following the client (the model keeps its last banner).
    public func stop() {
        feeding?.cancel()
        feeding = nil
        ticking?.cancel()
        ticking = nil
    }
}
