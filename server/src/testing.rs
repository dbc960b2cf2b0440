//! Test support, compiled normally so other crates' tests can use it: [`TestServer`] runs a real
//! server on a free loopback port with its own runtime and a temporary database, exposes the
//! store for admin work, and can be stopped and restarted on the same port (to simulate an
//! unreachable server).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::demo::{seed_demo, DemoSeed};
use crate::store::{Store, StoreError};

/// Why a test server could not start.
#[derive(Debug, thiserror::Error)]
pub enum TestServerError {
    /// Binding, the runtime or the temporary directory failed.
    #[error("test server: {0}")]
    Io(#[from] std::io::Error),
    /// The database could not be opened or seeded.
    #[error("test server: {0}")]
    Store(#[from] StoreError),
}

struct Running {
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// A sync server on `127.0.0.1:<free port>`, running on its own thread and tokio runtime until
/// [`TestServer::stop`] or drop.
pub struct TestServer {
    store: Store,
    addr: SocketAddr,
    running: Option<Running>,
    // Dropped last: the database lives in it (when the server made its own).
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("url", &self.url())
            .field("db", &self.store.path())
            .field("running", &self.running.is_some())
            .finish()
    }
}

fn run(listener: std::net::TcpListener, store: Store) -> Result<Running, TestServerError> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("syncline-test-server")
        .enable_all()
        .build()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("syncline-test-server".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        log::error!("test server: cannot use the listener: {e}");
                        return;
                    }
                };
                let (grace, graceful) = oneshot::channel::<()>();
                let server = tokio::spawn(crate::serve(listener, store, async move {
                    let _ = graceful.await;
                }));
                let _ = stopped.await;
                let _ = grace.send(());
                match tokio::time::timeout(Duration::from_secs(3), server).await {
                    Ok(Ok(Ok(()))) => {}
                    Ok(Ok(Err(e))) => log::error!("test server failed: {e}"),
                    Ok(Err(e)) => log::error!("test server task failed: {e}"),
                    Err(_) => {
                        log::warn!("test server: connections still open after 3 s; dropping them")
                    }
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
    Ok(Running { stop, thread })
}

impl TestServer {
    /// Starts a server on a fresh temporary database.
    ///
    /// # Panics
    /// When the server cannot start (no free port, no temporary directory): test support only.
    pub fn start() -> TestServer {
        TestServer::try_start().unwrap_or_else(|e| panic!("cannot start the test server: {e}"))
    }

    /// Starts a server on a fresh temporary database, seeded with the demo data
    /// ([`seed_demo`]: users alice, bob, carol with tokens `demo-alice`, `demo-bob`, `demo-carol`).
    ///
    /// # Panics
    /// When the server cannot start.
    pub fn with_demo() -> TestServer {
        let server = TestServer::start();
        if let Err(e) = seed_demo(server.store()) {
            panic!("cannot seed the demo data: {e}");
        }
        server
    }

    /// Starts a server on the database at `path` (created if missing; kept afterwards).
    ///
    /// # Panics
    /// When the server cannot start.
    pub fn start_at(path: impl AsRef<Path>) -> TestServer {
        TestServer::try_start_at(path)
            .unwrap_or_else(|e| panic!("cannot start the test server: {e}"))
    }

    /// [`TestServer::start`], returning errors.
    pub fn try_start() -> Result<TestServer, TestServerError> {
        let dir = tempfile::Builder::new()
            .prefix("syncline-server-")
            .tempdir()?;
        let store = Store::open_sample(dir.path().join("server.db"))?;
        TestServer::launch(store, Some(dir))
    }

    /// [`TestServer::start_at`], returning errors.
    pub fn try_start_at(path: impl AsRef<Path>) -> Result<TestServer, TestServerError> {
        TestServer::launch(Store::open_sample(path)?, None)
    }

    /// Starts a server on an already opened store (any schema).
    pub fn try_start_with_store(store: Store) -> Result<TestServer, TestServerError> {
        TestServer::launch(store, None)
    }

    fn launch(store: Store, dir: Option<tempfile::TempDir>) -> Result<TestServer, TestServerError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let running = run(listener, store.clone())?;
        Ok(TestServer {
            store,
            addr,
            running: Some(running),
            _dir: dir,
        })
    }

    /// Seeds the demo data into this server's database; returns the users and tokens.
    pub fn seed_demo(&self) -> Result<DemoSeed, StoreError> {
        seed_demo(&self.store)
    }

    /// The base URL, like `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Admin access to the server's database (the same store the server uses).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.store.path().to_path_buf()
    }

    /// Whether the server is serving.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Stops serving: new connections are refused, requests in flight get up to 3 s to finish.
    /// The database stays; [`TestServer::restart`] serves it again on the same port.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            if running.thread.join().is_err() {
                log::error!("the test server thread panicked");
            }
        }
    }

    /// Serves again on the same port and database after [`TestServer::stop`] (no-op when
    /// running).
    pub fn restart(&mut self) -> Result<(), TestServerError> {
        if self.running.is_none() {
            let listener = std::net::TcpListener::bind(self.addr)?;
            self.running = Some(run(listener, self.store.clone())?);
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}
