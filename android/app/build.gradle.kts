// The sample app: the field team's task list on framework views only (no AndroidX), so every line
// of it runs under Robolectric in scripts/binding-tests.
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "dev.syncline.sample"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.syncline.sample"
        minSdk = 28
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin { jvmToolchain(17) }

android.sourceSets["test"].java.srcDir("src/robolectric/kotlin")

dependencies {
    implementation(project(":syncline"))
    testImplementation(libs.junit)
    testImplementation(libs.robolectric)
}
