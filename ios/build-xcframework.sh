#!/usr/bin/env bash
# Builds SynclineFFI.xcframework (iOS device, iOS simulator, macOS) and the generated Swift for the
# Swift package. Needs a Mac with Xcode and the Rust targets:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/syncline/target}"
T="$CARGO_TARGET_DIR"
for target in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin; do
  cargo build --locked --release -p syncline-bindings --target "$target"
done
scripts/bindings --release >/dev/null   # host library → build/bindings/swift
out="ios/build"
rm -rf "$out" && mkdir -p "$out/headers" "$out/sim" "$out/mac"
# One header per Rust crate that exports types (bindings, core, protocol); one module over all
# three, SynclineFFI (scripts/bindings), the name the generated Swift imports.
cp build/bindings/swift/SynclineFFI.h build/bindings/swift/SynclineCoreTypesFFI.h \
  build/bindings/swift/SynclineProtocolFFI.h "$out/headers/"
cp build/bindings/swift/SynclineFFI.modulemap "$out/headers/module.modulemap"
lipo -create "$T/aarch64-apple-ios-sim/release/libsyncline.a" "$T/x86_64-apple-ios/release/libsyncline.a" -output "$out/sim/libsyncline.a"
lipo -create "$T/aarch64-apple-darwin/release/libsyncline.a" "$T/x86_64-apple-darwin/release/libsyncline.a" -output "$out/mac/libsyncline.a"
xcodebuild -create-xcframework \
  -library "$T/aarch64-apple-ios/release/libsyncline.a" -headers "$out/headers" \
  -library "$out/sim/libsyncline.a" -headers "$out/headers" \
  -library "$out/mac/libsyncline.a" -headers "$out/headers" \
  -output "$out/SynclineFFI.xcframework"
# The three generated files form the SynclineCore module.
cp build/bindings/swift/SynclineCore.swift build/bindings/swift/SynclineCoreTypes.swift \
  build/bindings/swift/SynclineProtocol.swift ios/Sources/SynclineCore/
echo "ios/build/SynclineFFI.xcframework and the Swift in ios/Sources/SynclineCore are ready"
