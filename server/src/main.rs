//! `syncline-server`: runs the reference sync server on a SQLite file.
//!
//! ```text
//! syncline-server [--db syncline-server.db] [--listen 127.0.0.1:8787] [--seed-demo]
//! ```
//! Logging goes through `env_logger` (`RUST_LOG`, default `info`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use syncline_server::{seed_demo, serve, Store};

/// Syncline's reference sync server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// SQLite database file (created if missing).
    #[arg(long, default_value = "syncline-server.db")]
    db: PathBuf,
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
    let store = Store::open_sample(&args.db)
        .map_err(|e| format!("cannot open {}: {e}", args.db.display()))?;
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
