// The sample app: a field team's task list, built from framework views only (no AndroidX), so
// that every line runs under Robolectric here. This activity only puts the parts together: the
// app bar and the banner on top of every screen and the screens below them (screens/), the
// session that opens the client and runs beside them (app/Session.kt), the navigation between
// them (app/Navigator.kt), and the data they follow (data/). It handles configuration changes
// itself (the manifest says which): dark mode, language and font size make its views anew, and
// the open client, its sync and the place in the app stay.
package dev.syncline.sample

import android.app.Activity
import android.content.Context
import android.content.res.Configuration
import android.graphics.drawable.ColorDrawable
import android.os.Build
import android.os.Bundle
import android.view.ContextThemeWrapper
import android.view.WindowInsets
import android.view.WindowInsetsController
import android.widget.FrameLayout
import android.widget.LinearLayout
import dev.syncline.Strings
import dev.syncline.android.BannerColors
import dev.syncline.android.ResourceColors
import dev.syncline.android.ResourceStrings
import dev.syncline.android.SyncBannerView
import dev.syncline.core.SynclineClient
import dev.syncline.sample.app.Navigator
import dev.syncline.sample.app.Palette
import dev.syncline.sample.app.Route
import dev.syncline.sample.app.Session
import dev.syncline.sample.app.Shown
import dev.syncline.sample.app.Words
import dev.syncline.sample.app.mainThread
import dev.syncline.sample.components.AppBar
import dev.syncline.sample.components.Ui
import dev.syncline.sample.data.SampleData
import dev.syncline.sample.screens.ConflictsScreen
import dev.syncline.sample.screens.ProjectsScreen
import dev.syncline.sample.screens.QuarantinedScreen
import dev.syncline.sample.screens.ScreenHost
import dev.syncline.sample.screens.SignInScreen
import dev.syncline.sample.screens.TaskScreen
import dev.syncline.sample.screens.TasksScreen
import dev.syncline.sample.screens.describe

/** The sample app's one activity. */
class MainActivity : Activity() {
    companion object {
        /** Where the app's strings come from (tests read the XML files; a device, its resources). */
        @Volatile var strings: (Context) -> Strings = { ResourceStrings(it) }

        /** Where the app's and the banner's colours come from, by name (likewise). */
        @Volatile var colors: (Context) -> (String) -> Int = { ResourceColors(it) }
    }

    private val main = mainThread()
    private lateinit var session: Session
    private lateinit var navigator: Navigator
    private lateinit var host: ScreenHost
    private lateinit var bar: AppBar
    private lateinit var banner: SyncBannerView

    /** The banner following the client, while one is open. */
    private var following: AutoCloseable? = null

    /** The signed-in client, or null on the sign-in screen. */
    val client: SynclineClient?
        get() = if (::session.isInitialized) session.client else null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        session = Session(this, main)
        session.opened = { followClient() }
        navigator = Navigator(::screenFor) { screen, canGoBack -> bar.show(screen.title, canGoBack) }
        navigator.showIn(build())
        val kept = session.kept()
        if (kept == null) {
            navigator.start(Route.SignIn())
        } else {
            // Signed in before: straight to the projects once the client is open.
            session.open(kept) { failure ->
                navigator.start(if (failure == null) Route.Projects else Route.SignIn(describe(failure)))
            }
        }
    }

    /** Dark mode, language, font size…: the same screen, made anew in the new configuration. */
    override fun onConfigurationChanged(newConfig: Configuration) {
        super.onConfigurationChanged(newConfig)
        navigator.end()
        navigator.showIn(build())
        followClient()
    }

    /**
     * Makes the app bar, the banner and the frame the screens go in, in the current
     * configuration's theme, words and colours; returns the frame.
     */
    private fun build(): FrameLayout {
        val night = resources.configuration.uiMode and Configuration.UI_MODE_NIGHT_MASK == Configuration.UI_MODE_NIGHT_YES
        // The framework's own widgets (fields, ticks, the cursor) in the matching theme; every
        // colour the app draws itself comes from the palette.
        val themed = ContextThemeWrapper(this, if (night) android.R.style.Theme_Material_NoActionBar else android.R.style.Theme_Material_Light_NoActionBar)
        val words = Words(strings(themed))
        val color = colors(themed)
        val palette = Palette(color)
        val ui = Ui(themed, palette)
        bar = AppBar(ui, words.get("app_up")) { navigator.back() }
        banner = SyncBannerView(themed, words.banner, BannerColors.from(color))
        // Review opens the conflicts, or the refused changes when no conflict waits.
        banner.onReview = { waiting -> navigator.go(if (waiting.conflicts > 0uL) Route.Conflicts else Route.Quarantined) }
        val content = FrameLayout(themed)
        val root = LinearLayout(themed).apply {
            orientation = LinearLayout.VERTICAL
            setBackgroundColor(palette.background)
            addView(bar.view)
            addView(banner)
            addView(content, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f))
        }
        setContentView(root)
        edgeToEdge(root, night)
        // Behind the views while they are made, and where a window animation shows it.
        window.setBackgroundDrawable(ColorDrawable(palette.background))
        host = ScreenHost(themed, words, ui, session, navigator, main)
        return content
    }

    /**
     * From Android 15 the app draws behind the system bars: the app bar reaches under the status
     * bar, the screens stop above the navigation bar, and the bars' icons are light on the app
     * bar and dark on a light screen. (Before Android 11 the window fits inside the bars itself.)
     */
    private fun edgeToEdge(root: LinearLayout, night: Boolean) {
        if (Build.VERSION.SDK_INT < Build.VERSION_CODES.R) return
        root.setOnApplyWindowInsetsListener { _, insets ->
            val bars = insets.getInsets(WindowInsets.Type.systemBars())
            bar.view.setPadding(0, bars.top, 0, 0)
            root.setPadding(0, 0, 0, bars.bottom)
            insets
        }
        val light = WindowInsetsController.APPEARANCE_LIGHT_NAVIGATION_BARS
        window.insetsController?.setSystemBarsAppearance(if (night) 0 else light, light or WindowInsetsController.APPEARANCE_LIGHT_STATUS_BARS)
    }

    /** Makes the banner follow the open client (again, after the views were made anew). */
    private fun followClient() {
        following?.close()
        following = session.client?.let { banner.follow(it) }
    }

    @Deprecated("The framework's Back before predictive back; the app targets API 35 without opting in to it.")
    override fun onBackPressed() {
        if (!navigator.back()) super.onBackPressed()
    }

    override fun onDestroy() {
        navigator.end()
        following?.close()
        following = null
        session.close()
        super.onDestroy()
    }

    /** The screen of [route]; the sign-in screen whatever the route while nobody is signed in. */
    private fun screenFor(route: Route): Shown {
        val data = SampleData(session.client ?: return SignInScreen(host, (route as? Route.SignIn)?.failure))
        return when (route) {
            is Route.SignIn -> SignInScreen(host, route.failure)
            Route.Projects -> ProjectsScreen(host, data)
            is Route.Tasks -> TasksScreen(host, data, route.project, route.name)
            is Route.Task -> TaskScreen(host, data, route.key)
            Route.Conflicts -> ConflictsScreen(host, data)
            Route.Quarantined -> QuarantinedScreen(host, data)
        }
    }
}
