// WCAG 2 contrast, measured on rendered pixels: for a text's box in a screenshot, its background
// is the box's most common colour, and its colour the most common one among the pixels far from
// that background (the glyphs' solid insides, not their anti-aliased edges). Plain JVM code: it
// reads the PNGs with javax.imageio, so it measures the committed images exactly as they are.
package dev.syncline.android

import org.json.JSONObject
import java.io.File
import javax.imageio.ImageIO
import kotlin.math.pow
import kotlin.math.sqrt

object Contrast {
    /** WCAG AA for normal text. */
    const val NORMAL = 4.5

    /** WCAG AA for large text: 18 pt (24 sp) regular, or 14 pt (18.66 sp) bold. */
    const val LARGE = 3.0

    /** Whether text of [sp] (as the app asked for it, before the user's font scale) in [bold] counts as large. */
    fun isLarge(sp: Double, bold: Boolean): Boolean = sp >= 24.0 || (bold && sp >= 18.66)

    /** WCAG relative luminance of an sRGB colour (alpha ignored). */
    fun luminance(rgb: Int): Double {
        fun channel(c: Int): Double {
            val s = c / 255.0
            return if (s <= 0.04045) s / 12.92 else ((s + 0.055) / 1.055).pow(2.4)
        }
        return 0.2126 * channel(rgb shr 16 and 0xFF) + 0.7152 * channel(rgb shr 8 and 0xFF) + 0.0722 * channel(rgb and 0xFF)
    }

    /** The contrast ratio of two colours, 1 to 21. */
    fun ratio(a: Int, b: Int): Double {
        val (light, dark) = luminance(a).let { la -> luminance(b).let { lb -> if (la >= lb) la to lb else lb to la } }
        return (light + 0.05) / (dark + 0.05)
    }

    /** A text's place in a screenshot, as its sidecar records it. */
    data class TextBox(
        /** What it says (for the report). */
        val text: String,
        val left: Int,
        val top: Int,
        val right: Int,
        val bottom: Int,
        /** Large text by WCAG's sizes: 3:1 is enough. */
        val large: Boolean,
        /** The colour the view was told to draw it in (for the report; never trusted). */
        val declared: Int?,
    )

    /** One text measured. */
    data class Measured(val box: TextBox, val background: Int, val foreground: Int, val ratio: Double) {
        /** What WCAG AA asks of it. */
        val required: Double get() = if (box.large) LARGE else NORMAL

        val passes: Boolean get() = ratio >= required
    }

    /** An image's pixels, ARGB, row by row. */
    class Pixels(val width: Int, val height: Int, val argb: IntArray) {
        operator fun get(x: Int, y: Int): Int = argb[y * width + x]

        companion object {
            /** The pixels of the PNG [file]. */
            fun read(file: File): Pixels {
                val image = ImageIO.read(file) ?: throw AssertionError("$file: not an image")
                val argb = image.getRGB(0, 0, image.width, image.height, null, 0, image.width)
                return Pixels(image.width, image.height, argb)
            }
        }
    }

    /** Measures the text in [box] of [pixels]; throws when the box holds no text at all. */
    fun measure(pixels: Pixels, box: TextBox): Measured {
        val left = box.left.coerceIn(0, pixels.width)
        val right = box.right.coerceIn(0, pixels.width)
        val top = box.top.coerceIn(0, pixels.height)
        val bottom = box.bottom.coerceIn(0, pixels.height)
        if (left >= right || top >= bottom) throw AssertionError("`${box.text}`: its box is outside the image")
        val counts = HashMap<Int, Int>()
        for (y in top until bottom) for (x in left until right) counts.merge(pixels[x, y] and 0xFFFFFF, 1, Int::plus)
        val background = counts.maxBy { it.value }.key
        // Anti-aliasing blends the text's colour into the background's at the glyphs' edges: only
        // the pixels at least half as far from the background as the farthest are the text's.
        val farthest = counts.keys.maxOf { distance(it, background) }
        if (farthest < 1.0) throw AssertionError("`${box.text}`: no text in its box (${left},${top})–(${right},${bottom})")
        val foreground = counts.filterKeys { distance(it, background) >= farthest / 2 }.maxBy { it.value }.key
        return Measured(box, background, foreground, ratio(foreground, background))
    }

    /** Every text of the screenshot [png], by the sidecar beside it (`name.json`). */
    fun measure(png: File): List<Measured> {
        val pixels = Pixels.read(png)
        return boxes(sidecar(png)).map { measure(pixels, it) }
    }

    /** The sidecar of [png]: the same name, `.json`. */
    fun sidecar(png: File): File = File(png.parentFile, png.name.removeSuffix(".png") + ".json")

    /** The text boxes a sidecar lists. */
    fun boxes(sidecar: File): List<TextBox> {
        val texts = JSONObject(sidecar.readText()).getJSONArray("texts")
        return (0 until texts.length()).map { i ->
            val t = texts.getJSONObject(i)
            TextBox(
                text = t.getString("text"),
                left = t.getInt("left"),
                top = t.getInt("top"),
                right = t.getInt("right"),
                bottom = t.getInt("bottom"),
                large = t.getBoolean("large"),
                declared = if (t.has("declared")) java.lang.Long.parseLong(t.getString("declared").removePrefix("#"), 16).toInt() else null,
            )
        }
    }

    /**
     * Whether the colour measured is the one the view was told to draw ([TextBox.declared], laid
     * over the background when it is translucent), give or take anti-aliasing: when it is not,
     * the box holds something else than the text (an icon, a border), and its ratio says nothing.
     */
    fun foundTheText(m: Measured): Boolean {
        val declared = m.box.declared ?: return true
        val alpha = (declared ushr 24) / 255.0
        fun channel(shift: Int) = ((declared shr shift and 0xFF) * alpha + (m.background shr shift and 0xFF) * (1 - alpha)).toInt()
        val expected = (channel(16) shl 16) or (channel(8) shl 8) or channel(0)
        return distance(expected, m.foreground) <= 12.0
    }

    /** `#RRGGBB`. */
    fun hex(rgb: Int): String = "#%06X".format(rgb and 0xFFFFFF)

    private fun distance(a: Int, b: Int): Double {
        val dr = (a shr 16 and 0xFF) - (b shr 16 and 0xFF)
        val dg = (a shr 8 and 0xFF) - (b shr 8 and 0xFF)
        val db = (a and 0xFF) - (b and 0xFF)
        return sqrt((dr * dr + dg * dg + db * db).toDouble())
    }
}
