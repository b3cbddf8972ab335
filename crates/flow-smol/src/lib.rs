//! The smol backend of the flow contract: TCP and Unix socket flows on
//! async-io, which smol (and async-std) run on.
//!
//! ```no_run
//! use flow_api::prelude::*;
//! use flow_smol::{TcpFlow, TcpListener};
//!
//! # async fn demo() -> Result<(), flow_api::Error> {
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let mut client = TcpFlow::connect(listener.local_addr()?).await?;
//! let (mut server, _peer) = listener.accept().await?;
//! client.write("ping").await?;
//! client.shutdown(Shutdown::Write).await?; // a real FIN
//! assert_eq!(server.read().await?, Chunk::Data(Bytes::from("ping")));
//! assert_eq!(server.read().await?, Chunk::Eof);
//! # Ok(())
//! # }
//! ```
//!
//! The flows and listeners are flow-socket's, written once for every
//! runtime, over [`Smol`], this crate's [`Runtime`].
//! They keep the contract through [`flow_socket::StreamFlow`]:
//! reads into a reused buffer, vectored writes, a real half-close (async-io's
//! own `close` only flushes and sends no FIN; this crate calls the socket's
//! `shutdown`), resets reported as [`ErrorKind::Reset`],
//! and a graceful close bounded by a deadline (30 s by default,
//! [`set_close_timeout`](flow_socket::TcpFlow::set_close_timeout)). New connections have `TCP_NODELAY` set.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

use std::future::Future;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use async_io::Async;
use flow_api::ErrorKind;
use flow_socket::{ByteStream, BytesMut, Runtime, ZeroedReads};

/// A TCP connection as a flow, on async-io.
pub type TcpFlow = flow_socket::TcpFlow<Smol>;
/// Accepts TCP connections as flows, on async-io.
pub type TcpListener = flow_socket::TcpListener<Smol>;
/// The read half of a [`TcpFlow`] split with [`into_split`](TcpFlow::into_split).
pub type TcpReadHalf = flow_socket::TcpReadHalf<Smol>;
/// The write half of a [`TcpFlow`] split with [`into_split`](TcpFlow::into_split).
pub type TcpWriteHalf = flow_socket::TcpWriteHalf<Smol>;
/// A Unix domain stream socket as a flow, on async-io.
#[cfg(unix)]
pub type UnixFlow = flow_socket::UnixFlow<Smol>;
/// Accepts Unix domain socket connections as flows, on async-io.
#[cfg(unix)]
pub type UnixListener = flow_socket::UnixListener<Smol>;
/// The read half of a [`UnixFlow`] split with [`into_split`](UnixFlow::into_split).
#[cfg(unix)]
pub type UnixReadHalf = flow_socket::UnixReadHalf<Smol>;
/// The write half of a [`UnixFlow`] split with [`into_split`](UnixFlow::into_split).
#[cfg(unix)]
pub type UnixWriteHalf = flow_socket::UnixWriteHalf<Smol>;

/// async-io's timer (`async_io::Timer`), the one smol runs: its sleeps run
/// on any executor.
///
/// The flows of this crate use it for their close deadlines; give it to
/// anything else that takes a [`Timer`](flow_api::Timer), such as a TLS
/// handshake deadline.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SmolTimer;

impl SmolTimer {
    /// The timer, shared.
    pub fn shared() -> Arc<dyn flow_api::Timer> {
        Arc::new(SmolTimer)
    }
}

impl flow_api::Timer for SmolTimer {
    fn sleep(&self, duration: Duration) -> flow_api::Sleep {
        let timer = async_io::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }
}

/// async-io's sockets (the reactor smol and async-std run), for
/// flow-socket's flows. They run under any executor: async-io drives its
/// reactor itself when no `block_on` of its own does.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Smol;

/// The std socket types a [`SmolSocket`] can hold.
pub trait StdSocket: std::os::fd::AsFd + Send + Sync + Unpin + 'static
where
    for<'a> &'a Self: Read + Write,
{
    /// What a broken pipe on write means on this kind of socket: a reset
    /// for TCP, the peer having stopped reading for a Unix socket.
    const BROKEN_PIPE: ErrorKind;

    /// The socket's own shutdown of one direction.
    ///
    /// # Errors
    ///
    /// The socket's error.
    fn shut(&self, how: std::net::Shutdown) -> io::Result<()>;
}

impl StdSocket for std::net::TcpStream {
    const BROKEN_PIPE: ErrorKind = ErrorKind::Reset;

    fn shut(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.shutdown(how)
    }
}

#[cfg(unix)]
impl StdSocket for std::os::unix::net::UnixStream {
    const BROKEN_PIPE: ErrorKind = ErrorKind::Closed;

    fn shut(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.shutdown(how)
    }
}

/// An async-io socket, as a flow's engine uses it; it dereferences to the
/// std socket (`flow.get_ref().peer_addr()`).
pub struct SmolSocket<S>
where
    S: StdSocket,
    for<'a> &'a S: Read + Write,
{
    io: Arc<Async<S>>,
    /// Made at the first read or wait and kept: an idle socket holds a
    /// pointer here, not its read window and two readiness futures.
    waits: Option<Box<Waits<S>>>,
}

/// What a socket in use keeps across polls: its read window, and the
/// readiness registrations.
struct Waits<S> {
    reads: ZeroedReads,
    readable: Registration<async_io::ReadableOwned<S>>,
    writable: Registration<async_io::WritableOwned<S>>,
}

impl<S> Default for Waits<S> {
    fn default() -> Self {
        Waits {
            reads: ZeroedReads::default(),
            readable: Registration::default(),
            writable: Registration::default(),
        }
    }
}

/// A readiness future kept across polls (as async-net does), so that no
/// readiness event is lost, with the waker it holds: the last poller's.
///
/// A pending registration whose waker is another caller's is kept until it
/// fires, also when an operation goes through without it: that caller (a
/// TLS flow's writer, while its read path pushed records) may be parked on
/// it, and dropping it would leave it without a wake-up for good. One that
/// holds the current caller's waker is dropped when the operation goes
/// through, as async-net drops its own: kept, it would fire later and cost
/// one more attempt that blocks (a `recv` per round trip of a ping-pong).
struct Registration<F> {
    future: Option<F>,
    waker: Option<Waker>,
}

impl<F> Default for Registration<F> {
    fn default() -> Self {
        Registration {
            future: None,
            waker: None,
        }
    }
}

impl<F: Future<Output = io::Result<()>> + Unpin> Registration<F> {
    /// Polls the kept future, made by `make` when there is none.
    fn poll(&mut self, cx: &mut Context<'_>, make: impl FnOnce() -> F) -> Poll<io::Result<()>> {
        let future = self.future.get_or_insert_with(make);
        match Pin::new(future).poll(cx) {
            Poll::Ready(result) => {
                // It fired: the next wait needs a fresh one.
                self.future = None;
                self.waker = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    self.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    /// The operation went through without waiting: the registration goes
    /// when it holds this caller's waker, and stays when it holds another's.
    fn went_through(&mut self, cx: &Context<'_>) {
        if self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.future = None;
            self.waker = None;
        }
    }
}

impl<S> SmolSocket<S>
where
    S: StdSocket,
    for<'a> &'a S: Read + Write,
{
    /// Wraps a socket registered with async-io.
    pub fn new(io: Arc<Async<S>>) -> Self {
        SmolSocket { io, waits: None }
    }

    /// The async-io socket.
    pub fn io(&self) -> &Arc<Async<S>> {
        &self.io
    }

    /// Runs a non-blocking write until it does not block, waiting for
    /// writability in between with a kept [`Registration`].
    fn poll_writing(
        &mut self,
        cx: &mut Context<'_>,
        mut write: impl FnMut(&S) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let result = write(self.io.get_ref());
            let io = &self.io;
            match result {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                other => {
                    if let Some(waits) = &mut self.waits {
                        waits.writable.went_through(cx);
                    }
                    return Poll::Ready(other);
                }
            }
            let waits = self.waits.get_or_insert_with(Box::default);
            ready!(waits.writable.poll(cx, || Arc::clone(io).writable_owned()))?;
        }
    }
}

impl<S> Deref for SmolSocket<S>
where
    S: StdSocket,
    for<'a> &'a S: Read + Write,
{
    type Target = S;

    fn deref(&self) -> &S {
        self.io.get_ref()
    }
}

impl<S> std::os::fd::AsFd for SmolSocket<S>
where
    S: StdSocket,
    for<'a> &'a S: Read + Write,
{
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.get_ref().as_fd()
    }
}

impl<S> std::fmt::Debug for SmolSocket<S>
where
    S: StdSocket + std::fmt::Debug,
    for<'a> &'a S: Read + Write,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SmolSocket").field(self.io.get_ref()).finish()
    }
}

impl<S> ByteStream for SmolSocket<S>
where
    S: StdSocket,
    for<'a> &'a S: Read + Write,
{
    fn poll_read_buf(&mut self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
        let io = &self.io;
        let waits = self.waits.get_or_insert_with(Box::default);
        loop {
            let socket = io.get_ref();
            match waits.reads.read(buf, |spare| Poll::Ready((&*socket).read(spare))) {
                Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::WouldBlock => {}
                other => {
                    waits.readable.went_through(cx);
                    return other;
                }
            }
            ready!(waits.readable.poll(cx, || Arc::clone(io).readable_owned()))?;
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_writing(cx, |mut socket| socket.write(buf))
    }

    fn poll_write_vectored(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        self.poll_writing(cx, |mut socket| socket.write_vectored(bufs))
    }

    fn poll_shutdown(&mut self, _cx: &mut Context<'_>, how: std::net::Shutdown) -> Poll<io::Result<()>> {
        // The socket's own shutdown: a real FIN for the write side (async-io's
        // own close only flushes).
        Poll::Ready(self.io.get_ref().shut(how))
    }

    fn broken_pipe_kind(&self) -> ErrorKind {
        S::BROKEN_PIPE
    }

    fn runtime_timer() -> Option<Arc<dyn flow_api::Timer>> {
        Some(SmolTimer::shared())
    }
}

/// Raw operations (a relay's `splice`) on async-io's reactor, with the
/// same kept registrations as reads and writes: see `poll_writing`.
impl<S> flow_socket::ReadyIo for SmolSocket<S>
where
    S: StdSocket,
    for<'a> &'a S: Read + Write,
{
    fn supports_ready_io(&self) -> bool {
        true
    }

    fn poll_ready_io(
        &mut self,
        cx: &mut Context<'_>,
        readiness: flow_socket::Readiness,
        op: flow_socket::RawOp<'_>,
    ) -> Poll<io::Result<usize>> {
        let io = &self.io;
        let waits = self.waits.get_or_insert_with(Box::default);
        loop {
            let result = op(io.get_ref().as_fd());
            match result {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                other => {
                    match readiness {
                        flow_socket::Readiness::Read => waits.readable.went_through(cx),
                        flow_socket::Readiness::Write => waits.writable.went_through(cx),
                    }
                    return Poll::Ready(other);
                }
            }
            ready!(match readiness {
                flow_socket::Readiness::Read => waits.readable.poll(cx, || Arc::clone(io).readable_owned()),
                flow_socket::Readiness::Write => waits.writable.poll(cx, || Arc::clone(io).writable_owned()),
            })?;
        }
    }
}

/// Accepts on a non-blocking listener, waiting for readability in between.
fn poll_accept_with<L, T>(
    listener: &Async<L>,
    cx: &mut Context<'_>,
    accept: impl Fn(&L) -> io::Result<T>,
) -> Poll<io::Result<T>> {
    loop {
        match accept(listener.get_ref()) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => ready!(listener.poll_readable(cx))?,
            other => return Poll::Ready(other),
        }
    }
}

impl Runtime for Smol {
    type Tcp = SmolSocket<std::net::TcpStream>;
    type TcpListener = Async<std::net::TcpListener>;
    #[cfg(unix)]
    type Unix = SmolSocket<std::os::unix::net::UnixStream>;
    #[cfg(unix)]
    type UnixListener = Async<std::os::unix::net::UnixListener>;

    fn timer() -> Option<Arc<dyn flow_api::Timer>> {
        Some(SmolTimer::shared())
    }

    async fn resolve(addr: String) -> io::Result<Vec<SocketAddr>> {
        async_net::resolve(addr).await
    }

    async fn connect_tcp(addr: SocketAddr) -> io::Result<Self::Tcp> {
        Ok(SmolSocket::new(Arc::new(
            Async::<std::net::TcpStream>::connect(addr).await?,
        )))
    }

    fn tcp_stream(stream: std::net::TcpStream) -> io::Result<Self::Tcp> {
        Ok(SmolSocket::new(Arc::new(Async::new(stream)?)))
    }

    fn tcp_listener(listener: std::net::TcpListener) -> io::Result<Self::TcpListener> {
        Async::new(listener)
    }

    fn poll_accept_tcp(
        listener: &Self::TcpListener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Tcp, SocketAddr)>> {
        poll_accept_with(listener, cx, |l| {
            let (stream, peer) = l.accept()?;
            Ok((SmolSocket::new(Arc::new(Async::new(stream)?)), peer))
        })
    }

    #[cfg(unix)]
    async fn connect_unix(path: std::path::PathBuf) -> io::Result<Self::Unix> {
        Ok(SmolSocket::new(Arc::new(
            Async::<std::os::unix::net::UnixStream>::connect(path).await?,
        )))
    }

    #[cfg(unix)]
    fn unix_stream(stream: std::os::unix::net::UnixStream) -> io::Result<Self::Unix> {
        Ok(SmolSocket::new(Arc::new(Async::new(stream)?)))
    }

    #[cfg(unix)]
    fn unix_listener(listener: std::os::unix::net::UnixListener) -> io::Result<Self::UnixListener> {
        Async::new(listener)
    }

    #[cfg(unix)]
    fn poll_accept_unix(listener: &Self::UnixListener, cx: &mut Context<'_>) -> Poll<io::Result<Self::Unix>> {
        poll_accept_with(listener, cx, |l| {
            let (stream, _) = l.accept()?;
            Ok(SmolSocket::new(Arc::new(Async::new(stream)?)))
        })
    }
}
