// The Syncline Android library: Kotlin bindings generated from the Rust library at build time
// (never committed), the Flow wrappers, typed models (kotlinx.serialization), the network
// monitor, and libsyncline.so for each ABI, cross-compiled with cargo-ndk (needs the Android NDK
// and `cargo install cargo-ndk`).
import org.gradle.api.tasks.Exec

plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.serialization) // the tests' @Serializable models
}

val repoRoot = rootDir.parentFile
val generatedKotlin = layout.buildDirectory.dir("generated/uniffi/kotlin")
val jniLibs = layout.buildDirectory.dir("generated/jniLibs")
val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")

android {
    namespace = "dev.syncline"
    compileSdk = 35
    ndkVersion = "27.2.12479018"

    defaultConfig {
        minSdk = 28 // packed relocations (DT_RELR) in libsyncline.so need API 28
        consumerProguardFiles("consumer-rules.pro")
        ndk { abiFilters += abis }
    }

    sourceSets["main"].apply {
        java.srcDir(generatedKotlin)
        jniLibs.srcDir(jniLibs)
    }
    // The Robolectric tests (the framework on the JVM) run with the local unit tests, and the
    // Kotlin quickstart compiles with them (QuickstartTest checks its words).
    sourceSets["test"].java.srcDir("src/robolectric/kotlin")
    sourceSets["test"].java.srcDir("src/quickstart/kotlin")
    testOptions.unitTests.isIncludeAndroidResources = true

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin { jvmToolchain(17) }

dependencies {
    // JNA as an Android archive: it carries libjnidispatch.so for each ABI.
    api("${libs.jna.get()}@aar")
    api(libs.kotlinx.coroutines.android)
    // Typed models (Models.kt): KSerializer in the API, JSON to map models to records.
    api(libs.kotlinx.serialization.json)
    testImplementation(libs.junit)
    testImplementation(libs.robolectric)
}

// 1. The native library for each ABI (release profile: size-optimised, see docs/benchmarks.md).
val cargoNdk by tasks.registering(Exec::class) {
    workingDir = repoRoot
    val args = mutableListOf("cargo", "ndk", "--platform", "28", "-o", jniLibs.get().asFile.path)
    abis.forEach { args += listOf("-t", it) }
    args += listOf("build", "--release", "-p", "syncline-bindings")
    commandLine(args)
}

// 2. Kotlin generated from the host build of the same library, with the pinned uniffi-bindgen.
val generateBindings by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine("sh", "-c", "scripts/bindings --release >/dev/null && rm -rf '${generatedKotlin.get().asFile.path}' && cp -R build/bindings/kotlin '${generatedKotlin.get().asFile.path}'")
}

tasks.named("preBuild") { dependsOn(cargoNdk, generateBindings) }
