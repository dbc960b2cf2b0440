//! `syncline-dispatch`: the office of the worked example (README, "Connecting your backend").
//!
//! ```sh
//! syncline-dispatch schema --rules-url http://127.0.0.1:8791/rules > dispatch.toml
//! syncline-dispatch rules --listen 127.0.0.1:8791 --secret-file rules.secret
//! syncline-dispatch office --server http://127.0.0.1:8787 --token-file dispatch.token
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::{Parser, Subcommand};
use syncline_dispatch::office::{Job, Office};
use syncline_dispatch::{rules, schema};

#[derive(Parser)]
#[command(about = "The office of Syncline's worked example: a dispatcher and its write rules.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the server's schema: the sample's, with the write rules on tasks.
    Schema {
        /// Where the server asks the rules (this program's `rules`).
        #[arg(long)]
        rules_url: String,
    },
    /// Serve the write rules: refuse due dates in the past.
    Rules {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8791")]
        listen: String,
        /// A file with the secret the server signs its calls with (`--rules-secret-file`).
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// Provision the team, hand out the week's tasks, then follow the feed and answer every
    /// task ticked done with "Office: received".
    Office {
        /// The sync server.
        #[arg(long, default_value = "http://127.0.0.1:8787")]
        server: String,
        /// A file with the service token (`syncline-server service add dispatch --all-scopes`).
        #[arg(long)]
        token_file: PathBuf,
        /// The service's name.
        #[arg(long, default_value = "dispatch")]
        name: String,
        /// The project to run.
        #[arg(long, default_value = "p-dispatch")]
        project: String,
        /// The field team (users, made members of the project).
        #[arg(long, value_delimiter = ',', default_value = "alice,bob")]
        team: Vec<String>,
        /// Where the feed's cursor is kept between runs.
        #[arg(long, default_value = "dispatch.cursor")]
        cursor_file: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("syncline-dispatch: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read_secret(file: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(file)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("{}: {e}", file.display()))
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Schema { rules_url } => print!("{}", schema(&rules_url)),
        Command::Rules {
            listen,
            secret_file,
        } => {
            let secret = secret_file.as_ref().map(read_secret).transpose()?;
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(&listen)
                    .await
                    .map_err(|e| format!("{listen}: {e}"))?;
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                println!("rules on http://{addr}{}", rules::PATH);
                rules::serve(listener, secret)
                    .await
                    .map_err(|e| e.to_string())
            })?;
        }
        Command::Office {
            server,
            token_file,
            name,
            project,
            team,
            cursor_file,
        } => {
            let token = read_secret(&token_file)?;
            let office = Office::new(&server, &token, &name).map_err(|e| e.to_string())?;
            let team: Vec<&str> = team.iter().map(String::as_str).collect();
            office
                .provision(&project, "Harbour pumps", &team)
                .map_err(|e| e.to_string())?;
            // Due the day after tomorrow (midnight UTC): the same jobs all day long, so a run
            // again the same day is the same batch, written once under its Idempotency-Key.
            let day = rules::now_ms() / 86_400_000;
            let due_at = (day + 2) * 86_400_000;
            let jobs = [
                (
                    "pump-1",
                    "Isolate pump 1 and drain the volute",
                    "Customer asks for a call 30 min before",
                ),
                (
                    "pump-2",
                    "Replace the seal on pump 2",
                    "Seal kit is in van 3",
                ),
                ("fence", "Check the fence gate", "Gate code 4711"),
            ]
            .map(|(key, title, notes)| Job {
                key: format!("{project}-{key}"),
                title: title.to_string(),
                internal_notes: notes.to_string(),
                due_at,
            });
            let handed = office
                .hand_out(&project, &jobs, &format!("{project}-day-{day}"))
                .map_err(|e| e.to_string())?;
            if handed {
                let team = team.join(", ");
                println!("{project}: {} tasks handed out to {team}", jobs.len());
            } else {
                println!("{project}: the tasks were handed out before");
            }
            let cursor = std::fs::read_to_string(&cursor_file).ok();
            let stop = AtomicBool::new(false);
            println!("following the change feed (Ctrl-C ends)");
            office.follow(&project, cursor, &stop, |cursor| {
                if let Err(e) = std::fs::write(&cursor_file, cursor) {
                    eprintln!("cannot keep the cursor in {}: {e}", cursor_file.display());
                }
            });
        }
    }
    Ok(())
}
