//! The status, the banner and live queries as [`Stream`]s, for Rust apps on async runtimes of
//! their own: the same values the listeners get (`Syncline::listen`, `Syncline::watch`), pulled
//! by the app's task instead of pushed to a callback.
//!
//! Both kinds sit on tokio's watch channel, which keeps only the newest value: a stream polled
//! slowly gets the latest status or page, never a backlog, as a slow listener does. Its wakers
//! work from any executor, so a stream polled on the app's runtime is woken by a value the
//! core's own runtime (`runtime.rs`) or its listeners' thread (`live.rs`) sends.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tokio_stream::Stream;

use crate::client::Syncline;
use crate::error::SynclineError;
use crate::live::ListenerHandle;
use crate::record::{Page, Query};
use crate::status::{Banner, SyncStatus};

/// What the public calls return.
type Result<T> = std::result::Result<T, SynclineError>;

impl Syncline {
    /// The status now, then every change after, never the same status twice in a row: the
    /// [`Syncline::listen`] values as a [`Stream`], for an app's own async runtime (any
    /// executor). A slow reader gets the newest status, never a backlog. It never ends while the
    /// client is open; drop it to stop.
    ///
    /// ```no_run
    /// # async fn demo(client: syncline_core::Syncline) {
    /// use tokio_stream::StreamExt;
    ///
    /// let mut statuses = client.status_stream();
    /// while let Some(status) = statuses.next().await {
    ///     println!("{} waiting, {:?}", status.pending, status.banner.kind);
    /// }
    /// # }
    /// ```
    pub fn status_stream(&self) -> impl Stream<Item = SyncStatus> + Send + Unpin + 'static {
        Distinct::new(WatchStream::new(self.watch_status()), |status| status)
    }

    /// The banner now, then whenever it changes, never the same banner twice in a row (a status
    /// change that leaves the banner as it was, such as one more record pulled, yields
    /// nothing): [`Syncline::listen_banner`] as a [`Stream`], like [`Syncline::status_stream`].
    ///
    /// ```no_run
    /// # async fn demo(client: syncline_core::Syncline) {
    /// use syncline_core::BannerKind;
    /// use tokio_stream::StreamExt;
    ///
    /// let mut banners = client.banner_stream();
    /// while let Some(banner) = banners.next().await {
    ///     if banner.kind == BannerKind::Failed && banner.can_retry {
    ///         println!("Sync failed · Retry");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn banner_stream(&self) -> impl Stream<Item = Banner> + Send + Unpin + 'static {
        Distinct::new(
            WatchStream::new(self.watch_status()),
            |status: SyncStatus| status.banner,
        )
    }

    /// The page `query` selects from `entity` now, then again after every change, as
    /// [`Syncline::watch`] delivers them (throttled, never the same page twice, records with
    /// their sync state), as a [`Stream`] for an app's own async runtime. A slow reader gets the
    /// newest page, never a backlog. A failed re-read is an `Err` item, and the stream goes on.
    /// It never ends while the client is open; dropping it stops the watch. Names and values in
    /// `query` are checked now.
    ///
    /// ```no_run
    /// # async fn demo(client: syncline_core::Syncline) -> syncline_core::Result<()> {
    /// use syncline_core::{Query, SortOrder};
    /// use tokio_stream::StreamExt;
    ///
    /// let query = Query::all(50).order("title", SortOrder::Ascending);
    /// let mut pages = client.watch_stream("tasks", &query)?;
    /// while let Some(page) = pages.next().await {
    ///     println!("{} tasks", page?.records.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn watch_stream(
        &self,
        entity: &str,
        query: &Query,
    ) -> Result<impl Stream<Item = Result<Page>> + Send + Unpin + 'static> {
        self.answers(entity, query, |page| page)
    }

    /// A watch of `query` on `entity` as a stream of its answers, each turned into an item by
    /// `convert` when the stream is polled (on the app's task, not the listeners' thread).
    pub(crate) fn answers<U, F>(
        &self,
        entity: &str,
        query: &Query,
        convert: F,
    ) -> Result<Answers<Result<Page>, F>>
    where
        F: FnMut(Result<Page>) -> U + Send + Unpin + 'static,
    {
        // Nothing before the first answer: `from_changes` skips the channel's initial `None`.
        let (sender, receiver) = watch::channel(None);
        let handle = self.watch(entity, query, move |answer| {
            // Kept even with no receiver: the stream holds the handle, so that is only after
            // the stream dropped, when the handle stops the calls anyway.
            sender.send_replace(Some(answer));
        })?;
        Ok(Answers {
            answers: WatchStream::from_changes(receiver),
            convert,
            _handle: handle,
        })
    }
}

/// A listener's answers as a stream: the newest one on each poll, turned into an item by
/// `convert`. Holds the listener's handle, so dropping the stream stops the listener.
pub(crate) struct Answers<T, F> {
    answers: WatchStream<Option<T>>,
    convert: F,
    _handle: ListenerHandle,
}

impl<T, U, F> Stream for Answers<T, F>
where
    T: Clone + Send + Sync + 'static,
    F: FnMut(T) -> U + Unpin,
{
    type Item = U;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<U>> {
        loop {
            match Pin::new(&mut self.answers).poll_next(cx) {
                Poll::Ready(Some(Some(answer))) => {
                    return Poll::Ready(Some((self.convert)(answer)))
                }
                // The channel's initial value; `from_changes` skips it, so never in practice.
                Poll::Ready(Some(None)) => continue,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A stream of values picked from a watch channel's, never the same value twice in a row: the
/// status channel changes far more often than the banner (every record pulled), and a status
/// sent unchanged would wake the reader for nothing.
struct Distinct<T, U, F> {
    values: WatchStream<T>,
    pick: F,
    last: Option<U>,
}

impl<T, U, F> Distinct<T, U, F> {
    fn new(values: WatchStream<T>, pick: F) -> Self {
        Distinct {
            values,
            pick,
            last: None,
        }
    }
}

impl<T, U, F> Stream for Distinct<T, U, F>
where
    T: Clone + Send + Sync + 'static,
    U: Clone + PartialEq + Unpin,
    F: FnMut(T) -> U + Unpin,
{
    type Item = U;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<U>> {
        loop {
            let value = match Pin::new(&mut self.values).poll_next(cx) {
                Poll::Ready(Some(value)) => (self.pick)(value),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            if self.last.as_ref() != Some(&value) {
                self.last = Some(value.clone());
                return Poll::Ready(Some(value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn a_distinct_stream_skips_repeats_and_ends_with_its_channel() {
        let (sender, receiver) = watch::channel(1);
        let mut values = Distinct::new(WatchStream::new(receiver), |v| v);
        assert_eq!(values.next().await, Some(1));
        // Sent unchanged, then changed: only the change comes out.
        sender.send_replace(1);
        sender.send_replace(2);
        assert_eq!(values.next().await, Some(2));
        sender.send_replace(2);
        drop(sender);
        assert_eq!(values.next().await, None, "nothing new, then the end");
    }
}
