// The library's real strings.xml files as a Strings table for the JVM tests, so the words the tests
// check are the words a device shows.
package dev.syncline

import org.w3c.dom.Element
import java.io.File
import java.util.Locale
import javax.xml.parsers.DocumentBuilderFactory

/** The repository's root: scripts/binding-tests passes it as -Dsyncline.root. */
val repoRoot: File = File(System.getProperty("syncline.root") ?: error("-Dsyncline.root is not set (scripts/binding-tests sets it)"))

/**
 * The strings of `res/[folder]/strings.xml` (`values`, `values-de`), formatted as Android's
 * `getString(id, args)` formats them in [locale].
 */
class XmlStrings(folder: String, private val locale: Locale, module: String = "android/syncline") : Strings {
    /** Key → the string as Android reads it: escapes resolved, arguments not filled in. */
    val table: Map<String, String> = read(File(repoRoot, "$module/src/main/res/$folder/strings.xml"))

    override fun get(key: String, vararg args: Any): String =
        String.format(locale, table[key] ?: throw AssertionError("no string `$key` in $locale"), *args)

    private companion object {
        fun read(file: File): Map<String, String> {
            val doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(file)
            val nodes = doc.documentElement.getElementsByTagName("string")
            val table = LinkedHashMap<String, String>()
            for (i in 0 until nodes.length) {
                val element = nodes.item(i) as Element
                val name = element.getAttribute("name")
                val text = unescape(element.textContent, "$file: $name")
                if (table.put(name, text) != null) throw AssertionError("$file: `$name` twice")
            }
            return table
        }

        /**
         * The text as Android's resource compiler reads it: backslash escapes resolved, runs of
         * white space as one space. A bare apostrophe or quote, which Android's rules forbid
         * (or turn into a verbatim span these files do not use), fails the test instead.
         */
        fun unescape(raw: String, where: String): String {
            val out = StringBuilder()
            var i = 0
            while (i < raw.length) {
                val c = raw[i]
                when {
                    c == '\\' -> {
                        val next = raw.getOrNull(i + 1) ?: throw AssertionError("$where: `$raw` ends in a backslash")
                        when (next) {
                            'n' -> out.append('\n')
                            't' -> out.append('\t')
                            'u' -> {
                                out.append(raw.substring(i + 2, i + 6).toInt(16).toChar())
                                i += 4
                            }
                            else -> out.append(next)
                        }
                        i += 2
                        continue
                    }
                    c == '\'' || c == '"' -> throw AssertionError("$where: unescaped $c in `$raw` (write \\$c)")
                    c.isWhitespace() -> if (out.isNotEmpty() && out.last() != ' ') out.append(' ')
                    else -> out.append(c)
                }
                i++
            }
            return out.toString().trimEnd(' ')
        }
    }
}
