//! Deliberately broken backends: the suite must be able to fail. Each
//! breaks one clause of the contract over the reference memory backend;
//! `crates/flow-conformance/tests/broken_backends.rs` asserts that the suite
//! catches each, and the conformance matrix runs them as `broken-*` backends
//! (not part of the default set) to show that it exits non-zero.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flow_api::{Bytes, Chunk, Error, FlowRead, FlowWrite, WriteError};
use flow_conformance::{Capabilities, Factory, MemPairs};
use flow_mem::MemFlow;

/// What a deliberately broken backend gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakage {
    /// Returns an empty buffer before every other real read.
    EmptyReads,
    /// Holds back the last buffer written and drops it on shutdown or close.
    LosesLastChunkOnClose,
    /// Never signals end of file on shutdown(Write) or close.
    NoEofOnShutdown,
    /// Sends the buffers handed over before a flush in reverse order.
    ReordersWritev,
    /// Drops a chunk when a read is polled and then cancelled.
    LosesDataOnCancel,
    /// Claims bounded buffers but never makes a writer wait.
    NoBackpressure,
    /// Reports a closed error from reads after close, not end of file.
    ReadErrorAfterClose,
}

impl Breakage {
    /// Every breakage, in a fixed order.
    pub const ALL: [Breakage; 7] = [
        Breakage::EmptyReads,
        Breakage::LosesLastChunkOnClose,
        Breakage::NoEofOnShutdown,
        Breakage::ReordersWritev,
        Breakage::LosesDataOnCancel,
        Breakage::NoBackpressure,
        Breakage::ReadErrorAfterClose,
    ];

    /// A short name for the command line (`empty-reads`...).
    pub fn name(self) -> &'static str {
        match self {
            Breakage::EmptyReads => "empty-reads",
            Breakage::LosesLastChunkOnClose => "loses-last-chunk-on-close",
            Breakage::NoEofOnShutdown => "no-eof-on-shutdown",
            Breakage::ReordersWritev => "reorders-writev",
            Breakage::LosesDataOnCancel => "loses-data-on-cancel",
            Breakage::NoBackpressure => "no-backpressure",
            Breakage::ReadErrorAfterClose => "read-error-after-close",
        }
    }

    /// The breakage with this [name](Breakage::name).
    pub fn find(name: &str) -> Option<Breakage> {
        Breakage::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// A memory flow broken in one way.
#[derive(Debug)]
pub struct Broken {
    inner: MemFlow,
    breakage: Breakage,
    held: Vec<Bytes>,
    reads: u64,
    closed: bool,
    write_shut: bool,
}

impl Broken {
    fn new(inner: MemFlow, breakage: Breakage) -> Self {
        Broken {
            inner,
            breakage,
            held: Vec::new(),
            reads: 0,
            closed: false,
            write_shut: false,
        }
    }

    fn inner(&mut self) -> Pin<&mut MemFlow> {
        Pin::new(&mut self.inner)
    }

    fn release_held(&mut self) -> Result<(), WriteError> {
        let mut held = std::mem::take(&mut self.held);
        if self.breakage == Breakage::ReordersWritev {
            held.reverse();
        }
        for buf in held {
            self.inner().start_write(buf)?;
        }
        Ok(())
    }
}

impl FlowRead for Broken {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let this = self.get_mut();
        this.reads += 1;
        match this.breakage {
            Breakage::EmptyReads if this.reads % 2 == 0 => Poll::Ready(Ok(Chunk::Data(Bytes::new()))),
            Breakage::LosesDataOnCancel if this.reads % 3 == 0 => {
                // Takes a chunk, then claims nothing was ready.
                if let Poll::Ready(Ok(Chunk::Data(_))) = this.inner().poll_read(cx) {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
            Breakage::ReadErrorAfterClose if this.closed => Poll::Ready(Err(Error::new(flow_api::ErrorKind::Closed))),
            _ => this.inner().poll_read(cx),
        }
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().inner().poll_shutdown_read(cx)
    }
}

impl FlowWrite for Broken {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        if this.write_shut {
            return Poll::Ready(Err(WriteError::Closed));
        }
        if this.breakage == Breakage::NoBackpressure {
            // Room is always claimed, whatever the bound says.
            return match this.inner().poll_write_ready(cx) {
                Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
                _ => Poll::Ready(Ok(())),
            };
        }
        this.inner().poll_write_ready(cx)
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        let this = self.get_mut();
        if this.write_shut {
            return Err(WriteError::Closed);
        }
        match this.breakage {
            Breakage::LosesLastChunkOnClose => {
                if buf.is_empty() {
                    return Ok(());
                }
                this.release_held()?;
                this.held.push(buf);
                Ok(())
            }
            Breakage::ReordersWritev => {
                this.held.push(buf);
                Ok(())
            }
            _ => this.inner().start_write(buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        if this.breakage == Breakage::ReordersWritev {
            this.release_held()?;
        }
        this.inner().poll_flush(cx)
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        match this.breakage {
            Breakage::NoEofOnShutdown => {
                // Refuses later writes, as it should, but never tells the peer.
                this.write_shut = true;
                Poll::Ready(Ok(()))
            }
            Breakage::LosesLastChunkOnClose => {
                this.held.clear();
                this.inner().poll_shutdown_write(cx)
            }
            _ => {
                this.release_held()?;
                this.inner().poll_shutdown_write(cx)
            }
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        match this.breakage {
            Breakage::NoEofOnShutdown => {
                this.write_shut = true;
                return Poll::Ready(Ok(()));
            }
            Breakage::LosesLastChunkOnClose => this.held.clear(),
            _ => this.release_held()?,
        }
        ready!(this.inner().poll_close(cx))?;
        this.closed = true;
        Poll::Ready(Ok(()))
    }
}

/// Pairs of [`Broken`] flows: the suite must fail on them.
#[derive(Debug)]
pub struct BrokenPairs(pub Breakage);

impl Factory for BrokenPairs {
    type Client = Broken;
    type Server = Broken;

    async fn connect(&self) -> Result<(Broken, Broken), Error> {
        let capacity = if self.0 == Breakage::NoBackpressure {
            usize::MAX
        } else {
            flow_mem::DEFAULT_CAPACITY
        };
        let (a, b) = flow_mem::pair_with_capacity(capacity);
        Ok((Broken::new(a, self.0), Broken::new(b, self.0)))
    }

    fn capabilities(&self) -> Capabilities {
        // Every broken backend claims what the reference backend does.
        MemPairs::default().capabilities()
    }
}
