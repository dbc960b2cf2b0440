// What the sample app's Robolectric tests share: the reference server the binding tests started,
// the app's and the library's English strings read from their XML files, finding views, and
// starting the app with a sign-in.
package dev.syncline.sample

import android.view.View
import android.view.ViewGroup
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import dev.syncline.Strings
import dev.syncline.XmlStrings
import dev.syncline.android.BannerColors
import dev.syncline.android.XmlColors
import org.robolectric.Robolectric
import org.robolectric.android.controller.ActivityController
import java.util.Locale

/** The reference server `scripts/binding-tests` started (demo data, a free port). */
internal val testServer: String
    get() = System.getenv("SYNCLINE_SERVER_URL") ?: error("SYNCLINE_SERVER_URL is not set")

/** Makes the app read its strings (`app_…`) and the library's from their English XML files. */
internal fun useEnglishXmlStrings() {
    val library = XmlStrings("values", Locale.ENGLISH)
    val app = XmlStrings("values", Locale.ENGLISH, module = "android/app")
    MainActivity.strings = { _ ->
        Strings { key, args -> if (key.startsWith("app_")) app.get(key, *args) else library.get(key, *args) }
    }
    MainActivity.bannerColors = { BannerColors.from(XmlColors(XmlColors.isNight(it))) }
}

/** The view under this one with [tag], if any. */
internal fun <T : View> View.byTag(tag: String): T? = findViewWithTag(tag)

/** Every text under [view], in drawing order. */
internal fun texts(view: View): List<String> = when (view) {
    is TextView -> listOf(view.text.toString())
    is ViewGroup -> (0 until view.childCount).flatMap { texts(view.getChildAt(it)) }
    else -> emptyList()
}

/** Starts the app and signs in at [url] with [token]; waiting for the outcome is the caller's. */
internal fun startAndSignIn(url: String, token: String): ActivityController<MainActivity> {
    val controller = Robolectric.buildActivity(MainActivity::class.java).setup()
    val root = controller.get().window.decorView
    root.byTag<EditText>("url")!!.setText(url)
    root.byTag<EditText>("token")!!.setText(token)
    root.byTag<Button>("sign-in")!!.performClick()
    return controller
}
