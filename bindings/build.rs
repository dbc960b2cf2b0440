//! Link options for the shared library only.

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // Pack the relative relocations (DT_RELR): the table of pointers to fix up at load time
    // shrinks from ~290 KB to a few KB. Supported by glibc ≥ 2.36 and Android's loader from
    // API 28 on; the GNU and LLVM linkers both accept the flag.
    if target_os == "linux" || (target_os == "android" && android_api_at_least(28)) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the Android NDK target (e.g. cargo-ndk's `--platform`) is at least `level`.
fn android_api_at_least(level: u32) -> bool {
    std::env::var("ANDROID_PLATFORM")
        .or_else(|_| std::env::var("CARGO_NDK_ANDROID_PLATFORM"))
        .ok()
        .and_then(|v| v.trim_start_matches("android-").parse::<u32>().ok())
        .is_some_and(|api| api >= level)
}
