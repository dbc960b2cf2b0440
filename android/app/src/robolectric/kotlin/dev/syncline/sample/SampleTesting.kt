// What the sample app's Robolectric tests share: the reference server the binding tests started,
// the app's and the library's strings and colours read from their XML files (in the language
// and mode of the configuration, as a device's resources would be), the activity registered as
// its manifest declares it, finding views, starting the app with a sign-in, and drawing and
// checking a screen in every language, mode and font scale.
package dev.syncline.sample

import android.content.pm.ActivityInfo
import android.view.View
import android.view.ViewGroup
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import dev.syncline.Strings
import dev.syncline.XmlStrings
import dev.syncline.android.Checks
import dev.syncline.android.Screenshots
import dev.syncline.android.XmlColors
import dev.syncline.android.until
import dev.syncline.repoRoot
import org.robolectric.Robolectric
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.android.controller.ActivityController
import org.w3c.dom.Element
import java.io.File
import java.util.Locale
import javax.xml.parsers.DocumentBuilderFactory

/** The reference server `scripts/binding-tests` started (demo data, a free port). */
internal val testServer: String
    get() = System.getenv("SYNCLINE_SERVER_URL") ?: error("SYNCLINE_SERVER_URL is not set")

/**
 * Makes the app read its strings (`app_…`) and the library's from their XML files, in the
 * language of the context's configuration (German for `de`, English otherwise), and its colours
 * from colors.xml (values-night/ in dark mode); and registers MainActivity with the
 * configuration changes its manifest says it handles itself.
 */
internal fun useXmlResources() {
    val english = Strings { key, args -> (if (key.startsWith("app_")) appEnglish else libraryEnglish).get(key, *args) }
    val german = Strings { key, args -> (if (key.startsWith("app_")) appGerman else libraryGerman).get(key, *args) }
    MainActivity.strings = { context -> if (context.resources.configuration.locales[0].language == "de") german else english }
    MainActivity.colors = { context ->
        val night = XmlColors.isNight(context)
        val library = XmlColors(night)
        val app = XmlColors(night, module = "android/app")
        ({ name: String -> if (name.startsWith("syncline_")) library(name) else app(name) })
    }
    val application = RuntimeEnvironment.getApplication()
    shadowOf(application.packageManager).addOrUpdateActivity(
        ActivityInfo().apply {
            name = MainActivity::class.java.name
            packageName = application.packageName
            configChanges = manifestConfigChanges
        },
    )
}

private val libraryEnglish = XmlStrings("values", Locale.ENGLISH)
private val libraryGerman = XmlStrings("values-de", Locale.GERMAN)
private val appEnglish = XmlStrings("values", Locale.ENGLISH, module = "android/app")
private val appGerman = XmlStrings("values-de", Locale.GERMAN, module = "android/app")

/** The `android:configChanges` of MainActivity in the app's manifest, as ActivityInfo's bits. */
private val manifestConfigChanges: Int by lazy {
    val manifest = File(repoRoot, "android/app/src/main/AndroidManifest.xml")
    val doc = DocumentBuilderFactory.newInstance().apply { isNamespaceAware = true }.newDocumentBuilder().parse(manifest)
    val activities = doc.getElementsByTagName("activity")
    val main = (0 until activities.length).map { activities.item(it) as Element }
        .single { it.getAttributeNS(ANDROID, "name") == ".MainActivity" }
    val bits = mapOf(
        "uiMode" to ActivityInfo.CONFIG_UI_MODE, "locale" to ActivityInfo.CONFIG_LOCALE,
        "layoutDirection" to ActivityInfo.CONFIG_LAYOUT_DIRECTION, "fontScale" to ActivityInfo.CONFIG_FONT_SCALE,
        "density" to ActivityInfo.CONFIG_DENSITY, "orientation" to ActivityInfo.CONFIG_ORIENTATION,
        "screenSize" to ActivityInfo.CONFIG_SCREEN_SIZE, "screenLayout" to ActivityInfo.CONFIG_SCREEN_LAYOUT,
        "smallestScreenSize" to ActivityInfo.CONFIG_SMALLEST_SCREEN_SIZE, "keyboardHidden" to ActivityInfo.CONFIG_KEYBOARD_HIDDEN,
    )
    main.getAttributeNS(ANDROID, "configChanges").split("|").fold(0) { all, name ->
        all or (bits[name] ?: throw AssertionError("configChanges: `$name` is not known to the tests"))
    }
}

private const val ANDROID = "http://schemas.android.com/apk/res/android"

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

/** The app's views: the content of its window (app bar, banner, screen). */
internal fun appContent(controller: ActivityController<MainActivity>): View =
    controller.get().window.decorView.findViewById<ViewGroup>(android.R.id.content)!!.getChildAt(0)

/** A language and a mode the app is drawn in. */
internal data class Look(val language: String, val night: Boolean, val fontScale: Float = 1f) {
    val name: String get() = "$language-${if (night) "dark" else "light"}"
}

/** Where the tests draw the app: English and German, light and dark. */
internal val looks = listOf(Look("en", false), Look("en", true), Look("de", false), Look("de", true))

/** Where the tests lay the app out at large font scales: English and German, light. */
internal val largeFonts = listOf(1.3f, 2f).flatMap { scale -> listOf(Look("en", false, scale), Look("de", false, scale)) }

/** Switches the running app to [look], as the user would in the system's settings. */
internal fun switchTo(controller: ActivityController<MainActivity>, look: Look) {
    RuntimeEnvironment.setQualifiers("+${look.language}-${if (look.night) "night" else "notnight"}")
    RuntimeEnvironment.setFontScale(look.fontScale)
    controller.configurationChange()
}

/**
 * Draws the app's current screen as `app-[name]-<language>-<mode>` in every [looks] entry and
 * checks its layout and accessibility there, then lays it out and checks it at font scales 1.3
 * and 2.0, and goes back to English, light, 1.0. [ready] says when the screen, made anew for a
 * look, shows what it should (its live queries answer after it is made).
 */
internal fun drawEverywhere(controller: ActivityController<MainActivity>, name: String, ready: (View) -> Boolean) {
    val root = controller.get().window.decorView
    for (look in looks + largeFonts) {
        switchTo(controller, look)
        until("$name, ${look.name} at ${look.fontScale}") { ready(root) }
        val content = appContent(controller)
        val what = "app-$name-${look.name} at ${look.fontScale}"
        Checks.layout(what, content)
        Checks.accessibility(what, content)
        if (look.fontScale == 1f) Screenshots.check("app-$name-${look.name}", content)
    }
    switchTo(controller, looks.first())
    until("$name, back in English") { ready(root) }
}
