//! A metering wrapper: bytes and operations in each direction.

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use flow_api::{Bytes, Chunk, Error, FlowRead, FlowWrite, WriteError};

#[derive(Debug, Default)]
struct Counters {
    bytes_read: AtomicU64,
    reads: AtomicU64,
    bytes_written: AtomicU64,
    writes: AtomicU64,
    flushes: AtomicU64,
    read_errors: AtomicU64,
    write_errors: AtomicU64,
}

/// The counters of a [`Metered`] flow at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MeterSnapshot {
    /// Bytes returned by reads.
    pub bytes_read: u64,
    /// Reads that returned data (end of file is not counted).
    pub reads: u64,
    /// Bytes handed over to the flow for writing (accepted by `start_write`).
    pub bytes_written: u64,
    /// Non-empty buffers handed over for writing.
    pub writes: u64,
    /// Flushes that completed.
    pub flushes: u64,
    /// Reads that failed.
    pub read_errors: u64,
    /// Write operations (readiness, hand-over, flush) that failed.
    pub write_errors: u64,
}

/// A handle on a [`Metered`] flow's counters: cloneable, `Send + Sync`,
/// readable from anywhere while the flow is in use and after it is dropped.
#[derive(Debug, Clone)]
pub struct Meter {
    counters: Arc<Counters>,
}

impl Meter {
    /// The counters now. Each counter is read atomically; the snapshot as a
    /// whole is not, when the flow is in use on another thread.
    pub fn snapshot(&self) -> MeterSnapshot {
        let c = &self.counters;
        MeterSnapshot {
            bytes_read: c.bytes_read.load(Ordering::Relaxed),
            reads: c.reads.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            flushes: c.flushes.load(Ordering::Relaxed),
            read_errors: c.read_errors.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.counters.bytes_read.load(Ordering::Relaxed)
    }

    /// Bytes handed over for writing so far.
    pub fn bytes_written(&self) -> u64 {
        self.counters.bytes_written.load(Ordering::Relaxed)
    }
}

/// Wraps any flow and counts bytes and operations in each direction.
///
/// The counts live behind a [`Meter`] handle ([`Metered::meter`]) that can be
/// read while the flow is in use, from any thread. Everything else is passed
/// through untouched: buffers (no copy), readiness, errors, shutdown, close,
/// so the wrapped flow keeps the contract.
///
/// With the `tracing` feature, it emits events under the target
/// `flow_util::meter`, with the flow's [label](Metered::with_label): `TRACE`
/// for each read and write, `DEBUG` for end of file, shutdowns, close and
/// errors.
///
/// ```
/// use flow_api::prelude::*;
/// use flow_util::Metered;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// futures_executor::block_on(async {
///     let (a, mut b) = flow_mem::pair();
///     let mut a = Metered::with_label(a, "client");
///     let meter = a.meter();
///     a.write("hello").await?;
///     b.write("hi").await?;
///     a.read().await?;
///     let counts = meter.snapshot();
///     assert_eq!((counts.bytes_written, counts.writes), (5, 1));
///     assert_eq!((counts.bytes_read, counts.reads), (2, 1));
///     Ok(())
/// })
/// # }
/// ```
pub struct Metered<F> {
    inner: F,
    counters: Arc<Counters>,
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    label: Cow<'static, str>,
}

impl<F> Metered<F> {
    /// Wraps `inner`, with zeroed counters and the label `flow`.
    pub fn new(inner: F) -> Self {
        Metered::with_label(inner, "flow")
    }

    /// Wraps `inner`; `label` names the flow in `tracing` events.
    pub fn with_label(inner: F, label: impl Into<Cow<'static, str>>) -> Self {
        Metered {
            inner,
            counters: Arc::default(),
            label: label.into(),
        }
    }

    /// A handle on the counters.
    pub fn meter(&self) -> Meter {
        Meter {
            counters: Arc::clone(&self.counters),
        }
    }

    /// The wrapped flow.
    pub fn get_ref(&self) -> &F {
        &self.inner
    }

    /// The wrapped flow, mutably: what goes through it directly is not counted.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.inner
    }

    /// The wrapped flow. Existing [`Meter`] handles keep the final counts.
    pub fn into_inner(self) -> F {
        self.inner
    }
}

#[cfg(feature = "tracing")]
macro_rules! event {
    ($level:ident, $label:expr, $($rest:tt)*) => {
        tracing::$level!(target: "flow_util::meter", flow = %$label, $($rest)*)
    };
}

#[cfg(not(feature = "tracing"))]
macro_rules! event {
    ($($rest:tt)*) => {};
}

fn add(counter: &AtomicU64, n: u64) -> u64 {
    counter.fetch_add(n, Ordering::Relaxed).wrapping_add(n)
}

impl<F: FlowRead + Unpin> FlowRead for Metered<F> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_read(cx);
        match &result {
            Poll::Ready(Ok(Chunk::Data(buf))) => {
                let _total = add(&this.counters.bytes_read, buf.len() as u64);
                add(&this.counters.reads, 1);
                event!(trace, this.label, bytes = buf.len(), total = _total, "read");
            }
            Poll::Ready(Ok(Chunk::Eof)) => {
                event!(debug, this.label, "end of file");
            }
            Poll::Ready(Err(_err)) => {
                add(&this.counters.read_errors, 1);
                event!(debug, this.label, error = %_err, "read failed");
            }
            Poll::Pending => {}
        }
        result
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_shutdown_read(cx);
        if let Poll::Ready(_r) = &result {
            event!(debug, this.label, ok = _r.is_ok(), "shutdown(Read)");
        }
        result
    }
}

impl<F: FlowWrite + Unpin> Metered<F> {
    fn count_write_error<T>(&self, result: Poll<Result<T, WriteError>>) -> Poll<Result<T, WriteError>> {
        if let Poll::Ready(Err(_err)) = &result {
            add(&self.counters.write_errors, 1);
            event!(debug, self.label, error = %_err, "write failed");
        }
        result
    }
}

impl<F: FlowWrite + Unpin> FlowWrite for Metered<F> {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_ready(cx);
        this.count_write_error(result)
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        let this = self.get_mut();
        let len = buf.len() as u64;
        let result = Pin::new(&mut this.inner).start_write(buf);
        match &result {
            Ok(()) if len > 0 => {
                let _total = add(&this.counters.bytes_written, len);
                add(&this.counters.writes, 1);
                event!(trace, this.label, bytes = len, total = _total, "write");
            }
            Ok(()) => {}
            Err(_err) => {
                add(&this.counters.write_errors, 1);
                event!(debug, this.label, error = %_err, "write failed");
            }
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = result {
            add(&this.counters.flushes, 1);
        }
        this.count_write_error(result)
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_shutdown_write(cx);
        if let Poll::Ready(_r) = &result {
            event!(debug, this.label, ok = _r.is_ok(), "shutdown(Write)");
        }
        result
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_close(cx);
        if let Poll::Ready(_r) = &result {
            event!(
                debug,
                this.label,
                ok = _r.is_ok(),
                bytes_read = this.counters.bytes_read.load(Ordering::Relaxed),
                bytes_written = this.counters.bytes_written.load(Ordering::Relaxed),
                "close"
            );
        }
        result
    }
}

impl<F: fmt::Debug> fmt::Debug for Metered<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metered")
            .field("inner", &self.inner)
            .field("label", &self.label)
            .field("counts", &self.meter().snapshot())
            .finish()
    }
}
