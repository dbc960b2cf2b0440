// The banner in words. The core sends structure only (`Banner`, `FailureReason`); this turns it
// into text from a string table, by the rules of docs/banner-text.md (the terminal client's
// words/src/banner_text.rs applies the same rules). Plain Swift and Foundation: the Linux tests cover every
// rule, reading the tables through Bundle.module as an app does.
import Foundation
import SynclineCore

/// Renders a `Banner` as title, detail, Retry label and accessibility label, and a record's sync
/// state as its mark in a list, from a table that maps each key of docs/banner-text.md to its
/// format (`%lld` for numbers, `%@` for the reason).
public struct BannerText: Sendable {
    /// The format for a key; a table without the key should return the key itself (as
    /// `Bundle.localizedString` does), so a missing string shows up instead of going blank.
    public let lookup: @Sendable (String) -> String

    /// Words from `lookup`: the package's own tables, or an app's.
    public init(lookup: @escaping @Sendable (String) -> String) {
        self.lookup = lookup
    }

    /// Words from the package's tables (`Resources/*.lproj/Localizable.strings`) in the language
    /// the app runs in (iOS picks it from the app's own localizations).
    public init() {
        self.init(bundle: .module)
    }

    /// Words from the package's table for `localization` ("de"), whatever language the app runs
    /// in: for an app with a language setting of its own. Nil when the package has no such table.
    public init?(localization: String) {
        guard let path = Bundle.module.path(forResource: localization, ofType: "lproj"),
              let bundle = Bundle(path: path) else { return nil }
        self.init(bundle: bundle)
    }

    private init(bundle: Bundle) {
        self.init { key in bundle.localizedString(forKey: key, value: nil, table: nil) }
    }

    /// The first line; nil when the banner is hidden.
    public func title(_ banner: Banner) -> String? {
        switch banner.kind {
        case .hidden:
            return nil
        case .syncing:
            return text("banner_syncing")
        case .failed:
            // A failed banner always carries its reason; "unexpected error" if one ever does not.
            return text("banner_failed", [reason(banner.reason ?? .internal)])
        case .offline:
            switch banner.pending {
            case 0: return text("banner_offline")
            case 1: return text("banner_offline_pending_one")
            default: return text("banner_offline_pending_other", [Int64(clamping: banner.pending)])
            }
        case .needsDecision:
            return decision(banner)
        }
    }

    /// The line that says a decision waits (conflicts and quarantined mutations together),
    /// whatever the banner's kind, so that no other banner hides it; nil when none waits. For
    /// `.needsDecision` it is the title.
    public func decision(_ banner: Banner) -> String? {
        let count = banner.conflicts + banner.quarantined
        switch count {
        case 0: return nil
        case 1: return text("banner_decision_one")
        default: return text("banner_decision_other", [Int64(clamping: count)])
        }
    }

    /// The label of the action that opens the waiting decisions; nil when none waits.
    public func decisionLabel(_ banner: Banner) -> String? {
        banner.conflicts + banner.quarantined > 0 ? text("banner_decision_action") : nil
    }

    /// The second line at `now` (ms since the Unix epoch): "1 of 3" while a unit of more than
    /// one entity syncs, or the countdown to the core's own retry. Render it again every second
    /// while `nextRetryAt` is set: the countdown moves, the banner does not.
    public func detail(_ banner: Banner, now: Int64) -> String? {
        switch banner.kind {
        case .syncing where banner.entitiesTotal > 1:
            return text("banner_syncing_progress", [Int64(banner.entitiesDone), Int64(banner.entitiesTotal)])
        case .failed:
            guard let seconds = Self.secondsToRetry(banner, now: now) else { return nil }
            return seconds == 0 ? text("banner_retry_now") : text("banner_retry_in", [seconds])
        default:
            return nil
        }
    }

    /// Whole seconds from `now` to the core's own retry of a failed sync, rounded up so that
    /// "in 0 s" never shows while the retry is still ahead (0: it is due); nil when none is planned.
    public static func secondsToRetry(_ banner: Banner, now: Int64) -> Int64? {
        guard banner.kind == .failed, let at = banner.nextRetryAt else { return nil }
        return (max(at - now, 0) + 999) / 1000
    }

    /// The label of the failed banner's Retry action (which calls `retry()`); nil when there is
    /// none to show, because nothing failed or retrying cannot help (sign-in needed).
    public func retryLabel(_ banner: Banner) -> String? {
        banner.kind == .failed && banner.canRetry ? text("banner_retry_action") : nil
    }

    /// Title and detail as one phrase for VoiceOver; nil when the banner is hidden.
    public func accessibilityLabel(_ banner: Banner, now: Int64) -> String? {
        guard let title = title(banner) else { return nil }
        // The decision line, when it is not the title already.
        let decision = banner.kind == .needsDecision ? nil : decision(banner)
        let rest = [detail(banner, now: now), decision].compactMap { $0 }
        return ([title] + rest).joined(separator: ", ")
    }

    /// Why a sync failed, in words (the `{reason}` of `banner_failed`).
    public func reason(_ reason: FailureReason) -> String {
        switch reason {
        case .unreachable: return text("reason_unreachable")
        case .timeout: return text("reason_timeout")
        case .signInNeeded: return text("reason_sign_in_needed")
        case .serverError(let status): return text("reason_server_error", [Int64(status)])
        case .rejected(let status): return text("reason_rejected", [Int64(status)])
        case .badResponse: return text("reason_bad_response")
        case .storage(let kind):
            switch kind {
            case .diskFull: return text("reason_disk_full")
            case .corrupt: return text("reason_storage_corrupt")
            case .readOnly: return text("reason_storage_read_only")
            case .busy: return text("reason_storage_busy")
            case .other: return text("reason_storage_failed")
            }
        case .internal: return text("reason_internal")
        }
    }

    /// The mark for a record in a list (its `state`, as every query and watch delivers it); nil
    /// for a synced record, which needs none. Give it to VoiceOver too: it says a mutation of the
    /// record has not reached the server, or needs the user.
    public func recordMark(_ state: RecordState?) -> String? {
        switch state {
        case .pending: return text("record_pending")
        case .inConflict: return text("record_in_conflict")
        case .quarantined: return text("record_quarantined")
        case .synced, nil: return nil
        }
    }

    /// Why a refused (quarantined) change was refused, when the office's write rules refused it
    /// (its `code` starts with `rule:`): "Refused by the office: " and the office's own
    /// `message`, which is meant for the user. Nil for the server's own codes, which an app says
    /// in its own words (docs/protocol.md lists them).
    public func officeRefusal(code: String, message: String) -> String? {
        code.hasPrefix("rule:") ? text("refused_by_office", [message]) : nil
    }

    /// The string `key` with its placeholders filled, in the order docs/banner-text.md names them
    /// in English (a translation reorders them with `%2$lld`). A format without placeholders is
    /// returned as is, so a lone `%` in a translation cannot be misread.
    func text(_ key: String, _ args: [CVarArg] = []) -> String {
        let format = lookup(key)
        return args.isEmpty ? format : String(format: format, arguments: args)
    }
}
