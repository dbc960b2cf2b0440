// swift-tools-version:5.9
// Syncline for Apple platforms. Build the Rust library and the generated Swift first (on a Mac
// with Xcode): `ios/build-xcframework.sh`. It writes build/SynclineFFI.xcframework and the three
// generated files in Sources/SynclineCore, none of which is committed.
import PackageDescription

let package = Package(
    name: "Syncline",
    // The banner's words come in English and German (Sources/Syncline/Resources); English is what
    // an app in any other language gets.
    defaultLocalization: "en",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Syncline", targets: ["Syncline"]),
    ],
    targets: [
        // libsyncline for iOS devices, the iOS simulator and macOS, with the three C headers (one
        // per Rust crate that exports types) and the one module map that lists them.
        .binaryTarget(name: "SynclineFFI", path: "build/SynclineFFI.xcframework"),
        // The Swift uniffi-bindgen-swift generates from the library (never edited by hand):
        // SynclineCore.swift, SynclineCoreTypes.swift and SynclineProtocol.swift, one module.
        .target(name: "SynclineCore", dependencies: ["SynclineFFI"], path: "Sources/SynclineCore",
                exclude: ["README.md"]),
        // AsyncStream wrappers, the banner's words, the network monitor and the unified-log sink.
        .target(name: "Syncline", dependencies: ["SynclineCore"], path: "Sources/Syncline",
                resources: [.process("Resources")]),
    ]
)
