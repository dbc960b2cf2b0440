// The few colours Syncline's views choose themselves, in light and dark, with WCAG's contrast
// formula to check them. Plain Swift: the Linux tests compute the contrast of every text colour
// against every background it is drawn on (`SyncPalette.textPairs`), and fail below WCAG AA.
// Everything else the views draw uses the platform's semantic colours (`Color.primary` on the
// system backgrounds), which follow dark mode by themselves; their iOS values are here too, so
// the same check covers them.
import Foundation
import SynclineCore

/// A colour in sRGB, 8 bits a channel (as a designer writes it: `#0B57D0`).
public struct PaletteColor: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Red, green and blue, 0…255.
    public let red: UInt8, green: UInt8, blue: UInt8

    /// The colour `0xRRGGBB`.
    public init(_ hex: UInt32) {
        red = UInt8((hex >> 16) & 0xFF)
        green = UInt8((hex >> 8) & 0xFF)
        blue = UInt8(hex & 0xFF)
    }

    /// The colour with these channels.
    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// "#RRGGBB".
    public var description: String {
        "#" + [red, green, blue].map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }

    /// This colour drawn at `alpha` (0…1) over `background`, as the screen shows it (how iOS's
    /// translucent label colours end up).
    public func over(_ background: PaletteColor, alpha: Double) -> PaletteColor {
        func mix(_ top: UInt8, _ bottom: UInt8) -> UInt8 {
            UInt8((alpha * Double(top) + (1 - alpha) * Double(bottom)).rounded())
        }
        return PaletteColor(red: mix(red, background.red), green: mix(green, background.green), blue: mix(blue, background.blue))
    }

    /// WCAG 2's relative luminance: 0 for black, 1 for white.
    public var relativeLuminance: Double {
        func linear(_ channel: UInt8) -> Double {
            let c = Double(channel) / 255
            return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
        }
        return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    }

    /// WCAG 2's contrast ratio of two colours, 1…21 (the order does not matter).
    public static func contrast(_ a: PaletteColor, _ b: PaletteColor) -> Double {
        let (x, y) = (a.relativeLuminance, b.relativeLuminance)
        return (max(x, y) + 0.05) / (min(x, y) + 0.05)
    }
}

/// Light or dark mode.
public enum Appearance: CaseIterable, Sendable {
    case light, dark
}

/// The banner's tone, which picks its background: blue while syncing, grey offline, red when a
/// sync failed, amber when only a decision waits.
public enum BannerTone: CaseIterable, Sendable {
    case syncing, offline, failed, decision

    /// The tone of `banner`'s kind (a hidden banner that still counts decisions: `decision`).
    public init(_ banner: Banner) {
        switch banner.kind {
        case .syncing: self = .syncing
        case .offline: self = .offline
        case .failed: self = .failed
        case .needsDecision, .hidden: self = .decision
        }
    }
}

/// A text colour on a background, where the views draw it; `large` for text WCAG counts as large
/// (18 pt, or 14 pt bold, and up), which needs 3:1 instead of 4.5:1.
public struct ContrastPair: Sendable {
    /// What it is, for a failure's message ("banner failed: title").
    public let name: String
    public let text: PaletteColor
    public let background: PaletteColor
    public let large: Bool

    /// WCAG AA's minimum for this text: 4.5, or 3 for large text.
    public var required: Double { large ? 3 : 4.5 }
    /// The pair's contrast ratio.
    public var contrast: Double { PaletteColor.contrast(text, background) }
}

/// The colours of the banner, the record marks, error lines and actions, light and dark.
public enum SyncPalette {
    /// iOS's semantic colours as they resolve (UIKit's documented values), for the check: the
    /// views use the semantic colours themselves, never these.
    public enum System {
        /// `Color.primary` / `UIColor.label`: black, white in dark mode.
        public static func label(_ appearance: Appearance) -> PaletteColor {
            appearance == .light ? PaletteColor(0x000000) : PaletteColor(0xFFFFFF)
        }

        /// `Color.secondary` / `UIColor.secondaryLabel` drawn on `background`: #3C3C43 at 60 %,
        /// #EBEBF5 at 60 % in dark mode. Below 4.5:1 on white, so the views never use it for
        /// text that carries information (`textPairs` leaves it out; the tests show why).
        public static func secondaryLabel(_ appearance: Appearance, on background: PaletteColor) -> PaletteColor {
            (appearance == .light ? PaletteColor(0x3C3C43) : PaletteColor(0xEBEBF5)).over(background, alpha: 0.6)
        }

        /// The backgrounds text lands on: `systemBackground` (plain lists, the navigation
        /// bar), `systemGroupedBackground` (behind grouped lists and forms) and
        /// `secondarySystemGroupedBackground` (their rows).
        public static func backgrounds(_ appearance: Appearance) -> [(name: String, color: PaletteColor)] {
            switch appearance {
            case .light:
                return [("systemBackground", PaletteColor(0xFFFFFF)), ("systemGroupedBackground", PaletteColor(0xF2F2F7)),
                        ("secondarySystemGroupedBackground", PaletteColor(0xFFFFFF))]
            case .dark:
                return [("systemBackground", PaletteColor(0x000000)), ("systemGroupedBackground", PaletteColor(0x000000)),
                        ("secondarySystemGroupedBackground", PaletteColor(0x1C1C1E)),
                        ("tertiarySystemGroupedBackground", PaletteColor(0x2C2C2E))]
            }
        }
    }

    /// The banner's background for `tone`: a pale tint under black text, a deep one under white
    /// text in dark mode (the text is `Color.primary`).
    public static func bannerBackground(_ tone: BannerTone, _ appearance: Appearance) -> PaletteColor {
        switch (tone, appearance) {
        case (.syncing, .light): return PaletteColor(0xE3F2FD)
        case (.offline, .light): return PaletteColor(0xECEFF1)
        case (.failed, .light): return PaletteColor(0xFDE7E9)
        case (.decision, .light): return PaletteColor(0xFFF3CD)
        case (.syncing, .dark): return PaletteColor(0x0D2A4A)
        case (.offline, .dark): return PaletteColor(0x2C2C2E)
        case (.failed, .dark): return PaletteColor(0x4A1518)
        case (.decision, .dark): return PaletteColor(0x3D2E00)
        }
    }

    /// The colour of actions (the banner's Retry and Review, the sample's buttons and links: the
    /// app's tint). iOS's own blue (#007AFF) reaches only 4.0:1 on white.
    public static func action(_ appearance: Appearance) -> PaletteColor {
        appearance == .light ? PaletteColor(0x0B57D0) : PaletteColor(0x8AB4F8)
    }

    /// The text colour of a record's mark in a list ("Not synced yet" grey, "In conflict" amber,
    /// "Refused by the server" red); nil for a synced record, which has none.
    public static func mark(_ state: RecordState?, _ appearance: Appearance) -> PaletteColor? {
        switch (state, appearance) {
        case (.pending, .light): return PaletteColor(0x5F6368)
        case (.inConflict, .light): return PaletteColor(0x8A4B00)
        case (.quarantined, .light): return PaletteColor(0xB3261E)
        case (.pending, .dark): return PaletteColor(0xBDC1C6)
        case (.inConflict, .dark): return PaletteColor(0xFFB74D)
        case (.quarantined, .dark): return PaletteColor(0xF2B8B5)
        case (.synced, _), (nil, _): return nil
        }
    }

    /// The colour of an error line (why an action failed) and of a destructive action.
    public static func error(_ appearance: Appearance) -> PaletteColor {
        appearance == .light ? PaletteColor(0xB3261E) : PaletteColor(0xF2B8B5)
    }

    /// Every text colour the views draw, on every background it is drawn on, in `appearance`:
    /// the banner's lines (`Color.primary`) and its actions on each tone; the marks, error lines,
    /// actions and `Color.primary` on each system background. WCAG AA holds for each one (the
    /// tests check it); all of it is normal-sized text (the banner's title is 15 pt semibold).
    public static func textPairs(_ appearance: Appearance) -> [ContrastPair] {
        let mode = appearance == .light ? "light" : "dark"
        var pairs: [ContrastPair] = []
        for tone in BannerTone.allCases {
            let background = bannerBackground(tone, appearance)
            pairs.append(ContrastPair(name: "\(mode) banner \(tone): text (primary)", text: System.label(appearance),
                                      background: background, large: false))
            pairs.append(ContrastPair(name: "\(mode) banner \(tone): action", text: action(appearance),
                                      background: background, large: false))
        }
        for (name, background) in System.backgrounds(appearance) {
            var texts: [(String, PaletteColor)] = [("text (primary)", System.label(appearance)), ("action", action(appearance)),
                                                   ("error", error(appearance))]
            for state in [RecordState.pending, .inConflict, .quarantined] {
                texts.append(("mark \(state)", mark(state, appearance)!))
            }
            for (what, text) in texts {
                pairs.append(ContrastPair(name: "\(mode) \(name): \(what)", text: text, background: background, large: false))
            }
        }
        return pairs
    }
}
