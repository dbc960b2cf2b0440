// swift-tools-version:5.9
// Syncline for Apple platforms. Build the Rust library and the generated Swift first (on a Mac
// with Xcode): `ios/build-xcframework.sh`. It writes build/SynclineFFI.xcframework and
// Sources/SynclineCore/SynclineCore.swift, neither of which is committed.
import PackageDescription

let package = Package(
    name: "Syncline",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Syncline", targets: ["Syncline"]),
    ],
    targets: [
        // libsyncline for iOS devices, the iOS simulator and macOS, with the C header and module map.
        .binaryTarget(name: "SynclineFFI", path: "build/SynclineFFI.xcframework"),
        // The Swift uniffi-bindgen generates from the library (never edited by hand).
        .target(name: "SynclineCore", dependencies: ["SynclineFFI"], path: "Sources/SynclineCore"),
        // AsyncStream wrappers, the network monitor and the unified-log sink.
        .target(name: "Syncline", dependencies: ["SynclineCore"], path: "Sources/Syncline"),
    ]
)
