//! `syncline`: the terminal client. It uses the core directly and shows the same banner and the
//! same sample data as the mobile apps, so the whole system can be seen working on a laptop.
//!
//! `syncline demo` starts the reference server with its demo data and opens the client on it;
//! the other commands work against any server, one command per process (scripts and tests use
//! them to show that the outbox survives a restart).
//!
//! The interactive screen syncs by itself, as an app does; the one-shot commands sync only when
//! told (`sync`), so no background sync races the process's exit.

mod demo;
mod inbox;
mod ui;
mod words;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use syncline_core::{
    AutoSync, Config, Connectivity, Query, Record, SortOrder, Syncline, SynclineError, Value,
};
use syncline_protocol::sample::{self, TASKS};
use syncline_words::Lang;

#[derive(Parser)]
#[command(
    name = "syncline",
    version,
    about = "Syncline's terminal client: the sample task list, synced with a Syncline server"
)]
struct Cli {
    /// The local database file.
    #[arg(long, global = true, default_value = "syncline-client.db")]
    db: PathBuf,
    /// The sync server's base URL.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8787",
        env = "SYNCLINE_SERVER"
    )]
    server: String,
    /// The user's token.
    #[arg(
        long,
        global = true,
        default_value = "demo-alice",
        env = "SYNCLINE_TOKEN"
    )]
    token: String,
    /// Start as if the device had no connectivity (nothing is sent).
    #[arg(long, global = true)]
    offline: bool,
    /// The language of the banner (default: from the locale, `LANG=de_DE.UTF-8` → German).
    #[arg(long, global = true, env = "SYNCLINE_LANG", value_parser = lang_arg())]
    lang: Option<Lang>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the reference server with demo data and the interactive client on it.
    Demo(demo::DemoArgs),
    /// The interactive task list (the default).
    Ui,
    /// Print the banner and the tasks.
    List,
    /// Add a task (saved locally; sent on the next sync).
    AddTask {
        /// The project's key.
        #[arg(long)]
        project: String,
        /// The task's title.
        #[arg(long)]
        title: String,
        /// The task's key (default: a new UUID).
        #[arg(long)]
        id: Option<String>,
        /// Due this many days from today (midnight UTC; negative: in the past).
        #[arg(long, allow_hyphen_values = true)]
        due_in_days: Option<i64>,
    },
    /// Change a task's title, done flag or due date (saved locally; sent on the next sync).
    EditTask {
        /// The task's key.
        key: String,
        /// New title.
        #[arg(long)]
        title: Option<String>,
        /// New done flag.
        #[arg(long)]
        done: Option<bool>,
        /// Due this many days from today (midnight UTC; negative: in the past).
        #[arg(long, allow_hyphen_values = true)]
        due_in_days: Option<i64>,
    },
    /// Print a task's comments, oldest first, with who wrote each (the server's word).
    Comments {
        /// The task's key.
        key: String,
    },
    /// Attach a file to a task (streamed into the local cache; uploaded before the change is
    /// pushed, on the next `sync`).
    Attach {
        /// The task's key.
        key: String,
        /// The file.
        file: std::path::PathBuf,
        /// The attachment field.
        #[arg(long, default_value = "photo")]
        field: String,
        /// The media type [default: from the file's extension].
        #[arg(long)]
        media_type: Option<String>,
    },
    /// Write a task's attachment to a file (downloaded through the task when not cached).
    Fetch {
        /// The task's key.
        key: String,
        /// The attachment field.
        field: String,
        /// Where to write it.
        out: std::path::PathBuf,
    },
    /// Sync a unit (default `all`) and print what it did.
    Sync {
        /// The sync unit.
        #[arg(default_value = "all")]
        unit: String,
    },
    /// Print the sync status: banner, network, pending mutations, conflicts and quarantined mutations.
    Status,
    /// List the conflicts waiting for you, with both versions of each field changed on both sides.
    Conflicts,
    /// Resolve a conflict (the decision is sent on the next sync).
    Resolve {
        /// The conflict's id (`conflicts` lists them).
        id: i64,
        /// Keep my version, the server's, or the values given with --set (the server's for the
        /// fields not named).
        #[arg(value_parser = ["mine", "theirs", "merged"])]
        choice: String,
        /// A merged value, `field=value` (repeatable; with `merged`).
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
    },
    /// List the quarantined mutations (the server rejected them), with its reasons.
    Quarantine,
    /// Send a quarantined mutation again, as it is (after its cause was fixed); it goes on the next sync.
    QuarantineRetry {
        /// The mutation's seq (`quarantine` lists them).
        seq: u64,
    },
    /// Edit a quarantined mutation and send it again on the next sync.
    QuarantineEdit {
        /// The mutation's seq.
        seq: u64,
        /// A new value, `field=value` (repeatable).
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
    },
    /// Drop a quarantined mutation and undo it on this device.
    QuarantineDiscard {
        /// The mutation's seq.
        seq: u64,
    },
}

/// `--lang`'s values, the columns of the banner's words; clap lists them in the help and refuses
/// others, and each becomes its [`Lang`] (whose crate knows no clap).
fn lang_arg() -> impl clap::builder::TypedValueParser<Value = Lang> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["en", "de"]).map(|code| Lang::from_locale(&code))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    words::choose(cli.lang.unwrap_or_else(Lang::from_env));
    // The screen redraws in place: a warning line on the terminal would shift it, and the banner
    // already says what went wrong. RUST_LOG still turns logs on.
    let interactive = matches!(cli.command, None | Some(Command::Ui | Command::Demo(_)));
    let level = if interactive { "error" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    let result = match cli.command {
        Some(Command::Demo(args)) => demo::run(args),
        Some(command) => run(&cli.db, &cli.server, &cli.token, cli.offline, command),
        None => run(&cli.db, &cli.server, &cli.token, cli.offline, Command::Ui),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the sample app's client. `auto` says when it syncs by itself.
fn open(
    db: &std::path::Path,
    server: &str,
    token: &str,
    offline: bool,
    auto: AutoSync,
) -> syncline_core::Result<Syncline> {
    let mut config = Config::new(server, token);
    config.auto = auto;
    let client = Syncline::open(db, sample::schema()?, config)?;
    if offline {
        client.report_connectivity(Connectivity::offline());
    }
    Ok(client)
}

/// What a command can fail with: the core's errors, or a usage problem in words.
type CommandResult = Result<(), Box<dyn std::error::Error>>;

fn run(
    db: &std::path::Path,
    server: &str,
    token: &str,
    offline: bool,
    command: Command,
) -> CommandResult {
    let auto = match command {
        // The screen lives long enough to sync by itself. Started offline, it does not try at
        // start: the first sync waits for the network (`o`).
        Command::Demo(_) | Command::Ui if offline => AutoSync {
            on_start: false,
            ..AutoSync::default()
        },
        Command::Demo(_) | Command::Ui => AutoSync::default(),
        // One-shot commands: nothing in the background may race the process's exit.
        _ => AutoSync::manual(),
    };
    let client = open(db, server, token, offline, auto)?;
    match command {
        Command::Demo(_) | Command::Ui => {
            ui::run(&client, &format!("Syncline · {server}"), &mut ui::NoExtras)?
        }
        Command::List => {
            println!(
                "{}",
                words::banner()
                    .title(&client.banner())
                    .unwrap_or_else(|| words::text(words::current(), "terminal_up_to_date", &[]))
            );
            let page = client.query(
                TASKS,
                &Query::all(10_000).order("title", SortOrder::Ascending),
            )?;
            for t in page.records {
                let done = if t.boolean("done") == Some(true) {
                    "x"
                } else {
                    " "
                };
                let title = t.text("title").unwrap_or_default();
                println!("[{done}] {} {title}", t.key);
            }
        }
        Command::Attach {
            key,
            file,
            field,
            media_type,
        } => {
            let media_type = media_type.unwrap_or_else(|| ui::media_type_of(&file).to_string());
            match client.attach(TASKS, &key, &field, &file, &media_type)? {
                Some(receipt) => println!(
                    "attached {} to {key}.{field} locally (outbox seq {}); it uploads on the next sync",
                    file.display(),
                    receipt.seq
                ),
                None => println!("{key}.{field} already holds this file"),
            }
        }
        Command::Fetch { key, field, out } => {
            let path = client.fetch_attachment_blocking(TASKS, &key, &field)?;
            std::fs::copy(&path, &out)
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            println!("wrote {key}.{field} to {}", out.display());
        }
        Command::Comments { key } => {
            let page = client.query(
                "comments",
                &Query::all(10_000)
                    .filter("task_id", Value::Text(key.clone()))
                    .order("created_at", SortOrder::Ascending),
            )?;
            if page.records.is_empty() {
                println!("{key}: no comments");
            }
            for c in page.records {
                let author = c.text("author").unwrap_or("?");
                println!("{author}: {}", c.text("body").unwrap_or_default());
            }
        }
        Command::AddTask {
            project,
            title,
            id,
            due_in_days,
        } => {
            let key = id.unwrap_or_else(|| ui::new_id("t"));
            let mut record = Record::new(key.clone())
                .with("project_id", Value::Text(project))
                .with("title", Value::Text(title))
                .with("done", Value::Boolean(false))
                .with("updated_at", Value::Timestamp(ui::now_ms()));
            if let Some(days) = due_in_days {
                record = record.with("due_at", Value::Timestamp(due_in(days)));
            }
            let receipt = client.insert(TASKS, record)?;
            println!("saved {key} locally (outbox seq {})", receipt.seq);
        }
        Command::EditTask {
            key,
            title,
            done,
            due_in_days,
        } => {
            let mut changes = HashMap::new();
            if let Some(days) = due_in_days {
                changes.insert("due_at".to_string(), Value::Timestamp(due_in(days)));
            }
            if let Some(t) = title {
                changes.insert("title".to_string(), Value::Text(t));
            }
            if let Some(d) = done {
                changes.insert("done".to_string(), Value::Boolean(d));
            }
            match client.update(TASKS, Record::new(&key).with_values(changes))? {
                Some(r) => println!("saved {key} locally (outbox seq {})", r.seq),
                None => println!("{key}: nothing changed"),
            }
        }
        Command::Sync { unit } => {
            let mut report = client.sync_now_blocking(&unit)?;
            // The process exits next: upload the waiting attachments now, then push the
            // changes they held.
            let (waiting, bytes) = client.uploads_waiting()?;
            if waiting > 0 {
                let uploaded = client.upload_attachments_blocking()?;
                println!("attachments: uploaded {uploaded} of {waiting} ({bytes} bytes)");
                if uploaded > 0 {
                    report = client.sync_now_blocking(&unit)?;
                }
            }
            for e in &report.entities {
                println!(
                    "{}: pushed {} (overwrote {}), quarantined {}, conflicts {} ({} to resolve), pulled {}, deleted {}, pages {}",
                    e.entity,
                    e.pushed,
                    e.overwrote,
                    e.quarantined,
                    e.conflicts,
                    e.to_inbox,
                    e.pulled,
                    e.deleted,
                    e.pages
                );
            }
        }
        Command::Status => {
            let s = client.status();
            let banner_text = words::banner();
            println!(
                "banner: {}",
                banner_text
                    .title(&s.banner)
                    .unwrap_or_else(|| "hidden".into())
            );
            if let Some(detail) = banner_text.detail(&s.banner, ui::now_ms()) {
                println!("        {detail}");
            }
            println!("network: {}", inbox::network_text(&s));
            println!("pending: {}", s.pending);
            println!("conflicts: {}", s.conflicts);
            println!("quarantined: {}", s.quarantined);
            println!(
                "last synced: {}",
                s.last_synced_at.map_or("never".into(), inbox::utc)
            );
            print_conflicts(&client)?;
            print_quarantine(&client)?;
        }
        Command::Conflicts => print_conflicts(&client)?,
        Command::Resolve { id, choice, set } => {
            let entity = client
                .conflicts()?
                .into_iter()
                .find(|c| c.id == id)
                .map(|c| c.entity)
                .ok_or(SynclineError::NoSuchConflict { id })?;
            let resolution = inbox::resolution(&client, &entity, &choice, &set)?;
            match client.resolve(id, resolution)? {
                Some(r) => println!(
                    "resolved conflict {id}: your decision is sent on the next sync (outbox seq {})",
                    r.seq
                ),
                None => println!("resolved conflict {id}: the server's version stands"),
            }
        }
        Command::Quarantine => print_quarantine(&client)?,
        Command::QuarantineRetry { seq } => {
            let new_seq = client.retry_quarantined(seq)?;
            println!("seq {seq} is sent again on the next sync (outbox seq {new_seq})");
        }
        Command::QuarantineEdit { seq, set } => {
            let entity = client
                .quarantined()?
                .into_iter()
                .find(|q| q.seq == seq)
                .map(|q| q.entity)
                .ok_or(SynclineError::NoSuchQuarantined { seq })?;
            let changes = set
                .iter()
                .map(|a| inbox::assignment(&client, &entity, a))
                .collect::<Result<HashMap<_, _>, _>>()?;
            let new_seq = client.edit_quarantined(seq, changes)?;
            println!("seq {seq} is edited and sent again on the next sync (outbox seq {new_seq})");
        }
        Command::QuarantineDiscard { seq } => {
            client.discard_quarantined(seq)?;
            println!("seq {seq} is discarded and undone on this device");
        }
    }
    Ok(())
}

/// Prints the conflict inbox, each conflict with its id for `resolve`.
fn print_conflicts(client: &Syncline) -> syncline_core::Result<()> {
    let conflicts = client.conflicts()?;
    if conflicts.is_empty() {
        println!("no conflicts to resolve");
    }
    for c in &conflicts {
        let mut lines = inbox::conflict_lines(c).into_iter();
        if let Some(first) = lines.next() {
            println!("conflict {}: {first}", c.id);
        }
        for line in lines {
            println!("{line}");
        }
    }
    Ok(())
}

/// Prints the quarantined mutations, each with its seq for the quarantine commands.
/// Midnight (UTC) `days` days from today, in ms since the epoch: a due date.
fn due_in(days: i64) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    let today = ui::now_ms() - ui::now_ms().rem_euclid(DAY_MS);
    today.saturating_add(days.saturating_mul(DAY_MS))
}

fn print_quarantine(client: &Syncline) -> syncline_core::Result<()> {
    let quarantined = client.quarantined()?;
    if quarantined.is_empty() {
        println!("no quarantined mutations");
    }
    for q in &quarantined {
        println!("quarantined {}", inbox::quarantine_line(q));
    }
    Ok(())
}
