// Apple only: the banner in SwiftUI, bound to SyncBannerModel (which the Linux tests cover).
// Colours: the text is `Color.primary` (black, white in dark mode), on the palette's background
// for the banner's tone; Retry and Review in the palette's action colour. SyncPalette.textPairs
// lists these pairs, and the Linux tests hold each to WCAG AA in light and dark.
#if canImport(SwiftUI)
import SwiftUI

extension PaletteColor {
    /// The colour in SwiftUI (sRGB).
    public var color: Color {
        Color(.sRGB, red: Double(red) / 255, green: Double(green) / 255, blue: Double(blue) / 255, opacity: 1)
    }
}

extension Appearance {
    /// Light or dark, as the environment's `colorScheme` says.
    public init(_ scheme: ColorScheme) {
        self = scheme == .dark ? .dark : .light
    }
}

/// The sync banner: title, detail, the decision line, Retry and Review; the text one element
/// for VoiceOver, announced as it changes.
public struct SyncBannerView: View {
    private let model: SyncBannerModel
    @Environment(\.colorScheme) private var scheme
    /// A view of `model`; Review calls the model's `onReview`.
    public init(model: SyncBannerModel) { self.model = model }

    public var body: some View {
        if let title = model.title {
            let appearance = Appearance(scheme)
            HStack {
                VStack(alignment: .leading) {
                    Text(title).font(.subheadline.weight(.semibold))
                    if let detail = model.detail { Text(detail).font(.caption) }
                    if let decision = model.decision { Text(decision).font(.caption.weight(.semibold)) }
                }
                .foregroundStyle(Color.primary)
                .accessibilityElement(children: .ignore)
                .accessibilityLabel(model.accessibilityLabel ?? title)
                .accessibilityAddTraits(.updatesFrequently)
                Spacer()
                if let label = model.retryLabel { Button(label) { model.retry() } }
                if let label = model.reviewLabel { Button(label) { model.review() } }
            }
            .buttonStyle(.borderless)
            .tint(SyncPalette.action(appearance).color)
            .padding(10)
            .background(SyncPalette.bannerBackground(model.tone ?? .decision, appearance).color)
        }
    }
}
#endif
