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
cp build/bindings/swift/SynclineFFI.h "$out/headers/"
# The module is SynclineFFI (uniffi.toml), the name the generated Swift imports.
cp build/bindings/swift/SynclineFFI.modulemap "$out/headers/module.modulemap"
lipo -create "$T/aarch64-apple-ios-sim/release/libsyncline.a" "$T/x86_64-apple-ios/release/libsyncline.a" -output "$out/sim/libsyncline.a"
lipo -create "$T/aarch64-apple-darwin/release/libsyncline.a" "$T/x86_64-apple-darwin/release/libsyncline.a" -output "$out/mac/libsyncline.a"
xcodebuild -create-xcframework \
  -library "$T/aarch64-apple-ios/release/libsyncline.a" -headers "$out/headers" \
  -library "$out/sim/libsyncline.a" -headers "$out/headers" \
  -library "$out/mac/libsyncline.a" -headers "$out/headers" \
  -output "$out/SynclineFFI.xcframework"
cp build/bindings/swift/SynclineCore.swift ios/Sources/SynclineCore/
echo "ios/build/SynclineFFI.xcframework and ios/Sources/SynclineCore/SynclineCore.swift are ready"
