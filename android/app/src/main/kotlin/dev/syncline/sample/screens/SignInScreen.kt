// The sign-in screen: the team's server URL and the user's token. Signing in opens the client
// (the session keeps both for the next launch once it worked) and shows the projects; a sign-in
// that fails says why, here.
package dev.syncline.sample.screens

import android.text.InputType
import dev.syncline.sample.app.Credentials
import dev.syncline.sample.app.Route
import dev.syncline.sample.components.button
import dev.syncline.sample.components.column
import dev.syncline.sample.components.field
import dev.syncline.sample.components.heading
import kotlinx.coroutines.isActive

/** The sign-in form; [failure] is why the last sign-in failed (at launch, with kept credentials). */
class SignInScreen(host: ScreenHost, failure: String?) : Screen(host) {
    private val url = context.field("url", words.get("app_server_url")).apply { inputType = InputType.TYPE_TEXT_VARIATION_URI }
    private val token = context.field("token", words.get("app_token")).apply { inputType = InputType.TYPE_TEXT_VARIATION_PASSWORD }
    private val error = errorLine()

    override val view = context.column().apply {
        addView(context.heading(words.get("app_sign_in_title")))
        addView(url)
        addView(token)
        addView(context.button(words.get("app_sign_in"), "sign-in") { signIn() })
        addView(error)
    }

    init {
        host.session.kept()?.let {
            url.setText(it.url)
            token.setText(it.token)
        }
        if (failure != null) error.show(words.get("app_sign_in_failed", failure))
    }

    private fun signIn() {
        error.hide()
        host.session.open(Credentials(url.text.toString().trim(), token.text.toString().trim())) { failure ->
            when {
                !scope.isActive -> {}
                failure == null -> host.navigator.start(Route.Projects)
                else -> error.show(words.get("app_sign_in_failed", describe(failure)))
            }
        }
    }
}
