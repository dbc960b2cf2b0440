// What every screen and banner must hold, checked by walking the laid-out view tree: no text cut
// or ellipsized, no two siblings on top of each other, nothing beyond the screen's sides (at large
// font scales), and what TalkBack needs (a label on every control, 48 dp tap targets, the banner
// a polite live region).
package dev.syncline.android

import android.graphics.Rect
import android.view.View
import android.view.ViewGroup
import android.widget.EditText
import android.widget.HorizontalScrollView
import android.widget.ScrollView
import android.widget.TextView
import org.junit.Assert.assertTrue

object Checks {
    /** The smallest tap target, in dp (Android's accessibility guidance and Material's). */
    const val TAP_TARGET_DP = 48

    /** Fails naming every layout problem of [root], laid out at [widthPx] wide, as [what]. */
    fun layout(what: String, root: View, widthPx: Int = Screenshots.WIDTH) {
        Screenshots.layOut(root, widthPx)
        val problems = layoutProblems(root, widthPx)
        assertTrue("$what: ${problems.joinToString("; ")}", problems.isEmpty())
    }

    /** Fails naming every accessibility problem of [root] (laid out already), as [what]. */
    fun accessibility(what: String, root: View) {
        val problems = accessibilityProblems(root)
        assertTrue("$what: ${problems.joinToString("; ")}", problems.isEmpty())
    }

    /** The layout problems of [root], laid out at [widthPx]. */
    fun layoutProblems(root: View, widthPx: Int): List<String> {
        val problems = mutableListOf<String>()
        walk(root) { view, at ->
            if (at.left < 0 || at.right > widthPx) problems += "${name(view)} reaches beyond the screen (${at.left}..${at.right} of $widthPx)"
            if (view is TextView) problems += textProblems(view)
            if (view is ViewGroup && view !is ScrollView && view !is HorizontalScrollView) {
                val children = (0 until view.childCount).map(view::getChildAt).filter(::shown)
                for (child in children) {
                    // Children may extend past the parent only where it scrolls; elsewhere they are cut.
                    if (child.left < 0 || child.top < 0 || child.right > view.width || child.bottom > view.height) {
                        problems += "${name(child)} is cut by its parent ${name(view)}"
                    }
                }
                for (i in children.indices) for (j in i + 1 until children.size) {
                    val a = rect(children[i])
                    val b = rect(children[j])
                    if (Rect.intersects(a, b)) problems += "${name(children[i])} and ${name(children[j])} overlap"
                }
            }
        }
        return problems
    }

    private fun textProblems(view: TextView): List<String> {
        val layout = view.layout ?: return listOf("${name(view)} has no layout")
        val problems = mutableListOf<String>()
        for (line in 0 until layout.lineCount) {
            if (layout.getEllipsisCount(line) > 0) problems += "${name(view)} is ellipsized"
        }
        if (view.text.isNotEmpty()) {
            val needed = layout.getLineBottom(layout.lineCount - 1) + view.totalPaddingTop + view.totalPaddingBottom
            if (needed > view.height + 1) problems += "${name(view)} needs ${needed}px, has ${view.height}px"
            val room = view.width - view.totalPaddingLeft - view.totalPaddingRight
            // getLineMax, not getLineWidth: a wrapped line's trailing space is not drawn.
            val widest = (0 until layout.lineCount).maxOf { layout.getLineMax(it) }
            if (widest > room + 1) problems += "${name(view)} is ${widest.toInt()}px wide in ${room}px"
        }
        return problems
    }

    /** The accessibility problems of [root]. */
    fun accessibilityProblems(root: View): List<String> {
        val problems = mutableListOf<String>()
        val density = root.resources.displayMetrics.density
        // The fields some text labels (android:labelFor), which TalkBack reads with them.
        val labelled = mutableMapOf<Int, String>()
        walk(root) { view, _ -> if (view is TextView && view.labelFor != View.NO_ID) labelled[view.labelFor] = view.text.toString() }
        walk(root) { view, _ ->
            if (view is SyncBannerView) {
                if (view.accessibilityLiveRegion != View.ACCESSIBILITY_LIVE_REGION_POLITE) problems += "the banner is not a polite live region"
                if (view.contentDescription.isNullOrBlank()) problems += "the banner has no description"
            }
            if (!isControl(view)) return@walk
            if (label(view).isNullOrBlank() && labelled[view.id].isNullOrBlank()) problems += "${name(view)} has no label"
            val minimum = TAP_TARGET_DP * density - 0.5f
            if (view.width < minimum || view.height < minimum) {
                problems += "${name(view)} is ${(view.width / density).toInt()}×${(view.height / density).toInt()} dp, under $TAP_TARGET_DP dp"
            }
        }
        return problems
    }

    /** Whether TalkBack treats [view] as something the user acts on. */
    fun isControl(view: View): Boolean = view.isEnabled && (view.isClickable || view.isLongClickable || view is EditText)

    /** What TalkBack says for [view] by itself: its description, its text or hint, or for a row its texts. */
    fun label(view: View): String? {
        view.contentDescription?.takeIf { it.isNotBlank() }?.let { return it.toString() }
        if (view is EditText) return (view.hint ?: view.text)?.toString()
        if (view is TextView) return view.text?.toString()
        if (view is ViewGroup) return texts(view).joinToString(" ").ifBlank { null }
        return null
    }

    private fun texts(view: View): List<String> = when {
        !shown(view) -> emptyList()
        view is TextView -> listOf(view.text.toString())
        view is ViewGroup -> (0 until view.childCount).flatMap { texts(view.getChildAt(it)) }
        else -> emptyList()
    }

    /** Calls [visit] with every shown view under [root] and its rectangle in [root]'s pixels. */
    private fun walk(root: View, visit: (View, Rect) -> Unit) {
        fun go(view: View, x: Int, y: Int) {
            if (!shown(view)) return
            visit(view, Rect(x, y, x + view.width, y + view.height))
            if (view is ViewGroup) {
                for (i in 0 until view.childCount) {
                    val child = view.getChildAt(i)
                    go(child, x + child.left - view.scrollX, y + child.top - view.scrollY)
                }
            }
        }
        go(root, 0, 0)
    }

    private fun shown(view: View) = view.visibility == View.VISIBLE && view.width > 0 && view.height > 0

    private fun rect(view: View) = Rect(view.left, view.top, view.right, view.bottom)

    private fun name(view: View): String {
        val said = (view as? TextView)?.text?.toString()?.takeIf { it.isNotEmpty() }?.let { "\"${it.take(40)}\"" }
        return listOfNotNull(view.javaClass.simpleName, view.tag?.let { "#$it" }, said).joinToString(" ")
    }
}
