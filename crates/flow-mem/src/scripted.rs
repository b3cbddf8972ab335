//! A one-way test flow: scripted reads, recorded writes.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use flow_api::{Bytes, Chunk, Error, FlowRead, FlowWrite, WriteError};

/// A flow whose reads come from a fixed list of chunks and whose writes are
/// recorded, like mirage's `F`: for unit-testing protocol code without a
/// peer.
///
/// Reads return the chunks in order (empty ones are skipped: a flow never
/// returns an empty buffer), then end of file. The remote is a script that
/// has already finished, so close completes at once.
///
/// ```
/// use flow_api::prelude::*;
/// use flow_mem::Scripted;
///
/// # fn main() -> Result<(), flow_api::Error> {
/// futures_executor::block_on(async {
///     let (mut flow, recorder) = Scripted::new(["GET / HTTP/1.0\r\n", "\r\n"]);
///     assert_eq!(flow.read().await?, Chunk::Data(Bytes::from("GET / HTTP/1.0\r\n")));
///     flow.write("HTTP/1.0 200 OK\r\n").await?;
///     flow.close().await?;
///     assert_eq!(recorder.written(), b"HTTP/1.0 200 OK\r\n");
///     assert!(recorder.is_closed());
///     Ok(())
/// })
/// # }
/// ```
pub struct Scripted {
    input: VecDeque<Bytes>,
    record: Arc<Mutex<Record>>,
}

/// What a [`Scripted`] flow was asked to do; cloneable, readable while the
/// flow is in use or after it was dropped.
#[derive(Clone)]
pub struct Recorder {
    record: Arc<Mutex<Record>>,
}

#[derive(Default)]
struct Record {
    written: Vec<Bytes>,
    read_shut: bool,
    write_shut: bool,
    closed: bool,
}

impl Scripted {
    /// A flow that reads `input`, chunk by chunk, and a recorder of what it
    /// is asked to write.
    pub fn new<I>(input: I) -> (Scripted, Recorder)
    where
        I: IntoIterator,
        I::Item: Into<Bytes>,
    {
        let record = Arc::new(Mutex::new(Record::default()));
        let flow = Scripted {
            input: input
                .into_iter()
                .map(Into::into)
                .filter(|b: &Bytes| !b.is_empty())
                .collect(),
            record: Arc::clone(&record),
        };
        (flow, Recorder { record })
    }

    fn record(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Recorder {
    fn record(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything written so far, concatenated.
    pub fn written(&self) -> Vec<u8> {
        self.record().written.iter().flat_map(|b| b.iter().copied()).collect()
    }

    /// The buffers written so far, as handed over (empty ones left out).
    pub fn chunks(&self) -> Vec<Bytes> {
        self.record().written.clone()
    }

    /// Whether the flow's write direction was shut down (or the flow closed).
    pub fn is_write_shut(&self) -> bool {
        self.record().write_shut
    }

    /// Whether the flow's read direction was shut down (or the flow closed).
    pub fn is_read_shut(&self) -> bool {
        self.record().read_shut
    }

    /// Whether the flow was closed.
    pub fn is_closed(&self) -> bool {
        self.record().closed
    }
}

impl FlowRead for Scripted {
    fn poll_read(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let this = self.get_mut();
        if this.record().read_shut {
            return Poll::Ready(Ok(Chunk::Eof));
        }
        Poll::Ready(Ok(this.input.pop_front().map_or(Chunk::Eof, Chunk::Data)))
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.record().read_shut = true;
        this.input.clear();
        Poll::Ready(Ok(()))
    }
}

impl FlowWrite for Scripted {
    fn poll_write_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        if self.record().write_shut {
            return Poll::Ready(Err(WriteError::Closed));
        }
        Poll::Ready(Ok(()))
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        let mut record = self.record();
        if record.write_shut {
            return Err(WriteError::Closed);
        }
        if !buf.is_empty() {
            record.written.push(buf);
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.record().write_shut = true;
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.input.clear();
        let mut record = this.record();
        record.write_shut = true;
        record.read_shut = true;
        record.closed = true;
        Poll::Ready(Ok(()))
    }
}

impl fmt::Debug for Scripted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scripted")
            .field("chunks_left", &self.input.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let record = self.record();
        f.debug_struct("Recorder")
            .field("chunks_written", &record.written.len())
            .field("write_shut", &record.write_shut)
            .field("closed", &record.closed)
            .finish_non_exhaustive()
    }
}
