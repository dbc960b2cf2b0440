// The building blocks of the sample's look, shared by every screen: framework views only (no
// AndroidX), so the screens run under Robolectric. Sizes follow Material's: 48 dp tap targets,
// 56 dp list rows, 16 dp margins; colours are the palette's roles (res/values*/colors.xml).
package dev.syncline.sample.components

import android.content.Context
import android.content.res.ColorStateList
import android.graphics.Typeface
import android.graphics.drawable.ColorDrawable
import android.graphics.drawable.Drawable
import android.graphics.drawable.GradientDrawable
import android.graphics.drawable.InsetDrawable
import android.graphics.drawable.RippleDrawable
import android.graphics.drawable.StateListDrawable
import android.text.InputType
import android.util.TypedValue
import android.view.Gravity
import android.view.View
import android.widget.Button
import android.widget.EditText
import android.widget.ImageView
import android.widget.LinearLayout
import android.widget.TextView
import dev.syncline.android.ActionRow
import dev.syncline.sample.app.Palette

/** A text field with its label above it (the label stays while the user types, unlike a hint). */
class Field(
    /** The label and the field together, to add to a screen. */
    val view: View,
    /** The field itself. */
    val edit: EditText,
) {
    /** What the user typed. */
    val text: String get() = edit.text.toString()
}

/** Makes the sample's views in [context] with [palette]'s colours. */
class Ui(val context: Context, val palette: Palette) {
    /** [value] density-independent pixels in pixels on this device. */
    fun dp(value: Int): Int =
        TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_DIP, value.toFloat(), context.resources.displayMetrics).toInt()

    /** Views one below the other, without padding: a screen, or a part of one filled later. */
    fun stack(): LinearLayout = LinearLayout(context).apply { orientation = LinearLayout.VERTICAL }

    /** Views one below the other, 16 dp from the screen's sides: a form. */
    fun padded(): LinearLayout = stack().apply { setPadding(dp(16), 0, dp(16), 0) }

    /** A heading over a part of a screen ("Comments"), for TalkBack too. */
    fun section(text: String): TextView = text(text, sp = 14f, color = palette.primary, bold = true).apply {
        setPadding(dp(16), dp(24), dp(16), dp(8))
        isAccessibilityHeading = true
    }

    /** A line of text: 16 sp in the text colour unless told otherwise. */
    fun text(text: String, sp: Float = 16f, color: Int = palette.onSurface, bold: Boolean = false, tag: String? = null): TextView =
        TextView(context).apply {
            this.text = text
            setTextSize(TypedValue.COMPLEX_UNIT_SP, sp)
            setTextColor(color)
            if (bold) setTypeface(Typeface.create("sans-serif-medium", Typeface.NORMAL))
            if (tag != null) this.tag = tag
        }

    /** A secondary line: 14 sp, in the secondary colour. */
    fun secondary(text: String, tag: String? = null): TextView = text(text, sp = 14f, color = palette.onSurfaceVariant, tag = tag)

    /**
     * A list row that calls [onClick]: [title], [subtitle] below it, [trailing] (a count) at the
     * end before the chevron. Named [tag] for tests.
     */
    fun row(title: String, subtitle: String? = null, trailing: String? = null, tag: String? = null, onClick: () -> Unit): LinearLayout =
        LinearLayout(context).apply {
            orientation = LinearLayout.HORIZONTAL
            gravity = Gravity.CENTER_VERTICAL
            minimumHeight = dp(if (subtitle != null) 72 else 56)
            setPadding(dp(16), dp(8), dp(8), dp(8))
            if (tag != null) this.tag = tag
            background = rowBackground()
            isClickable = true
            isFocusable = true
            setOnClickListener { onClick() }
            addView(
                stack().apply {
                    addView(text(title))
                    if (subtitle != null) addView(secondary(subtitle))
                },
                LinearLayout.LayoutParams(0, LinearLayout.LayoutParams.WRAP_CONTENT, 1f),
            )
            if (trailing != null) {
                addView(text(trailing, sp = 14f, color = palette.onSurfaceVariant).apply { setPadding(dp(8), 0, dp(4), 0) })
            }
            addView(
                ImageView(context).apply {
                    setImageDrawable(Icon(Icon.Glyph.CHEVRON, palette.onSurfaceVariant, dp(24)))
                    importantForAccessibility = View.IMPORTANT_FOR_ACCESSIBILITY_NO
                },
                LinearLayout.LayoutParams(dp(24), dp(24)),
            )
        }

    /** A list row's touch feedback, over its whole area. */
    fun rowBackground(): Drawable = ripple(null)

    /** A thin line between list rows, from the rows' text on. */
    fun divider(): View = View(context).apply {
        setBackgroundColor(palette.divider)
        layoutParams = LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, dp(1)).apply { marginStart = dp(16) }
    }

    /** A card: a rounded surface holding one item's views, 16 dp in from the screen's sides. */
    fun card(): LinearLayout = stack().apply {
        background = GradientDrawable().apply {
            setColor(palette.surface)
            cornerRadius = dp(12).toFloat()
        }
        setPadding(dp(16), dp(12), dp(16), dp(8))
        layoutParams = LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, LinearLayout.LayoutParams.WRAP_CONTENT).apply {
            setMargins(dp(16), dp(8), dp(16), dp(8))
        }
    }

    /** The screen's one primary action: filled. */
    fun primaryButton(text: String, tag: String? = null, onClick: () -> Unit): Button =
        button(text, tag, textColor = palette.onPrimary, fill = palette.primary, stroke = null, onClick)

    /** An action among several equal ones: outlined. */
    fun outlinedButton(text: String, tag: String? = null, onClick: () -> Unit): Button =
        button(text, tag, textColor = palette.primary, fill = null, stroke = palette.outline, onClick)

    /** A minor action, or a destructive one in [color]: its text only. */
    fun textButton(text: String, tag: String? = null, color: Int = palette.primary, onClick: () -> Unit): Button =
        button(text, tag, textColor = color, fill = null, stroke = null, onClick)

    /** [buttons] side by side at the end of a row, one below the other when they do not fit. */
    fun actions(vararg buttons: View): ActionRow = ActionRow(context, gap = dp(8)).apply {
        buttons.forEach { addView(it) }
        layoutParams = LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, LinearLayout.LayoutParams.WRAP_CONTENT).apply {
            topMargin = dp(4)
            bottomMargin = dp(4)
        }
    }

    /** A text field named [tag] (for tests) under its [label], with [hint] while empty. */
    fun field(tag: String, label: String, hint: String? = null, inputType: Int = InputType.TYPE_CLASS_TEXT): Field {
        val edit = EditText(context).apply {
            id = View.generateViewId()
            this.tag = tag
            if (hint != null) this.hint = hint
            this.inputType = inputType
            setTextSize(TypedValue.COMPLEX_UNIT_SP, 16f)
            setTextColor(palette.onSurface)
            setHintTextColor(palette.onSurfaceVariant)
            minimumHeight = dp(48)
            minHeight = dp(48)
            background = StateListDrawable().apply {
                addState(intArrayOf(android.R.attr.state_focused), outline(palette.primary, 2))
                addState(intArrayOf(), outline(palette.outline, 1))
            }
            setPadding(dp(12), dp(12), dp(12), dp(12))
        }
        val caption = text(label, sp = 14f, color = palette.onSurfaceVariant).apply {
            labelFor = edit.id
            setPadding(0, dp(12), 0, dp(4))
        }
        return Field(stack().apply { addView(caption); addView(edit) }, edit)
    }

    private fun outline(color: Int, widthDp: Int) = GradientDrawable().apply {
        setColor(palette.background)
        setStroke(dp(widthDp), color)
        cornerRadius = dp(8).toFloat()
    }

    private fun button(text: String, tag: String?, textColor: Int, fill: Int?, stroke: Int?, onClick: () -> Unit): Button =
        Button(context).apply {
            this.text = text
            if (tag != null) this.tag = tag
            isAllCaps = false
            stateListAnimator = null
            setTextSize(TypedValue.COMPLEX_UNIT_SP, 14f)
            setTypeface(Typeface.create("sans-serif-medium", Typeface.NORMAL))
            setTextColor(textColor)
            // A 40 dp pill in a 48 dp tap target.
            val shape = GradientDrawable().apply {
                cornerRadius = dp(20).toFloat()
                if (fill != null) setColor(fill)
                if (stroke != null) setStroke(dp(1), stroke)
            }
            background = InsetDrawable(ripple(shape, textColor), 0, dp(4), 0, dp(4))
            // After the background, which brings its own padding.
            setPadding(dp(if (fill == null && stroke == null) 12 else 24), dp(12), dp(if (fill == null && stroke == null) 12 else 24), dp(12))
            minimumHeight = dp(48)
            minHeight = dp(48)
            minimumWidth = dp(64)
            minWidth = dp(64)
            setOnClickListener { onClick() }
        }

    /** The platform's touch feedback over [content] (or over a row's whole area, when null). */
    private fun ripple(content: Drawable?, color: Int = palette.onSurface): RippleDrawable =
        RippleDrawable(ColorStateList.valueOf(color and 0x1FFFFFFF), content, content ?: ColorDrawable(palette.onSurface))
}
