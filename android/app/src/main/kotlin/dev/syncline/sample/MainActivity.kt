// The sample app: a field team's task list, built from framework views only (no AndroidX), so
// that every line runs under Robolectric here. One activity, a banner on top of every screen, and
// a stack of screens below it: sign in, projects, a project's tasks.
package dev.syncline.sample

import android.app.Activity
import android.content.Context
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.text.InputType
import android.util.TypedValue
import android.view.View
import android.widget.Button
import android.widget.CheckBox
import android.widget.EditText
import android.widget.FrameLayout
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView
import dev.syncline.BannerText
import dev.syncline.Strings
import dev.syncline.android.BackgroundSync
import dev.syncline.android.NetworkMonitor
import dev.syncline.android.ResourceStrings
import dev.syncline.android.SyncBannerView
import dev.syncline.core.ListenerHandle
import dev.syncline.core.PageListener
import dev.syncline.core.StatusListener
import dev.syncline.core.SynclineClient
import dev.syncline.core.types.SynclineException
import dev.syncline.core.defaultConfig
import dev.syncline.core.protocol.Value
import dev.syncline.core.sampleSchema
import dev.syncline.core.types.Filter
import dev.syncline.core.types.Conflict
import dev.syncline.core.types.Page
import dev.syncline.core.types.QuarantinedMutation
import dev.syncline.core.types.Query
import dev.syncline.core.types.Record
import dev.syncline.core.types.Resolution
import dev.syncline.core.types.Sort
import dev.syncline.core.types.SortOrder
import dev.syncline.core.types.SyncStatus
import java.util.UUID
import java.util.concurrent.Executors

/** The app's words: its own and the library's, in the activity's language. */
class Words(private val strings: Strings) {
    /** The banner's and the record marks' words. */
    val banner = BannerText(strings)

    /** One of the app's own strings. */
    fun get(key: String, vararg args: Any): String = strings.get(key, *args)
}

class MainActivity : Activity() {
    companion object {
        /** Where the app's strings come from (tests read the XML files; a device, its resources). */
        @Volatile var strings: (Context) -> Strings = { ResourceStrings(it) }

        private const val PREFS = "syncline"
    }

    /** Database and network work, off the main thread, one at a time. */
    private val io = Executors.newSingleThreadExecutor()
    private val main = Handler(Looper.getMainLooper())
    private lateinit var words: Words
    private lateinit var banner: SyncBannerView
    private lateinit var content: FrameLayout
    private val closeOnExit = mutableListOf<AutoCloseable>()
    private var screenClosers = mutableListOf<AutoCloseable>()

    /** The signed-in client, or null on the sign-in screen. */
    var client: SynclineClient? = null
        private set

    override fun onCreate(savedInstanceState: Bundle?) {
        // A light framework theme, set here rather than only in the manifest so the app looks
        // the same wherever it is started (dark default text on light fields otherwise).
        setTheme(android.R.style.Theme_Material_Light_NoActionBar)
        super.onCreate(savedInstanceState)
        words = Words(strings(this))
        banner = SyncBannerView(this, words.banner)
        content = FrameLayout(this)
        setContentView(
            LinearLayout(this).apply {
                orientation = LinearLayout.VERTICAL
                addView(banner)
                addView(content, LinearLayout.LayoutParams(LinearLayout.LayoutParams.MATCH_PARENT, 0, 1f))
            },
        )
        val prefs = getSharedPreferences(PREFS, MODE_PRIVATE)
        val url = prefs.getString("url", null)
        val token = prefs.getString("token", null)
        if (url != null && token != null) signIn(url, token) else showSignIn()
    }

    override fun onDestroy() {
        screenClosers.forEach { it.close() }
        closeOnExit.reversed().forEach { runCatching { it.close() } }
        io.shutdown()
        super.onDestroy()
    }

    private fun dp(v: Int) = TypedValue.applyDimension(TypedValue.COMPLEX_UNIT_DIP, v.toFloat(), resources.displayMetrics).toInt()

    private fun show(view: View) {
        screenClosers.forEach { it.close() }
        screenClosers = mutableListOf()
        content.removeAllViews()
        content.addView(ScrollView(this).apply { addView(view) })
    }

    private fun column() = LinearLayout(this).apply {
        orientation = LinearLayout.VERTICAL
        setPadding(dp(16), dp(16), dp(16), dp(16))
    }

    private fun heading(text: String) = TextView(this).apply {
        this.text = text
        setTextSize(TypedValue.COMPLEX_UNIT_SP, 22f)
        setPadding(0, 0, 0, dp(12))
    }

    /** The sign-in screen: the server's URL and a token, kept in the app's private storage. */
    private fun showSignIn() {
        val url = EditText(this).apply { hint = words.get("app_server_url"); inputType = InputType.TYPE_TEXT_VARIATION_URI; tag = "url" }
        val token = EditText(this).apply { hint = words.get("app_token"); inputType = InputType.TYPE_TEXT_VARIATION_PASSWORD; tag = "token" }
        val go = Button(this).apply {
            text = words.get("app_sign_in")
            tag = "sign-in"
            setOnClickListener {
                val u = url.text.toString().trim()
                val t = token.text.toString().trim()
                getSharedPreferences(PREFS, MODE_PRIVATE).edit().putString("url", u).putString("token", t).apply()
                signIn(u, t)
            }
        }
        show(column().apply { addView(heading(words.get("app_sign_in_title"))); addView(url); addView(token); addView(go) })
    }

    /** Opens the client off the main thread (it opens its database), then shows the projects. */
    private fun signIn(url: String, token: String) {
        val path = getDatabasePath("syncline.db").also { it.parentFile?.mkdirs() }.path
        io.execute {
            val opened = runCatching { SynclineClient.open(path, sampleSchema(), defaultConfig(url, token)) }
            main.post {
                opened.onSuccess { started(it) }.onFailure { error ->
                    showSignIn()
                    content.findViewWithTag<EditText>("url")?.error = error.message
                }
            }
        }
    }

    private fun started(client: SynclineClient) {
        if (isDestroyed) {
            client.close()
            return
        }
        this.client = client
        closeOnExit += client
        closeOnExit += banner.follow(client)
        val monitor = NetworkMonitor(this, client)
        monitor.start()
        closeOnExit += AutoCloseable { monitor.stop() }
        BackgroundSync.install(application, client)
        showProjects()
    }

    /** Follows a live query; each page is rendered on the main thread. */
    private fun watch(entity: String, query: Query, render: (Page) -> Unit) {
        val client = client ?: return
        val handle: ListenerHandle = client.watch(entity, query, object : PageListener {
            override fun onPage(page: Page) { main.post { render(page) } }
            override fun onError(error: SynclineException) {}
        })
        screenClosers += AutoCloseable { handle.stop(); handle.close() }
    }

    private fun all(filters: List<Filter> = emptyList()) =
        Query(filters = filters, sort = listOf(Sort("id", SortOrder.ASCENDING)), limit = 500u, offset = 0u)

    /** Follows the status on the main thread while the screen shows. */
    private fun followStatus(render: (SyncStatus) -> Unit) {
        val client = client ?: return
        val handle = client.listen(object : StatusListener {
            override fun onStatus(status: SyncStatus) { main.post { render(status) } }
        })
        screenClosers += AutoCloseable { handle.stop(); handle.close() }
    }

    /** The projects (read-only), from a live query, with the way to conflicts and refused changes. */
    private fun showProjects() {
        val list = column()
        val inbox = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL }
        val projects = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL }
        list.addView(inbox)
        list.addView(projects)
        show(list)
        followStatus { status ->
            inbox.removeAllViews()
            if (status.conflicts > 0uL) {
                inbox.addView(
                    Button(this).apply {
                        text = words.get("app_conflicts", status.conflicts.toLong())
                        tag = "conflicts"
                        setOnClickListener { showConflicts() }
                    },
                )
            }
            if (status.quarantined > 0uL) {
                inbox.addView(
                    Button(this).apply {
                        text = words.get("app_refused", status.quarantined.toLong())
                        tag = "refused"
                        setOnClickListener { showRefused() }
                    },
                )
            }
        }
        watch("projects", all()) { page ->
            val list = projects
            list.removeAllViews()
            list.addView(heading(words.get("app_projects")))
            for (p in page.records) {
                val name = (p.values["name"] as? Value.Text)?.v1 ?: p.key
                list.addView(
                    Button(this).apply {
                        text = name
                        tag = "project:${p.key}"
                        setOnClickListener { showTasks(p.key, name) }
                    },
                )
            }
        }
    }

    /** A project's tasks, live: tick, add, and a mark on each task not yet synced. */
    private fun showTasks(project: String, name: String) {
        val list = column()
        val rows = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL }
        val title = EditText(this).apply { hint = words.get("app_new_task"); tag = "new-task" }
        val add = Button(this).apply {
            text = words.get("app_add")
            tag = "add"
            setOnClickListener {
                val text = title.text.toString().trim()
                if (text.isEmpty()) return@setOnClickListener
                title.setText("")
                val client = client ?: return@setOnClickListener
                io.execute {
                    client.insert(
                        "tasks",
                        Record(
                            key = "t-" + UUID.randomUUID(),
                            values = mapOf("project_id" to Value.Text(project), "title" to Value.Text(text), "done" to Value.Boolean(false)),
                        ),
                    )
                }
            }
        }
        val back = Button(this).apply { text = words.get("app_back"); setOnClickListener { showProjects() } }
        list.addView(heading(words.get("app_tasks", name)))
        list.addView(rows)
        list.addView(title)
        list.addView(add)
        list.addView(back)
        show(list)
        watch("tasks", all(listOf(Filter("project_id", Value.Text(project))))) { page ->
            rows.removeAllViews()
            for (t in page.records) rows.addView(taskRow(t))
        }
    }

    /**
     * One task: rename it, edit its notes, and its comments (append-only: add, never edit), each
     * list live. Saving writes only the fields that changed.
     */
    private fun showTask(key: String) {
        val list = column()
        val titleField = EditText(this).apply { tag = "title" }
        val notesField = EditText(this).apply { tag = "notes"; hint = words.get("app_notes") }
        val dueField = EditText(this).apply { tag = "due"; hint = words.get("app_due_hint") }
        val comments = LinearLayout(this).apply { orientation = LinearLayout.VERTICAL }
        val newComment = EditText(this).apply { tag = "new-comment"; hint = words.get("app_new_comment") }
        var project: String? = null
        var loaded: Record? = null
        list.addView(titleField)
        list.addView(notesField)
        list.addView(dueField)
        list.addView(
            Button(this).apply {
                text = words.get("app_save")
                tag = "save"
                setOnClickListener {
                    val before = loaded ?: return@setOnClickListener
                    val changes = mutableMapOf<String, Value>()
                    val title = titleField.text.toString().trim()
                    val notes = notesField.text.toString()
                    if (title.isNotEmpty() && Value.Text(title) != before.values["title"]) changes["title"] = Value.Text(title)
                    if (notes != display(before.values["notes"]).takeIf { before.values["notes"] is Value.Text }.orEmpty()) {
                        changes["notes"] = Value.Text(notes)
                    }
                    val due = dueField.text.toString().trim()
                    if (due != dueDate(before.values["due_at"])) {
                        val at = parseDueDate(due)
                        if (due.isNotEmpty() && at == null) {
                            dueField.error = words.get("app_due_hint")
                            return@setOnClickListener
                        }
                        changes["due_at"] = at ?: Value.Null
                    }
                    val client = client ?: return@setOnClickListener
                    if (changes.isNotEmpty()) io.execute { client.update("tasks", key, changes) }
                }
            },
        )
        list.addView(heading(words.get("app_comments")))
        list.addView(comments)
        list.addView(newComment)
        list.addView(
            Button(this).apply {
                text = words.get("app_add_comment")
                tag = "add-comment"
                setOnClickListener {
                    val body = newComment.text.toString().trim()
                    val projectId = project ?: return@setOnClickListener
                    if (body.isEmpty()) return@setOnClickListener
                    newComment.setText("")
                    val client = client ?: return@setOnClickListener
                    // The author and the time are the server's to set (docs/schema.md).
                    io.execute {
                        client.insert(
                            "comments",
                            Record(
                                key = "c-" + UUID.randomUUID(),
                                values = mapOf("project_id" to Value.Text(projectId), "task_id" to Value.Text(key), "body" to Value.Text(body)),
                            ),
                        )
                    }
                }
            },
        )
        list.addView(Button(this).apply { text = words.get("app_back"); setOnClickListener { showProjects() } })
        show(list)
        watch("tasks", all(listOf(Filter("id", Value.Text(key))))) { page ->
            val task = page.records.firstOrNull() ?: return@watch
            val first = loaded == null
            loaded = task
            project = (task.values["project_id"] as? Value.Text)?.v1
            if (first) {
                titleField.setText(display(task.values["title"]))
                notesField.setText((task.values["notes"] as? Value.Text)?.v1 ?: "")
                dueField.setText(dueDate(task.values["due_at"]))
            }
        }
        watch("comments", all(listOf(Filter("task_id", Value.Text(key))))) { page ->
            comments.removeAllViews()
            for (c in page.records) {
                val author = (c.values["author"] as? Value.Text)?.v1
                val mark = words.banner.recordMark(c.state)
                val line = listOfNotNull(author, display(c.values["body"]), mark).joinToString(" · ")
                comments.addView(TextView(this).apply { text = line; tag = "comment:${c.key}" })
            }
        }
    }

    /** A due date as the user types it (YYYY-MM-DD, the device's zone), or "" for none. */
    private fun dueDate(value: Value?): String = (value as? Value.Timestamp)?.let {
        java.time.Instant.ofEpochMilli(it.v1).atZone(java.time.ZoneId.systemDefault()).toLocalDate().toString()
    } ?: ""

    /** The start of the typed day in the device's zone, as the core's timestamp; null if unreadable. */
    private fun parseDueDate(text: String): Value? = runCatching {
        val day = java.time.LocalDate.parse(text)
        Value.Timestamp(day.atStartOfDay(java.time.ZoneId.systemDefault()).toInstant().toEpochMilli())
    }.getOrNull()

    private fun display(value: Value?): String = when (value) {
        null, is Value.Null -> "—"
        is Value.Text -> value.v1
        is Value.Boolean -> if (value.v1) "✓" else "✗"
        else -> value.toString()
    }

    /**
     * The conflicts waiting for the user: per field the value before, theirs and mine; keep mine,
     * keep theirs, or type a merged value. Read again whenever the status says the count changed.
     */
    private fun showConflicts() = showInbox({ it.conflicts() }, ::renderConflicts)

    /**
     * A screen listing what [read] returns (conflicts, refused changes), read off the main thread
     * again whenever the status changes, since their counts are in it.
     */
    private fun <T> showInbox(read: (SynclineClient) -> List<T>, render: (LinearLayout, List<T>) -> Unit) {
        val list = column()
        show(list)
        followStatus { _ ->
            val client = client ?: return@followStatus
            io.execute {
                val items = read(client)
                main.post { render(list, items) }
            }
        }
    }

    private fun renderConflicts(list: LinearLayout, conflicts: List<Conflict>) {
        list.removeAllViews()
        list.addView(heading(words.get("app_conflicts", conflicts.size)))
        if (conflicts.isEmpty()) list.addView(TextView(this).apply { text = words.get("app_nothing") })
        for (c in conflicts) {
            val name = display(c.local?.get("title") ?: c.remote?.get("title") ?: c.base["title"])
            list.addView(TextView(this).apply { text = "${c.entity} · $name"; setTextSize(TypedValue.COMPLEX_UNIT_SP, 18f) })
            val merged = mutableMapOf<String, EditText>()
            for (field in c.fields) {
                list.addView(
                    TextView(this).apply {
                        text = words.get("app_conflict_field", field, display(c.base[field]), display(c.local?.get(field)), display(c.remote?.get(field)))
                    },
                )
                merged[field] = EditText(this).apply { setText(display(c.local?.get(field))); tag = "merged:${c.id}:$field" }
                list.addView(merged.getValue(field))
            }
            fun resolve(resolution: Resolution) {
                val client = client ?: return
                io.execute { client.resolve(c.id, resolution) }
            }
            list.addView(Button(this).apply { text = words.get("app_keep_mine"); tag = "keep-mine:${c.id}"; setOnClickListener { resolve(Resolution.KeepMine) } })
            list.addView(Button(this).apply { text = words.get("app_keep_theirs"); tag = "keep-theirs:${c.id}"; setOnClickListener { resolve(Resolution.KeepTheirs) } })
            list.addView(
                Button(this).apply {
                    text = words.get("app_use_merged")
                    tag = "merged:${c.id}"
                    setOnClickListener { resolve(Resolution.Merged(merged.mapValues { Value.Text(it.value.text.toString()) })) }
                },
            )
        }
        list.addView(Button(this).apply { text = words.get("app_back"); setOnClickListener { showProjects() } })
    }

    /** The changes the server refused, with its reason: retry, or discard. */
    private fun showRefused() = showInbox({ it.quarantined() }, ::renderRefused)

    private fun renderRefused(list: LinearLayout, refused: List<QuarantinedMutation>) {
        list.removeAllViews()
        list.addView(heading(words.get("app_refused", refused.size)))
        if (refused.isEmpty()) list.addView(TextView(this).apply { text = words.get("app_nothing") })
        for (q in refused) {
            list.addView(TextView(this).apply { text = "${q.entity} · ${display(q.values["title"])}"; setTextSize(TypedValue.COMPLEX_UNIT_SP, 18f) })
            list.addView(TextView(this).apply { text = "${words.banner.recordMark(dev.syncline.core.types.RecordState.QUARANTINED)}: ${q.message}" })
            list.addView(
                Button(this).apply {
                    text = words.get("app_retry")
                    tag = "retry:${q.seq}"
                    setOnClickListener { client?.let { c -> io.execute { c.retryQuarantined(q.seq) } } }
                },
            )
            // Edit: the refused change with a new title (e.g. into a project the user is in).
            val edited = EditText(this).apply { setText(display(q.values["title"])); tag = "edit:${q.seq}" }
            list.addView(edited)
            list.addView(
                Button(this).apply {
                    text = words.get("app_send_edited")
                    tag = "send-edited:${q.seq}"
                    setOnClickListener {
                        val values = q.values + ("title" to Value.Text(edited.text.toString()))
                        client?.let { c -> io.execute { c.editQuarantined(q.seq, values) } }
                    }
                },
            )
            list.addView(
                Button(this).apply {
                    text = words.get("app_discard")
                    tag = "discard:${q.seq}"
                    setOnClickListener { client?.let { c -> io.execute { c.discardQuarantined(q.seq) } } }
                },
            )
        }
        list.addView(Button(this).apply { text = words.get("app_back"); setOnClickListener { showProjects() } })
    }

    private fun taskRow(task: Record): View {
        val done = (task.values["done"] as? Value.Boolean)?.v1 == true
        val title = (task.values["title"] as? Value.Text)?.v1 ?: task.key
        val mark = words.banner.recordMark(task.state)
        return LinearLayout(this).apply {
            orientation = LinearLayout.HORIZONTAL
            tag = "task:${task.key}"
            gravity = android.view.Gravity.CENTER_VERTICAL
            addView(
                CheckBox(context).apply {
                    isChecked = done
                    contentDescription = title
                    setOnCheckedChangeListener { _, checked ->
                        val client = client ?: return@setOnCheckedChangeListener
                        io.execute { client.update("tasks", task.key, mapOf("done" to Value.Boolean(checked))) }
                    }
                },
            )
            addView(
                TextView(context).apply {
                    text = title
                    tag = "open:${task.key}"
                    setTextSize(TypedValue.COMPLEX_UNIT_SP, 16f)
                    setOnClickListener { showTask(task.key) }
                },
                LinearLayout.LayoutParams(0, LinearLayout.LayoutParams.WRAP_CONTENT, 1f),
            )
            if (mark != null) {
                addView(TextView(context).apply { text = mark; tag = "mark"; setTextColor(0xFF8A6D00.toInt()) })
            }
        }
    }
}
