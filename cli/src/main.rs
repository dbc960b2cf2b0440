//! `syncline`: the terminal client. It uses the core directly and shows the same banner and the
//! same sample data as the mobile apps, so the whole system can be seen working on a laptop.
//!
//! `syncline demo` starts the reference server with its demo data and opens the client on it;
//! the other commands work against any server, one command per process (scripts and tests use
//! them to show that the outbox survives a restart).

mod demo;
mod ui;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use syncline_core::sample::{self, TASKS};
use syncline_core::{Config, Order, Query, Record, Syncline, Value};

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
    },
    /// Change a task's title or done flag (saved locally; sent on the next sync).
    EditTask {
        /// The task's key.
        key: String,
        /// New title.
        #[arg(long)]
        title: Option<String>,
        /// New done flag.
        #[arg(long)]
        done: Option<bool>,
    },
    /// Sync a unit (default `all`) and print what it did.
    Sync {
        /// The sync unit.
        #[arg(default_value = "all")]
        unit: String,
    },
    /// Print the sync status: banner, pending and refused changes.
    Status,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
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

/// Opens the sample app's client.
fn open(
    db: &std::path::Path,
    server: &str,
    token: &str,
    offline: bool,
) -> syncline_core::Result<Syncline> {
    let client = Syncline::open(db, sample::schema()?, Config::new(server, token))?;
    if offline {
        client.report_connectivity(syncline_core::Connectivity::offline());
    }
    Ok(client)
}

fn run(
    db: &std::path::Path,
    server: &str,
    token: &str,
    offline: bool,
    command: Command,
) -> syncline_core::Result<()> {
    let client = open(db, server, token, offline)?;
    match command {
        Command::Demo(_) | Command::Ui => {
            ui::run(&client, &format!("Syncline · {server}"), &mut ui::NoExtras)?
        }
        Command::List => {
            println!(
                "{}",
                client
                    .banner()
                    .text()
                    .unwrap_or_else(|| "Up to date".into())
            );
            let page = client.query(TASKS, &Query::all(10_000).order("title", Order::Ascending))?;
            for t in page.records {
                let done = if t.get("done") == &Value::Boolean(true) {
                    "x"
                } else {
                    " "
                };
                let title = match t.get("title") {
                    Value::Text(s) => s.clone(),
                    _ => String::new(),
                };
                println!("[{done}] {} {title}", t.key);
            }
        }
        Command::AddTask { project, title, id } => {
            let key = id.unwrap_or_else(|| ui::new_id("t"));
            let record = Record::new(key.clone())
                .with("project_id", Value::Text(project))
                .with("title", Value::Text(title))
                .with("done", Value::Boolean(false))
                .with("updated_at", Value::Timestamp(ui::now_ms()));
            let receipt = client.insert(TASKS, record)?;
            println!("saved {key} locally (outbox seq {})", receipt.seq);
        }
        Command::EditTask { key, title, done } => {
            let mut changes = BTreeMap::new();
            if let Some(t) = title {
                changes.insert("title".to_string(), Value::Text(t));
            }
            if let Some(d) = done {
                changes.insert("done".to_string(), Value::Boolean(d));
            }
            match client.update(TASKS, &key, changes)? {
                Some(r) => println!("saved {key} locally (outbox seq {})", r.seq),
                None => println!("{key}: nothing changed"),
            }
        }
        Command::Sync { unit } => {
            let report = client.sync_now_blocking(&unit)?;
            for e in &report.entities {
                println!(
                    "{}: pushed {} (overwrote {}), refused {}, pulled {}, deleted {}, pages {}",
                    e.entity, e.pushed, e.overwrote, e.quarantined, e.pulled, e.deleted, e.pages
                );
            }
        }
        Command::Status => {
            let s = client.status();
            println!(
                "banner: {}",
                s.banner().text().unwrap_or_else(|| "hidden".into())
            );
            println!("pending: {}", s.pending);
            println!("refused: {}", s.quarantined);
            for q in client.quarantined()? {
                println!(
                    "  {} {} {}: {} ({})",
                    q.mutation.op.as_str(),
                    q.mutation.entity,
                    q.mutation.key,
                    q.message,
                    q.code
                );
            }
        }
    }
    Ok(())
}
