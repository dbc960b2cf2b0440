//! The interactive terminal screen: the banner on top, the sample task list, a command line.
//! It renders only what the core says (status, banner, records), like the mobile shells do.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::time::Duration;

use syncline_core::sample::{PROJECTS, TASKS};
use syncline_core::{
    Banner, Connectivity, NetworkStatus, NetworkType, Order, Query, Record, Syncline, Value,
};

/// Something the screen can do besides the client: the demo can stop and start its server.
pub trait Extras {
    /// Extra key help shown in the footer, e.g. "x stop/start server".
    fn help(&self) -> &str;
    /// Handles an extra command; returns a message, or `None` if the command is not its own.
    fn handle(&mut self, command: &str) -> Option<String>;
}

/// No extras.
pub struct NoExtras;

impl Extras for NoExtras {
    fn help(&self) -> &str {
        ""
    }
    fn handle(&mut self, _command: &str) -> Option<String> {
        None
    }
}

const WIDTH: usize = 78;

/// Runs the screen until the user quits (or input ends).
pub fn run(client: &Syncline, title: &str, extras: &mut dyn Extras) -> syncline_core::Result<()> {
    let screen = Screen {
        client,
        title,
        help: extras.help().to_string(),
    };
    screen.run(extras)
}

/// What the screen draws from.
struct Screen<'a> {
    client: &'a Syncline,
    title: &'a str,
    help: String,
}

impl Screen<'_> {
    fn run(&self, extras: &mut dyn Extras) -> syncline_core::Result<()> {
        let client = self.client;
        let stdin = std::io::stdin();
        let mut message = String::from("Welcome. Type a command and press Enter.");
        self.sync_with_progress(&mut message);
        loop {
            let tasks = self.render(&message)?;
            print!("> ");
            let _ = std::io::stdout().flush();
            let mut line = String::new();
            if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
                return Ok(());
            }
            let line = line.trim();
            let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
            let rest = rest.trim();
            message = match cmd {
                "q" | "quit" => return Ok(()),
                "" => String::new(),
                "a" => add_task(client, &tasks, rest),
                "t" => with_task(&tasks, rest, |t| {
                    let done = t.get("done") == &Value::Boolean(true);
                    edit(client, &t.key, "done", Value::Boolean(!done))
                }),
                "e" => {
                    let (n, new_title) = rest.split_once(' ').unwrap_or((rest, ""));
                    if new_title.trim().is_empty() {
                        "usage: e <n> <new title>".into()
                    } else {
                        with_task(&tasks, n, |t| {
                            edit(
                                client,
                                &t.key,
                                "title",
                                Value::Text(new_title.trim().into()),
                            )
                        })
                    }
                }
                "o" => {
                    let online = !is_online(client);
                    client.report_connectivity(if online {
                        Connectivity::online(NetworkType::Other)
                    } else {
                        Connectivity::offline()
                    });
                    if online {
                        let mut synced = String::new();
                        self.sync_with_progress(&mut synced);
                        format!("Back online. {synced}")
                    } else {
                        "You went offline: edits stay on this device until you are back online."
                            .into()
                    }
                }
                "s" | "r" => {
                    let mut m = String::new();
                    self.sync_with_progress(&mut m);
                    m
                }
                "Q" => quarantine_text(client),
                other => extras
                    .handle(line)
                    .unwrap_or_else(|| format!("unknown command `{other}`")),
            };
            // Like the apps: a local change syncs right away when online.
            if matches!(cmd, "a" | "t" | "e") && is_online(client) {
                let keep = message.clone();
                self.sync_with_progress(&mut message);
                if !keep.is_empty() {
                    message = format!("{keep} {message}");
                }
            }
        }
    }

    /// Runs a sync in the background and redraws whenever the status changes, so the banner shows
    /// "Syncing…" while it runs.
    fn sync_with_progress(&self, message: &mut String) {
        let client = self.client;
        if !is_online(client) {
            *message = "Offline: nothing synced.".into();
            return;
        }
        let worker = client.clone();
        let handle = std::thread::spawn(move || worker.sync_now_blocking("all"));
        let mut status = client.watch();
        let mut last = None;
        while !handle.is_finished() {
            let current = status.borrow_and_update().clone();
            if last.as_ref() != Some(&current) {
                let _ = self.render("");
                last = Some(current);
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        *message = match handle.join() {
            Ok(Ok(report)) => {
                let pushed: u64 = report.entities.iter().map(|e| e.pushed).sum();
                let pulled: u64 = report.entities.iter().map(|e| e.pulled + e.deleted).sum();
                let refused: u64 = report.entities.iter().map(|e| e.quarantined).sum();
                let mut m = format!("Synced: {pushed} sent, {pulled} received.");
                if refused > 0 {
                    m.push_str(&format!(" {refused} refused by the server (Q to see)."));
                }
                m
            }
            Ok(Err(e)) => {
                log::warn!("sync failed: {e}");
                format!("Sync failed: {}. Press r to retry.", e.summary())
            }
            Err(_) => "Sync failed: the sync thread stopped.".into(),
        };
    }

    /// Draws the screen; returns the tasks in the order they are numbered.
    fn render(&self, message: &str) -> syncline_core::Result<Vec<Record>> {
        let (client, title) = (self.client, self.title);
        let status = client.status();
        let rule = "─".repeat(WIDTH);
        let mut out = String::from("\x1b[2J\x1b[H");
        out.push_str(&format!("{title}\n{rule}\n"));
        out.push_str(&match status.banner() {
            Banner::Hidden => "  ✓ Up to date\n".to_string(),
            Banner::Syncing { .. } => "  ⟳ Syncing…\n".to_string(),
            b @ Banner::Failed { .. } => {
                format!("  ✗ {} — press r to retry\n", b.text().unwrap_or_default())
            }
            b @ Banner::Offline { .. } => format!("  ⚠ {}\n", b.text().unwrap_or_default()),
        });
        out.push_str(&format!("{rule}\n"));

        let projects = client
            .query(PROJECTS, &Query::all(100).order("name", Order::Ascending))?
            .records;
        let pending: BTreeSet<String> = client
            .store()
            .pending(TASKS, 10_000)?
            .into_iter()
            .map(|m| m.key)
            .collect();
        let mut numbered = Vec::new();
        for project in &projects {
            out.push_str(&format!("  {}\n", text(project.get("name"))));
            let query = Query::all(200)
                .filter("project_id", Value::Text(project.key.clone()))
                .order("done", Order::Ascending)
                .order("priority", Order::Descending);
            for task in client.query(TASKS, &query)?.records {
                numbered.push(task.clone());
                let done = if task.get("done") == &Value::Boolean(true) {
                    "x"
                } else {
                    " "
                };
                let mark = if pending.contains(&task.key) {
                    "  • not synced yet"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "   {:>2}. [{done}] {}{mark}\n",
                    numbered.len(),
                    text(task.get("title"))
                ));
            }
        }
        if projects.is_empty() {
            out.push_str("  (no data yet)\n");
        }
        out.push_str(&format!("{rule}\n"));
        let last = status.last_synced_at.map_or("never".to_string(), |ms| {
            format!("{}s ago", (now_ms() - ms).max(0) / 1000)
        });
        out.push_str(&format!(
            "  {} pending · {} refused · {} · last synced {last}\n",
            status.pending,
            status.quarantined,
            if status.network != NetworkStatus::Offline {
                "online"
            } else {
                "offline"
            }
        ));
        if !message.is_empty() {
            out.push_str(&format!("  {message}\n"));
        }
        out.push_str(
            "  a <title> add · t <n> done/undone · e <n> <title> rename · o offline/online\n",
        );
        out.push_str(&format!(
            "  s sync · r retry · Q refused changes · q quit{}\n",
            self.help
        ));
        print!("{out}");
        let _ = std::io::stdout().flush();
        Ok(numbered)
    }
}

fn with_task(tasks: &[Record], n: &str, act: impl FnOnce(&Record) -> String) -> String {
    match n
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| tasks.get(i))
    {
        Some(t) => act(t),
        None => format!("no task number `{n}`"),
    }
}

fn edit(client: &Syncline, key: &str, field: &str, value: Value) -> String {
    let changes = BTreeMap::from([
        (field.to_string(), value),
        ("updated_at".to_string(), Value::Timestamp(now_ms())),
    ]);
    match client.update(TASKS, key, changes) {
        Ok(_) => "Saved on this device.".into(),
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
        .map(|t| t.get("project_id").clone())
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
        Ok(_) => "Saved on this device.".into(),
        Err(e) => format!("Not saved: {e}"),
    }
}

fn quarantine_text(client: &Syncline) -> String {
    match client.quarantined() {
        Ok(q) if q.is_empty() => "Nothing in quarantine.".into(),
        Ok(q) => q
            .iter()
            .map(|m| {
                format!(
                    "{} {} {}: {} ({})",
                    m.mutation.op.as_str(),
                    m.mutation.entity,
                    m.mutation.key,
                    m.message,
                    m.code
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("cannot read the quarantine: {e}"),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Null => String::new(),
        other => format!("{other:?}"),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A fresh id for a record made on this device: a time-ordered UUID (v7), so new records land at
/// the end of every key index instead of at random places.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7())
}

/// Whether the OS side of the client is online (what the `o` key toggles).
fn is_online(client: &Syncline) -> bool {
    client.status().network != NetworkStatus::Offline
}
