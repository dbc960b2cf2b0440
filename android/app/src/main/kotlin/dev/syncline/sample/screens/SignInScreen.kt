// The sign-in screen: the team's server URL and the user's token. Signing in opens the client
// (the session keeps both for the next launch once it worked) and shows the projects; a sign-in
// that fails says why, here.
package dev.syncline.sample.screens

import android.text.InputType
import dev.syncline.sample.app.Credentials
import dev.syncline.sample.app.Route
import kotlinx.coroutines.isActive

/** The sign-in form; [failure] is why the last sign-in failed (at launch, with kept credentials). */
class SignInScreen(host: ScreenHost, failure: String?) : Screen(host) {
    override val title = words.get("app_sign_in")
    private val url = ui.field("url", words.get("app_server_url"), inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_VARIATION_URI)
    private val token = ui.field("token", words.get("app_token"), inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_VARIATION_PASSWORD)
    private val error = errorLine()

    override val view = ui.stack().apply {
        addView(
            ui.padded().apply {
                addView(ui.text(words.get("app_sign_in_title")).apply { setPadding(0, ui.dp(16), 0, ui.dp(4)) })
                addView(url.view)
                addView(token.view)
                addView(ui.actions(ui.primaryButton(words.get("app_sign_in"), "sign-in") { signIn() }))
            },
        )
        addView(error)
    }

    init {
        host.session.kept()?.let {
            url.edit.setText(it.url)
            token.edit.setText(it.token)
        }
        if (failure != null) error.show(words.get("app_sign_in_failed", failure))
    }

    private fun signIn() {
        error.hide()
        host.session.open(Credentials(url.text.trim(), token.text.trim())) { failure ->
            when {
                !scope.isActive -> {}
                failure == null -> host.navigator.start(Route.Projects)
                else -> error.show(words.get("app_sign_in_failed", describe(failure)))
            }
        }
    }
}
