//! TCP and Unix socket flows and listeners over the engine.

use std::cell::RefCell;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker, ready};
use std::time::Duration;

use compio::net::ToSocketAddrsAsync;
use flow_api::{Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite, WriteError};
use socket2::SockRef;

use crate::engine::Engine;

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

/// Where to connect or listen: a socket address, or a `host:port` string
/// that compio's resolver turns into addresses.
pub trait ToAddrs {
    /// The addresses, resolved when needed, and the text error messages name.
    fn to_addrs(&self) -> impl Future<Output = (String, io::Result<Vec<SocketAddr>>)>;
}

impl ToAddrs for SocketAddr {
    async fn to_addrs(&self) -> (String, io::Result<Vec<SocketAddr>>) {
        (self.to_string(), Ok(vec![*self]))
    }
}

impl ToAddrs for (std::net::IpAddr, u16) {
    async fn to_addrs(&self) -> (String, io::Result<Vec<SocketAddr>>) {
        SocketAddr::from(*self).to_addrs().await
    }
}

impl ToAddrs for str {
    async fn to_addrs(&self) -> (String, io::Result<Vec<SocketAddr>>) {
        let text = self.to_owned();
        match text.parse::<SocketAddr>() {
            Ok(addr) => (text, Ok(vec![addr])),
            Err(_) => {
                let resolved = text.to_socket_addrs_async().await.map(Iterator::collect);
                (text, resolved)
            }
        }
    }
}

impl ToAddrs for String {
    async fn to_addrs(&self) -> (String, io::Result<Vec<SocketAddr>>) {
        self.as_str().to_addrs().await
    }
}

impl<T: ToAddrs + ?Sized> ToAddrs for &T {
    fn to_addrs(&self) -> impl Future<Output = (String, io::Result<Vec<SocketAddr>>)> {
        (**self).to_addrs()
    }
}

/// An I/O error with what was being done and where: "connecting to
/// 127.0.0.1:9", "binding /run/x.sock". The kind and the I/O error (as the
/// source) are kept.
fn failed(err: io::Error, doing: &str, place: &dyn fmt::Display) -> Error {
    Error::from(err).context(format!("{doing} {place}"))
}

/// compio's socket constructors need its runtime, and panic without one.
fn in_runtime(doing: &str) -> Result<(), Error> {
    compio::runtime::Runtime::try_with_current(|_| ())
        .map_err(|_| Error::new(ErrorKind::Unsupported).context(format!("{doing}: no compio runtime is running")))
}

/// Resolves `addr` and tries each address in turn; the last error wins.
async fn each_addr<T, F, Fut>(addr: &(impl ToAddrs + ?Sized), doing: &str, mut attempt: F) -> Result<T, Error>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    in_runtime(doing)?;
    let (text, resolved) = addr.to_addrs().await;
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

fn inet(addr: socket2::SockAddr, which: &str) -> Result<SocketAddr, Error> {
    addr.as_socket()
        .ok_or_else(|| Error::new(ErrorKind::InvalidData).context(format!("the {which} address is not an IP address")))
}

fn unix_path(addr: &socket2::SockAddr) -> Option<PathBuf> {
    addr.as_pathname().map(Path::to_owned)
}

macro_rules! forward_engine {
    ($ty:ident) => {
        impl FlowRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
                Pin::new(&mut self.get_mut().inner).poll_read(cx)
            }
            fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                Pin::new(&mut self.get_mut().inner).poll_shutdown_read(cx)
            }
        }
        impl FlowWrite for $ty {
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

/// Every task waiting on one accept in flight: the operation keeps one
/// waker, and this one wakes them all.
#[derive(Debug, Default)]
struct AcceptWakers {
    wakers: Mutex<Vec<Waker>>,
}

impl AcceptWakers {
    fn register(&self, waker: &Waker) {
        let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        if !wakers.iter().any(|old| old.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }
}

impl Wake for AcceptWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(PoisonError::into_inner));
        for waker in wakers {
            waker.wake();
        }
    }
}

/// The accept in flight, which belongs to the listener: a dropped
/// `accept()` future leaves it there, and the next call takes its result,
/// so no connection is lost.
struct PendingAccept<T> {
    op: RefCell<Option<LocalBoxFuture<io::Result<T>>>>,
    wakers: Arc<AcceptWakers>,
    waker: Waker,
}

impl<T> PendingAccept<T> {
    fn new() -> Self {
        let wakers = Arc::new(AcceptWakers::default());
        let waker = Waker::from(Arc::clone(&wakers));
        PendingAccept {
            op: RefCell::new(None),
            wakers,
            waker,
        }
    }

    fn poll(&self, cx: &mut Context<'_>, start: impl FnOnce() -> LocalBoxFuture<io::Result<T>>) -> Poll<io::Result<T>> {
        self.wakers.register(cx.waker());
        let mut op = self.op.borrow_mut();
        let future = op.get_or_insert_with(start);
        let result = ready!(future.as_mut().poll(&mut Context::from_waker(&self.waker)));
        *op = None;
        drop(op);
        // Other tasks waiting on this accept poll again and start the next.
        self.waker.wake_by_ref();
        Poll::Ready(result)
    }

    fn is_pending(&self) -> bool {
        self.op.borrow().is_some()
    }
}

/// A TCP connection as a flow, on compio.
///
/// Reads hand out the part of a kernel-filled buffer that was filled;
/// writes submit the buffers handed over themselves (vectored, up to 1,024
/// per submission); `shutdown(Write)` sends a FIN; a reset is
/// [`ErrorKind::Reset`]; `shutdown(Read)` discards what the peer sends
/// from then on; close flushes, sends a FIN and waits for the peer's end of
/// file within a deadline (30 s by default,
/// [`set_close_timeout`](TcpFlow::set_close_timeout)). New connections have
/// `TCP_NODELAY` set. Not `Send`: compio runs one runtime per thread.
pub struct TcpFlow {
    inner: Engine<compio::net::TcpStream>,
}

forward_engine!(TcpFlow);

impl TcpFlow {
    /// Connects to `addr` (a [`SocketAddr`], or `"host:port"` resolved by
    /// compio), trying each address it resolves to in turn.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Refused`] when nothing listens there, other failures by
    /// their kind; the message names the address: "connecting to
    /// 127.0.0.1:9: connection refused". [`ErrorKind::Unsupported`] outside
    /// a compio runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt; nothing is connected.
    pub async fn connect(addr: impl ToAddrs) -> Result<TcpFlow, Error> {
        let stream = each_addr(&addr, "connecting to", compio::net::TcpStream::connect).await?;
        TcpFlow::from_stream(stream)
    }

    /// Wraps a connected compio socket, setting `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// Setting the option failed.
    pub fn from_stream(stream: compio::net::TcpStream) -> Result<TcpFlow, Error> {
        SockRef::from(&stream).set_tcp_nodelay(true)?;
        Ok(TcpFlow {
            inner: Engine::new(stream),
        })
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        inet(self.inner.sock().local_addr()?, "local")
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The socket's error (for example, not connected any more).
    pub fn peer_addr(&self) -> Result<SocketAddr, Error> {
        inet(self.inner.sock().peer_addr()?, "peer")
    }

    /// Sets `TCP_NODELAY` (on by default).
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn set_nodelay(&self, nodelay: bool) -> Result<(), Error> {
        Ok(self.inner.sock().set_tcp_nodelay(nodelay)?)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn nodelay(&self) -> Result<bool, Error> {
        Ok(self.inner.sock().tcp_nodelay()?)
    }

    /// Sets the IP time-to-live.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn set_ttl(&self, ttl: u32) -> Result<(), Error> {
        Ok(self.inner.sock().set_ttl_v4(ttl)?)
    }

    /// Turns TCP keepalive on, probing after `idle` without traffic, or off
    /// with `None`.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> Result<(), Error> {
        let sock = self.inner.sock();
        match idle {
            Some(idle) => sock.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(idle))?,
            None => sock.set_keepalive(false)?,
        }
        Ok(())
    }

    /// Sets `SO_LINGER`: `Some(Duration::ZERO)` makes a drop abort the
    /// connection with a reset.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn set_linger(&self, linger: Option<Duration>) -> Result<(), Error> {
        Ok(self.inner.sock().set_linger(linger)?)
    }

    /// How long close waits for the peer to finish before giving up with
    /// [`ErrorKind::TimedOut`] (shutting both directions down); `None`
    /// waits as long as the peer takes. 30 s by default.
    pub fn set_close_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_close_timeout(timeout);
    }

    /// The close deadline; see [`set_close_timeout`](TcpFlow::set_close_timeout).
    pub fn close_timeout(&self) -> Option<Duration> {
        self.inner.close_timeout()
    }

    /// The compio socket. Reading or writing it directly bypasses the
    /// flow's buffers and the operations it has in flight.
    pub fn get_ref(&self) -> &compio::net::TcpStream {
        self.inner.socket()
    }

    /// The compio socket, once no operation is in flight and nothing waits
    /// to be sent (a read that was started and dropped leaves its receive
    /// in flight: read it to completion first).
    ///
    /// # Errors
    ///
    /// The flow is busy: it is given back (boxed) unchanged.
    pub fn into_inner(self) -> Result<compio::net::TcpStream, Box<TcpFlow>> {
        self.inner
            .into_socket()
            .map_err(|inner| Box::new(TcpFlow { inner: *inner }))
    }
}

impl fmt::Debug for TcpFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpFlow")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("queued", &self.inner.queued())
            .finish_non_exhaustive()
    }
}

/// Accepts TCP connections as flows, on compio.
pub struct TcpListener {
    inner: Rc<compio::net::TcpListener>,
    accept: PendingAccept<(compio::net::TcpStream, SocketAddr)>,
}

impl TcpListener {
    /// Binds to `addr` (port 0 picks a free port), trying each address it
    /// resolves to in turn.
    ///
    /// # Errors
    ///
    /// The address is in use, not local, or not allowed; the message names
    /// it: "binding 127.0.0.1:80: permission denied". [`ErrorKind::Unsupported`]
    /// outside a compio runtime.
    pub async fn bind(addr: impl ToAddrs) -> Result<TcpListener, Error> {
        let inner = each_addr(&addr, "binding", |one| async move {
            let listener = std::net::TcpListener::bind(one)?;
            compio::net::TcpListener::from_std(listener)
        })
        .await?;
        Ok(TcpListener::from_listener(inner))
    }

    /// Wraps a bound compio listener.
    pub fn from_listener(inner: compio::net::TcpListener) -> TcpListener {
        TcpListener {
            inner: Rc::new(inner),
            accept: PendingAccept::new(),
        }
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// Accepting failed (for example, too many open files); the message
    /// names the listener's address.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the accept in flight belongs to the listener, so a
    /// connection the kernel accepted for a dropped future goes to the next
    /// call.
    pub async fn accept(&self) -> Result<(TcpFlow, SocketAddr), Error> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next connection: the poll-level
    /// [`accept`](TcpListener::accept). Every task polling it is woken when
    /// a connection arrives; one of them gets it.
    ///
    /// # Errors
    ///
    /// As for [`accept`](TcpListener::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Result<(TcpFlow, SocketAddr), Error>> {
        let (stream, peer) = ready!(self.accept.poll(cx, || {
            let listener = Rc::clone(&self.inner);
            Box::pin(async move { listener.accept().await })
        }))
        .map_err(|err| {
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
        inet(SockRef::from(&*self.inner).local_addr()?, "local")
    }

    /// The compio listener.
    pub fn get_ref(&self) -> &compio::net::TcpListener {
        &self.inner
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local", &self.local_addr().ok())
            .field("accepting", &self.accept.is_pending())
            .finish_non_exhaustive()
    }
}

/// A Unix domain stream socket as a flow, on compio.
///
/// As [`TcpFlow`], except that `shutdown(Read)` shuts the socket's read
/// direction down (the peer's later writes fail), and a broken pipe on
/// write is [`ErrorKind::Closed`]: the peer stopped reading.
pub struct UnixFlow {
    inner: Engine<compio::net::UnixStream>,
}

forward_engine!(UnixFlow);

impl UnixFlow {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Refused`] when nothing listens there; other failures (no
    /// such file, permission) by kind, the message naming the path:
    /// "connecting to /run/x.sock: No such file or directory (os error 2)".
    /// [`ErrorKind::Unsupported`] outside a compio runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt.
    pub async fn connect(path: impl AsRef<Path>) -> Result<UnixFlow, Error> {
        let path = path.as_ref();
        in_runtime("connecting")?;
        let stream = compio::net::UnixStream::connect(path)
            .await
            .map_err(|err| failed(err, "connecting to", &path.display()))?;
        Ok(UnixFlow::from_stream(stream))
    }

    /// Two connected flows, without a listener.
    ///
    /// # Errors
    ///
    /// The socket pair could not be made (for example, too many open
    /// files), or no compio runtime is running ([`ErrorKind::Unsupported`]).
    pub fn pair() -> Result<(UnixFlow, UnixFlow), Error> {
        in_runtime("making a Unix socket pair")?;
        let made = (|| {
            let (a, b) = std::os::unix::net::UnixStream::pair()?;
            Ok::<_, io::Error>((
                compio::net::UnixStream::from_std(a)?,
                compio::net::UnixStream::from_std(b)?,
            ))
        })();
        let (a, b) = made.map_err(|err| failed(err, "making", &"a Unix socket pair"))?;
        Ok((UnixFlow::from_stream(a), UnixFlow::from_stream(b)))
    }

    /// Wraps a connected compio socket.
    pub fn from_stream(stream: compio::net::UnixStream) -> UnixFlow {
        UnixFlow {
            inner: Engine::new(stream),
        }
    }

    /// The path this end is bound to; `None` for an unnamed socket (a
    /// client, an end of a [`pair`](UnixFlow::pair)) or an abstract address.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn local_addr(&self) -> Result<Option<PathBuf>, Error> {
        Ok(unix_path(&self.inner.sock().local_addr()?))
    }

    /// The path the peer is bound to; `None` for an unnamed peer.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn peer_addr(&self) -> Result<Option<PathBuf>, Error> {
        Ok(unix_path(&self.inner.sock().peer_addr()?))
    }

    /// How long close waits for the peer to finish; 30 s by default.
    pub fn set_close_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_close_timeout(timeout);
    }

    /// The close deadline; see [`set_close_timeout`](UnixFlow::set_close_timeout).
    pub fn close_timeout(&self) -> Option<Duration> {
        self.inner.close_timeout()
    }

    /// The compio socket. Reading or writing it directly bypasses the
    /// flow's buffers and the operations it has in flight.
    pub fn get_ref(&self) -> &compio::net::UnixStream {
        self.inner.socket()
    }

    /// The compio socket, once no operation is in flight and nothing waits
    /// to be sent.
    ///
    /// # Errors
    ///
    /// The flow is busy: it is given back (boxed) unchanged.
    pub fn into_inner(self) -> Result<compio::net::UnixStream, Box<UnixFlow>> {
        self.inner
            .into_socket()
            .map_err(|inner| Box::new(UnixFlow { inner: *inner }))
    }
}

impl fmt::Debug for UnixFlow {
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
pub type Accepted = (UnixFlow, Option<PathBuf>);

/// Accepts Unix domain socket connections as flows, on compio.
pub struct UnixListener {
    inner: Rc<compio::net::UnixListener>,
    path: PathBuf,
    accept: PendingAccept<(compio::net::UnixStream, socket2::SockAddr)>,
}

impl UnixListener {
    /// Binds to `path`, which must not exist yet.
    ///
    /// # Errors
    ///
    /// The path exists, or its directory is missing or not writable; the
    /// message names the path. [`ErrorKind::Unsupported`] outside a compio
    /// runtime.
    pub fn bind(path: impl AsRef<Path>) -> Result<UnixListener, Error> {
        let path = path.as_ref().to_owned();
        in_runtime("binding")?;
        let made = (|| {
            let listener = std::os::unix::net::UnixListener::bind(&path)?;
            compio::net::UnixListener::from_std(listener)
        })();
        let inner = made.map_err(|err| failed(err, "binding", &path.display()))?;
        Ok(UnixListener {
            inner: Rc::new(inner),
            path,
            accept: PendingAccept::new(),
        })
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// Accepting failed; the message names the path.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the accept in flight belongs to the listener, so a
    /// connection accepted for a dropped future goes to the next call.
    pub async fn accept(&self) -> Result<Accepted, Error> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next connection: the poll-level
    /// [`accept`](UnixListener::accept).
    ///
    /// # Errors
    ///
    /// As for [`accept`](UnixListener::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<Result<Accepted, Error>> {
        let (stream, peer) = ready!(self.accept.poll(cx, || {
            let listener = Rc::clone(&self.inner);
            Box::pin(async move { listener.accept().await })
        }))
        .map_err(|err| failed(err, "accepting on", &self.path.display()))?;
        Poll::Ready(Ok((UnixFlow::from_stream(stream), unix_path(&peer))))
    }

    /// The path it listens on.
    pub fn local_addr(&self) -> &Path {
        &self.path
    }

    /// The compio listener.
    pub fn get_ref(&self) -> &compio::net::UnixListener {
        &self.inner
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("path", &self.path)
            .field("accepting", &self.accept.is_pending())
            .finish_non_exhaustive()
    }
}
