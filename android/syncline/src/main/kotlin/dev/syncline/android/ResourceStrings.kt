// Android only: BannerText's strings from the app's resources (res/values/strings.xml and
// values-de/), in the language of the context's configuration.
package dev.syncline.android

import android.content.Context
import android.content.res.Resources
import dev.syncline.Strings
import java.util.concurrent.ConcurrentHashMap

/**
 * [Strings] from [context]'s resources, in the language of its configuration: pass the Activity,
 * which follows the user's per-app language, rather than the application context.
 */
class ResourceStrings(context: Context) : Strings {
    private val resources: Resources = context.resources
    private val packageName: String = context.packageName

    // getIdentifier searches by name, which is slow; a banner asks for the same few keys every second.
    private val ids = ConcurrentHashMap<String, Int>()

    override fun get(key: String, vararg args: Any): String {
        // By name, not R.string.*: the keys are docs/banner-text.md's, shared with the other front
        // ends, and the compile check in scripts/binding-tests has no generated R class.
        val id = ids.getOrPut(key) { resources.getIdentifier(key, "string", packageName) }
        if (id == 0) throw Resources.NotFoundException("no string resource named `$key`")
        return resources.getString(id, *args)
    }
}
