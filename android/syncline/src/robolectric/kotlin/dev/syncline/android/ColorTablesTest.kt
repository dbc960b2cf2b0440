// The colour files in step: values/ and values-night/ name the same colours in the library and in
// the sample app, the banner asks for exactly the library's, and the app's code for exactly its
// own (so a colour added for one mode only, or left unused, fails here rather than on a device);
// and ResourceColors, the device's lookup, on the framework's own colours.
package dev.syncline.android

import android.app.Activity
import android.content.ContextWrapper
import android.content.res.Resources
import android.graphics.Color
import dev.syncline.repoRoot
import org.junit.Assert.assertThrows
import org.robolectric.Robolectric
import org.junit.Assert.assertEquals
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import org.robolectric.annotation.GraphicsMode
import java.io.File

// The same configuration as the other Robolectric classes: one sandbox for all of them.
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], qualifiers = "w411dp-h891dp-xxhdpi")
@GraphicsMode(GraphicsMode.Mode.NATIVE)
class ColorTablesTest {
    private fun keys(module: String, folder: String) = XmlColors.read(XmlColors.file(module, folder)).keys

    @Test
    fun dayAndNightNameTheSameColours() {
        for (module in listOf("android/syncline", "android/app")) {
            assertEquals(module, keys(module, "values"), keys(module, "values-night"))
        }
    }

    @Test
    fun theBannerAsksForEveryLibraryColourAndOnlyThose() {
        val asked = sortedSetOf<String>()
        BannerColors.from { name -> asked += name; 0 }
        assertEquals(keys("android/syncline", "values").toSortedSet(), asked)
    }

    @Test
    fun theAppAsksForEveryColourOfItsOwnAndOnlyThose() {
        val sources = File(repoRoot, "android/app/src/main/kotlin").walk().filter { it.extension == "kt" }
        val asked = sources.flatMap { Regex("\"(sample_[a-z_]+)\"").findAll(it.readText()).map { m -> m.groupValues[1] } }.toSortedSet()
        assertEquals(keys("android/app", "values").toSortedSet(), asked)
    }

    @Test
    fun resourceColorsReadsAColourByNameAndNamesOneItLacks() {
        // The tests have no compiled app resources; the framework's own (package "android") do.
        val activity = Robolectric.buildActivity(Activity::class.java).setup().get()
        val framework = object : ContextWrapper(activity) {
            override fun getPackageName() = "android"
        }
        assertEquals(Color.WHITE, ResourceColors(framework)("white"))
        val missing = assertThrows(Resources.NotFoundException::class.java) { ResourceColors(framework)("syncline_no_such_colour") }
        assertEquals("no colour resource named `syncline_no_such_colour`", missing.message)
    }
}
