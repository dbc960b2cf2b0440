// The sample app: the demo tasks as a live query, the sync banner from the core's status, the OS's
// connectivity and app resumes fed to the core. Thin: everything it shows comes from the core.
package dev.syncline.sample

import android.os.Bundle
import android.util.Log
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.foundation.background
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Checkbox
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.semantics.clearAndSetSemantics
import androidx.compose.ui.semantics.contentDescription
import androidx.compose.ui.unit.dp
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.lifecycleScope
import dev.syncline.BannerText
import dev.syncline.android.LogcatSink
import dev.syncline.android.NetworkMonitor
import dev.syncline.android.ResourceStrings
import dev.syncline.core.LogLevel
import dev.syncline.core.SynclineClient
import dev.syncline.core.defaultConfig
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.setLogSink
import dev.syncline.core.types.Banner
import dev.syncline.core.types.BannerKind
import dev.syncline.core.types.Query
import dev.syncline.core.types.Record
import dev.syncline.core.types.Sort
import dev.syncline.core.types.SortOrder
import dev.syncline.statusState
import dev.syncline.watchFlow
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.delay

/** The task list under the sync banner. */
class MainActivity : ComponentActivity() {
    private lateinit var client: SynclineClient
    private lateinit var monitor: NetworkMonitor

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setLogSink(LogcatSink(), LogLevel.INFO)
        // 10.0.2.2 is the host machine from the Android emulator (the demo server's address).
        val config = defaultConfig("http://10.0.2.2:8787", "demo-alice")
        client = SynclineClient.open(filesDir.resolve("syncline.db").path, sampleSchema(), config)
        monitor = NetworkMonitor(this, client).also { it.start() }
        ProcessLifecycleOwner.get().lifecycle.addObserver(object : DefaultLifecycleObserver {
            override fun onStart(owner: LifecycleOwner) = client.resumed()
        })
        val status = client.statusState(lifecycleScope)
        // The list is a live query: a new page after every change of `tasks` (a tap, a pulled
        // page, a settled conflict), each record with its sync state. Collected only while the
        // activity is started, so the core's watch stops in the background.
        val tasks: Flow<Result<List<Record>>> = client.watchFlow("tasks", BY_TITLE)
            .map { Result.success(it.records) }
            .catch { failure ->
                Log.e("Syncline", "the task list's live query ended", failure)
                emit(Result.failure(failure))
            }
        setContent {
            MaterialTheme {
                val current by status.collectAsStateWithLifecycle()
                val shown by tasks.collectAsStateWithLifecycle(Result.success(emptyList()))
                val context = LocalContext.current
                val text = remember(context) { BannerText(ResourceStrings(context)) }
                Column {
                    SyncBanner(text, current.banner) { client.retry() }
                    shown.exceptionOrNull()?.let { Text("Cannot read the tasks: ${it.message}", Modifier.padding(12.dp)) }
                    TaskList(text, shown.getOrDefault(emptyList())) { task -> toggle(task) }
                }
            }
        }
    }

    override fun onDestroy() {
        monitor.stop()
        client.close()
        super.onDestroy()
    }

    /** Ticks or unticks [task]; the live query shows the change (and its pending mark). */
    private fun toggle(task: Record) {
        val done = task.values["done"] == Value.Boolean(true)
        client.update("tasks", task.key, mapOf("done" to Value.Boolean(!done)))
    }

    private companion object {
        /** The tasks by title, as many as a phone screen list needs. */
        val BY_TITLE = Query(emptyList(), listOf(Sort("title", SortOrder.ASCENDING)), 500u, 0uL)
    }
}

/** The sync banner in the device's language; nothing when the core says to show nothing. */
@Composable
fun SyncBanner(text: BannerText, banner: Banner, onRetry: () -> Unit) {
    // The banner holds when the retry comes, not a countdown: tick while one is planned.
    val now by produceState(System.currentTimeMillis(), banner.nextRetryAt) {
        while (banner.nextRetryAt != null) {
            value = System.currentTimeMillis()
            delay(1_000)
        }
    }
    val title = text.title(banner) ?: return
    val detail = text.detail(banner, now)
    val description = text.accessibilityDescription(banner, now).orEmpty()
    val color = if (banner.kind == BannerKind.FAILED) Color(0xFFFFCDD2) else Color(0xFFFFF9C4)
    Row(Modifier.fillMaxWidth().background(color).padding(12.dp)) {
        Column(Modifier.weight(1f).clearAndSetSemantics { contentDescription = description }) {
            Text(title)
            detail?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
        }
        text.retryLabel(banner)?.let { label -> TextButton(onClick = onRetry) { Text(label) } }
    }
}

/** The tasks, each with a checkbox that ticks it and, unless synced, its sync state. */
@Composable
fun TaskList(text: BannerText, tasks: List<Record>, onToggle: (Record) -> Unit) {
    LazyColumn {
        items(tasks, key = { it.key }) { task ->
            Row(Modifier.fillMaxWidth().clickable { onToggle(task) }.padding(8.dp)) {
                Checkbox(checked = task.values["done"] == Value.Boolean(true), onCheckedChange = { onToggle(task) })
                Column(Modifier.padding(start = 8.dp)) {
                    Text((task.values["title"] as? Value.Text)?.v1 ?: task.key)
                    text.recordMark(task.state)?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
                }
            }
        }
    }
}
