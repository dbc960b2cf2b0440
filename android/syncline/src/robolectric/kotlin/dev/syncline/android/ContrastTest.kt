// Every text of every committed screenshot (docs/screenshots/android/, English and German, light
// and dark) at WCAG AA contrast, measured on the committed pixels: where each text is comes from
// the image's sidecar, its colours from the image itself (Contrast). Prints the ratio of each
// text and the lowest of each image, and fails as well where the colour measured is not the one
// the text was drawn in (the box would hold something else). The measuring code is itself tested
// on a grey-on-grey text it must fail.
package dev.syncline.android

import android.app.Activity
import android.graphics.Color
import android.graphics.Typeface
import android.util.TypedValue
import android.widget.FrameLayout
import android.widget.TextView
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import org.robolectric.annotation.GraphicsMode
import java.io.File
import java.nio.file.Files

// The same configuration as the other Robolectric classes: one sandbox for all of them.
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], qualifiers = "w411dp-h891dp-xxhdpi")
@GraphicsMode(GraphicsMode.Mode.NATIVE)
class ContrastTest {
    @Test
    fun everyTextOfEveryCommittedScreenshotMeetsWcagAA() {
        val images = Screenshots.folder.listFiles { f -> f.name.endsWith(".png") && !f.name.endsWith(".actual.png") }!!.sorted()
        assertTrue("no screenshots in ${Screenshots.folder}", images.isNotEmpty())
        val failures = mutableListOf<String>()
        val lowest = mutableListOf<Pair<String, Contrast.Measured?>>()
        for (png in images) {
            val name = png.name.removeSuffix(".png")
            assertTrue("$name has no sidecar (${Contrast.sidecar(png).name})", Contrast.sidecar(png).exists())
            val measured = Contrast.measure(png)
            println("contrast: $name")
            for (m in measured) {
                val verdict = if (m.passes) "ok" else "FAILS"
                val declared = m.box.declared?.let { " (drawn as ${Contrast.hex(it)})" } ?: ""
                println(
                    "  %6.2f : 1 %s %.1f  %s on %s%s  \"%s\"".format(
                        m.ratio, if (m.passes) "≥" else "<", m.required, Contrast.hex(m.foreground), Contrast.hex(m.background), declared, m.box.text.take(60),
                    ) + "  $verdict",
                )
                if (!m.passes) failures += "$name: \"${m.box.text}\" %.2f : 1 < %.1f".format(m.ratio, m.required)
                if (!Contrast.foundTheText(m)) failures += "$name: \"${m.box.text}\" measured ${Contrast.hex(m.foreground)}, drawn in ${m.box.declared?.let(Contrast::hex)}: not the text"
            }
            lowest += name to measured.minByOrNull { it.ratio }
        }
        println("contrast: the lowest ratio of each screenshot")
        println("| screenshot | texts | lowest | text |")
        println("|---|---|---|---|")
        for ((name, m) in lowest) {
            val count = Contrast.boxes(Contrast.sidecar(File(Screenshots.folder, "$name.png"))).size
            println(if (m == null) "| $name | 0 | – | |" else "| $name | $count | %.2f : 1 | %s |".format(m.ratio, m.box.text.take(40)))
        }
        assertTrue("texts below WCAG AA:\n" + failures.joinToString("\n"), failures.isEmpty())
    }

    @Test
    fun theRatiosAreWcags() {
        assertEquals(21.0, Contrast.ratio(Color.BLACK, Color.WHITE), 1e-9)
        assertEquals(1.0, Contrast.ratio(0xFF777777.toInt(), 0xFF777777.toInt()), 1e-9)
        // #767676 is the lightest grey that passes on white; #777777 just fails.
        assertTrue(Contrast.ratio(0xFF767676.toInt(), Color.WHITE) >= Contrast.NORMAL)
        assertTrue(Contrast.ratio(0xFF777777.toInt(), Color.WHITE) < Contrast.NORMAL)
        assertTrue(Contrast.isLarge(24.0, bold = false))
        assertFalse(Contrast.isLarge(22.0, bold = false))
        assertTrue(Contrast.isLarge(18.66, bold = true))
        assertFalse(Contrast.isLarge(18.0, bold = true))
    }

    /** Draws [text] in [color] on [background] at [sp] to a screenshot in [folder] and measures it there. */
    private fun drawnAndMeasured(folder: File, name: String, text: String, color: Int, background: Int, sp: Float = 14f, bold: Boolean = false): Contrast.Measured {
        val activity = Robolectric.buildActivity(Activity::class.java).setup().get()
        val view = FrameLayout(activity).apply {
            setBackgroundColor(background)
            setPadding(48, 48, 48, 48)
            addView(
                TextView(activity).apply {
                    this.text = text
                    setTextColor(color)
                    setTextSize(TypedValue.COMPLEX_UNIT_SP, sp)
                    if (bold) setTypeface(typeface, Typeface.BOLD)
                },
            )
        }
        Screenshots.check(name, view, folder = folder)
        return Contrast.measure(File(folder, "$name.png")).single()
    }

    @Test
    fun greyOnGreyFailsAndTheMeasuredColoursAreTheDrawnOnes() {
        val folder = Files.createTempDirectory("contrast").toFile()
        // The banner's old text on its old offline background: 2.75 : 1 by the colours' values.
        val grey = drawnAndMeasured(folder, "grey", "You're offline · 3 changes waiting to sync", 0xFF8F9099.toInt(), 0xFFECEFF1.toInt())
        assertEquals("#8F9099", Contrast.hex(grey.foreground))
        assertEquals("#ECEFF1", Contrast.hex(grey.background))
        assertEquals(2.75, grey.ratio, 0.01)
        assertFalse("grey on grey must fail", grey.passes)
        assertTrue(Contrast.foundTheText(grey))
        // A box over something else than its text is caught, whatever ratio it measures.
        assertFalse(Contrast.foundTheText(grey.copy(foreground = 0xFF0000)))

        val black = drawnAndMeasured(folder, "black", "Up to date", Color.BLACK, Color.WHITE)
        assertEquals(21.0, black.ratio, 0.01)
        assertTrue(black.passes)

        // Large text needs only 3 : 1: #949494 on white (3.03 : 1) passes at 24 sp, not at 14 sp.
        val large = drawnAndMeasured(folder, "large", "Projects", 0xFF949494.toInt(), Color.WHITE, sp = 24f)
        assertTrue("24 sp is large", large.box.large)
        assertTrue(large.passes)
        val small = drawnAndMeasured(folder, "small", "Projects", 0xFF949494.toInt(), Color.WHITE)
        assertFalse(small.box.large)
        assertFalse(small.passes)
        val bold = drawnAndMeasured(folder, "bold", "Projects", 0xFF949494.toInt(), Color.WHITE, sp = 19f, bold = true)
        assertTrue("19 sp bold is large", bold.box.large)
        folder.deleteRecursively()
    }
}
