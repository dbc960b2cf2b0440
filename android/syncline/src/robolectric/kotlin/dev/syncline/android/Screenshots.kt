// Views drawn to PNG under docs/screenshots/android/ and compared with the committed image, so a
// rendering regression fails a test. SYNCLINE_UPDATE_SCREENSHOTS=1 rewrites the images instead.
// Beside each image, a sidecar (`name.json`) records where each text was drawn, so that
// ContrastTest can measure every text's contrast on the committed pixels.
package dev.syncline.android

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.Canvas
import android.graphics.Color
import android.util.TypedValue
import android.view.View
import android.view.ViewGroup
import android.widget.TextView
import dev.syncline.repoRoot
import org.json.JSONArray
import org.json.JSONObject
import org.junit.Assert.assertTrue
import java.io.File
import java.io.FileOutputStream

object Screenshots {
    /** Pixels whose channels differ by more than this count as different (anti-aliasing noise). */
    private const val CHANNEL_TOLERANCE = 24

    /** Share of different pixels a screenshot may have (fonts render a little differently). */
    private const val PIXEL_TOLERANCE = 0.01

    /** Where the committed images are. */
    val folder = File(repoRoot, "docs/screenshots/android")

    /** The screenshots' width: 360 dp at the tests' xxhdpi, a small phone. */
    const val WIDTH = 1080

    private val updating: Boolean get() = System.getenv("SYNCLINE_UPDATE_SCREENSHOTS") == "1"

    /** Lays [view] out at [widthPx] wide (its natural height), as [draw] does, without drawing it. */
    fun layOut(view: View, widthPx: Int = WIDTH) {
        view.measure(
            View.MeasureSpec.makeMeasureSpec(widthPx, View.MeasureSpec.EXACTLY),
            View.MeasureSpec.makeMeasureSpec(0, View.MeasureSpec.UNSPECIFIED),
        )
        view.layout(0, 0, view.measuredWidth, view.measuredHeight)
    }

    /** Lays [view] out at [widthPx] wide (its natural height) and draws it on white. */
    fun draw(view: View, widthPx: Int = WIDTH): Bitmap {
        layOut(view, widthPx)
        val bitmap = Bitmap.createBitmap(view.measuredWidth, view.measuredHeight.coerceAtLeast(1), Bitmap.Config.ARGB_8888)
        val canvas = Canvas(bitmap)
        canvas.drawColor(Color.WHITE)
        view.draw(canvas)
        return bitmap
    }

    /**
     * Draws [view] and checks it, and the places of its texts, against
     * `docs/screenshots/android/[name].png` and `[name].json`; in [folder] instead for tests of
     * the tests.
     */
    fun check(name: String, view: View, widthPx: Int = WIDTH, folder: File = this.folder) {
        val bitmap = draw(view, widthPx)
        val texts = sidecar(view).toString(1) + "\n"
        val file = File(folder, "$name.png")
        val sidecar = File(folder, "$name.json")
        if (updating || !file.exists()) {
            folder.mkdirs()
            FileOutputStream(file).use { bitmap.compress(Bitmap.CompressFormat.PNG, 100, it) }
            sidecar.writeText(texts)
            return
        }
        // From bytes: decodeFile goes through a FileDescriptor, which Java 17 keeps closed to Robolectric.
        val committed = BitmapFactory.decodeByteArray(file.readBytes(), 0, file.length().toInt())
        assertTrue(
            "$name: ${bitmap.width}×${bitmap.height} drawn, ${committed.width}×${committed.height} committed",
            committed.width == bitmap.width && committed.height == bitmap.height,
        )
        val drawnPixels = IntArray(bitmap.width * bitmap.height)
        val committedPixels = IntArray(drawnPixels.size)
        bitmap.getPixels(drawnPixels, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        committed.getPixels(committedPixels, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        val different = drawnPixels.indices.count { differs(drawnPixels[it], committedPixels[it]) }
        val share = different.toDouble() / drawnPixels.size
        if (share > PIXEL_TOLERANCE) {
            val drawn = File(folder, "$name.actual.png")
            FileOutputStream(drawn).use { bitmap.compress(Bitmap.CompressFormat.PNG, 100, it) }
            throw AssertionError("$name: ${"%.2f".format(share * 100)} % of pixels differ from the committed image (drawn: $drawn)")
        }
        if (!sidecar.exists() || sidecar.readText() != texts) {
            val drawn = File(folder, "$name.actual.json")
            drawn.writeText(texts)
            throw AssertionError("$name: the texts' places differ from the committed $sidecar (drawn: $drawn)")
        }
    }

    /**
     * Where [root]'s texts are drawn once laid out: for each shown TextView with text (or, empty,
     * a hint), the box around its lines in [root]'s pixels, what it says, whether it is large
     * by WCAG's sizes and the colour it was told to use.
     */
    fun sidecar(root: View): JSONObject {
        val texts = JSONArray()
        fun visit(view: View, x: Int, y: Int) {
            if (view.visibility != View.VISIBLE || view.width == 0 || view.height == 0) return
            if (view is TextView) textBox(view, x, y)?.let(texts::put)
            if (view is ViewGroup) {
                for (i in 0 until view.childCount) {
                    val child = view.getChildAt(i)
                    visit(child, x + child.left - view.scrollX, y + child.top - view.scrollY)
                }
            }
        }
        visit(root, 0, 0)
        val metrics = root.resources.displayMetrics
        return JSONObject()
            .put("width", root.width)
            .put("height", root.height)
            .put("density", metrics.density.toDouble())
            .put("fontScale", root.resources.configuration.fontScale.toDouble())
            .put("texts", texts)
    }

    private fun textBox(view: TextView, x: Int, y: Int): JSONObject? {
        val hint = view.text.isEmpty()
        val words = (if (hint) view.hint else view.text)?.toString().orEmpty()
        if (words.isBlank()) return null
        val layout = view.layout ?: return null
        val left: Int
        val right: Int
        val top = y + view.totalPaddingTop
        val bottom: Int
        if (hint) {
            // The hint has a layout of its own, which the framework keeps to itself: one line,
            // as wide as the paint measures it.
            left = x + view.totalPaddingLeft
            right = left + view.paint.measureText(words).toInt()
            bottom = top + view.lineHeight
        } else {
            val lines = 0 until layout.lineCount
            left = x + view.totalPaddingLeft + lines.minOf { layout.getLineLeft(it) }.toInt()
            right = x + view.totalPaddingLeft + lines.maxOf { layout.getLineRight(it) }.toInt() + 1
            bottom = top + layout.getLineBottom(layout.lineCount - 1)
        }
        val metrics = view.resources.displayMetrics
        // The size the app asked for, before the user's font scale (WCAG's sizes are the author's).
        val sp = TypedValue.deriveDimension(TypedValue.COMPLEX_UNIT_SP, view.textSize, metrics).toDouble()
        val bold = view.typeface?.let { it.isBold || it.weight >= 600 } == true || view.paint.isFakeBoldText
        val declared = if (hint) view.currentHintTextColor else view.currentTextColor
        return JSONObject()
            .put("text", words)
            .put("hint", hint)
            // Within the view: what lies outside it is not drawn.
            .put("left", left.coerceAtLeast(x))
            .put("top", top.coerceAtLeast(y))
            .put("right", right.coerceAtMost(x + view.width))
            .put("bottom", bottom.coerceAtMost(y + view.height))
            .put("sp", Math.round(sp * 100) / 100.0)
            .put("bold", bold)
            .put("large", Contrast.isLarge(sp, bold))
            .put("declared", "#%08X".format(declared))
    }

    private fun differs(a: Int, b: Int): Boolean =
        Math.abs(Color.red(a) - Color.red(b)) > CHANNEL_TOLERANCE ||
            Math.abs(Color.green(a) - Color.green(b)) > CHANNEL_TOLERANCE ||
            Math.abs(Color.blue(a) - Color.blue(b)) > CHANNEL_TOLERANCE
}

