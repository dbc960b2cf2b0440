// The Android side of Syncline: the `syncline` library module (generated Kotlin bindings, the
// Flow wrappers, the network monitor and the native library for each ABI) and the sample app.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "syncline-android"
include(":syncline", ":app")
