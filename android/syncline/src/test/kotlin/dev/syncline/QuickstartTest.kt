// The quickstart's words (android/syncline/src/quickstart) are the library's English strings.
package dev.syncline

import dev.syncline.quickstart.english
import org.junit.Assert.assertEquals
import org.junit.Test
import java.util.Locale

/** What the quickstart itself cannot check without growing: that its words are the app's. */
class QuickstartTest {
    @Test
    fun theQuickstartsWordsAreTheEnglishStrings() {
        val strings = XmlStrings("values", Locale.ENGLISH).table
        assertEquals(strings.filterKeys { it in english.keys }, english)
    }
}
