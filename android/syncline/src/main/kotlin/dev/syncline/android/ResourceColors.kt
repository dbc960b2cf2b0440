// Android only: colours from the app's resources by name (res/values/colors.xml, values-night/ in
// dark mode), as ResourceStrings reads the words: BannerColors' lookup, and an app's for its own.
package dev.syncline.android

import android.content.Context
import android.content.res.Resources
import java.util.concurrent.ConcurrentHashMap

/** Colours from [context]'s resources by name, in the mode of its configuration (ARGB). */
class ResourceColors(private val context: Context) : (String) -> Int {
    // getIdentifier searches by name, which is slow; the views ask for the same few names again.
    private val ids = ConcurrentHashMap<String, Int>()

    override fun invoke(name: String): Int {
        val id = ids.getOrPut(name) { context.resources.getIdentifier(name, "color", context.packageName) }
        if (id == 0) throw Resources.NotFoundException("no colour resource named `$name`")
        return context.getColor(id)
    }
}
