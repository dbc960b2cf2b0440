// Android only: buttons side by side at the end of a row while they fit, one below the other
// when they do not (long words, German, a large font scale), so that no label is ever cut.
package dev.syncline.android

import android.content.Context
import android.view.View
import android.view.ViewGroup

/**
 * Its children in a row, aligned to the end (right, or left in a right-to-left language), [gap]
 * pixels apart; when their natural widths do not fit the row, each on a line of its own, still
 * aligned to the end, and each at most as wide as the row (a longer label wraps inside its
 * button). The banner's actions use it; an app may too.
 */
class ActionRow(context: Context, private val gap: Int) : ViewGroup(context) {
    /** Whether the last layout put the children one below the other. */
    var stacked: Boolean = false
        private set

    private fun shown(): List<View> = (0 until childCount).map(::getChildAt).filter { it.visibility != GONE }

    override fun onMeasure(widthMeasureSpec: Int, heightMeasureSpec: Int) {
        val available = MeasureSpec.getSize(widthMeasureSpec) - paddingLeft - paddingRight
        val unbounded = MeasureSpec.getMode(widthMeasureSpec) == MeasureSpec.UNSPECIFIED
        val children = shown()
        // Their natural widths first: do they fit side by side?
        val natural = MeasureSpec.makeMeasureSpec(0, MeasureSpec.UNSPECIFIED)
        val height = MeasureSpec.makeMeasureSpec(0, MeasureSpec.UNSPECIFIED)
        children.forEach { it.measure(natural, height) }
        val together = children.sumOf { it.measuredWidth } + gap * (children.size - 1).coerceAtLeast(0)
        stacked = !unbounded && together > available
        val width: Int
        val total: Int
        if (stacked) {
            val atMost = MeasureSpec.makeMeasureSpec(available, MeasureSpec.AT_MOST)
            children.forEach { it.measure(atMost, height) }
            width = available
            total = children.sumOf { it.measuredHeight } + gap * (children.size - 1).coerceAtLeast(0)
        } else {
            width = if (unbounded) together else available
            total = children.maxOfOrNull { it.measuredHeight } ?: 0
        }
        setMeasuredDimension(
            resolveSize(width + paddingLeft + paddingRight, widthMeasureSpec),
            resolveSize(total + paddingTop + paddingBottom, heightMeasureSpec),
        )
    }

    override fun onLayout(changed: Boolean, l: Int, t: Int, r: Int, b: Int) {
        val rtl = layoutDirection == LAYOUT_DIRECTION_RTL
        val start = paddingLeft
        val end = r - l - paddingRight
        val children = shown()
        if (stacked) {
            var y = paddingTop
            for (child in children) {
                val x = if (rtl) start else end - child.measuredWidth
                child.layout(x, y, x + child.measuredWidth, y + child.measuredHeight)
                y += child.measuredHeight + gap
            }
            return
        }
        val rowHeight = children.maxOfOrNull { it.measuredHeight } ?: 0
        // From the end towards the start, so that the last child sits at the end.
        var edge = if (rtl) start else end
        for (child in children.reversed()) {
            val y = paddingTop + (rowHeight - child.measuredHeight) / 2
            if (rtl) {
                child.layout(edge, y, edge + child.measuredWidth, y + child.measuredHeight)
                edge += child.measuredWidth + gap
            } else {
                child.layout(edge - child.measuredWidth, y, edge, y + child.measuredHeight)
                edge -= child.measuredWidth + gap
            }
        }
    }
}
