//! `syncline-server`: runs the reference sync server on an embedded SQLite file or on
//! PostgreSQL.
//!
//! ```text
//! syncline-server [--db syncline-server.db | --db postgres://…] [--listen 127.0.0.1:8787] [--seed-demo]
//!                 [--schema schema/sample.toml]
//!                 [--rate-per-user 100] [--rate-burst 1000] [--auth-failures-per-minute 60]
//!                 [--max-concurrent-pulls <4 per core>] [--metrics-token <token>]
//!                 [--shutdown-grace-secs 30] [--max-streams-per-user 10] [--max-streams 20000]
//!                 [--jwt-hs256-secret-file FILE | --jwt-jwks FILE] [--jwt-audience A] [--jwt-issuer I]
//!                 [--push-hook URL --push-hook-secret S] [--push-hook-interval-secs 30]
//! syncline-server [--db …] user add ID | user list
//! syncline-server [--db …] token issue USER [--ttl-days N] | token revoke TOKEN
//! syncline-server [--db …] member add|remove USER PROJECT
//! syncline-server [--db …] scope create ID --name NAME
//! syncline-server [--db …] [--blobs DIR] blobs gc [--grace-hours 24]
//! syncline-server openapi > docs/openapi.json
//! ```
//! Without a command it serves; with one it changes the database and prints what it did;
//! `openapi` prints the HTTP API's OpenAPI document and touches no database.
//! Logging goes through `env_logger` (`RUST_LOG`, default `info`).

use std::num::NonZeroU32;
use std::process::ExitCode;
use std::time::Duration;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use syncline_server::blobs::fs::FsBlobStore;
use syncline_server::{
    collect_garbage, default_max_concurrent_pulls, openapi_json, run_admin_to, seed_demo,
    serve_with, AdminCommand, Attachments, BlobLimits, JwtConfig, JwtVerifier, Limits, Location,
    PushHookConfig, ServerOptions, ServerSchema, Store, WebhookConfig,
    DEFAULT_AUTH_FAILURES_PER_MINUTE, DEFAULT_PUSH_HOOK_INTERVAL, DEFAULT_RATE_BURST,
    DEFAULT_RATE_PER_USER, DEFAULT_STREAMS_PER_INSTANCE, DEFAULT_STREAMS_PER_USER,
};

/// Syncline's reference sync server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// An administration command; without one, the server serves.
    #[command(subcommand)]
    command: Option<Command>,
    /// Where the data lives: a SQLite file (created if missing) or a PostgreSQL URL
    /// (`postgres://user:password@host:port/database`; the database must exist, the server
    /// creates its tables). Several server instances may share one PostgreSQL database.
    #[arg(
        long,
        global = true,
        default_value = "syncline-server.db",
        env = "SYNCLINE_DB",
        hide_env_values = true
    )]
    db: String,
    /// The app's schema file (docs/schema.md) [default: the sample app's schema/sample.toml,
    /// compiled in]. Checked at every start against the schema the database was last started
    /// with: a change the stored data cannot follow stops the server with a message.
    #[arg(long, global = true, env = "SYNCLINE_SCHEMA")]
    schema: Option<std::path::PathBuf>,
    /// Where attachments' bytes are kept: a folder (created if missing) [default: beside a
    /// SQLite database, `<db>.blobs`; with PostgreSQL, `syncline-blobs`]. Several instances
    /// must share it (docs/protocol.md, "Attachments").
    #[arg(
        long,
        global = true,
        env = "SYNCLINE_BLOBS",
        help_heading = "Attachments"
    )]
    blobs: Option<PathBuf>,
    /// The largest attachment taken, in bytes.
    #[arg(long, default_value_t = syncline_protocol::DEFAULT_MAX_BLOB_BYTES, help_heading = "Attachments",
          value_parser = clap::value_parser!(u64).range(1..))]
    max_blob_bytes: u64,
    /// The most attachment bytes one user may upload in all [default: no quota].
    #[arg(long, help_heading = "Attachments")]
    blob_quota_bytes: Option<u64>,

    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: String,
    /// Create the demo users and data if missing and print the demo tokens (demo only: the
    /// tokens are public).
    #[arg(long)]
    seed_demo: bool,

    /// Requests per second each user may make, all devices together (0: unlimited). Over it:
    /// 429 rate_limited with Retry-After.
    #[arg(long, default_value_t = DEFAULT_RATE_PER_USER, help_heading = "Operations")]
    rate_per_user: u32,
    /// Requests a user may make at once before --rate-per-user applies.
    #[arg(long, default_value_t = DEFAULT_RATE_BURST, help_heading = "Operations",
          value_parser = clap::value_parser!(u32).range(1..))]
    rate_burst: u32,
    /// Failed authentications per minute per peer address (also the burst) before every
    /// request from it gets 429 until the budget refills (0: unlimited).
    #[arg(long, default_value_t = DEFAULT_AUTH_FAILURES_PER_MINUTE, help_heading = "Operations")]
    auth_failures_per_minute: u32,
    /// Pulls streamed at once; a pull waits up to 1 s for a slot, then gets 503 busy with
    /// Retry-After [default: 4 per core].
    #[arg(long, help_heading = "Operations", value_parser = clap::value_parser!(u64).range(1..))]
    max_concurrent_pulls: Option<u64>,
    /// Require `Authorization: Bearer <token>` on GET /metrics (without it the metrics, only
    /// aggregates, are open to whoever reaches the port).
    #[arg(
        long,
        env = "SYNCLINE_METRICS_TOKEN",
        hide_env_values = true,
        help_heading = "Operations"
    )]
    metrics_token: Option<String>,
    /// Live streams (GET /v1/live) one user may hold on this instance; over it: 429
    /// too_many_streams with Retry-After.
    #[arg(long, default_value_t = DEFAULT_STREAMS_PER_USER as u64, help_heading = "Operations",
          value_parser = clap::value_parser!(u64).range(1..))]
    max_streams_per_user: u64,
    /// Live streams this instance holds at most (each is an open connection: raise the file
    /// limit to match, docs/scaling.md).
    #[arg(long, default_value_t = DEFAULT_STREAMS_PER_INSTANCE as u64, help_heading = "Operations",
          value_parser = clap::value_parser!(u64).range(1..))]
    max_streams: u64,
    /// POST a signed wake-up here when a commit concerns a user with no live stream on this
    /// instance (docs/protocol.md, "Push hook"): for a push provider (FCM, APNs) to wake their
    /// devices.
    #[arg(long, help_heading = "Push hook", requires = "push_hook_secret")]
    push_hook: Option<String>,
    /// The secret the push hook's calls are signed with (HMAC-SHA256; at least 32 bytes).
    #[arg(
        long,
        env = "SYNCLINE_PUSH_HOOK_SECRET",
        hide_env_values = true,
        help_heading = "Push hook"
    )]
    push_hook_secret: Option<String>,
    /// At most one push hook call per user per this many seconds; changes meanwhile are
    /// coalesced into the next call.
    #[arg(long, default_value_t = DEFAULT_PUSH_HOOK_INTERVAL.as_secs(), help_heading = "Push hook",
          value_parser = clap::value_parser!(u64).range(1..))]
    push_hook_interval_secs: u64,

    /// POST every change (the backend's change feed) here, in order, in signed batches, at
    /// least once (docs/backend.md, "Webhooks").
    #[arg(long, help_heading = "Webhook", requires = "webhook_secret_file")]
    webhook: Option<String>,
    /// A file holding the secret the webhook's batches are signed with (HMAC-SHA256; at least
    /// 32 bytes).
    #[arg(long, help_heading = "Webhook")]
    webhook_secret_file: Option<PathBuf>,
    /// Only these entities' changes (comma-separated; all when omitted).
    #[arg(long, help_heading = "Webhook", value_delimiter = ',')]
    webhook_entities: Vec<String>,

    /// A file holding the secret the calls to the schema's write-rules endpoints are signed
    /// with (HMAC-SHA256, as the webhook's; at least 32 bytes; docs/backend.md, "Write rules").
    #[arg(long, help_heading = "Webhook")]
    rules_secret_file: Option<PathBuf>,

    /// Seconds the requests in flight get to finish after SIGTERM or Ctrl-C.
    #[arg(long, default_value_t = 30, help_heading = "Operations")]
    shutdown_grace_secs: u64,

    /// Accept JWTs signed with this HS256 shared secret (a file holding it, at least 32 bytes).
    #[arg(long, help_heading = "Identity", conflicts_with = "jwt_jwks")]
    jwt_hs256_secret_file: Option<PathBuf>,
    /// Accept JWTs signed (RS256 or ES256) by the keys of this JWKS file, chosen by `kid`.
    #[arg(long, help_heading = "Identity")]
    jwt_jwks: Option<PathBuf>,
    /// The `aud` a JWT must carry (recommended; without it the audience is not checked).
    #[arg(long, help_heading = "Identity")]
    jwt_audience: Option<String>,
    /// The `iss` a JWT must carry.
    #[arg(long, help_heading = "Identity")]
    jwt_issuer: Option<String>,
    /// Clock skew allowed on a JWT's `exp` and `nbf`, in seconds.
    #[arg(long, default_value_t = 30, help_heading = "Identity")]
    jwt_leeway_secs: u64,
    /// A JWT carrying this claim (a string) authenticates the service it names on the backend
    /// API (`service add`), not a device user.
    #[arg(long, help_heading = "Identity")]
    jwt_service_claim: Option<String>,
}

/// The secret a file holds (surrounding whitespace trimmed): a receiver's only proof that a
/// signed call is ours, so at least 32 bytes, as strong as an HS256 JWT secret.
fn secret_file(flag: &str, file: &Path) -> Result<String, String> {
    let secret = std::fs::read_to_string(file)
        .map_err(|e| format!("{flag} {}: {e}", file.display()))?
        .trim()
        .to_string();
    if secret.len() < 32 {
        return Err(format!("{flag} must hold at least 32 bytes"));
    }
    Ok(secret)
}

/// What the binary can do besides serving.
#[derive(Debug, Subcommand)]
enum Command {
    /// Administration commands, on the database.
    #[command(flatten)]
    Admin(AdminCommand),
    /// Attachments' blobs.
    #[command(subcommand)]
    Blobs(BlobsCommand),
    /// Prints the OpenAPI 3.1 document of the HTTP API (what `GET /v1/openapi.json` serves;
    /// regenerate the committed one with `syncline-server openapi > docs/openapi.json`).
    Openapi,
}

/// `syncline-server blobs …`.
#[derive(Debug, Subcommand)]
enum BlobsCommand {
    /// Deletes the blobs no live record references, once older than the grace period (by
    /// upload and by last claim), and the uploads idle that long.
    Gc {
        /// Hours a blob is kept after its upload even when nothing references it yet (a device
        /// uploads a file before it pushes the record naming it).
        #[arg(long, default_value_t = 24)]
        grace_hours: u64,
    },
}

impl Args {
    /// The attachments the flags describe: the blob folder with its limits.
    fn attachments(&self, location: &Location) -> Result<Arc<Attachments>, String> {
        let folder = match (&self.blobs, location) {
            (Some(folder), _) => folder.clone(),
            (None, Location::Sqlite(db)) => {
                let mut name = db.as_os_str().to_os_string();
                name.push(".blobs");
                PathBuf::from(name)
            }
            (None, Location::Postgres(_)) => PathBuf::from("syncline-blobs"),
        };
        let blobs =
            FsBlobStore::open(&folder).map_err(|e| format!("--blobs {}: {e}", folder.display()))?;
        Ok(Arc::new(Attachments::new(
            Arc::new(blobs),
            BlobLimits {
                max_blob_bytes: self.max_blob_bytes,
                quota_bytes: self.blob_quota_bytes,
            },
        )))
    }

    /// The JWT verifier the identity flags describe, if any.
    fn jwt(&self) -> Result<Option<Arc<JwtVerifier>>, String> {
        let config = match (&self.jwt_hs256_secret_file, &self.jwt_jwks) {
            (Some(file), _) => {
                let secret = std::fs::read_to_string(file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                JwtConfig::hs256(secret.trim_end_matches(['\r', '\n']))
            }
            (None, Some(jwks)) => JwtConfig::jwks_file(jwks),
            (None, None) => return Ok(None),
        };
        let mut config = config.with_leeway_secs(self.jwt_leeway_secs);
        if let Some(aud) = &self.jwt_audience {
            config = config.with_audience(aud);
        }
        if let Some(iss) = &self.jwt_issuer {
            config = config.with_issuer(iss);
        }
        if let Some(claim) = &self.jwt_service_claim {
            config = config.with_service_claim(claim);
        }
        let verifier = JwtVerifier::new(config).map_err(|e| format!("JWT settings: {e}"))?;
        Ok(Some(Arc::new(verifier)))
    }

    /// The push hook the flags describe, if any.
    fn push_hook(&self) -> Result<Option<PushHookConfig>, String> {
        let Some(url) = &self.push_hook else {
            return Ok(None);
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("--push-hook {url}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("--push-hook {url}: not an http or https URL"));
        }
        let secret = self.push_hook_secret.clone().unwrap_or_default();
        // The receiver's only proof that a call is ours: as strong as an HS256 JWT secret.
        if secret.len() < 32 {
            return Err("--push-hook-secret must be at least 32 bytes".into());
        }
        Ok(Some(PushHookConfig {
            url: url.clone(),
            secret,
            interval: Duration::from_secs(self.push_hook_interval_secs),
        }))
    }

    /// The webhook the flags describe, if any.
    fn webhook(&self) -> Result<Option<WebhookConfig>, String> {
        let Some(url) = &self.webhook else {
            return Ok(None);
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("--webhook {url}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("--webhook {url}: not an http or https URL"));
        }
        let file = self.webhook_secret_file.clone().unwrap_or_default();
        let secret = secret_file("--webhook-secret-file", &file)?;
        Ok(Some(WebhookConfig {
            url: url.clone(),
            secret,
            entities: self.webhook_entities.clone(),
        }))
    }

    fn options(&self, location: &Location) -> Result<ServerOptions, String> {
        Ok(ServerOptions {
            attachments: Some(self.attachments(location)?),
            limits: Limits {
                rate_per_user: NonZeroU32::new(self.rate_per_user),
                rate_burst: NonZeroU32::new(self.rate_burst).unwrap_or(NonZeroU32::MIN),
                auth_failures_per_minute: NonZeroU32::new(self.auth_failures_per_minute),
                max_concurrent_pulls: self
                    .max_concurrent_pulls
                    .map_or_else(default_max_concurrent_pulls, |n| {
                        usize::try_from(n).unwrap_or(usize::MAX)
                    }),
                max_streams_per_user: usize::try_from(self.max_streams_per_user)
                    .unwrap_or(usize::MAX),
                max_streams: usize::try_from(self.max_streams).unwrap_or(usize::MAX),
                ..Limits::default()
            },
            metrics_token: self.metrics_token.clone().filter(|t| !t.is_empty()),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            jwt: self.jwt()?,
            push_hook: self.push_hook()?,
            webhook: self.webhook()?,
            rules_secret: self
                .rules_secret_file
                .as_ref()
                .map(|file| secret_file("--rules-secret-file", file))
                .transpose()?,
        })
    }
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
    // Before the database is opened: the document needs none, and `--db`'s default would create
    // a file where it is run.
    if let Some(Command::Openapi) = &args.command {
        let text = openapi_json().map_err(|e| format!("the OpenAPI document: {e}"))?;
        print!("{text}");
        return Ok(());
    }
    let location = Location::parse(&args.db);
    let schema = match &args.schema {
        Some(path) => ServerSchema::load(path).map_err(|e| e.to_string())?,
        None => {
            ServerSchema::sample().map_err(|e| format!("the compiled-in sample schema: {e}"))?
        }
    };
    let store = Store::open(location.clone(), schema).map_err(|e| {
        let what = match &location {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Postgres(_) => "the PostgreSQL database".to_string(),
        };
        format!("cannot open {what}: {e}")
    })?;
    if let Some(Command::Admin(command)) = &args.command {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        return run_admin_to(&store, command, &mut out).map_err(|e| e.to_string());
    }
    if let Some(Command::Blobs(BlobsCommand::Gc { grace_hours })) = &args.command {
        let attachments = args.attachments(&location)?;
        let grace = Duration::from_secs(grace_hours.saturating_mul(3600));
        let report = collect_garbage(&store, &attachments, grace).map_err(|e| e.to_string())?;
        println!(
            "{} blobs; deleted {} ({} bytes) that no record references; dropped {} idle uploads",
            report.blobs, report.deleted, report.deleted_bytes, report.idle_uploads
        );
        return Ok(());
    }
    let options = args.options(&location)?;
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
        serve_with(listener, store, options, shutdown_signal())
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
