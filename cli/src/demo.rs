//! `syncline demo`: the reference server with its demo data and the terminal client on it, in one
//! process. The server can be stopped and started from the client's screen to see "Sync failed"
//! and the recovery, and a colleague's edit can be made on the server to see it arrive.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use std::sync::Arc;
use syncline_core::{Config, Record, Syncline};
use syncline_protocol::sample;

use syncline_server::Store as ServerStore;

use crate::ui;

/// Options of `syncline demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Folder for the server's and the client's databases (kept between runs).
    #[arg(long, default_value = ".syncline-demo")]
    dir: PathBuf,
    /// Address the demo server listens on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Demo user to sign in as: alice, bob or carol.
    #[arg(long, default_value = "alice")]
    user: String,
}

/// The embedded server, on its own thread and runtime, so it can stop and start while the client
/// keeps running.
struct DemoServer {
    store: ServerStore,
    /// Attachments' bytes, in `<dir>/server.db.blobs` (as the server binary keeps them).
    attachments: Arc<syncline_server::Attachments>,
    listen: SocketAddr,
    running: Option<(
        tokio::sync::oneshot::Sender<()>,
        std::thread::JoinHandle<()>,
    )>,
}

impl DemoServer {
    fn start(&mut self) -> std::io::Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let listener = std::net::TcpListener::bind(self.listen)?;
        listener.set_nonblocking(true)?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let store = self.store.clone();
        let options = syncline_server::ServerOptions {
            attachments: Some(self.attachments.clone()),
            ..syncline_server::ServerOptions::default()
        };
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return log::error!("demo server runtime: {e}"),
            };
            runtime.block_on(async move {
                let result = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => {
                        syncline_server::serve_with(listener, store, options, async move {
                            let _ = stop_rx.await;
                        })
                        .await
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    log::error!("demo server stopped: {e}");
                }
            });
        });
        self.running = Some((stop_tx, thread));
        Ok(())
    }

    fn stop(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

impl ui::Extras for DemoServer {
    fn help(&self) -> &str {
        "x stop/start server · w colleague edit · W <n> colleague renames task n"
    }

    fn handle(&mut self, command: &str, tasks: &[Record]) -> Option<String> {
        let (cmd, rest) = command.split_once(' ').unwrap_or((command, ""));
        match cmd {
            "x" if self.running.is_some() => {
                self.stop();
                Some("Server stopped. Edits wait on this device; syncs fail (and are retried) until you press x again.".into())
            }
            "x" => Some(match self.start() {
                Ok(()) => {
                    "Server started again: the client finds it by itself, or press r to retry now."
                        .into()
                }
                Err(e) => format!("cannot start the server: {e}"),
            }),
            "w" => {
                // Nothing more to do: the commit wakes the client's live stream, whose hint
                // brings the edit by the ordinary pull, and the task list (a live query) shows it.
                Some(colleague_edit(&self.store))
            }
            "W" => {
                let n = if rest.trim().is_empty() {
                    "1"
                } else {
                    rest.trim()
                };
                let task = n
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| tasks.get(i));
                Some(match task {
                    Some(task) => colleague_rename(&self.store, &task.key, n),
                    None => format!("no task number `{n}`"),
                })
            }
            _ => None,
        }
    }
}

/// A colleague changes the first task of the shared project, on the server.
fn colleague_edit(store: &ServerStore) -> String {
    let Ok(Some(task)) = store.get_record("tasks", "t-harbor-2") else {
        return "the demo task t-harbor-2 is missing".into();
    };
    let mut fields = task.fields.clone();
    let title = fields
        .get("title")
        .and_then(|t| t.as_str())
        .unwrap_or("Task")
        .to_string();
    let title = match title.strip_suffix(" (checked by bob)") {
        Some(original) => original.to_string(),
        None => format!("{title} (checked by bob)"),
    };
    fields.insert("title".into(), serde_json::Value::String(title));
    fields.insert("updated_at".into(), serde_json::json!(ui::now_ms()));
    match store.upsert_record("tasks", "t-harbor-2", &fields) {
        Ok(v) => {
            format!("bob changed task t-harbor-2 on the server (version {v}); it shows here in a moment, by itself (the live stream).")
        }
        Err(e) => format!("the colleague's edit failed: {e}"),
    }
}

/// A colleague renames a task on the server (only its title). Renaming it on this device too,
/// before the next sync, makes the same field change on both sides: under the tasks' manual
/// conflict policy that goes to the conflict inbox.
fn colleague_rename(store: &ServerStore, key: &str, n: &str) -> String {
    let title = match store.get_record("tasks", key) {
        Ok(Some(task)) if !task.deleted => task
            .fields
            .get("title")
            .and_then(|t| t.as_str())
            .unwrap_or("Task")
            .to_string(),
        Ok(_) => return format!("task {n} is not on the server (yet)"),
        Err(e) => return format!("the colleague cannot read task {n}: {e}"),
    };
    let title = match title.strip_suffix(" (renamed by bob)") {
        Some(original) => original.to_string(),
        None => format!("{title} (renamed by bob)"),
    };
    let fields = serde_json::Map::from_iter([("title".to_string(), serde_json::json!(title))]);
    match store.upsert_record("tasks", key, &fields) {
        Ok(v) => format!(
            "bob renamed task {n} on the server (version {v}); it shows here in a moment. For a \
             conflict, go offline first (o), then W {n}, rename it here (e {n} <title>) and go \
             online (o): both edits meet, for you to resolve (C)."
        ),
        Err(e) => format!("the colleague's edit failed: {e}"),
    }
}

/// Runs the demo until the user quits.
pub fn run(args: DemoArgs) -> Result<(), Box<dyn std::error::Error>> {
    let fail = |e: &dyn std::fmt::Display| format!("demo server: {e}");
    std::fs::create_dir_all(&args.dir).map_err(|e| fail(&e))?;
    let store = ServerStore::open_sample(args.dir.join("server.db")).map_err(|e| fail(&e))?;
    syncline_server::seed_demo(&store).map_err(|e| fail(&e))?;
    let blobs = syncline_server::blobs::fs::FsBlobStore::open(&args.dir.join("server.db.blobs"))
        .map_err(|e| fail(&e))?;
    let attachments = Arc::new(syncline_server::Attachments::new(
        Arc::new(blobs),
        syncline_server::BlobLimits::default(),
    ));
    let mut server = DemoServer {
        store,
        attachments,
        listen: args.listen,
        running: None,
    };
    server
        .start()
        .map_err(|e| fail(&format!("cannot listen on {}: {e}", args.listen)))?;

    let token = format!("demo-{}", args.user);
    // `Config::new` comes with `AutoSync::default()`: the client syncs by itself, like an app.
    let config = Config::new(&format!("http://{}", args.listen), &token);
    let client = Syncline::open(
        &args.dir.join(format!("{}.db", args.user)),
        sample::schema()?,
        config,
    )?;
    let title = format!(
        "Syncline demo · signed in as {} · server http://{}",
        args.user, args.listen
    );
    let result = ui::run(&client, &title, &mut server);
    server.stop();
    Ok(result?)
}
