// Apple only: the banner in SwiftUI, bound to SyncBannerModel (which the Linux tests cover).
#if canImport(SwiftUI)
import SwiftUI

/// The sync banner: title, detail and Retry; one element for VoiceOver, announced as it changes.
public struct SyncBannerView: View {
    private let model: SyncBannerModel
    /// A view of `model`.
    public init(model: SyncBannerModel) { self.model = model }

    public var body: some View {
        if let title = model.title {
            HStack {
                VStack(alignment: .leading) {
                    Text(title).font(.subheadline.weight(.semibold))
                    if let detail = model.detail { Text(detail).font(.caption) }
                }
                .accessibilityElement(children: .ignore)
                .accessibilityLabel(model.accessibilityLabel ?? title)
                .accessibilityAddTraits(.updatesFrequently)
                Spacer()
                if let label = model.retryLabel { Button(label) { model.retry() } }
            }
            .padding(10)
            .background(model.banner?.kind == .failed ? Color.red.opacity(0.15) : Color.yellow.opacity(0.25))
        }
    }
}
#endif
