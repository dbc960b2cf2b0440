// Android only: the banner's icons, drawn with the framework's Canvas on a 24-unit grid (as
// Material icons are) so that they need no resources and look the same at every density.
package dev.syncline.android

import android.graphics.Canvas
import android.graphics.ColorFilter
import android.graphics.Paint
import android.graphics.Path
import android.graphics.PixelFormat
import android.graphics.RectF
import android.graphics.drawable.Drawable

/** What a [BannerIcon] shows. */
enum class BannerGlyph {
    /** A ring with an arc: progress while syncing (see [BannerIcon.progress]). */
    PROGRESS,

    /** A filled circle with an exclamation mark: a sync failed. */
    ERROR,

    /** A padlock: signing in again is needed. */
    SIGN_IN,

    /** A cloud struck through: offline. */
    OFFLINE,

    /** A triangle with an exclamation mark: a decision waits. */
    DECISION,
}

/**
 * [glyph] in [color]; the marks cut into a filled shape are drawn in [cutout] (the colour behind
 * the icon), so the icon reads on any background its colours were chosen for.
 */
class BannerIcon(val glyph: BannerGlyph, private val color: Int, private val cutout: Int) : Drawable() {
    /**
     * For [BannerGlyph.PROGRESS]: the share done, 0 to 1, drawn as an arc from the top; null
     * when not known, drawn as a quarter arc turned by [rotation] (the view animates it).
     */
    var progress: Float? = null
        set(value) {
            field = value
            invalidateSelf()
        }

    /** Degrees the indeterminate arc is turned by. */
    var rotation: Float = 0f
        set(value) {
            field = value
            invalidateSelf()
        }

    private var alpha = 0xFF
    private val fill = Paint(Paint.ANTI_ALIAS_FLAG).apply { style = Paint.Style.FILL }
    private val stroke = Paint(Paint.ANTI_ALIAS_FLAG).apply {
        style = Paint.Style.STROKE
        strokeCap = Paint.Cap.ROUND
        strokeJoin = Paint.Join.ROUND
    }

    override fun draw(canvas: Canvas) {
        val b = bounds
        if (b.isEmpty) return
        if (alpha < 0xFF) canvas.saveLayerAlpha(RectF(b), alpha) else canvas.save()
        canvas.translate(b.left.toFloat(), b.top.toFloat())
        canvas.scale(b.width() / GRID, b.height() / GRID)
        when (glyph) {
            BannerGlyph.PROGRESS -> progress(canvas)
            BannerGlyph.ERROR -> {
                fill.color = color
                canvas.drawCircle(12f, 12f, 10f, fill)
                exclamation(canvas, top = 6.5f, bottom = 13f, dot = 16.8f)
            }
            BannerGlyph.SIGN_IN -> {
                stroke.color = color
                stroke.strokeWidth = 2.2f
                canvas.drawArc(RectF(7.5f, 2.5f, 16.5f, 11.5f), 180f, 180f, false, stroke)
                canvas.drawLine(7.5f, 7f, 7.5f, 10f, stroke)
                canvas.drawLine(16.5f, 7f, 16.5f, 10f, stroke)
                fill.color = color
                canvas.drawRoundRect(RectF(4f, 10f, 20f, 22f), 2.5f, 2.5f, fill)
                fill.color = cutout
                canvas.drawCircle(12f, 15.2f, 1.8f, fill)
                canvas.drawRect(11.2f, 15.2f, 12.8f, 18.6f, fill)
            }
            BannerGlyph.OFFLINE -> {
                fill.color = color
                val cloud = Path().apply {
                    addCircle(7.5f, 14.5f, 4.5f, Path.Direction.CW)
                    addCircle(12.5f, 10.5f, 6f, Path.Direction.CW)
                    addCircle(17.5f, 14.5f, 4.5f, Path.Direction.CW)
                    addRoundRect(RectF(7.5f, 12f, 17.5f, 19f), 1f, 1f, Path.Direction.CW)
                }
                canvas.drawPath(cloud, fill)
                // The strike: a gap in the background's colour, then the line itself.
                stroke.color = cutout
                stroke.strokeWidth = 4.4f
                canvas.drawLine(3.5f, 3.5f, 20.5f, 20.5f, stroke)
                stroke.color = color
                stroke.strokeWidth = 2f
                canvas.drawLine(3.5f, 3.5f, 20.5f, 20.5f, stroke)
            }
            BannerGlyph.DECISION -> {
                fill.color = color
                val triangle = Path().apply {
                    moveTo(12f, 2.5f)
                    lineTo(22.5f, 20.5f)
                    lineTo(1.5f, 20.5f)
                    close()
                }
                stroke.color = color
                stroke.strokeWidth = 1.5f
                canvas.drawPath(triangle, fill)
                canvas.drawPath(triangle, stroke)
                exclamation(canvas, top = 8.5f, bottom = 14.2f, dot = 17.4f)
            }
        }
        canvas.restore()
    }

    private fun progress(canvas: Canvas) {
        val ring = RectF(3f, 3f, 21f, 21f)
        stroke.strokeWidth = 3f
        // The track: the same colour, faint, so that the arc's share of it reads.
        stroke.color = color
        stroke.alpha = 0x4D
        canvas.drawOval(ring, stroke)
        stroke.alpha = 0xFF
        val done = progress
        if (done == null) {
            canvas.drawArc(ring, -90f + rotation, 90f, false, stroke)
        } else {
            // At least a sliver, so that "0 of 3" still shows that something runs.
            canvas.drawArc(ring, -90f, (done.coerceIn(0f, 1f) * 360f).coerceAtLeast(12f), false, stroke)
        }
    }

    private fun exclamation(canvas: Canvas, top: Float, bottom: Float, dot: Float) {
        stroke.color = cutout
        stroke.strokeWidth = 2.4f
        canvas.drawLine(12f, top, 12f, bottom, stroke)
        fill.color = cutout
        canvas.drawCircle(12f, dot, 1.4f, fill)
    }

    override fun setAlpha(alpha: Int) {
        this.alpha = alpha
        invalidateSelf()
    }

    override fun getAlpha(): Int = alpha

    override fun setColorFilter(colorFilter: ColorFilter?) {
        fill.colorFilter = colorFilter
        stroke.colorFilter = colorFilter
    }

    @Deprecated("Deprecated in the framework; still abstract there.")
    override fun getOpacity(): Int = PixelFormat.TRANSLUCENT

    private companion object {
        /** The icon's grid: 24 units a side, as Material icons are drawn. */
        const val GRID = 24f
    }
}
