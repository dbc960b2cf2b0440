// The real colors.xml files as a colour lookup for the Robolectric tests, which run without the
// app's compiled resources (no Android build here): values/, with values-night/ over it in dark
// mode, as Android resolves them.
package dev.syncline.android

import android.content.Context
import android.content.res.Configuration
import android.graphics.Color
import dev.syncline.repoRoot
import org.w3c.dom.Element
import java.io.File
import javax.xml.parsers.DocumentBuilderFactory

/** The colours of [module]'s `res/values/colors.xml`, and in [night] mode `values-night/` over them. */
class XmlColors(night: Boolean, module: String = "android/syncline") : (String) -> Int {
    /** Name → ARGB, as a device in this mode would resolve it. */
    val table: Map<String, Int> = read(file(module, "values")) + if (night) read(file(module, "values-night")) else emptyMap()

    override fun invoke(name: String): Int = table[name] ?: throw AssertionError("no colour `$name`")

    companion object {
        /** `res/[folder]/colors.xml` of [module]. */
        fun file(module: String, folder: String) = File(repoRoot, "$module/src/main/res/$folder/colors.xml")

        /** Name → ARGB of one colors.xml. */
        fun read(file: File): Map<String, Int> {
            val doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(file)
            val nodes = doc.documentElement.getElementsByTagName("color")
            val table = LinkedHashMap<String, Int>()
            for (i in 0 until nodes.length) {
                val element = nodes.item(i) as Element
                val name = element.getAttribute("name")
                if (table.put(name, Color.parseColor(element.textContent.trim())) != null) throw AssertionError("$file: `$name` twice")
            }
            return table
        }

        /** Whether [context]'s configuration is in dark mode. */
        fun isNight(context: Context): Boolean =
            context.resources.configuration.uiMode and Configuration.UI_MODE_NIGHT_MASK == Configuration.UI_MODE_NIGHT_YES
    }
}
