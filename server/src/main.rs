//! `syncline-server`: runs the reference sync server on an embedded SQLite file or on
//! PostgreSQL.
//!
//! ```text
//! syncline-server [--db syncline-server.db | --db postgres://…] [--listen 127.0.0.1:8787] [--seed-demo]
//! ```
//! Logging goes through `env_logger` (`RUST_LOG`, default `info`).

use std::process::ExitCode;

use clap::Parser;
use syncline_server::{seed_demo, serve, Location, Store};

/// Syncline's reference sync server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Where the data lives: a SQLite file (created if missing) or a PostgreSQL URL
    /// (`postgres://user:password@host:port/database`; the database must exist, the server
    /// creates its tables). Several server instances may share one PostgreSQL database.
    #[arg(long, default_value = "syncline-server.db", env = "SYNCLINE_DB")]
    db: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: String,
    /// Create the demo users and data if missing and print the demo tokens (demo only: the
    /// tokens are public).
    #[arg(long)]
    seed_demo: bool,
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    log::info!("shutting down");
}

fn run(args: Args) -> Result<(), String> {
    let location = Location::parse(&args.db);
    let store = Store::open_sample(location.clone()).map_err(|e| {
        let what = match &location {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(_) => "the PostgreSQL database".to_string(),
        };
        format!("cannot open {what}: {e}")
    })?;
    if args.seed_demo {
        let seed = seed_demo(&store).map_err(|e| format!("cannot seed the demo data: {e}"))?;
        println!(
            "Demo data ready ({} records created). Demo users (demo only, public tokens):",
            seed.created_records
        );
        for (user, token) in &seed.users {
            println!("  {user:<6} token: {token}");
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        // The actual address (with `--listen 127.0.0.1:0` the OS picks the port), on stdout for
        // scripts and tests that start the server.
        if let Ok(addr) = listener.local_addr() {
            println!("listening on http://{addr}");
            let _ = std::io::Write::flush(&mut std::io::stdout());
        }
        serve(listener, store, shutdown_signal())
            .await
            .map_err(|e| format!("server failed: {e}"))
    })
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            eprintln!("syncline-server: {e}");
            ExitCode::FAILURE
        }
    }
}
