// swift-tools-version:5.9
// Syncline for Apple platforms, and on Linux for the tests (`scripts/binding-tests swift`).
//
// The FFI comes from a different place on each:
// - Apple: the XCFramework, built on a Mac with `ios/build-xcframework.sh` (build/, not committed).
// - Linux: the host `libsyncline.so` and the generated headers, as a system library
//   (Sources/SynclineFFI: its module map is committed, the headers are copied there by
//   `scripts/binding-tests swift`, which also links with `-L` the folder holding the library).
// Either way the generated Swift (Sources/SynclineCore, not committed) is the same.
import PackageDescription

#if os(Linux)
let ffi = Target.systemLibrary(name: "SynclineFFI", path: "Sources/SynclineFFI")
#else
let ffi = Target.binaryTarget(name: "SynclineFFI", path: "build/SynclineFFI.xcframework")
#endif

let package = Package(
    name: "Syncline",
    // The banner's words (Sources/Syncline/Resources) and the sample's (Sources/SynclineSample/
    // Resources) come in English and German; English is what an app in any other language gets.
    defaultLocalization: "en",
    // iOS 17 / macOS 14: the models are @Observable (the Observation framework).
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "Syncline", targets: ["Syncline"]),
        .library(name: "SynclineSample", targets: ["SynclineSample", "SynclineSampleViews"]),
    ],
    targets: [
        ffi,
        // The Swift uniffi-bindgen-swift generates from the library (never edited by hand):
        // SynclineCore.swift, SynclineCoreTypes.swift and SynclineProtocol.swift, one module.
        .target(name: "SynclineCore", dependencies: ["SynclineFFI"], path: "Sources/SynclineCore",
                exclude: ["README.md"]),
        // The shell: async streams, the banner's words and model, background sync, and the thin
        // Apple-only adapters (network monitor, unified log, BGTaskScheduler).
        .target(name: "Syncline", dependencies: ["SynclineCore"], path: "Sources/Syncline",
                resources: [.process("Resources")]),
        // The sample app's screens as plain-Swift models (state and actions), fed by live queries,
        // and their words (SampleText, with its own string tables).
        .target(name: "SynclineSample", dependencies: ["Syncline", "SynclineCore"],
                path: "Sources/SynclineSample", resources: [.process("Resources")]),
        // The sample app's SwiftUI views: Apple only (every file is behind `#if canImport(SwiftUI)`,
        // so on Linux this module is empty). The app target (SampleApp/) holds only `@main`.
        .target(name: "SynclineSampleViews", dependencies: ["SynclineSample", "Syncline", "SynclineCore"],
                path: "Sources/SynclineSampleViews"),
        // The Swift quickstart (docs/quickstart-swift.md shows it whole): alice and bob on the demo
        // server, typed models, a live query, a conflict merged. `scripts/binding-tests swift` runs
        // it against its server; not a product.
        .executableTarget(name: "Quickstart", dependencies: ["Syncline", "SynclineCore"], path: "Examples/Quickstart"),
        // What both test targets share: checks, waits, clients of the reference server.
        .target(name: "SynclineTestSupport", dependencies: ["Syncline", "SynclineCore"], path: "Tests/SynclineTestSupport"),
        .testTarget(name: "SynclineTests", dependencies: ["Syncline", "SynclineCore", "SynclineTestSupport"],
                    path: "Tests/SynclineTests"),
        .testTarget(name: "SynclineSampleTests", dependencies: ["SynclineSample", "Syncline", "SynclineCore", "SynclineTestSupport"],
                    path: "Tests/SynclineSampleTests"),
    ]
)
