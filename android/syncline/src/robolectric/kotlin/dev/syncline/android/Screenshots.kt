// Views drawn to PNG under docs/screenshots/android/ and compared with the committed image, so a
// rendering regression fails a test. SYNCLINE_UPDATE_SCREENSHOTS=1 rewrites the images instead.
package dev.syncline.android

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.Canvas
import android.graphics.Color
import android.view.View
import dev.syncline.repoRoot
import org.junit.Assert.assertTrue
import java.io.File
import java.io.FileOutputStream

object Screenshots {
    /** Pixels whose channels differ by more than this count as different (anti-aliasing noise). */
    private const val CHANNEL_TOLERANCE = 24

    /** Share of different pixels a screenshot may have (fonts render a little differently). */
    private const val PIXEL_TOLERANCE = 0.01

    private val folder = File(repoRoot, "docs/screenshots/android")

    /** Lays [view] out at [widthPx] wide (its natural height) and draws it on white. */
    fun draw(view: View, widthPx: Int = 1080): Bitmap {
        view.measure(
            View.MeasureSpec.makeMeasureSpec(widthPx, View.MeasureSpec.EXACTLY),
            View.MeasureSpec.makeMeasureSpec(0, View.MeasureSpec.UNSPECIFIED),
        )
        view.layout(0, 0, view.measuredWidth, view.measuredHeight)
        val bitmap = Bitmap.createBitmap(view.measuredWidth, view.measuredHeight.coerceAtLeast(1), Bitmap.Config.ARGB_8888)
        val canvas = Canvas(bitmap)
        canvas.drawColor(Color.WHITE)
        view.draw(canvas)
        return bitmap
    }

    /** Draws [view] and checks it against `docs/screenshots/android/[name].png`. */
    fun check(name: String, view: View, widthPx: Int = 1080) {
        val bitmap = draw(view, widthPx)
        val file = File(folder, "$name.png")
        if (System.getenv("SYNCLINE_UPDATE_SCREENSHOTS") == "1" || !file.exists()) {
            folder.mkdirs()
            FileOutputStream(file).use { bitmap.compress(Bitmap.CompressFormat.PNG, 100, it) }
            return
        }
        // From bytes: decodeFile goes through a FileDescriptor, which Java 17 keeps closed to Robolectric.
        val committed = BitmapFactory.decodeByteArray(file.readBytes(), 0, file.length().toInt())
        assertTrue(
            "$name: ${bitmap.width}×${bitmap.height} drawn, ${committed.width}×${committed.height} committed",
            committed.width == bitmap.width && committed.height == bitmap.height,
        )
        var different = 0
        for (y in 0 until bitmap.height) {
            for (x in 0 until bitmap.width) {
                if (differs(bitmap.getPixel(x, y), committed.getPixel(x, y))) different++
            }
        }
        val share = different.toDouble() / (bitmap.width * bitmap.height)
        if (share > PIXEL_TOLERANCE) {
            val drawn = File(folder, "$name.actual.png")
            FileOutputStream(drawn).use { bitmap.compress(Bitmap.CompressFormat.PNG, 100, it) }
            throw AssertionError("$name: ${"%.2f".format(share * 100)} % of pixels differ from the committed image (drawn: $drawn)")
        }
    }

    private fun differs(a: Int, b: Int): Boolean =
        Math.abs(Color.red(a) - Color.red(b)) > CHANNEL_TOLERANCE ||
            Math.abs(Color.green(a) - Color.green(b)) > CHANNEL_TOLERANCE ||
            Math.abs(Color.blue(a) - Color.blue(b)) > CHANNEL_TOLERANCE
}
