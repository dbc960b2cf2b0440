// The sample app's two string tables in step: the same keys in English and German with the same
// placeholders, every key the app's code asks for present, and none left that it never asks for.
// Plain JUnit (no Robolectric): it reads the XML files and the Kotlin sources.
package dev.syncline.sample

import dev.syncline.XmlStrings
import dev.syncline.repoRoot
import org.junit.Assert.assertEquals
import org.junit.Test
import java.io.File
import java.util.Locale

class SampleStringsTest {
    private val english = XmlStrings("values", Locale.ENGLISH, module = "android/app").table
    private val german = XmlStrings("values-de", Locale.GERMAN, module = "android/app").table

    private fun placeholders(text: String): List<String> = Regex("%\\d+\\$[a-z]").findAll(text).map { it.value }.sorted().toList()

    @Test
    fun germanHasEveryEnglishKeyWithTheSamePlaceholders() {
        assertEquals("keys", english.keys.sorted(), german.keys.sorted())
        for ((key, text) in english) {
            assertEquals("placeholders of $key", placeholders(text), placeholders(german.getValue(key)))
        }
    }

    @Test
    fun theCodeAsksForEveryKeyAndOnlyThose() {
        val sources = File(repoRoot, "android/app/src/main/kotlin").walk().filter { it.extension == "kt" }
        val asked = sources.flatMap { Regex("\"(app_[a-z_]+)\"").findAll(it.readText()).map { m -> m.groupValues[1] } }.toSortedSet()
        assertEquals("keys the code asks for", english.keys.toSortedSet(), asked)
    }
}
