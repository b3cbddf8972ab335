//! Helpers the clauses share: failures, seeded transfers, verification.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use flow_api::prelude::*;

use crate::pattern::Pattern;

/// Why a clause did not pass.
#[derive(Debug)]
pub(crate) enum Fail {
    Failed(String),
    NotApplicable(String),
}

pub(crate) type Check = Result<(), Fail>;

impl From<Error> for Fail {
    fn from(err: Error) -> Self {
        Fail::Failed(format!("unexpected error: {err} (kind {:?})", err.kind()))
    }
}

impl From<WriteError> for Fail {
    fn from(err: WriteError) -> Self {
        Fail::Failed(format!("unexpected write error: {err} (kind {:?})", err.kind()))
    }
}

/// Fails the clause with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err($crate::support::Fail::Failed(format!($($fmt)*)));
        }
    };
}
pub(crate) use ensure;

/// Annotates an error with what the clause was doing.
pub(crate) trait Doing<T> {
    fn doing(self, what: &str) -> Result<T, Fail>;
}

impl<T, E: Into<Fail>> Doing<T> for Result<T, E> {
    fn doing(self, what: &str) -> Result<T, Fail> {
        self.map_err(|e| match e.into() {
            Fail::Failed(why) => Fail::Failed(format!("{what}: {why}")),
            other => other,
        })
    }
}

/// A size from 1 to `max`, log-uniform so that small and large are both common.
pub(crate) fn log_uniform(rng: &mut fastrand::Rng, max: usize) -> usize {
    let max = max.max(1);
    let bits = usize::BITS - max.leading_zeros();
    let upper = 1usize.checked_shl(rng.u32(0..bits)).unwrap_or(max).min(max);
    rng.usize(1..=upper)
}

/// How a sender hands its data over.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Style {
    /// One `write` per buffer.
    Write,
    /// A mix of `write`, `feed` + `flush` and `writev` with empty members.
    Mixed,
}

/// Sends `total` bytes of `pattern` in sizes from 1 to `max_write`, then
/// shuts down writing if `finish`.
pub(crate) async fn send<W: FlowWrite + Unpin>(
    w: &mut W,
    pattern: Pattern,
    total: u64,
    max_write: usize,
    rng: &mut fastrand::Rng,
    style: Style,
) -> Check {
    let mut offset = 0u64;
    while offset < total {
        let remaining = usize::try_from(total - offset).unwrap_or(usize::MAX);
        let mode = match style {
            Style::Write => 0,
            Style::Mixed => rng.u8(0..3),
        };
        match mode {
            0 => {
                let len = log_uniform(rng, max_write).min(remaining);
                w.write(pattern.chunk(offset, len)).await.doing("write")?;
                offset += len as u64;
            }
            1 => {
                let len = log_uniform(rng, max_write).min(remaining);
                w.feed(pattern.chunk(offset, len)).await.doing("feed")?;
                offset += len as u64;
                if rng.bool() {
                    w.flush().await.doing("flush")?;
                }
            }
            _ => {
                let mut bufs = Vec::new();
                for _ in 0..rng.usize(0..5) {
                    let left = usize::try_from(total - offset).unwrap_or(usize::MAX);
                    let len = if rng.u8(0..4) == 0 {
                        0
                    } else {
                        log_uniform(rng, max_write / 4 + 1).min(left)
                    };
                    bufs.push(pattern.chunk(offset, len));
                    offset += len as u64;
                }
                w.writev(bufs).await.doing("writev")?;
            }
        }
    }
    w.flush().await.doing("flush")?;
    Ok(())
}

/// Reads until end of file, checking every chunk is non-empty and equal to
/// `pattern`, and that exactly `total` bytes arrive.
pub(crate) async fn receive<R: FlowRead + Unpin>(r: &mut R, pattern: Pattern, total: u64) -> Check {
    let mut offset = 0u64;
    loop {
        match r.read().await.doing(&format!("read at byte {offset}"))? {
            Chunk::Data(data) => {
                ensure!(!data.is_empty(), "read returned an empty buffer at byte {offset}");
                ensure!(
                    offset + data.len() as u64 <= total,
                    "received more than the {total} bytes sent (at least {})",
                    offset + data.len() as u64
                );
                if let Some(at) = pattern.mismatch(offset, &data) {
                    return Err(Fail::Failed(format!(
                        "data corrupted or reordered: first wrong byte at offset {at}"
                    )));
                }
                offset += data.len() as u64;
            }
            Chunk::Eof => {
                ensure!(
                    offset == total,
                    "end of file after {offset} of {total} bytes: {} bytes lost",
                    total - offset
                );
                return Ok(());
            }
        }
    }
}

/// Reads and expects end of file.
pub(crate) async fn expect_eof<R: FlowRead + Unpin>(r: &mut R, what: &str) -> Check {
    match r.read().await.doing(what)? {
        Chunk::Eof => Ok(()),
        Chunk::Data(data) => Err(Fail::Failed(format!(
            "{what}: expected end of file, got {} bytes",
            data.len()
        ))),
    }
}

/// Expects a write error to be exactly `WriteError::Closed`.
pub(crate) fn expect_closed(result: Result<(), WriteError>, what: &str) -> Check {
    match result {
        Err(WriteError::Closed) => Ok(()),
        Err(other) => Err(Fail::Failed(format!(
            "{what}: expected WriteError::Closed, got {other} (kind {:?})",
            other.kind()
        ))),
        Ok(()) => Err(Fail::Failed(format!(
            "{what}: expected WriteError::Closed, the write succeeded"
        ))),
    }
}

/// Returns `Pending` once, waking itself: lets the executor and other
/// branches run.
pub(crate) fn yield_now() -> impl Future<Output = ()> {
    struct YieldNow(bool);
    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    YieldNow(false)
}

/// Polls `future` exactly once.
pub(crate) async fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        Poll::Ready(match Pin::new(&mut *future).poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

/// Hands `buf` to the flow straight through `start_write`, after waiting
/// for room: what `write` does, minus its own shortcuts (flow-api's
/// futures skip empty buffers, so only this reaches the backend with one).
pub(crate) async fn start_raw<W: FlowWrite + Unpin>(w: &mut W, buf: Bytes) -> Result<(), WriteError> {
    std::future::poll_fn(|cx| Pin::new(&mut *w).poll_write_ready(cx)).await?;
    Pin::new(&mut *w).start_write(buf)
}

/// Keeps an end open until the peer is done with it, after this end shut
/// down writing: reads (and drops) until end of file or an error.
///
/// A writer that returned at once would drop its end, which is an abort
/// (clause 13). Over TCP, dropping a socket with unread data (a TLS 1.3
/// session ticket, say) resets the connection, and the peer loses what it
/// had not read yet: the clause would blame the backend for the clause's
/// own abort.
pub(crate) async fn linger<R: FlowRead + Unpin>(r: &mut R) -> Check {
    loop {
        match r.read().await {
            Ok(Chunk::Data(_)) => {}
            Ok(Chunk::Eof) | Err(_) => return Ok(()),
        }
    }
}

/// `shutdown(Write)` at poll level, for a write half.
pub(crate) async fn shutdown_write<W: FlowWrite + Unpin>(w: &mut W) -> Result<(), Error> {
    std::future::poll_fn(|cx| Pin::new(&mut *w).poll_shutdown_write(cx)).await
}

/// Reads chunks into a buffer and hands out exact lengths: a framing reader
/// for request/response traffic.
#[derive(Debug, Default)]
pub(crate) struct Framed {
    buf: Vec<u8>,
    start: usize,
}

impl Framed {
    /// Reads until `len` bytes are buffered, then takes them. `None` at a
    /// clean end of file before the first byte.
    pub(crate) async fn take<R: FlowRead + Unpin>(&mut self, r: &mut R, len: usize) -> Result<Option<Vec<u8>>, Fail> {
        while self.buf.len() - self.start < len {
            match r.read().await.doing("read")? {
                Chunk::Data(data) => {
                    ensure!(!data.is_empty(), "read returned an empty buffer");
                    if self.start > 0 && self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                    }
                    self.buf.extend_from_slice(&data);
                }
                Chunk::Eof if self.buf.len() == self.start => return Ok(None),
                Chunk::Eof => {
                    return Err(Fail::Failed(format!(
                        "end of file in the middle of a message ({} of {len} bytes)",
                        self.buf.len() - self.start
                    )));
                }
            }
        }
        let out = self.buf[self.start..self.start + len].to_vec();
        self.start += len;
        Ok(Some(out))
    }
}
