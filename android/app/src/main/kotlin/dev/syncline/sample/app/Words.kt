// The app's words: its own strings (res/values*/strings.xml, keys `app_*`) and the library's
// banner and record marks, in the activity's language. Screens never hold English themselves.
package dev.syncline.sample.app

import dev.syncline.BannerText
import dev.syncline.Strings

/** The app's words: its own and the library's, from one string table. */
class Words(private val strings: Strings) {
    /** The banner's and the record marks' words. */
    val banner = BannerText(strings)

    /** One of the app's own strings, formatted with [args]. */
    fun get(key: String, vararg args: Any): String = strings.get(key, *args)
}
