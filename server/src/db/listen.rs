//! Each PostgreSQL instance's ear for commits: one dedicated connection that `LISTEN`s on the
//! wake-up channel and publishes every notification to the instance's [`Hub`], whichever
//! instance committed. It reconnects (with a growing pause, up to 5 s) when the connection
//! drops, and then wakes every stream with "anything may have changed", since notifications
//! sent while it was away are lost.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::AsyncMessage;

use super::pg_tls::tls;
use crate::error::StoreError;
use crate::wakeup::{Hub, Touched, CHANNEL};

/// First pause before reconnecting; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// Longest pause between reconnection attempts.
const MAX_PAUSE: Duration = Duration::from_secs(5);
/// TCP keepalive on the listening connection: it only ever reads, so without probes a
/// connection cut without a FIN (a NAT, a failed-over database) would look idle forever.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// How long opening the database waits for the listener's first `LISTEN`.
const FIRST_LISTEN_WAIT: Duration = Duration::from_secs(10);

/// Starts the listener on `runtime` (the backend's own); it runs until the runtime stops.
/// Returns once it listens (or after [`FIRST_LISTEN_WAIT`], retrying in the background), so a
/// commit made right after the store opens already wakes this instance's streams.
pub(super) fn spawn(
    runtime: &tokio::runtime::Runtime,
    mut config: tokio_postgres::Config,
    hub: Arc<Hub>,
) {
    config
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .application_name("syncline-listen");
    let (listening, first) = tokio::sync::oneshot::channel::<()>();
    let mut listening = Some(listening);
    runtime.spawn(async move {
        let mut pause = FIRST_PAUSE;
        let mut reconnecting = false;
        loop {
            match listen(&config, &hub, reconnecting, &mut listening).await {
                // Connected, then lost: start the pauses again.
                Ok(()) => pause = FIRST_PAUSE,
                Err(e) => log::warn!("live wake-up: cannot listen on PostgreSQL: {e}"),
            }
            reconnecting = true;
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    });
    if runtime
        // The timer is made inside the runtime: it needs the runtime's clock.
        .block_on(async { tokio::time::timeout(FIRST_LISTEN_WAIT, first).await })
        .is_err()
    {
        log::warn!("live wake-up: not listening on PostgreSQL yet; streams wake once it does");
    }
}

/// One connection's life: connect, `LISTEN`, publish until it ends. `Ok` once it had listened.
async fn listen(
    config: &tokio_postgres::Config,
    hub: &Arc<Hub>,
    reconnecting: bool,
    listening: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), StoreError> {
    let (client, mut connection) = config.connect(tls()?).await?;
    let ear = hub.clone();
    // Polling the connection's messages also drives the client's statements below.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) if n.channel() == CHANNEL => {
                    match Touched::from_payload(n.payload()) {
                        Some(t) => ear.publish(t),
                        None => log::warn!("live wake-up: an unreadable notification was dropped"),
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    log::warn!("live wake-up: the listening connection failed: {e}");
                    return;
                }
                None => return,
            }
        }
    });
    let setup = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        if reconnecting {
            // Whatever committed while no one listened is lost: every stream re-checks.
            let row = client
                .query_one("SELECT value FROM counters WHERE name = 'position'", &[])
                .await?;
            hub.publish(Touched::everything(row.try_get(0)?));
            log::info!("live wake-up: listening on PostgreSQL again");
        }
        if let Some(tell) = listening.take() {
            let _ = tell.send(());
        }
        Ok::<(), StoreError>(())
    };
    if let Err(e) = setup.await {
        driver.abort();
        return Err(e);
    }
    // The client is kept until the connection ends: dropping it would close the connection.
    let _ = driver.await;
    drop(client);
    Ok(())
}
