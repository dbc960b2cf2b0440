// The sample app: a field team's task list, built from framework views only (no AndroidX), so
// that every line runs under Robolectric here. This activity only puts the parts together: the
// banner on top of every screen and the screens below it (screens/), the session that opens the
// client and runs beside them (app/Session.kt), the navigation between them (app/Navigator.kt),
// and the data they follow (data/).
package dev.syncline.sample

import android.app.Activity
import android.content.Context
import android.os.Bundle
import android.widget.FrameLayout
import android.widget.LinearLayout
import dev.syncline.Strings
import dev.syncline.android.BannerColors
import dev.syncline.android.ResourceStrings
import dev.syncline.android.SyncBannerView
import dev.syncline.core.SynclineClient
import dev.syncline.sample.app.Navigator
import dev.syncline.sample.app.Route
import dev.syncline.sample.app.Session
import dev.syncline.sample.app.Shown
import dev.syncline.sample.app.Words
import dev.syncline.sample.app.mainThread
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

        /** Where the banner's colours come from (tests read the XML files; a device, its resources). */
        @Volatile var bannerColors: (Context) -> BannerColors = { BannerColors.of(it) }
    }

    private lateinit var session: Session
    private lateinit var navigator: Navigator
    private lateinit var host: ScreenHost

    /** The signed-in client, or null on the sign-in screen. */
    val client: SynclineClient?
        get() = if (::session.isInitialized) session.client else null

    override fun onCreate(savedInstanceState: Bundle?) {
        // A light framework theme, set here rather than only in the manifest so the app looks
        // the same wherever it is started (dark default text on light fields otherwise).
        setTheme(android.R.style.Theme_Material_Light_NoActionBar)
        super.onCreate(savedInstanceState)
        val words = Words(strings(this))
        val main = mainThread()
        val banner = SyncBannerView(this, words.banner, bannerColors(this))
        val content = FrameLayout(this)
        setContentView(
            LinearLayout(this).apply {
                orientation = LinearLayout.VERTICAL
                addView(banner)
                addView(content, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f))
            },
        )
        session = Session(this, banner, main)
        navigator = Navigator(content, ::screenFor)
        // Review opens the conflicts, or the refused changes when no conflict waits.
        banner.onReview = { waiting -> navigator.go(if (waiting.conflicts > 0uL) Route.Conflicts else Route.Quarantined) }
        host = ScreenHost(this, words, session, navigator, main)
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

    @Deprecated("The framework's Back before predictive back; the app targets API 35 without opting in to it.")
    override fun onBackPressed() {
        if (!navigator.back()) super.onBackPressed()
    }

    override fun onDestroy() {
        navigator.end()
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
