//! Progress bars on standard error (hidden when it is not a terminal).

use datamgmt_client::api::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// A bar for a transfer of `total` bytes (unknown: `None`), labelled `what`.
pub fn bar(total: Option<u64>, what: &str) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    let template = if total.is_some() {
        "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg} {bytes} {bytes_per_sec}"
    };
    bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
    bar.set_message(what.to_owned());
    bar
}

/// A download's bar, drawn once the relay has answered (and said how long the data is).
pub struct Download {
    what: &'static str,
    bar: OnceLock<ProgressBar>,
}

impl Download {
    /// A bar labelled `what`, not drawn yet.
    pub fn new(what: &'static str) -> Self {
        Self { what, bar: OnceLock::new() }
    }
}

impl Progress for Download {
    fn start(&self, total: Option<u64>) {
        let _ = self.bar.set(bar(total, self.what));
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = self.bar.get() {
            bar.inc(bytes);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

/// An upload's source, each byte read counted on a bar.
pub struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R> Counted<R> {
    /// `inner`, counted on `bar`.
    pub fn new(inner: R, bar: ProgressBar) -> Self {
        Self { inner, bar }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.bar.inc((buf.filled().len() - before) as u64);
        poll
    }
}
