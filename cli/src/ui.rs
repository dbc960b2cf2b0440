//! The interactive terminal screen: the banner on top, the sample task list, a command line.
//! It renders only what the core says (status, banner, records), like the mobile shells do.
//!
//! The screen never runs a sync itself: the core syncs by itself (at start, after local changes,
//! when the network returns, on retry with backoff) and the screen redraws whenever the status
//! changes, so the banner is live while the user types.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use syncline_core::Event;
use syncline_core::{
    BannerKind, Connectivity, FailureReason, NetworkStatus, NetworkType, Phase, Query, Record,
    RecordState, SortOrder, SyncState, SyncStatus, Syncline, Value,
};
use syncline_protocol::sample::{PROJECTS, TASKS};
use syncline_words::{BannerText, Lang};

use crate::inbox;
use crate::words;

/// Something the screen can do besides the client: the demo can stop and start its server and
/// play a colleague editing on it.
pub trait Extras {
    /// One extra line of key help for the footer, e.g. "x stop/start the server"; empty for none.
    fn help(&self) -> &str;
    /// Handles an extra command, given the tasks as numbered on screen; returns a message, or
    /// `None` if the command is not its own.
    fn handle(&mut self, command: &str, tasks: &[Record]) -> Option<String>;
}

/// The plain client's screen: no keys beyond the client's own.
pub struct NoExtras;

impl Extras for NoExtras {
    fn help(&self) -> &str {
        ""
    }
    fn handle(&mut self, _command: &str, _tasks: &[Record]) -> Option<String> {
        None
    }
}

const WIDTH: usize = 78;
/// Shortest gap between two redraws caused by status changes: a burst of changes (progress of
/// every pushed batch and pulled page) becomes one redraw.
const REDRAW_GAP: Duration = Duration::from_millis(30);
/// Without any change, the screen is refreshed this often, for "Retrying in N s" and "last synced
/// N s ago" (only lines that changed are written).
const TICK: Duration = Duration::from_secs(1);
/// Rows any terminal has: lines this close above the prompt are surely visible, so they can be
/// rewritten in place without disturbing what the user is typing.
const MIN_ROWS: usize = 24;

/// What wakes the screen up.
enum Wake {
    /// The user entered a line.
    Line(String),
    /// Input ended.
    End,
    /// The client's status changed.
    Status,
    /// A sync ended: what it did, in words.
    Synced(String),
    /// The projects' watch delivered.
    Projects(Vec<Record>),
    /// The tasks' watch delivered.
    Tasks(Vec<Record>),
}

/// The task list's order: open ones first, then by priority.
fn task_order() -> Query {
    Query::all(10_000)
        .order("done", SortOrder::Ascending)
        .order("priority", SortOrder::Descending)
}

/// Runs the screen until the user quits (or input ends).
pub fn run(client: &Syncline, title: &str, extras: &mut dyn Extras) -> syncline_core::Result<()> {
    let mut screen = Screen {
        client,
        title,
        extra_help: extras.help().to_string(),
        message: vec!["Welcome. Type a command and press Enter (h for help).".into()],
        last_sync: "none yet in this session".into(),
        tasks: Vec::new(),
        projects: Vec::new(),
        all_tasks: Vec::new(),
        drawn: Vec::new(),
    };
    screen.run(extras)
}

/// What the screen draws from, and what it drew last.
struct Screen<'a> {
    client: &'a Syncline,
    title: &'a str,
    extra_help: String,
    /// The answer to the last command.
    message: Vec<String>,
    /// What the last sync of this session did.
    last_sync: String,
    /// The tasks in the order they are numbered on screen.
    tasks: Vec<Record>,
    /// The projects, as their watch last delivered them.
    projects: Vec<Record>,
    /// Every task, in list order, as their watch last delivered them.
    all_tasks: Vec<Record>,
    /// The lines on screen (the prompt excluded).
    drawn: Vec<String>,
}

/// Reads lines from stdin on its own thread, so the screen can redraw while the user types.
fn read_lines(tx: mpsc::Sender<Wake>) {
    let stdin = std::io::stdin();
    loop {
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => {
                let _ = tx.send(Wake::End);
                return;
            }
            Ok(_) => {
                if tx.send(Wake::Line(line.trim().to_string())).is_err() {
                    return;
                }
            }
        }
    }
}

/// Forwards what each sync did (the status says only that it ended).
fn forward_syncs(mut events: tokio::sync::broadcast::Receiver<Event>, tx: mpsc::Sender<Wake>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let text = match events.blocking_recv() {
            Ok(Event::SyncCompleted { report }) => inbox::report_summary(&report),
            Ok(Event::SyncFailed { error, .. }) => {
                format!("failed: {}", words::banner().reason(error.reason()))
            }
            // A missed event only means a stale summary line; the status is still exact.
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        if tx.send(Wake::Synced(text)).is_err() {
            return;
        }
    }
}

impl Screen<'_> {
    fn run(&mut self, extras: &mut dyn Extras) -> syncline_core::Result<()> {
        let (tx, rx) = mpsc::channel();
        let input = tx.clone();
        std::thread::spawn(move || read_lines(input));
        let events = self.client.events();
        let synced = tx.clone();
        std::thread::spawn(move || forward_syncs(events, synced));
        // Kept until the screen ends: dropping them stops the calls.
        let projects = tx.clone();
        let _projects = self.client.watch(
            PROJECTS,
            &Query::all(100).order("name", SortOrder::Ascending),
            move |page| {
                if let Ok(page) = page {
                    let _ = projects.send(Wake::Projects(page.records));
                }
            },
        )?;
        let tasks = tx.clone();
        let _tasks = self.client.watch(TASKS, &task_order(), move |page| {
            if let Ok(page) = page {
                let _ = tasks.send(Wake::Tasks(page.records));
            }
        })?;
        let _listening = self.client.listen(move |_| {
            let _ = tx.send(Wake::Status);
        });

        self.draw(true)?;
        let mut last_draw = Instant::now();
        let mut dirty = false;
        loop {
            let wait = if dirty {
                REDRAW_GAP.saturating_sub(last_draw.elapsed())
            } else {
                TICK
            };
            match rx.recv_timeout(wait) {
                Ok(Wake::Line(line)) => {
                    if !self.command(&line, extras) {
                        return Ok(());
                    }
                    self.draw(true)?;
                    last_draw = Instant::now();
                    dirty = false;
                    continue;
                }
                Ok(Wake::End) | Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                Ok(Wake::Status) => dirty = true,
                Ok(Wake::Projects(projects)) => {
                    self.projects = projects;
                    dirty = true;
                }
                Ok(Wake::Tasks(tasks)) => {
                    self.all_tasks = tasks;
                    dirty = true;
                }
                Ok(Wake::Synced(text)) => {
                    self.last_sync = text;
                    dirty = true;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => dirty = true,
            }
            if dirty && last_draw.elapsed() >= REDRAW_GAP {
                self.draw(false)?;
                last_draw = Instant::now();
                dirty = false;
            }
        }
    }

    /// Runs one command line and sets the message; `false` to quit.
    fn command(&mut self, line: &str, extras: &mut dyn Extras) -> bool {
        let client = self.client;
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        self.message = match cmd {
            "q" | "quit" => return false,
            "" => Vec::new(),
            "h" | "help" | "?" => help_lines(),
            "a" => vec![add_task(client, &self.tasks, rest)],
            "t" => vec![with_task(&self.tasks, rest, |t| {
                let done = t.boolean("done") == Some(true);
                edit(client, &t.key, "done", Value::Boolean(!done))
            })],
            "e" => {
                let (n, new_title) = rest.split_once(' ').unwrap_or((rest, ""));
                vec![if new_title.trim().is_empty() {
                    "usage: e <n> <new title>".into()
                } else {
                    with_task(&self.tasks, n, |t| {
                        edit(
                            client,
                            &t.key,
                            "title",
                            Value::Text(new_title.trim().into()),
                        )
                    })
                }]
            }
            "o" => vec![toggle_connectivity(client)],
            "s" => vec![match client.trigger_sync("all", false) {
                Ok(()) if client.network_status() == NetworkStatus::Offline => {
                    "Sync queued: it runs when you're back online.".into()
                }
                Ok(()) => "Sync queued.".into(),
                Err(e) => format!("Cannot queue a sync: {e}"),
            }],
            "r" if client.network_status() == NetworkStatus::SignInNeeded => {
                vec![
                    "Retrying cannot help: the server refused the token. T <token> signs in again."
                        .into(),
                ]
            }
            "r" => {
                client.retry();
                vec!["Retrying now.".into()]
            }
            "T" if rest.is_empty() => vec!["usage: T <token>".into()],
            "T" => {
                client.set_token(rest);
                vec!["New token set: syncing again.".into()]
            }
            "C" => conflicts_command(client, rest),
            "Q" => quarantine_command(client, rest),
            other => vec![extras
                .handle(line, &self.tasks)
                .unwrap_or_else(|| format!("unknown command `{other}` (h for help)"))],
        };
        true
    }

    /// Draws the screen: all of it (`full`, or when lines were added or removed), or only the
    /// lines that changed, in place, so a redraw while the user types leaves the input alone.
    fn draw(&mut self, full: bool) -> syncline_core::Result<()> {
        let (lines, tasks) = self.compose(now_ms())?;
        self.tasks = tasks;
        let in_place = if full {
            None
        } else {
            changed_in_place(&self.drawn, &lines)
        };
        let out = match in_place {
            // Save the cursor, go up to the line, rewrite it, come back.
            Some(changed) => changed
                .iter()
                .map(|&i| format!("\x1b7\x1b[{}A\r\x1b[2K{}\x1b8", lines.len() - i, lines[i]))
                .collect::<String>(),
            None => format!("\x1b[2J\x1b[H{}\n> ", lines.join("\n")),
        };
        self.drawn = lines;
        if !out.is_empty() {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(out.as_bytes());
            let _ = stdout.flush();
        }
        Ok(())
    }

    /// The screen's lines (each at most [`WIDTH`] characters, so none wraps) and the tasks in the
    /// order they are numbered.
    fn compose(&self, now: i64) -> syncline_core::Result<(Vec<String>, Vec<Record>)> {
        let status = self.client.status();
        let rule = "─".repeat(WIDTH);
        let mut lines = vec![fit(self.title), rule.clone()];
        lines.extend(banner_lines(words::current(), &status, now));
        lines.push(rule.clone());
        let tasks = self.task_lines(&mut lines);
        lines.push(rule);
        lines.extend(footer_lines(
            &status,
            self.client.is_live(),
            &self.last_sync,
            now,
        ));
        for m in &self.message {
            lines.extend(wrap(m));
        }
        lines.push(fit(
            "  a <title> add · t <n> done/undone · e <n> <title> rename · o offline/online",
        ));
        lines.push(fit(
            "  s sync now · r retry · C conflicts · Q quarantined · h help · q quit",
        ));
        if !self.extra_help.is_empty() {
            lines.push(fit(&format!("  {}", self.extra_help)));
        }
        Ok((lines, tasks))
    }

    /// Adds the task list, by project; returns the tasks in the order they are numbered. Draws
    /// what the watches last delivered: no query per redraw, and a pulled change shows as soon
    /// as its page is applied.
    fn task_lines(&self, lines: &mut Vec<String>) -> Vec<Record> {
        let mut numbered = Vec::new();
        for project in &self.projects {
            lines.push(fit(&format!(
                "  {}",
                project.text("name").unwrap_or_default()
            )));
            for task in self
                .all_tasks
                .iter()
                .filter(|t| t.text("project_id") == Some(project.key.as_str()))
            {
                let done = if task.boolean("done") == Some(true) {
                    "x"
                } else {
                    " "
                };
                // The sign and the key that deals with it are the terminal's; the words are
                // every front end's (docs/banner-text.md).
                let mark = match (task.state, words::banner().record_mark(task.state)) {
                    (Some(RecordState::InConflict), Some(w)) => format!("  ⚠ {w} (C)"),
                    (Some(RecordState::Quarantined), Some(w)) => format!("  ✗ {w} (Q)"),
                    (_, Some(w)) => format!("  • {w}"),
                    (_, None) => String::new(),
                };
                let head = format!("   {:>2}. [{done}] ", numbered.len() + 1);
                // The title gives way, never the mark: it says what the user may need to do.
                let room = WIDTH.saturating_sub(head.chars().count() + mark.chars().count());
                let title = cut(task.text("title").unwrap_or_default(), room);
                lines.push(fit(&format!("{head}{title}{mark}")));
                numbered.push(task.clone());
            }
        }
        if self.projects.is_empty() {
            lines.push("  (no data yet)".into());
        }
        numbered
    }
}

/// The lines to rewrite in place, or `None` when the whole screen must be drawn again: lines
/// were added or removed, or a changed one is too far above the prompt to be surely on screen.
fn changed_in_place(old: &[String], new: &[String]) -> Option<Vec<usize>> {
    if old.len() != new.len() {
        return None;
    }
    let changed: Vec<usize> = (0..new.len()).filter(|&i| old[i] != new[i]).collect();
    changed
        .iter()
        .all(|&i| new.len() - i < MIN_ROWS)
        .then_some(changed)
}

/// The banner: its title, and a second line (always there, maybe empty, so the layout stays put)
/// with progress, when it retries, or what the user can do, all in `lang`: the banner's words from
/// [`BannerText`], the terminal's own around them from [`words`].
fn banner_lines(lang: Lang, status: &SyncStatus, now: i64) -> [String; 2] {
    let banner = &status.banner;
    let banner_text = BannerText::new(lang);
    let title = banner_text.title(banner).unwrap_or_default();
    let first = match banner.kind {
        BannerKind::Hidden => format!("  ✓ {}", words::text(lang, "terminal_up_to_date", &[])),
        BannerKind::Syncing => format!("  ⟳ {title}"),
        BannerKind::Failed => format!("  ✗ {title}"),
        BannerKind::Offline => format!("  ⚠ {title}"),
        BannerKind::NeedsDecision => format!("  ! {title}"),
    };
    // The key that opens the waiting decisions: the conflicts first, then the quarantine.
    let decision_key = if banner.conflicts > 0 { 'C' } else { 'Q' };
    let mut detail = match banner.kind {
        BannerKind::Hidden => String::new(),
        BannerKind::NeedsDecision => banner_text
            .decision_label(banner)
            .map(|label| format!("    {decision_key}: {label}"))
            .unwrap_or_default(),
        BannerKind::Syncing => {
            let mut parts: Vec<String> = banner_text.detail(banner, now).into_iter().collect();
            if let SyncState::Syncing { progress, .. } = &status.state {
                parts.push(match &progress.phase {
                    Phase::Starting => words::text(lang, "terminal_phase_starting", &[]),
                    Phase::Pushing { entity } => {
                        words::text(lang, "terminal_phase_pushing", &[("entity", entity)])
                    }
                    Phase::Pulling { entity } => {
                        words::text(lang, "terminal_phase_pulling", &[("entity", entity)])
                    }
                });
                if progress.items > 0 {
                    let count = progress.items.to_string();
                    parts.push(words::text(lang, "terminal_items", &[("count", &count)]));
                }
            }
            format!("    {}", parts.join(" · "))
        }
        BannerKind::Failed if banner.reason == Some(FailureReason::SignInNeeded) => {
            format!("    {}", words::text(lang, "terminal_sign_in_hint", &[]))
        }
        BannerKind::Failed => {
            let mut parts: Vec<String> = banner_text.detail(banner, now).into_iter().collect();
            if let Some(label) = banner_text.retry_label(banner) {
                parts.push(format!("r: {label}"));
            }
            format!("    {}", parts.join(" · "))
        }
        BannerKind::Offline => format!("    {}", words::text(lang, "terminal_offline_hint", &[])),
    };
    // Beside any other kind, a decision waiting is said too: it is never hidden.
    if banner.kind != BannerKind::NeedsDecision {
        if let Some(decision) = banner_text.decision(banner) {
            let rest = detail.trim();
            detail = if rest.is_empty() {
                format!("    ! {decision} ({decision_key})")
            } else {
                format!("    ! {decision} ({decision_key}) · {rest}")
            };
        }
    }
    [fit(&first), fit(&detail)]
}

/// The counts, the network (and whether the live stream is open: a colleague's edit then shows
/// within moments) and the last sync.
fn footer_lines(status: &SyncStatus, live: bool, last_sync: &str, now: i64) -> [String; 3] {
    let live = if live { " · live" } else { "" };
    let last = status
        .last_synced_at
        .map_or("never".to_string(), |at| ago(now - at));
    [
        fit(&format!(
            "  {} pending · {} (C) · {} quarantined (Q)",
            status.pending,
            inbox::count(status.conflicts, "conflict", "conflicts"),
            status.quarantined,
        )),
        fit(&format!(
            "  Network: {}{live} · last synced {last}",
            inbox::network_text(status)
        )),
        fit(&format!("  Last sync: {last_sync}")),
    ]
}

/// How long ago, coarsely.
fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn help_lines() -> Vec<String> {
    [
        "a <title>  add a task · t <n>  done/undone · e <n> <title>  rename",
        "o  go offline / back online (it syncs by itself when back)",
        "s  sync now · r  retry a failed sync now · T <token>  sign in again",
        "C  list conflicts · C <n> mine | theirs | merged <field>=<value>",
        "Q  list quarantined mutations · Q <n> retry | discard | edit <field>=<value>",
        "Edits sync by themselves a moment later; q quits.",
    ]
    .map(String::from)
    .to_vec()
}

/// `C`: lists the conflicts, or resolves one (`C <n> mine|theirs|merged <field>=<value>`).
fn conflicts_command(client: &Syncline, rest: &str) -> Vec<String> {
    let list = match client.conflicts() {
        Ok(list) => list,
        Err(e) => return vec![format!("Cannot read the conflicts: {e}")],
    };
    if rest.is_empty() {
        if list.is_empty() {
            return vec!["No conflicts to resolve.".into()];
        }
        let mut lines = Vec::new();
        for (i, c) in list.iter().enumerate() {
            let mut block = inbox::conflict_lines(c);
            block[0] = format!("{}. {}", i + 1, block[0]);
            lines.extend(block);
        }
        lines.push("Resolve: C <n> mine · C <n> theirs · C <n> merged <field>=<value>".into());
        return lines;
    }
    let mut words = rest.splitn(3, ' ');
    let n = words.next().unwrap_or_default();
    let choice = words.next().unwrap_or_default();
    let assignments: Vec<String> = words
        .next()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(String::from)
        .into_iter()
        .collect();
    let Some(c) = numbered(&list, n) else {
        return vec![format!("No conflict number `{n}` (C lists them).")];
    };
    let resolution = match inbox::resolution(client, &c.entity, choice, &assignments) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    vec![match client.resolve(c.id, resolution) {
        Ok(Some(_)) => format!(
            "Resolved {} {}: your version syncs in a moment.",
            c.entity, c.key
        ),
        Ok(None) => format!(
            "Resolved {} {}: the server's version stands.",
            c.entity, c.key
        ),
        Err(e) => format!("Not resolved: {e}"),
    }]
}

/// `Q`: lists the quarantined mutations, or acts on one (`Q <n> retry|discard|edit <field>=<value>`).
fn quarantine_command(client: &Syncline, rest: &str) -> Vec<String> {
    let list = match client.quarantined() {
        Ok(list) => list,
        Err(e) => return vec![format!("Cannot read the quarantined mutations: {e}")],
    };
    if rest.is_empty() {
        if list.is_empty() {
            return vec!["No quarantined mutations.".into()];
        }
        let mut lines: Vec<String> = list
            .iter()
            .enumerate()
            .map(|(i, q)| format!("{}. {}", i + 1, inbox::quarantine_line(q)))
            .collect();
        lines.push("Then: Q <n> retry · Q <n> discard · Q <n> edit <field>=<value>".into());
        return lines;
    }
    let mut words = rest.splitn(3, ' ');
    let n = words.next().unwrap_or_default();
    let action = words.next().unwrap_or_default();
    let Some(q) = numbered(&list, n) else {
        return vec![format!(
            "No quarantined mutation number `{n}` (Q lists them)."
        )];
    };
    let m = &q;
    vec![match action {
        "retry" => match client.retry_quarantined(m.seq) {
            Ok(_) => format!("{} {} is sent again in a moment.", m.entity, m.key),
            Err(e) => format!("Not retried: {e}"),
        },
        "discard" => match client.discard_quarantined(m.seq) {
            Ok(()) => format!(
                "Discarded: {} {} is undone on this device.",
                m.entity, m.key
            ),
            Err(e) => format!("Not discarded: {e}"),
        },
        "edit" => {
            let edited = inbox::assignment(client, &m.entity, words.next().unwrap_or_default())
                .and_then(|(field, value)| {
                    client
                        .edit_quarantined(m.seq, HashMap::from([(field, value)]))
                        .map_err(|e| e.to_string())
                });
            match edited {
                Ok(_) => format!("Edited: {} {} is sent again in a moment.", m.entity, m.key),
                Err(e) => format!("Not edited: {e}"),
            }
        }
        other => format!("`{other}`: choose retry, discard or edit <field>=<value>"),
    }]
}

/// The item numbered `n` (from 1) on a list the user saw.
fn numbered<'l, T>(list: &'l [T], n: &str) -> Option<&'l T> {
    n.trim()
        .parse::<usize>()
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| list.get(i))
}

fn with_task(tasks: &[Record], n: &str, act: impl FnOnce(&Record) -> String) -> String {
    match numbered(tasks, n) {
        Some(t) => act(t),
        None => format!("no task number `{n}`"),
    }
}

/// `o`: flips the connectivity the screen reports, as the OS would. The core debounces a loss (a
/// short drop is a flap) and syncs by itself when the network returns.
fn toggle_connectivity(client: &Syncline) -> String {
    // What the screen last reported, not the debounced state: a second `o` within the debounce
    // cancels the first, like a flap.
    if client.network_type() == NetworkType::None {
        client.report_connectivity(Connectivity::online(NetworkType::Wifi));
        "Back online (Wi-Fi): waiting mutations sync by themselves.".into()
    } else {
        client.report_connectivity(Connectivity::offline());
        "Going offline… (a drop under a second is ignored as a flap). Edits stay on this device."
            .into()
    }
}

/// What happens to a mutation just saved, given the network.
fn saved(client: &Syncline) -> String {
    match client.network_status() {
        NetworkStatus::Online => "Saved on this device; it syncs in a moment.".into(),
        NetworkStatus::Offline => "Saved on this device; it syncs when you're back online.".into(),
        NetworkStatus::ServerUnreachable => {
            "Saved on this device; it syncs when the server answers again.".into()
        }
        NetworkStatus::SignInNeeded => {
            "Saved on this device; it syncs once you sign in again (T <token>).".into()
        }
    }
}

fn edit(client: &Syncline, key: &str, field: &str, value: Value) -> String {
    let changes = HashMap::from([
        (field.to_string(), value),
        ("updated_at".to_string(), Value::Timestamp(now_ms())),
    ]);
    match client.update(TASKS, Record::new(key).with_values(changes)) {
        Ok(_) => saved(client),
        Err(e) => format!("Not saved: {e}"),
    }
}

fn add_task(client: &Syncline, tasks: &[Record], title: &str) -> String {
    if title.is_empty() {
        return "usage: a <title>".into();
    }
    // New tasks go to the project of the first task shown, or the first project.
    let project = tasks
        .first()
        .and_then(|t| t.get("project_id").cloned())
        .or_else(|| {
            client
                .query(PROJECTS, &Query::all(1))
                .ok()?
                .records
                .first()
                .map(|p| Value::Text(p.key.clone()))
        });
    let Some(project) = project else {
        return "No project to add to yet: sync first.".into();
    };
    let record = Record::new(new_id("t"))
        .with("project_id", project)
        .with("title", Value::Text(title.into()))
        .with("done", Value::Boolean(false))
        .with("updated_at", Value::Timestamp(now_ms()));
    match client.insert(TASKS, record) {
        Ok(_) => saved(client),
        Err(e) => format!("Not saved: {e}"),
    }
}

/// A line cut to [`WIDTH`] characters: a wrapped line would shift every row below it and break
/// the in-place redraw.
fn fit(line: &str) -> String {
    cut(line, WIDTH)
}

/// `text` in at most `width` characters, an ellipsis marking a cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A message as lines of at most [`WIDTH`] characters, indented, broken between words.
fn wrap(message: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::from(" ");
    for word in message.split(' ') {
        if line.chars().count() + 1 + word.chars().count() > WIDTH && !line.trim().is_empty() {
            lines.push(fit(&line));
            line = String::from("   ");
        }
        line.push(' ');
        line.push_str(word);
    }
    lines.push(fit(&line));
    lines
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The media type of a file by its extension (what a picker would say); anything unknown is
/// `application/octet-stream`.
pub fn media_type_of(path: &std::path::Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("heic") => "image/heic",
        Some("gif") => "image/gif",
        Some("pdf") => "application/pdf",
        Some("mp4") => "video/mp4",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

/// A fresh id for a record made on this device: a time-ordered UUID (v7), so new records land at
/// the end of every key index instead of at random places.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7())
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncline_core::SyncProgress;

    #[test]
    fn every_banner_has_its_words() {
        let now = 1_000_000;
        let en = Lang::En;
        let mut idle = SyncStatus::default();
        idle.update(|s| {
            s.pending = 2;
            s.network_type = NetworkType::Wifi;
        });
        assert_eq!(banner_lines(en, &idle, now)[0], "  ✓ Up to date");

        let mut syncing = idle.clone();
        syncing.update(|s| {
            s.state = SyncState::Syncing {
                unit: "all".into(),
                progress: SyncProgress {
                    phase: Phase::Pulling {
                        entity: "tasks".into(),
                    },
                    entities_done: 1,
                    entities_total: 3,
                    items: 40,
                },
            }
        });
        assert_eq!(
            banner_lines(en, &syncing, now),
            [
                "  ⟳ Syncing…".to_string(),
                "    1 of 3 · receiving tasks · 40 items".to_string()
            ]
        );

        let mut failed = idle.clone();
        failed.update(|s| {
            s.state = SyncState::Failed {
                reason: FailureReason::Unreachable,
                retryable: true,
                next_retry_at: Some(now + 4_200),
            };
            s.network = NetworkStatus::ServerUnreachable;
        });
        assert_eq!(
            banner_lines(en, &failed, now),
            [
                "  ✗ Sync failed: server unreachable".to_string(),
                "    Retrying in 5 s · r: Retry".to_string()
            ]
        );
        assert_eq!(
            banner_lines(Lang::De, &failed, now),
            [
                "  ✗ Synchronisierung fehlgeschlagen: Server nicht erreichbar".to_string(),
                "    Neuer Versuch in 5 s · r: Erneut versuchen".to_string()
            ]
        );

        let mut sign_in = idle.clone();
        sign_in.update(|s| {
            s.state = SyncState::Failed {
                reason: FailureReason::SignInNeeded,
                retryable: false,
                next_retry_at: None,
            };
            s.network = NetworkStatus::SignInNeeded;
        });
        let lines = banner_lines(en, &sign_in, now);
        assert_eq!(lines[0], "  ✗ Sync failed: sign-in needed");
        assert!(lines[1].contains("T <token>"), "{}", lines[1]);

        let mut offline = idle;
        offline.update(|s| {
            s.network = NetworkStatus::Offline;
            s.network_type = NetworkType::None;
        });
        assert_eq!(
            banner_lines(en, &offline, now)[0],
            "  ⚠ You're offline · 2 changes waiting to sync"
        );
    }

    /// With a conflict waiting the banner never says "Up to date": the decision is the title
    /// when nothing else is said, and leads the second line when something is.
    #[test]
    fn a_decision_waiting_is_never_hidden() {
        let (en, now) = (Lang::En, 1_000_000);
        let mut waiting = SyncStatus::default();
        waiting.update(|s| s.conflicts = 1);
        assert_eq!(
            banner_lines(en, &waiting, now),
            [
                "  ! 1 change needs your decision".to_string(),
                "    C: Review".to_string()
            ]
        );
        waiting.update(|s| {
            s.conflicts = 0;
            s.quarantined = 2;
            s.network = NetworkStatus::Offline;
        });
        let lines = banner_lines(Lang::De, &waiting, now);
        assert!(lines[0].starts_with("  ⚠ Du bist offline"), "{}", lines[0]);
        assert!(
            lines[1].starts_with("    ! 2 Änderungen brauchen deine Entscheidung (Q) · "),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn the_footer_counts_everything_waiting() {
        let mut status = SyncStatus::default();
        status.update(|s| {
            s.pending = 3;
            s.conflicts = 1;
            s.quarantined = 2;
            s.network = NetworkStatus::ServerUnreachable;
            s.network_type = NetworkType::Cellular;
            s.metered = true;
            s.last_synced_at = Some(10_000);
        });
        let lines = footer_lines(&status, false, "1 sent, 0 received", 75_000);
        assert_eq!(lines[0], "  3 pending · 1 conflict (C) · 2 quarantined (Q)");
        assert_eq!(
            lines[1],
            "  Network: server unreachable (cellular, metered) · last synced 1 min ago"
        );
        assert_eq!(lines[2], "  Last sync: 1 sent, 0 received");
        status.update(|s| s.network = NetworkStatus::Online);
        let lines = footer_lines(&status, true, "1 sent, 0 received", 75_000);
        assert_eq!(
            lines[1],
            "  Network: online (cellular, metered) · live · last synced 1 min ago"
        );
    }

    #[test]
    fn only_changed_visible_lines_are_redrawn_in_place() {
        let old: Vec<String> = (0..30).map(|i| i.to_string()).collect();
        let mut new = old.clone();
        new[28] = "changed".into();
        assert_eq!(changed_in_place(&old, &new), Some(vec![28]));
        assert_eq!(changed_in_place(&old, &old), Some(vec![]));
        new[2] = "too far up".into();
        assert_eq!(changed_in_place(&old, &new), None);
        assert_eq!(changed_in_place(&old, &new[..29]), None);
    }

    #[test]
    fn long_lines_are_cut_and_messages_wrapped() {
        assert_eq!(fit(&"x".repeat(100)).chars().count(), WIDTH);
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        let lines = wrap(&"word ".repeat(40));
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.chars().count() <= WIDTH));
    }
}
