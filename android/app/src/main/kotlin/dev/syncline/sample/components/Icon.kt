// The sample's two icons, drawn with the framework's Canvas on a 24-unit grid (as Material icons
// are): no resources, the same at every density, mirrored in right-to-left languages.
package dev.syncline.sample.components

import android.graphics.Canvas
import android.graphics.ColorFilter
import android.graphics.Paint
import android.graphics.PixelFormat
import android.graphics.drawable.Drawable

/** [glyph] in [color], [size] pixels a side unless its view says otherwise. */
class Icon(private val glyph: Glyph, color: Int, private val size: Int) : Drawable() {
    /** What the icon shows. */
    enum class Glyph {
        /** An arrow pointing back: Up in the app bar. */
        ARROW_BACK,

        /** A chevron pointing forward: a row that opens something. */
        CHEVRON,
    }

    private val paint = Paint(Paint.ANTI_ALIAS_FLAG).apply {
        this.color = color
        style = Paint.Style.STROKE
        strokeWidth = 2f
        strokeCap = Paint.Cap.ROUND
        strokeJoin = Paint.Join.ROUND
    }

    init {
        isAutoMirrored = true
    }

    override fun draw(canvas: Canvas) {
        val b = bounds
        if (b.isEmpty) return
        canvas.save()
        canvas.translate(b.left.toFloat(), b.top.toFloat())
        if (layoutDirection == android.view.View.LAYOUT_DIRECTION_RTL) {
            canvas.scale(-1f, 1f, b.width() / 2f, 0f)
        }
        canvas.scale(b.width() / 24f, b.height() / 24f)
        when (glyph) {
            Glyph.ARROW_BACK -> {
                canvas.drawLine(4.5f, 12f, 19.5f, 12f, paint)
                canvas.drawLine(4.5f, 12f, 11f, 5.5f, paint)
                canvas.drawLine(4.5f, 12f, 11f, 18.5f, paint)
            }
            Glyph.CHEVRON -> {
                canvas.drawLine(9.5f, 6.5f, 15f, 12f, paint)
                canvas.drawLine(15f, 12f, 9.5f, 17.5f, paint)
            }
        }
        canvas.restore()
    }

    override fun getIntrinsicWidth(): Int = size

    override fun getIntrinsicHeight(): Int = size

    override fun setAlpha(alpha: Int) {
        paint.alpha = alpha
        invalidateSelf()
    }

    override fun setColorFilter(colorFilter: ColorFilter?) {
        paint.colorFilter = colorFilter
        invalidateSelf()
    }

    @Deprecated("Deprecated in the framework; still abstract there.")
    override fun getOpacity(): Int = PixelFormat.TRANSLUCENT
}
