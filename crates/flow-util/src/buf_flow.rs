//! A buffered channel over any flow: the `mirage-channel` equivalent.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use flow_api::{Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite, WriteError, WriteQueue};

/// Bytes queued above which the channel, used as a flow, flushes before it
/// takes more (`poll_write_ready`).
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// Buffers smaller than this are copied together into one buffer before
/// they are handed to the flow, so that many tiny writes do not become many
/// tiny vectored-write entries.
const COALESCE_BELOW: usize = 512;

/// An error from a [`BufFlow`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BufFlowError {
    /// Reading from the flow failed.
    #[error("channel read failed")]
    Read(#[source] Error),
    /// Writing to the flow failed (including [`WriteError::Closed`]).
    #[error("channel write failed")]
    Write(#[source] WriteError),
    /// Shutting down or closing the flow failed.
    #[error("channel shutdown or close failed")]
    Close(#[source] Error),
    /// End of file came before the data asked for. Nothing was consumed: the
    /// `buffered` bytes read so far stay in the channel
    /// ([`read_some`](BufFlow::read_some) returns them).
    #[error("unexpected end of file: needed {needed} bytes, {buffered} were left")]
    UnexpectedEof {
        /// How many bytes the call needed (for a line or delimiter: one more
        /// than what was buffered, since the end was not found).
        needed: usize,
        /// How many bytes were left in the buffer.
        buffered: usize,
    },
    /// No line end (or delimiter) within the maximum length. Nothing was
    /// consumed: the bytes stay in the channel, to skip or read otherwise.
    #[error("line too long: no end of line within {max} bytes")]
    LineTooLong {
        /// The maximum that was given.
        max: usize,
    },
}

impl BufFlowError {
    /// The flow [`ErrorKind`] closest to this error: the flow's for I/O
    /// failures, [`ErrorKind::Truncated`] for an unexpected end of file,
    /// [`ErrorKind::InvalidData`] for a line too long.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BufFlowError::Read(err) | BufFlowError::Close(err) => err.kind(),
            BufFlowError::Write(err) => err.kind(),
            BufFlowError::UnexpectedEof { .. } => ErrorKind::Truncated,
            BufFlowError::LineTooLong { .. } => ErrorKind::InvalidData,
        }
    }
}

impl From<BufFlowError> for Error {
    fn from(err: BufFlowError) -> Self {
        match err {
            BufFlowError::Read(err) | BufFlowError::Close(err) => err,
            BufFlowError::Write(err) => err.into(),
            other => Error::with_source(other.kind(), other),
        }
    }
}

/// A buffered reader and writer over any flow, like `mirage-channel`.
///
/// Reads: [`read_exact`](BufFlow::read_exact), [`read_line`](BufFlow::read_line)
/// (LF or CRLF, with a maximum length), [`read_until`](BufFlow::read_until) a
/// delimiter, [`read_some`](BufFlow::read_some). What the flow returns beyond
/// the request stays buffered for the next call; when a request fits in one
/// buffer read from the flow, the result is a slice of it (no copy).
///
/// Writes are buffered: [`queue`](BufFlow::queue) and
/// [`queue_line`](BufFlow::queue_line) only queue (they are not the flow's
/// `write`), and the flow's `flush` ([`FlowWriteExt::flush`](flow_api::FlowWriteExt::flush)) hands
/// everything queued to the flow and flushes once, so that it goes out as
/// one vectored write on sockets. `close` and `shutdown` flush first.
/// Nothing bounds what `queue` takes: flush regularly.
///
/// Every read is cancel-safe (what was read stays buffered), and so are
/// `flush`, `shutdown` and `close` (calling again resumes).
///
/// A buffered flow is a flow itself ([`FlowRead`] and [`FlowWrite`]): reads
/// return the buffered bytes first, then the flow's; the flow's `write`
/// queues as [`queue`](BufFlow::queue) does and flushes, with backpressure
/// once 64 KiB are queued. So after reading a header line by line, it can
/// be handed to [`copy`](crate::copy) or [`proxy`](crate::proxy) with
/// nothing lost. A shutdown of reading discards the buffered input.
///
/// ```
/// use flow_api::prelude::*;
/// use flow_util::BufFlow;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// futures_executor::block_on(async {
///     let (a, mut b) = flow_mem::pair();
///     b.write("HELO there\r\nrest").await?;
///     let mut channel = BufFlow::new(a);
///     assert_eq!(channel.read_line(1024).await?, Some(Bytes::from("HELO there")));
///     channel.queue_line("250 hello");
///     channel.flush().await?;
///     assert_eq!(b.read().await?, Chunk::Data(Bytes::from("250 hello\n")));
///     Ok(())
/// })
/// # }
/// ```
pub struct BufFlow<F> {
    flow: F,
    input: VecDeque<Bytes>,
    buffered: usize,
    eof: bool,
    /// Bytes known not to contain `scan_delim`, from the start of `input`.
    scanned: usize,
    /// How many chunks at the front of `input` are wholly within
    /// `scanned`, and their bytes: where the next scan starts, so that a
    /// line arriving a byte per chunk (a slowloris) costs linear time, not
    /// a walk over every chunk per byte.
    scanned_chunks: usize,
    scanned_chunk_bytes: usize,
    scan_delim: u8,
    output: WriteQueue,
    /// Small buffers gathered, not yet sealed into `output`.
    tail: BytesMut,
    unflushed: bool,
}

impl<F> BufFlow<F> {
    /// A channel over `flow`, with empty buffers.
    pub fn new(flow: F) -> Self {
        BufFlow {
            flow,
            input: VecDeque::new(),
            buffered: 0,
            eof: false,
            scanned: 0,
            scanned_chunks: 0,
            scanned_chunk_bytes: 0,
            scan_delim: b'\n',
            output: WriteQueue::new(WRITE_HIGH_WATER),
            tail: BytesMut::new(),
            unflushed: false,
        }
    }

    /// The flow.
    pub fn get_ref(&self) -> &F {
        &self.flow
    }

    /// The flow, mutably. Reading or writing it directly bypasses the
    /// channel's buffers.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.flow
    }

    /// Bytes read from the flow and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Bytes queued for writing and not yet handed to the flow.
    pub fn queued(&self) -> usize {
        self.output.len() + self.tail.len()
    }

    /// The flow, the bytes read and not yet returned, and the bytes queued
    /// and not yet written, so that nothing is lost.
    pub fn into_parts(mut self) -> (F, Vec<Bytes>, Vec<Bytes>) {
        self.seal_tail();
        (self.flow, self.input.into_iter().collect(), self.output.take_all())
    }

    /// Queues `buf` for writing. Nothing is written until
    /// the flow's `flush` (or `shutdown` or `close`). Large buffers are
    /// queued as they are (no copy); small ones are gathered into one.
    pub fn queue(&mut self, buf: impl Into<Bytes>) {
        let buf = buf.into();
        if buf.is_empty() {
            return;
        }
        if buf.len() < COALESCE_BELOW {
            self.tail.extend_from_slice(&buf);
        } else {
            self.seal_tail();
            self.output.push(buf);
        }
    }

    /// Queues `line` followed by `\n`. Write the `\r` yourself (or use
    /// [`write_line_crlf`](BufFlow::queue_line_crlf)) for protocols that end
    /// lines with CRLF.
    pub fn queue_line(&mut self, line: impl Into<Bytes>) {
        self.queue(line);
        self.queue(Bytes::from_static(b"\n"));
    }

    /// Queues `line` followed by `\r\n`.
    pub fn queue_line_crlf(&mut self, line: impl Into<Bytes>) {
        self.queue(line);
        self.queue(Bytes::from_static(b"\r\n"));
    }

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.output.push(self.tail.split().freeze());
        }
    }

    /// Removes the first `n` bytes (`n <= buffered`) from the input buffer.
    fn take(&mut self, n: usize) -> Bytes {
        self.buffered -= n;
        self.scanned = self.scanned.saturating_sub(n);
        self.forget_scanned_chunks();
        if let Some(front) = self.input.front_mut() {
            if front.len() >= n {
                let out = front.split_to(n);
                if front.is_empty() {
                    self.input.pop_front();
                }
                return out;
            }
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let Some(front) = self.input.front_mut() else { break };
            let want = n - out.len();
            if front.len() <= want {
                out.extend_from_slice(front);
                self.input.pop_front();
            } else {
                out.extend_from_slice(&front[..want]);
                front.advance(want);
            }
        }
        out.freeze()
    }

    /// The front of `input` changed: the next scan walks the chunks from
    /// the start again (`scanned` still skips their bytes).
    fn forget_scanned_chunks(&mut self) {
        self.scanned_chunks = 0;
        self.scanned_chunk_bytes = 0;
    }

    /// The offset of the first `delim` in the first `limit` buffered bytes.
    fn find(&mut self, delim: u8, limit: usize) -> Option<usize> {
        if self.scan_delim != delim {
            self.scan_delim = delim;
            self.scanned = 0;
            self.forget_scanned_chunks();
        }
        let limit = limit.min(self.buffered);
        let mut offset = self.scanned_chunk_bytes;
        for chunk in self.input.iter().skip(self.scanned_chunks) {
            if offset >= limit {
                break;
            }
            let end = chunk.len().min(limit - offset);
            if offset + end > self.scanned {
                let from = self.scanned.saturating_sub(offset);
                if let Some(i) = chunk[from..end].iter().position(|b| *b == delim) {
                    return Some(offset + from + i);
                }
            }
            offset += chunk.len();
            if end == chunk.len() {
                // Wholly scanned, no `delim` in it: the next scan starts after it.
                self.scanned_chunks += 1;
                self.scanned_chunk_bytes = offset;
            }
        }
        self.scanned = self.scanned.max(limit);
        None
    }

    fn byte_at(&self, mut at: usize) -> Option<u8> {
        for chunk in &self.input {
            if at < chunk.len() {
                return Some(chunk[at]);
            }
            at -= chunk.len();
        }
        None
    }
}

impl<F: FlowRead + Unpin> BufFlow<F> {
    /// Reads one more buffer from the flow into the channel; `false` at end
    /// of file.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, BufFlowError>> {
        if self.eof {
            return Poll::Ready(Ok(false));
        }
        match ready!(Pin::new(&mut self.flow).poll_read(cx)) {
            Ok(Chunk::Data(buf)) => {
                self.buffered += buf.len();
                self.input.push_back(buf);
                Poll::Ready(Ok(true))
            }
            Ok(Chunk::Eof) => {
                self.eof = true;
                Poll::Ready(Ok(false))
            }
            Err(err) => Poll::Ready(Err(BufFlowError::Read(err))),
        }
    }

    async fn fill(&mut self) -> Result<bool, BufFlowError> {
        poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Reads exactly `n` bytes. A slice of the flow's own buffer when they
    /// are in one; copied together otherwise. `n == 0` returns an empty
    /// buffer at once.
    ///
    /// Cancel-safe: what was read stays buffered.
    ///
    /// # Errors
    ///
    /// [`BufFlowError::UnexpectedEof`] when the flow ends first (the bytes
    /// stay buffered); [`BufFlowError::Read`] when the flow fails.
    pub async fn read_exact(&mut self, n: usize) -> Result<Bytes, BufFlowError> {
        while self.buffered < n {
            if !self.fill().await? {
                return Err(BufFlowError::UnexpectedEof {
                    needed: n,
                    buffered: self.buffered,
                });
            }
        }
        Ok(self.take(n))
    }

    /// Reads what is available, up to `max` bytes (at least one): the
    /// buffered bytes first, else one read from the flow. Returns
    /// [`Chunk::Eof`] once the flow ended and nothing is buffered.
    ///
    /// Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`BufFlowError::Read`] when the flow fails.
    pub async fn read_some(&mut self, max: usize) -> Result<Chunk, BufFlowError> {
        let max = max.max(1);
        if self.buffered == 0 && !self.fill().await? {
            return Ok(Chunk::Eof);
        }
        let front = self.input.front().map_or(0, Bytes::len);
        Ok(Chunk::Data(self.take(front.min(max))))
    }

    /// Reads up to and including the first `delim`, at most `max` bytes
    /// (the delimiter included). Returns `None` at end of file when nothing
    /// is buffered.
    ///
    /// Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`BufFlowError::LineTooLong`] when `max` bytes hold no delimiter;
    /// [`BufFlowError::UnexpectedEof`] when the flow ends before a
    /// delimiter. Either way nothing is consumed: the bytes stay buffered.
    /// [`BufFlowError::Read`] when the flow fails.
    pub async fn read_until(&mut self, delim: u8, max: usize) -> Result<Option<Bytes>, BufFlowError> {
        loop {
            if let Some(i) = self.find(delim, max) {
                return Ok(Some(self.take(i + 1)));
            }
            if self.buffered >= max {
                return Err(BufFlowError::LineTooLong { max });
            }
            if !self.fill().await? {
                if self.buffered == 0 {
                    return Ok(None);
                }
                return Err(BufFlowError::UnexpectedEof {
                    needed: self.buffered + 1,
                    buffered: self.buffered,
                });
            }
        }
    }

    /// Reads one line ended by `\n` or `\r\n` and returns it without the
    /// ending. `max` bounds the line's length, the ending excluded. Returns
    /// `None` at end of file when nothing is buffered.
    ///
    /// Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`BufFlowError::LineTooLong`] when the line is longer than `max`
    /// bytes; [`BufFlowError::UnexpectedEof`] when the flow ends in the
    /// middle of a line. Either way nothing is consumed: the bytes stay
    /// buffered. [`BufFlowError::Read`] when the flow fails.
    pub async fn read_line(&mut self, max: usize) -> Result<Option<Bytes>, BufFlowError> {
        // Room for the line and a CRLF.
        let limit = max.saturating_add(2);
        loop {
            if let Some(i) = self.find(b'\n', limit) {
                let cr = i > 0 && self.byte_at(i - 1) == Some(b'\r');
                let len = if cr { i - 1 } else { i };
                if len > max {
                    return Err(BufFlowError::LineTooLong { max });
                }
                let mut line = self.take(i + 1);
                line.truncate(len);
                return Ok(Some(line));
            }
            if self.buffered >= limit {
                return Err(BufFlowError::LineTooLong { max });
            }
            if !self.fill().await? {
                if self.buffered == 0 {
                    return Ok(None);
                }
                return Err(BufFlowError::UnexpectedEof {
                    needed: self.buffered + 1,
                    buffered: self.buffered,
                });
            }
        }
    }
}

impl<F: FlowWrite + Unpin> BufFlow<F> {
    fn poll_flush_queue(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BufFlowError>> {
        self.seal_tail();
        // What the flow refuses stays queued, for `into_parts`.
        let handed = ready!(self.output.relay(cx, Pin::new(&mut self.flow))).map_err(BufFlowError::Write)?;
        self.unflushed |= handed;
        if self.unflushed {
            ready!(Pin::new(&mut self.flow).poll_flush(cx)).map_err(BufFlowError::Write)?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }
}

impl<F: FlowRead + Unpin> FlowRead for BufFlow<F> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let this = self.get_mut();
        if let Some(front) = this.input.pop_front() {
            this.buffered -= front.len();
            this.scanned = this.scanned.saturating_sub(front.len());
            this.forget_scanned_chunks();
            return Poll::Ready(Ok(Chunk::Data(front)));
        }
        if this.eof {
            return Poll::Ready(Ok(Chunk::Eof));
        }
        let chunk = ready!(Pin::new(&mut this.flow).poll_read(cx))?;
        if chunk.is_eof() {
            this.eof = true;
        }
        Poll::Ready(Ok(chunk))
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.flow).poll_shutdown_read(cx))?;
        this.input.clear();
        this.buffered = 0;
        this.scanned = 0;
        this.forget_scanned_chunks();
        this.eof = true;
        Poll::Ready(Ok(()))
    }
}

impl<F: FlowWrite + Unpin> BufFlow<F> {
    /// A flush failure, as a flow error.
    fn flow_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        self.poll_flush_queue(cx).map_err(|err| match err {
            BufFlowError::Write(err) => err,
            other => WriteError::from(Error::from(other)),
        })
    }
}

impl<F: FlowWrite + Unpin> FlowWrite for BufFlow<F> {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        if this.queued() >= WRITE_HIGH_WATER {
            match this.flow_flush(cx) {
                Poll::Ready(result) => result?,
                // Room once the flow took enough, even if not everything.
                Poll::Pending if this.queued() >= WRITE_HIGH_WATER => return Poll::Pending,
                Poll::Pending => {}
            }
        }
        Pin::new(&mut this.flow).poll_write_ready(cx)
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        let this = self.get_mut();
        if this.queued() == 0 {
            // Nothing waits before it: hand it over at once (even empty), so
            // that the flow refuses it now if it is shut down or closed.
            let empty = buf.is_empty();
            Pin::new(&mut this.flow).start_write(buf)?;
            this.unflushed |= !empty;
            return Ok(());
        }
        if !buf.is_empty() {
            this.queue(buf);
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        self.get_mut().flow_flush(cx)
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        ready!(this.flow_flush(cx))?;
        Pin::new(&mut this.flow).poll_shutdown_write(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        // Everything queued goes to the flow at once, without waiting for
        // its room (the contract lets a flow take a buffer over its bound):
        // the flow's close sends it while discarding what arrives. Waiting
        // for room here instead, while nobody reads, deadlocks two ends
        // that close at once with full buffers.
        this.seal_tail();
        for buf in this.output.take_all() {
            Pin::new(&mut this.flow).start_write(buf)?;
        }
        Pin::new(&mut this.flow).poll_close(cx)
    }
}

impl<F: fmt::Debug> fmt::Debug for BufFlow<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufFlow")
            .field("flow", &self.flow)
            .field("buffered", &self.buffered)
            .field("eof", &self.eof)
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}
