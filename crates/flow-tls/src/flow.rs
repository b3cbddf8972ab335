//! The TLS flow: rustls driven through its buffer API over any flow.

use std::fmt;
use std::future::Future;
use std::io::{self, BufRead as _, Write as _};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::Buf as _;
use flow_api::{
    Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite, IntoInnerError, Sleep, Timer, WriteError, WriteQueue,
    WriteState,
};
use rustls::pki_types::CertificateDer;
use rustls::{Connection, ProtocolVersion, SupportedCipherSuite};

use crate::wakers::Fanout;

/// Plaintext handed over and not yet taken by rustls, above which
/// `poll_write_ready` waits. rustls itself buffers at most 64 KiB of
/// encrypted records (its default buffer limit), and one more batch waits
/// for the underlying flow: the whole write side stays bounded.
const PLAINTEXT_HIGH_WATER: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Open,
    /// The peer sent `close_notify` and every byte before it was read.
    Eof,
    /// Shut down locally, or closed.
    Shut,
    /// Failed with this kind; reads return it again.
    Failed(ErrorKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseState {
    Open,
    /// Handing what is left and `close_notify` to the underlying flow.
    ShuttingDown,
    /// The underlying flow's close: it sends all that, ends its writes and
    /// waits for the peer's end under its own deadline.
    ClosingInner,
    Done,
}

/// A TLS connection over any flow, and itself a flow.
///
/// Made by [`TlsConnector::connect`](crate::TlsConnector::connect) (client)
/// or [`TlsAcceptor::accept`](crate::TlsAcceptor::accept) (server) once the
/// handshake has completed. It implements [`FlowRead`] and [`FlowWrite`], so
/// everything written against the flow traits runs over it unchanged.
///
/// # The contract over TLS
///
/// - **Reads** return decrypted data (never an empty chunk), then
///   [`Chunk::Eof`] once the peer sent `close_notify`. An underlying end of
///   file *without* `close_notify` is an error of kind
///   [`ErrorKind::Truncated`]: an attacker (or a crashed peer) may have cut
///   the stream, so it is not a clean end, and later writes fail with it
///   too (unless writing was shut down already). A read is cancel-safe: when it
///   returns `Pending`, no plaintext has been consumed (encrypted bytes may
///   have moved from the underlying flow into rustls, which keeps them).
///   Once `close` started (even if its future was dropped), reads return
///   end of file: the underlying flow's close discards what arrives.
/// - **Writes** are encrypted into records and handed to the underlying flow
///   as few, large buffers (one per batch rustls produces). At most 64 KiB of
///   plaintext waits in this flow, and rustls holds at most 64 KiB of
///   records, so a writer to a peer that does not read waits (backpressure
///   comes from the underlying flow's `poll_write_ready`).
/// - **`shutdown(Write)`** flushes, sends `close_notify` and shuts the
///   underlying flow's write side. With TLS 1.3 reading goes on (the peer
///   may reply). TLS 1.2 (RFC 5246, 7.2.1) lets a peer discard what arrives
///   after it sent `close_notify` (OpenSSL does): flow-tls peers keep
///   reading, but do not count on it with other TLS 1.2 implementations.
/// - **`shutdown(Read)`** makes later reads return end of file and shuts the
///   underlying flow's read side, so the peer's later writes are discarded.
/// - **`close`** is graceful: the plaintext still queued and `close_notify`
///   are encrypted and handed to the underlying flow at once (going over
///   the bounds above by at most what they hold), then the underlying
///   flow's own close sends them, ends its writes and waits for the peer's
///   end of writes, discarding what arrives meanwhile: the peer's
///   `close_notify` and any data before it, which close would discard
///   anyway. So the whole close keeps the underlying flow's close deadline
///   (30 s by default on TCP, `set_close_timeout` through
///   [`get_mut`](TlsFlow::get_mut)), even against a peer that reads
///   `close_notify` and then neither answers nor closes. Bound it further
///   with [`close_within`](flow_api::FlowWriteExt::close_within).
/// - A fatal TLS error (a bad record, an alert from the peer) fails both
///   directions with [`ErrorKind::Tls`], the rustls error as its source.
///
/// # Cancel safety
///
/// | operation | cancel-safe? |
/// |---|---|
/// | `read` | yes: nothing observable is consumed while pending |
/// | `write`, `feed` | as the contract says: the buffer is taken whole or not at all |
/// | `flush`, `shutdown`, `close` | yes: calling again resumes |
pub struct TlsFlow<F> {
    inner: F,
    conn: Connection,
    /// Encrypted bytes read from the underlying flow, not yet taken by rustls.
    incoming: Bytes,
    /// The underlying flow returned end of file.
    transport_eof: bool,
    /// Encrypted bytes taken from rustls, waiting for the underlying flow.
    outgoing: Option<Bytes>,
    /// Plaintext handed over, not yet taken by rustls.
    /// Shutting while `close_notify` is queued and the underlying flow's
    /// write side is being finished.
    plain: WriteQueue,
    read: ReadState,
    /// The error that ended reads, kept while plaintext decrypted before it
    /// (from the same chunk of records) is still to be read.
    failure: Option<Error>,
    close: CloseState,
    /// Buffers handed to the underlying flow so far, and whether it was
    /// flushed since the last one: the read path compares them to tell
    /// whether it made progress that the writer may be waiting for.
    handed_over: u64,
    inner_unflushed: bool,
    fanout: Arc<Fanout>,
    waker: Waker,
}

fn rustls_error(err: rustls::Error, what: &str) -> Error {
    Error::with_source(ErrorKind::Tls, err).context(what.to_owned())
}

fn io_tls_error(err: io::Error, what: &str) -> Error {
    Error::with_source(ErrorKind::Tls, err).context(what.to_owned())
}

impl<F> TlsFlow<F> {
    pub(crate) fn new(inner: F, conn: Connection) -> Self {
        let (fanout, waker) = Fanout::new();
        TlsFlow {
            inner,
            conn,
            incoming: Bytes::new(),
            transport_eof: false,
            outgoing: None,
            plain: WriteQueue::new(PLAINTEXT_HIGH_WATER).named("the TLS connection"),
            read: ReadState::Open,
            failure: None,
            close: CloseState::Open,
            handed_over: 0,
            inner_unflushed: false,
            fanout,
            waker,
        }
    }

    /// The underlying flow. Reading or writing it directly corrupts the TLS
    /// stream.
    pub fn get_ref(&self) -> &F {
        &self.inner
    }

    /// The underlying flow, mutably (for its options, say). Reading or
    /// writing it directly corrupts the TLS stream.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.inner
    }

    /// The rustls connection, for what this type does not expose (exporting
    /// keying material, the key exchange group...).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The underlying flow and the rustls connection, once nothing waits
    /// here: no plaintext queued and no records held back for the
    /// underlying flow, and no encrypted bytes read and not yet given to
    /// rustls. What rustls itself holds (plaintext received and not read,
    /// records not yet taken) goes with the connection.
    ///
    /// # Errors
    ///
    /// Bytes still wait here: the error gives the flow back unchanged and
    /// says how many. Flush (and read) first.
    pub fn into_inner(self) -> Result<(F, Connection), IntoInnerError<Self>> {
        let unsent = self.plain.len() + self.outgoing.as_ref().map_or(0, Bytes::len);
        let unread = self.incoming.len();
        if unsent == 0 && unread == 0 {
            Ok((self.inner, self.conn))
        } else {
            Err(IntoInnerError::new(self, unsent, unread))
        }
    }

    /// Whether this is the client end.
    pub fn is_client(&self) -> bool {
        matches!(self.conn, Connection::Client(_))
    }

    /// The application protocol negotiated with ALPN, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The negotiated TLS version (`TLSv1_2` or `TLSv1_3`).
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.conn.protocol_version()
    }

    /// The negotiated cipher suite.
    pub fn cipher_suite(&self) -> Option<SupportedCipherSuite> {
        self.conn.negotiated_cipher_suite()
    }

    /// The certificate chain the peer presented, its own certificate first:
    /// the server's on a client; on a server, the client's when client
    /// authentication was used, else `None`.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    /// On a server, the host name the client asked for with SNI.
    pub fn server_name(&self) -> Option<&str> {
        match &self.conn {
            Connection::Server(server) => server.server_name(),
            Connection::Client(_) => None,
        }
    }
}

impl<F: FlowRead + FlowWrite + Unpin> TlsFlow<F> {
    /// Pushes what rustls has to send (and, with `with_plain`, the queued
    /// plaintext) to the underlying flow, without flushing it. Ready once
    /// everything was handed over.
    fn poll_push(&mut self, icx: &mut Context<'_>, with_plain: bool) -> Poll<Result<(), WriteError>> {
        self.push(Some(icx), with_plain)
    }

    /// [`poll_push`](TlsFlow::poll_push), or without a context the same
    /// without waiting for the underlying flow's room (it never returns
    /// `Pending` then).
    fn push(&mut self, mut icx: Option<&mut Context<'_>>, with_plain: bool) -> Poll<Result<(), WriteError>> {
        loop {
            if let Some(out) = self.outgoing.take() {
                if let Some(icx) = icx.as_deref_mut() {
                    match Pin::new(&mut self.inner).poll_write_ready(icx) {
                        Poll::Pending => {
                            self.outgoing = Some(out);
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                        Poll::Ready(Ok(())) => {}
                    }
                }
                Pin::new(&mut self.inner).start_write(out)?;
                self.handed_over += 1;
                self.inner_unflushed = true;
            }
            if with_plain {
                while let Some(front) = self.plain.front() {
                    let taken = match self.conn.writer().write(front) {
                        Ok(taken) => taken,
                        Err(err) => return Poll::Ready(Err(io_tls_error(err, "encrypting").into())),
                    };
                    if taken == 0 {
                        break;
                    }
                    self.plain.advance(taken);
                }
            }
            if self.conn.wants_write() {
                let mut records = Vec::new();
                if let Err(err) = self.conn.write_tls(&mut records) {
                    return Poll::Ready(Err(io_tls_error(err, "taking records from rustls").into()));
                }
                if !records.is_empty() {
                    self.outgoing = Some(Bytes::from(records));
                    continue;
                }
            }
            if with_plain && !self.plain.is_empty() {
                return Poll::Ready(Err(Error::new(ErrorKind::Tls)
                    .context("rustls accepted no plaintext and had nothing to send")
                    .into()));
            }
            return Poll::Ready(Ok(()));
        }
    }

    /// Pushes pending records and flushes, without waiting: from the read
    /// path and error paths (alerts, key update replies). A failure is kept
    /// as the write side's state.
    ///
    /// Progress here may be what the writer waits for: its records handed
    /// over, its flush completed, or a failure it must report. The
    /// underlying flow does not wake the writer for it (nothing blocked,
    /// and a backend may drop a registration once a call went through), so
    /// this wakes it: a spurious wake-up costs one poll, a lost one a hang.
    fn push_quietly(&mut self, icx: &mut Context<'_>) {
        if matches!(self.plain.state(), WriteState::Failed(_) | WriteState::Shut)
            && self.outgoing.is_none()
            && !self.conn.wants_write()
        {
            return;
        }
        let handed_over = self.handed_over;
        let unflushed = self.inner_unflushed;
        let result = match self.poll_push(icx, false) {
            Poll::Ready(Ok(())) => match self.poll_flush_inner(icx) {
                Poll::Ready(Err(err)) => Err(err),
                _ => Ok(()),
            },
            Poll::Ready(Err(err)) => Err(err),
            Poll::Pending => Ok(()),
        };
        let flushed = unflushed && !self.inner_unflushed;
        if let Err(err) = &result {
            self.plain.fail(err.kind());
        }
        if result.is_err() || flushed || self.handed_over != handed_over {
            self.fanout.wake_write();
        }
    }

    /// Flushes the underlying flow, noting when everything handed over is out.
    fn poll_flush_inner(&mut self, icx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let result = ready!(Pin::new(&mut self.inner).poll_flush(icx));
        if result.is_ok() {
            self.inner_unflushed = false;
        }
        Poll::Ready(result)
    }

    fn fail(&mut self, err: rustls::Error, what: &str, icx: &mut Context<'_>) -> Error {
        // rustls queued an alert for the peer: try to send it.
        self.push_quietly(icx);
        self.read = ReadState::Failed(ErrorKind::Tls);
        if self.plain.state() != WriteState::Shut {
            self.plain.fail(ErrorKind::Tls);
            // A writer waiting for room must learn of the failure.
            self.fanout.wake_write();
        }
        rustls_error(err, what)
    }

    /// Hands rustls more encrypted bytes (reading the underlying flow when
    /// none are left over). Does not process them.
    fn poll_ingest(&mut self, icx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.incoming.is_empty() {
            if self.transport_eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.inner).poll_read(icx)) {
                Ok(Chunk::Data(data)) => self.incoming = data,
                Ok(Chunk::Eof) => {
                    self.transport_eof = true;
                    // An empty read tells rustls the transport ended.
                    let _ = self.conn.read_tls(&mut &[][..]);
                    return Poll::Ready(Ok(()));
                }
                Err(err) => return Poll::Ready(Err(err)),
            }
        }
        let mut rd: &[u8] = &self.incoming;
        match self.conn.read_tls(&mut rd) {
            // rustls takes nothing more after close_notify: what follows is discarded.
            Ok(0) => self.incoming = Bytes::new(),
            Ok(taken) => self.incoming.advance(taken),
            Err(err) => return Poll::Ready(Err(io_tls_error(err, "handing records to rustls"))),
        }
        Poll::Ready(Ok(()))
    }

    fn take_plaintext(&mut self, len: usize) -> Result<Bytes, Error> {
        let mut out = Vec::with_capacity(len);
        let mut reader = self.conn.reader();
        while out.len() < len {
            let buf = match reader.fill_buf() {
                Ok(buf) => buf,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => return Err(io_tls_error(err, "reading plaintext from rustls")),
            };
            if buf.is_empty() {
                break;
            }
            let take = buf.len().min(len - out.len());
            out.extend_from_slice(&buf[..take]);
            reader.consume(take);
        }
        if out.is_empty() {
            return Err(Error::new(ErrorKind::Tls).context("rustls announced plaintext but gave none"));
        }
        Ok(Bytes::from(out))
    }

    /// Plaintext rustls still holds (one record's worth), if any.
    fn take_buffered(&mut self) -> Option<Bytes> {
        let mut reader = self.conn.reader();
        let data = match reader.fill_buf() {
            Ok(buf) if !buf.is_empty() => Bytes::copy_from_slice(buf),
            _ => return None,
        };
        reader.consume(data.len());
        Some(data)
    }

    fn poll_read_plain(&mut self, icx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        if self.close != CloseState::Open {
            // Once close started, the underlying flow's close discards what
            // arrives (the peer's close_notify included), so what it reads
            // later may start in the middle of a record: reads end here.
            return Poll::Ready(Ok(Chunk::Eof));
        }
        loop {
            match self.read {
                ReadState::Eof | ReadState::Shut => return Poll::Ready(Ok(Chunk::Eof)),
                ReadState::Failed(kind) => {
                    if self.failure.is_some()
                        && let Some(data) = self.take_buffered()
                    {
                        return Poll::Ready(Ok(Chunk::Data(data)));
                    }
                    if let Some(err) = self.failure.take() {
                        return Poll::Ready(Err(err));
                    }
                    return Poll::Ready(Err(Error::new(kind).context("the TLS connection failed earlier")));
                }
                ReadState::Open => {}
            }
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(err) => {
                    let failure = self.fail(err, "reading", icx);
                    // Records ahead of the bad one in the same chunk were
                    // decrypted: their plaintext is read first, and the
                    // error after it, as a socket reports an error after
                    // the data that came before it.
                    return Poll::Ready(match self.take_buffered() {
                        Some(data) => {
                            self.failure = Some(failure);
                            Ok(Chunk::Data(data))
                        }
                        None => Err(failure),
                    });
                }
            };
            let available = state.plaintext_bytes_to_read();
            if available > 0 {
                return Poll::Ready(self.take_plaintext(available).map(Chunk::Data).inspect_err(|err| {
                    self.read = ReadState::Failed(err.kind());
                }));
            }
            if state.peer_has_closed() {
                self.read = ReadState::Eof;
                return Poll::Ready(Ok(Chunk::Eof));
            }
            if self.transport_eof && self.incoming.is_empty() {
                self.read = ReadState::Failed(ErrorKind::Truncated);
                // The connection was cut, perhaps by an attacker: writing on
                // as if nothing happened would hide that from the writer.
                if self.plain.state() != WriteState::Shut {
                    self.plain.fail(ErrorKind::Truncated);
                    self.fanout.wake_write();
                }
                return Poll::Ready(Err(Error::with_source(
                    ErrorKind::Truncated,
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer ended the connection without sending TLS close_notify",
                    ),
                )
                .context("the peer ended the connection without sending TLS close_notify")));
            }
            // Before waiting for the peer, send what rustls has for it.
            self.push_quietly(icx);
            if let Err(err) = ready!(self.poll_ingest(icx)) {
                self.read = ReadState::Failed(err.kind());
                return Poll::Ready(Err(err));
            }
        }
    }

    fn write_failed(&mut self, err: WriteError) -> WriteError {
        self.plain.fail(err.kind());
        self.outgoing = None;
        err
    }

    fn poll_finish_writes(&mut self, icx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.plain.check_failed()?;
        match self.plain.state() {
            WriteState::Shut => return Poll::Ready(Ok(())),
            WriteState::Open => {
                if let Err(err) = ready!(self.poll_push(icx, true)) {
                    return Poll::Ready(Err(self.write_failed(err).into()));
                }
                self.conn.send_close_notify();
                self.plain.shutting();
            }
            WriteState::Shutting | WriteState::Failed(_) => {}
        }
        if let Err(err) = ready!(self.poll_push(icx, false)) {
            return Poll::Ready(Err(self.write_failed(err).into()));
        }
        if let Err(err) = ready!(self.poll_flush_inner(icx)) {
            return Poll::Ready(Err(self.write_failed(err).into()));
        }
        if let Err(err) = ready!(Pin::new(&mut self.inner).poll_shutdown_write(icx)) {
            return Poll::Ready(Err(self.write_failed(err.into()).into()));
        }
        self.plain.shut();
        Poll::Ready(Ok(()))
    }

    /// The first step of close: everything still to send and `close_notify`,
    /// handed to the underlying flow without waiting for its room, so that
    /// its close (and its deadline) covers sending them. What it takes over
    /// its bound is at most the queued plaintext and what rustls holds.
    fn hand_over_for_close(&mut self) -> Result<(), Error> {
        self.plain.check_failed()?;
        match self.plain.state() {
            WriteState::Shut => return Ok(()),
            WriteState::Open => {
                if let Err(err) = self.hand_over(true) {
                    return Err(self.write_failed(err).into());
                }
                self.conn.send_close_notify();
                self.plain.shutting();
            }
            WriteState::Shutting | WriteState::Failed(_) => {}
        }
        // Still Shutting: the underlying flow's close ends its writes. If
        // this close is dropped, a shutdown(Write) would do it instead.
        self.hand_over(false).map_err(|err| self.write_failed(err).into())
    }

    fn hand_over(&mut self, with_plain: bool) -> Result<(), WriteError> {
        match self.push(None, with_plain) {
            Poll::Ready(result) => result,
            // Without a context nothing waits.
            Poll::Pending => Ok(()),
        }
    }

    fn abandon(&mut self) {
        self.close = CloseState::Done;
        self.read = ReadState::Shut;
        self.plain.shut();
        self.plain.clear();
        self.outgoing = None;
        self.incoming = Bytes::new();
    }

    /// Drives the handshake; Ready once it completed and everything rustls
    /// had to send was flushed.
    pub(crate) fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.fanout.register_read(cx.waker());
        let waker = self.waker.clone();
        let icx = &mut Context::from_waker(&waker);
        loop {
            let flushed = match self.poll_push(icx, false) {
                Poll::Ready(Ok(())) => match self.poll_flush_inner(icx) {
                    Poll::Ready(Ok(())) => true,
                    Poll::Ready(Err(err)) => {
                        return Poll::Ready(Err(Error::from(err).context("sending the TLS handshake")));
                    }
                    Poll::Pending => false,
                },
                Poll::Ready(Err(err)) => {
                    return Poll::Ready(Err(Error::from(err).context("sending the TLS handshake")));
                }
                Poll::Pending => false,
            };
            if !self.conn.is_handshaking() {
                return if flushed { Poll::Ready(Ok(())) } else { Poll::Pending };
            }
            if !self.conn.wants_read() {
                if flushed {
                    return Poll::Ready(Err(Error::new(ErrorKind::Tls).context("the TLS handshake stalled")));
                }
                return Poll::Pending;
            }
            if self.transport_eof && self.incoming.is_empty() {
                return Poll::Ready(Err(Error::with_source(
                    ErrorKind::Tls,
                    io::Error::new(io::ErrorKind::UnexpectedEof, "end of file during the TLS handshake"),
                )
                .context("the peer closed the connection during the TLS handshake")));
            }
            match self.poll_ingest(icx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err.context("during the TLS handshake"))),
                Poll::Pending => return Poll::Pending,
            }
            if let Err(err) = self.conn.process_new_packets() {
                return Poll::Ready(Err(self.fail(err, "TLS handshake failed", icx)));
            }
        }
    }
}

impl<F: FlowRead + FlowWrite + Unpin> FlowRead for TlsFlow<F> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let this = self.get_mut();
        this.fanout.register_read(cx.waker());
        let waker = this.waker.clone();
        this.poll_read_plain(&mut Context::from_waker(&waker))
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.fanout.register_read(cx.waker());
        let waker = this.waker.clone();
        this.read = ReadState::Shut;
        this.incoming = Bytes::new();
        Pin::new(&mut this.inner).poll_shutdown_read(&mut Context::from_waker(&waker))
    }
}

impl<F: FlowRead + FlowWrite + Unpin> FlowWrite for TlsFlow<F> {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        if let Some(refusal) = this.plain.refusal() {
            return Poll::Ready(Err(refusal));
        }
        this.fanout.register_write(cx.waker());
        let waker = this.waker.clone();
        // Unlike a socket's queue, this one is pushed on at once: encrypting
        // early lets the underlying flow send while more is handed over.
        match this.poll_push(&mut Context::from_waker(&waker), true) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(err)) => Poll::Ready(Err(this.write_failed(err))),
            Poll::Pending if this.plain.is_full() => Poll::Pending,
            Poll::Pending => Poll::Ready(Ok(())),
        }
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        self.get_mut().plain.start_write(buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let this = self.get_mut();
        match this.plain.state() {
            WriteState::Failed(_) => Poll::Ready(this.plain.check_failed().map_err(WriteError::from)),
            // Everything was pushed before close_notify was queued; shutdown flushes the rest.
            WriteState::Shutting | WriteState::Shut => Poll::Ready(Ok(())),
            WriteState::Open => {
                this.fanout.register_write(cx.waker());
                let waker = this.waker.clone();
                let icx = &mut Context::from_waker(&waker);
                if let Err(err) = ready!(this.poll_push(icx, true)) {
                    return Poll::Ready(Err(this.write_failed(err)));
                }
                match ready!(this.poll_flush_inner(icx)) {
                    Ok(()) => Poll::Ready(Ok(())),
                    Err(err) => Poll::Ready(Err(this.write_failed(err))),
                }
            }
        }
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.fanout.register_write(cx.waker());
        let waker = this.waker.clone();
        this.poll_finish_writes(&mut Context::from_waker(&waker))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.fanout.register_write(cx.waker());
        let waker = this.waker.clone();
        let icx = &mut Context::from_waker(&waker);
        loop {
            match this.close {
                CloseState::Done => return Poll::Ready(Ok(())),
                CloseState::Open => this.close = CloseState::ShuttingDown,
                CloseState::ShuttingDown => match this.hand_over_for_close() {
                    Ok(()) => this.close = CloseState::ClosingInner,
                    Err(err) => {
                        this.abandon();
                        return Poll::Ready(Err(err));
                    }
                },
                // No waiting at the TLS level, for the peer's close_notify or
                // for room: a peer that reads close_notify and then neither
                // answers nor closes would keep that pending for ever, out of
                // reach of the underlying flow's deadline.
                CloseState::ClosingInner => {
                    let result = ready!(Pin::new(&mut this.inner).poll_close(icx));
                    this.abandon();
                    return Poll::Ready(result);
                }
            }
        }
    }
}

impl<F: fmt::Debug> fmt::Debug for TlsFlow<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsFlow")
            .field("inner", &self.inner)
            .field("client", &matches!(self.conn, Connection::Client(_)))
            .field("protocol_version", &self.conn.protocol_version())
            .field("read", &self.read)
            .field("close", &self.close)
            .field("plain", &self.plain)
            .finish_non_exhaustive()
    }
}

/// The future of a TLS handshake: [`TlsConnector::connect`](crate::TlsConnector::connect)
/// or [`TlsAcceptor::accept`](crate::TlsAcceptor::accept).
///
/// It resolves to the [`TlsFlow`] once the handshake completed (and the
/// last handshake messages were flushed to the underlying flow).
///
/// Not cancel-safe in a useful sense: dropping it drops the underlying flow
/// with a half-done handshake.
#[must_use = "futures do nothing unless polled"]
pub struct Handshake<F> {
    flow: Option<TlsFlow<F>>,
    error: Option<Error>,
    timeout: HandshakeTimeout,
    /// Started at the first poll, inside the runtime (a runtime's sleep may
    /// need its context to be created).
    deadline: Option<Sleep>,
}

/// How long a handshake may take before it fails with
/// [`ErrorKind::TimedOut`], unless the connector or acceptor says otherwise:
/// a peer that connects and stays silent must not hold a task for ever.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A handshake's deadline, and the timer that keeps it (none: a timer
/// thread, so that the default holds on any executor).
#[derive(Clone)]
pub(crate) struct HandshakeTimeout {
    pub(crate) timeout: Option<Duration>,
    pub(crate) timer: Option<Arc<dyn Timer>>,
}

impl Default for HandshakeTimeout {
    fn default() -> Self {
        HandshakeTimeout {
            timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            timer: None,
        }
    }
}

impl HandshakeTimeout {
    /// `timeout`, kept by `timer`.
    pub(crate) fn within(timeout: Duration, timer: Arc<dyn Timer>) -> Self {
        HandshakeTimeout {
            timeout: Some(timeout),
            timer: Some(timer),
        }
    }

    /// No deadline.
    pub(crate) fn none() -> Self {
        HandshakeTimeout {
            timeout: None,
            timer: None,
        }
    }

    fn sleep(&self) -> Option<Sleep> {
        let timeout = self.timeout?;
        Some(match &self.timer {
            Some(timer) => timer.sleep(timeout),
            None => Box::pin(futures_timer::Delay::new(timeout)),
        })
    }
}

impl<F> Handshake<F> {
    pub(crate) fn new(flow: TlsFlow<F>, timeout: HandshakeTimeout) -> Self {
        Handshake {
            flow: Some(flow),
            error: None,
            timeout,
            deadline: None,
        }
    }

    pub(crate) fn failed(error: Error) -> Self {
        Handshake {
            flow: None,
            error: Some(error),
            timeout: HandshakeTimeout::none(),
            deadline: None,
        }
    }
}

impl<F: FlowRead + FlowWrite + Unpin> Future for Handshake<F> {
    type Output = Result<TlsFlow<F>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(err) = this.error.take() {
            return Poll::Ready(Err(err));
        }
        let Some(flow) = this.flow.as_mut() else {
            return Poll::Ready(Err(
                Error::new(ErrorKind::Other).context("the TLS handshake future was polled after it completed")
            ));
        };
        if this.deadline.is_none() {
            this.deadline = this.timeout.sleep();
        }
        match flow.poll_handshake(cx) {
            Poll::Ready(Ok(())) => match this.flow.take() {
                Some(flow) => Poll::Ready(Ok(flow)),
                None => Poll::Pending,
            },
            Poll::Ready(Err(err)) => {
                this.flow = None;
                Poll::Ready(Err(err))
            }
            Poll::Pending => {
                if let Some(deadline) = this.deadline.as_mut() {
                    if deadline.as_mut().poll(cx).is_ready() {
                        this.flow = None;
                        let timeout = this.timeout.timeout.unwrap_or_default();
                        return Poll::Ready(Err(Error::new(ErrorKind::TimedOut)
                            .context(format!("the TLS handshake did not complete within {timeout:?}"))));
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl<F: fmt::Debug> fmt::Debug for Handshake<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("flow", &self.flow)
            .field("timeout", &self.timeout.timeout)
            .finish_non_exhaustive()
    }
}
