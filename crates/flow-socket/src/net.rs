//! TCP and Unix socket flows and listeners, written once over a
//! [`Runtime`]: a backend crate names its runtime's socket types and the
//! few calls that differ, and gets [`TcpFlow`], [`TcpListener`],
//! [`UnixFlow`] and [`UnixListener`] from here, with the same methods,
//! options and error messages on every runtime.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use flow_api::{Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite, IntoInnerError, Timer, WriteError};
use socket2::SockRef;

use crate::{StreamFlow, Transport};

/// What a socket type must offer for its options: a socket that
/// [`socket2::SockRef`] can borrow (a file descriptor on Unix, a socket on
/// Windows).
#[cfg(unix)]
pub trait AsSocket: std::os::fd::AsFd {}
#[cfg(unix)]
impl<T: std::os::fd::AsFd> AsSocket for T {}

/// What a socket type must offer for its options: a socket that
/// [`socket2::SockRef`] can borrow (a file descriptor on Unix, a socket on
/// Windows).
#[cfg(windows)]
pub trait AsSocket: std::os::windows::io::AsSocket {}
#[cfg(windows)]
impl<T: std::os::windows::io::AsSocket> AsSocket for T {}

/// A runtime's sockets, as the flows of this module need them. A backend
/// crate implements it for a marker type and names the flows
/// `flow_socket::TcpFlow<ItsRuntime>` (through type aliases).
///
/// Everything else (address resolution order, `TCP_NODELAY`, socket
/// options, error messages that name the address or path, the close
/// deadline) is written once, here.
///
/// # Threads
///
/// The trait asks for no `Send`: a runtime whose sockets belong to one
/// thread (compio) implements it too. The flows, listeners and the futures
/// of `connect`, `bind` and `accept` are `Send` whenever the runtime's
/// sockets and futures are (tokio, smol, async-std): auto traits follow the
/// concrete types.
pub trait Runtime: Sized + 'static {
    /// A connected TCP socket: a [`ByteStream`](crate::ByteStream) on a
    /// readiness-based runtime, or a [`Transport`] of its own.
    type Tcp: Transport + AsSocket + 'static;
    /// A listening TCP socket.
    type TcpListener: AsSocket + 'static;
    /// A connected Unix stream socket.
    #[cfg(unix)]
    type Unix: Transport + AsSocket + 'static;
    /// A listening Unix stream socket.
    #[cfg(unix)]
    type UnixListener: AsSocket + 'static;

    /// The runtime's timer, for close deadlines; `None` when the sockets'
    /// [`Transport`] has a clock of its own (see [`Transport::sleep`]).
    fn timer() -> Option<Arc<dyn Timer>>;

    /// Resolves `host:port` to socket addresses with the runtime's resolver.
    fn resolve(addr: String) -> impl Future<Output = io::Result<Vec<SocketAddr>>>;

    /// Connects to one address.
    fn connect_tcp(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Tcp>>;

    /// Registers a connected, non-blocking std TCP stream with the runtime.
    ///
    /// # Errors
    ///
    /// The runtime refused it.
    fn tcp_stream(stream: std::net::TcpStream) -> io::Result<Self::Tcp>;

    /// Registers a bound, non-blocking std listener with the runtime.
    ///
    /// # Errors
    ///
    /// The runtime refused it.
    fn tcp_listener(listener: std::net::TcpListener) -> io::Result<Self::TcpListener>;

    /// Polls for the next connection.
    fn poll_accept_tcp(listener: &Self::TcpListener, cx: &mut Context<'_>)
    -> Poll<io::Result<(Self::Tcp, SocketAddr)>>;

    /// Connects to the Unix socket at `path`.
    #[cfg(unix)]
    fn connect_unix(path: std::path::PathBuf) -> impl Future<Output = io::Result<Self::Unix>>;

    /// Registers a connected, non-blocking std Unix stream with the runtime.
    ///
    /// # Errors
    ///
    /// The runtime refused it.
    #[cfg(unix)]
    fn unix_stream(stream: std::os::unix::net::UnixStream) -> io::Result<Self::Unix>;

    /// Registers a bound, non-blocking std Unix listener with the runtime.
    ///
    /// # Errors
    ///
    /// The runtime refused it.
    #[cfg(unix)]
    fn unix_listener(listener: std::os::unix::net::UnixListener) -> io::Result<Self::UnixListener>;

    /// Polls for the next connection.
    #[cfg(unix)]
    fn poll_accept_unix(listener: &Self::UnixListener, cx: &mut Context<'_>) -> Poll<io::Result<Self::Unix>>;
}

/// Where to connect or listen: a socket address, or a `host:port` string
/// that the runtime's resolver turns into addresses.
pub trait ToAddrs {
    /// The addresses, resolved with `R`'s resolver when needed, and the
    /// text error messages name.
    fn to_addrs<R: Runtime>(&self) -> impl Future<Output = (String, io::Result<Vec<SocketAddr>>)>;
}

impl ToAddrs for SocketAddr {
    async fn to_addrs<R: Runtime>(&self) -> (String, io::Result<Vec<SocketAddr>>) {
        (self.to_string(), Ok(vec![*self]))
    }
}

impl ToAddrs for (std::net::IpAddr, u16) {
    async fn to_addrs<R: Runtime>(&self) -> (String, io::Result<Vec<SocketAddr>>) {
        SocketAddr::from(*self).to_addrs::<R>().await
    }
}

impl ToAddrs for str {
    fn to_addrs<R: Runtime>(&self) -> impl Future<Output = (String, io::Result<Vec<SocketAddr>>)> {
        let text = self.to_owned();
        async move {
            match text.parse::<SocketAddr>() {
                Ok(addr) => (text, Ok(vec![addr])),
                Err(_) => {
                    let resolved = R::resolve(text.clone()).await;
                    (text, resolved)
                }
            }
        }
    }
}

impl ToAddrs for String {
    fn to_addrs<R: Runtime>(&self) -> impl Future<Output = (String, io::Result<Vec<SocketAddr>>)> {
        self.as_str().to_addrs::<R>()
    }
}

impl<T: ToAddrs + ?Sized> ToAddrs for &T {
    fn to_addrs<R: Runtime>(&self) -> impl Future<Output = (String, io::Result<Vec<SocketAddr>>)> {
        (**self).to_addrs::<R>()
    }
}

/// An I/O error with what was being done and where: "connecting to
/// 127.0.0.1:9", "binding /run/x.sock". The kind and the I/O error (as the
/// source) are kept.
fn failed(err: io::Error, doing: &str, place: &dyn fmt::Display) -> Error {
    Error::from(err).context(format!("{doing} {place}"))
}

/// Resolves `addr` and tries each address in turn; the last error wins.
async fn each_addr<R: Runtime, T, F, Fut>(
    addr: &(impl ToAddrs + ?Sized),
    doing: &str,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let (text, resolved) = addr.to_addrs::<R>().await;
    let addrs = resolved.map_err(|err| failed(err, &format!("{doing} (resolving)"), &text))?;
    let mut last = None;
    for one in addrs {
        match attempt(one).await {
            Ok(value) => return Ok(value),
            Err(err) => last = Some(failed(err, doing, &one)),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::new(ErrorKind::InvalidData).context(format!("{doing} {text}: the name resolved to no address"))
    }))
}

macro_rules! forward_generic_flow {
    ($ty:ident) => {
        impl<R: Runtime> FlowRead for $ty<R> {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
                Pin::new(&mut self.get_mut().inner).poll_read(cx)
            }
            fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                Pin::new(&mut self.get_mut().inner).poll_shutdown_read(cx)
            }
        }
        impl<R: Runtime> FlowWrite for $ty<R> {
            fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
                Pin::new(&mut self.get_mut().inner).poll_write_ready(cx)
            }
            fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
                Pin::new(&mut self.get_mut().inner).start_write(buf)
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
                Pin::new(&mut self.get_mut().inner).poll_flush(cx)
            }
            fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                Pin::new(&mut self.get_mut().inner).poll_shutdown_write(cx)
            }
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                Pin::new(&mut self.get_mut().inner).poll_close(cx)
            }
        }
    };
}

/// A TCP connection as a flow, on runtime `R` (for example
/// `flow_tokio::TcpFlow`).
///
/// The contract comes from [`StreamFlow`]: reads into a reused buffer,
/// vectored writes, a real FIN on `shutdown(Write)`, resets as
/// [`ErrorKind::Reset`], discarding after `shutdown(Read)`, and a graceful
/// close bounded by a deadline (30 s by default,
/// [`set_close_timeout`](TcpFlow::set_close_timeout)). New connections have
/// `TCP_NODELAY` set: the flow batches small writes itself (`feed`,
/// `writev`), so Nagle's delay only adds latency.
pub struct TcpFlow<R: Runtime> {
    inner: StreamFlow<R::Tcp>,
}

forward_generic_flow!(TcpFlow);

#[cfg(unix)]
macro_rules! forward_raw_socket {
    ($ty:ident, $socket:ident) => {
        impl<R: Runtime> crate::RawSocketFlow for $ty<R>
        where
            R::$socket: crate::ReadyIo,
        {
            fn raw_ready(&self, readiness: crate::Readiness) -> bool {
                crate::RawSocketFlow::raw_ready(&self.inner, readiness)
            }

            fn poll_raw_io(
                &mut self,
                cx: &mut Context<'_>,
                readiness: crate::Readiness,
                op: crate::RawOp<'_>,
            ) -> Poll<io::Result<usize>> {
                crate::RawSocketFlow::poll_raw_io(&mut self.inner, cx, readiness, op)
            }

            fn raw_error(&mut self, readiness: crate::Readiness, err: io::Error) -> Error {
                crate::RawSocketFlow::raw_error(&mut self.inner, readiness, err)
            }
        }
    };
}

#[cfg(unix)]
forward_raw_socket!(TcpFlow, Tcp);

impl<R: Runtime> TcpFlow<R> {
    /// Connects to `addr` (a [`SocketAddr`], or `"host:port"` resolved by the
    /// runtime), trying each address it resolves to in turn.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Refused`] when nothing listens there, other failures by
    /// their kind; the message names the address: "connecting to
    /// 127.0.0.1:9: connection refused (os error 111)".
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt; nothing is connected.
    pub async fn connect(addr: impl ToAddrs) -> Result<TcpFlow<R>, Error> {
        let stream = each_addr::<R, _, _, _>(&addr, "connecting to", R::connect_tcp).await?;
        TcpFlow::from_stream(stream)
    }

    /// Wraps a connected socket of the runtime, setting `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// Setting the option failed.
    pub fn from_stream(stream: R::Tcp) -> Result<TcpFlow<R>, Error> {
        SockRef::from(&stream).set_tcp_nodelay(true)?;
        Ok(TcpFlow {
            inner: StreamFlow::new(stream),
        })
    }

    fn sock(&self) -> SockRef<'_> {
        SockRef::from(self.inner.get_ref())
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        inet(self.sock().local_addr()?, "local")
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The socket's error (for example, not connected any more).
    pub fn peer_addr(&self) -> Result<SocketAddr, Error> {
        inet(self.sock().peer_addr()?, "peer")
    }

    /// Sets `TCP_NODELAY` (on by default).
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn set_nodelay(&self, nodelay: bool) -> Result<(), Error> {
        Ok(self.sock().set_tcp_nodelay(nodelay)?)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn nodelay(&self) -> Result<bool, Error> {
        Ok(self.sock().tcp_nodelay()?)
    }

    /// Sets the IP time-to-live.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn set_ttl(&self, ttl: u32) -> Result<(), Error> {
        Ok(self.sock().set_ttl_v4(ttl)?)
    }

    /// Turns TCP keepalive on, probing after `idle` without traffic, or off
    /// with `None`.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> Result<(), Error> {
        let sock = self.sock();
        match idle {
            Some(idle) => sock.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(idle))?,
            None => sock.set_keepalive(false)?,
        }
        Ok(())
    }

    /// Sets `SO_LINGER`: what the kernel does with unsent data when the
    /// socket is dropped. `Some(Duration::ZERO)` makes a drop abort the
    /// connection with a reset.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn set_linger(&self, linger: Option<Duration>) -> Result<(), Error> {
        Ok(self.sock().set_linger(linger)?)
    }

    /// How long close waits for the peer to finish before giving up with
    /// [`ErrorKind::TimedOut`]; `None` waits as long as the peer takes.
    /// 30 s by default.
    pub fn set_close_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_close_timeout(timeout);
    }

    /// The close deadline; see [`set_close_timeout`](TcpFlow::set_close_timeout).
    pub fn close_timeout(&self) -> Option<Duration> {
        self.inner.close_timeout()
    }

    /// The runtime's socket. Reading or writing it directly bypasses the
    /// flow's buffers.
    pub fn get_ref(&self) -> &R::Tcp {
        self.inner.get_ref()
    }

    /// The runtime's socket, once nothing waits to be sent.
    ///
    /// # Errors
    ///
    /// Bytes are still queued: the error gives the flow back unchanged.
    /// Flush first.
    pub fn into_inner(self) -> Result<R::Tcp, IntoInnerError<Self>> {
        self.inner
            .into_inner()
            .map_err(|err| err.map(|inner| TcpFlow { inner }))
    }

    /// Splits the flow into halves that two tasks own, one reading while
    /// the other writes, with no lock between them: each half has its own
    /// descriptor of the socket. See [`OwnedWriteHalf`](crate::OwnedWriteHalf) for how its close
    /// waits for the read half.
    ///
    /// # Errors
    ///
    /// Duplicating the descriptor failed (the process has too many open),
    /// named in the message. The flow is gone with the error: flush before
    /// splitting if queued bytes matter.
    pub fn into_split(self) -> Result<(crate::TcpReadHalf<R>, crate::TcpWriteHalf<R>), Error> {
        let second = self
            .sock()
            .try_clone()
            .and_then(|socket| R::tcp_stream(socket.into()))
            .map_err(|err| Error::from(err).context("splitting the TCP flow: duplicating its socket"))?;
        Ok(self.inner.into_split(second))
    }
}

fn inet(addr: socket2::SockAddr, which: &str) -> Result<SocketAddr, Error> {
    addr.as_socket()
        .ok_or_else(|| Error::new(ErrorKind::InvalidData).context(format!("the {which} address is not an IP address")))
}

impl<R: Runtime> fmt::Debug for TcpFlow<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpFlow")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("queued", &self.inner.queued())
            .finish_non_exhaustive()
    }
}

/// Accepts TCP connections as flows, on runtime `R`.
pub struct TcpListener<R: Runtime> {
    inner: R::TcpListener,
}

impl<R: Runtime> TcpListener<R> {
    /// Binds to `addr` (port 0 picks a free port), trying each address it
    /// resolves to in turn.
    ///
    /// # Errors
    ///
    /// The address is in use, not local, or not allowed; the message names
    /// it: "binding 127.0.0.1:80: permission denied (os error 13)".
    pub async fn bind(addr: impl ToAddrs) -> Result<TcpListener<R>, Error> {
        let inner = each_addr::<R, _, _, _>(&addr, "binding", |one| async move {
            let listener = std::net::TcpListener::bind(one)?;
            listener.set_nonblocking(true)?;
            R::tcp_listener(listener)
        })
        .await?;
        Ok(TcpListener { inner })
    }

    /// Wraps a bound listener of the runtime.
    pub fn from_listener(inner: R::TcpListener) -> TcpListener<R> {
        TcpListener { inner }
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// Accepting failed (for example, too many open files).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection is taken only when the future completes.
    pub async fn accept(&self) -> Result<(TcpFlow<R>, SocketAddr), Error> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next connection: the poll-level
    /// [`accept`](TcpListener::accept), for a server's own accept loop.
    ///
    /// # Errors
    ///
    /// As for [`accept`](TcpListener::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Result<(TcpFlow<R>, SocketAddr), Error>> {
        let (stream, peer) = std::task::ready!(R::poll_accept_tcp(&self.inner, cx)).map_err(|err| {
            let place = self
                .local_addr()
                .map_or_else(|_| "a TCP listener".to_owned(), |a| a.to_string());
            failed(err, "accepting on", &place)
        })?;
        Poll::Ready(TcpFlow::from_stream(stream).map(|flow| (flow, peer)))
    }

    /// The address it listens on.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        inet(SockRef::from(&self.inner).local_addr()?, "local")
    }

    /// The runtime's listener.
    pub fn get_ref(&self) -> &R::TcpListener {
        &self.inner
    }
}

impl<R: Runtime> fmt::Debug for TcpListener<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local_addr().ok())
            .finish_non_exhaustive()
    }
}

#[cfg(unix)]
pub use self::unix::{Accepted, UnixFlow, UnixListener};

#[cfg(unix)]
mod unix {
    use std::path::{Path, PathBuf};

    use super::*;

    /// A Unix domain stream socket as a flow, on runtime `R`.
    ///
    /// As [`TcpFlow`], except that `shutdown(Read)` shuts the socket's
    /// read direction down (the peer's later writes fail), and a broken
    /// pipe on write is [`ErrorKind::Closed`]: the peer stopped reading.
    pub struct UnixFlow<R: Runtime> {
        inner: StreamFlow<R::Unix>,
    }

    forward_generic_flow!(UnixFlow);

    forward_raw_socket!(UnixFlow, Unix);

    impl<R: Runtime> UnixFlow<R> {
        /// Connects to the socket at `path`.
        ///
        /// # Errors
        ///
        /// [`ErrorKind::Refused`] when nothing listens there; other failures
        /// (no such file, permission) by kind, the message naming the path:
        /// "connecting to /run/x.sock: No such file or directory (os error 2)".
        ///
        /// # Cancel safety
        ///
        /// Dropping the future abandons the attempt.
        pub async fn connect(path: impl AsRef<Path>) -> Result<UnixFlow<R>, Error> {
            let path: PathBuf = path.as_ref().to_owned();
            let shown = path.display().to_string();
            let stream = R::connect_unix(path)
                .await
                .map_err(|err| failed(err, "connecting to", &shown))?;
            Ok(UnixFlow::from_stream(stream))
        }

        /// Two connected flows, without a listener.
        ///
        /// # Errors
        ///
        /// The socket pair could not be made (for example, too many open
        /// files).
        pub fn pair() -> Result<(UnixFlow<R>, UnixFlow<R>), Error> {
            let made = (|| {
                let (a, b) = std::os::unix::net::UnixStream::pair()?;
                a.set_nonblocking(true)?;
                b.set_nonblocking(true)?;
                Ok::<_, io::Error>((R::unix_stream(a)?, R::unix_stream(b)?))
            })();
            let (a, b) = made.map_err(|err| failed(err, "making", &"a Unix socket pair"))?;
            Ok((UnixFlow::from_stream(a), UnixFlow::from_stream(b)))
        }

        /// Wraps a connected socket of the runtime.
        pub fn from_stream(stream: R::Unix) -> UnixFlow<R> {
            UnixFlow {
                inner: StreamFlow::new(stream),
            }
        }

        /// The path this end is bound to; `None` for an unnamed socket (a
        /// client that connected, an end of a [`pair`](UnixFlow::pair)) or
        /// an abstract address.
        ///
        /// # Errors
        ///
        /// The socket's error.
        pub fn local_addr(&self) -> Result<Option<PathBuf>, Error> {
            Ok(unix_path(&SockRef::from(self.inner.get_ref()).local_addr()?))
        }

        /// The path the peer is bound to; `None` for an unnamed peer (a
        /// client, as a listener sees it) or an abstract address.
        ///
        /// # Errors
        ///
        /// The socket's error.
        pub fn peer_addr(&self) -> Result<Option<PathBuf>, Error> {
            Ok(unix_path(&SockRef::from(self.inner.get_ref()).peer_addr()?))
        }

        /// How long close waits for the peer to finish; 30 s by default.
        pub fn set_close_timeout(&mut self, timeout: Option<Duration>) {
            self.inner.set_close_timeout(timeout);
        }

        /// The close deadline; see
        /// [`set_close_timeout`](UnixFlow::set_close_timeout).
        pub fn close_timeout(&self) -> Option<Duration> {
            self.inner.close_timeout()
        }

        /// The runtime's socket. Reading or writing it directly bypasses the
        /// flow's buffers.
        pub fn get_ref(&self) -> &R::Unix {
            self.inner.get_ref()
        }

        /// The runtime's socket, once nothing waits to be sent.
        ///
        /// # Errors
        ///
        /// Bytes are still queued: the error gives the flow back unchanged.
        /// Flush first.
        pub fn into_inner(self) -> Result<R::Unix, IntoInnerError<Self>> {
            self.inner
                .into_inner()
                .map_err(|err| err.map(|inner| UnixFlow { inner }))
        }

        /// Splits the flow into halves that two tasks own, one reading
        /// while the other writes, with no lock between them: each half has
        /// its own descriptor of the socket. See [`OwnedWriteHalf`](crate::OwnedWriteHalf) for how
        /// its close waits for the read half.
        ///
        /// # Errors
        ///
        /// Duplicating the descriptor failed (the process has too many
        /// open), named in the message. The flow is gone with the error:
        /// flush before splitting if queued bytes matter.
        pub fn into_split(self) -> Result<(crate::UnixReadHalf<R>, crate::UnixWriteHalf<R>), Error> {
            let second = SockRef::from(self.inner.get_ref())
                .try_clone()
                .and_then(|socket| R::unix_stream(socket.into()))
                .map_err(|err| Error::from(err).context("splitting the Unix flow: duplicating its socket"))?;
            Ok(self.inner.into_split(second))
        }
    }

    fn unix_path(addr: &socket2::SockAddr) -> Option<PathBuf> {
        addr.as_pathname().map(Path::to_owned)
    }

    impl<R: Runtime> fmt::Debug for UnixFlow<R> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("UnixFlow")
                .field("local", &self.local_addr().ok())
                .field("peer", &self.peer_addr().ok())
                .field("queued", &self.inner.queued())
                .finish_non_exhaustive()
        }
    }

    /// A connection a [`UnixListener`] accepted, with the path the peer is
    /// bound to (usually `None`: clients are unnamed).
    pub type Accepted<R> = (UnixFlow<R>, Option<PathBuf>);

    /// Accepts Unix domain socket connections as flows, on runtime `R`.
    pub struct UnixListener<R: Runtime> {
        inner: R::UnixListener,
        path: PathBuf,
    }

    impl<R: Runtime> UnixListener<R> {
        /// Binds to `path`, which must not exist yet.
        ///
        /// # Errors
        ///
        /// The path exists, or its directory is missing or not writable; the
        /// message names the path.
        pub fn bind(path: impl AsRef<Path>) -> Result<UnixListener<R>, Error> {
            let path = path.as_ref().to_owned();
            let made = (|| {
                let listener = std::os::unix::net::UnixListener::bind(&path)?;
                listener.set_nonblocking(true)?;
                R::unix_listener(listener)
            })();
            let inner = made.map_err(|err| failed(err, "binding", &path.display()))?;
            Ok(UnixListener { inner, path })
        }

        /// Waits for the next connection, with the path the peer is bound
        /// to (usually `None`: clients are unnamed).
        ///
        /// # Errors
        ///
        /// Accepting failed.
        ///
        /// # Cancel safety
        ///
        /// Cancel-safe: a connection is taken only when the future
        /// completes.
        pub async fn accept(&self) -> Result<Accepted<R>, Error> {
            poll_fn(|cx| self.poll_accept(cx)).await
        }

        /// Polls for the next connection.
        ///
        /// # Errors
        ///
        /// As for [`accept`](UnixListener::accept).
        pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Result<Accepted<R>, Error>> {
            let stream = std::task::ready!(R::poll_accept_unix(&self.inner, cx))
                .map_err(|err| failed(err, "accepting on", &self.path.display()))?;
            let flow = UnixFlow::from_stream(stream);
            Poll::Ready(flow.peer_addr().map(|peer| (flow, peer)))
        }

        /// The path it listens on.
        pub fn local_addr(&self) -> &Path {
            &self.path
        }

        /// The runtime's listener.
        pub fn get_ref(&self) -> &R::UnixListener {
            &self.inner
        }
    }

    impl<R: Runtime> fmt::Debug for UnixListener<R> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("UnixListener")
                .field("path", &self.path)
                .finish_non_exhaustive()
        }
    }
}
