//! compio as a flow-socket [`Runtime`]: its sockets, listeners that keep
//! their accept in flight, and the few calls that differ. The flows and
//! listeners themselves are flow-socket's.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker, ready};

use compio::net::ToSocketAddrsAsync;
use flow_socket::Runtime;

use crate::engine::{CompioStream, LocalBoxFuture};

/// compio's sockets, for flow-socket's flows. Not `Send`: compio runs one
/// runtime per thread, and its sockets belong to it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Compio;

/// compio's socket constructors need its runtime, and panic without one.
fn in_runtime() -> io::Result<()> {
    compio::runtime::Runtime::try_with_current(|_| ())
        .map_err(|_| io::Error::new(io::ErrorKind::Unsupported, "no compio runtime is running"))
}

/// A socket made by std (and set non-blocking for readiness runtimes),
/// for compio: it makes sockets non-blocking itself only with its polling
/// driver, and io_uring wants them blocking.
fn blocking<T: Into<socket2::Socket> + From<socket2::Socket>>(socket: T) -> io::Result<T> {
    in_runtime()?;
    let socket: socket2::Socket = socket.into();
    socket.set_nonblocking(false)?;
    Ok(T::from(socket))
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

/// What a compio listener accepts.
pub trait Listen: std::os::fd::AsFd + sealed::Sealed + 'static {}

mod sealed {
    pub trait Sealed {
        /// What one accept returns.
        type Accepted: 'static;

        /// Accepts the next connection.
        fn accept(self: &super::Rc<Self>) -> super::LocalBoxFuture<std::io::Result<Self::Accepted>>;
    }
}

macro_rules! listener {
    ($ty:ty, $accepted:ty) => {
        impl Listen for $ty {}

        impl sealed::Sealed for $ty {
            type Accepted = $accepted;

            fn accept(self: &Rc<Self>) -> LocalBoxFuture<io::Result<$accepted>> {
                let listener = Rc::clone(self);
                Box::pin(async move { <$ty>::accept(&listener).await })
            }
        }
    };
}

listener!(compio::net::TcpListener, (compio::net::TcpStream, SocketAddr));
listener!(compio::net::UnixListener, (compio::net::UnixStream, socket2::SockAddr));

/// A compio listener whose accept in flight belongs to it: a dropped
/// `accept()` future leaves the operation here, and the next call takes its
/// result, so no connection is lost. Every task polling it is woken when a
/// connection arrives; one of them gets it. It dereferences to the compio
/// listener.
pub struct CompioListener<L: Listen> {
    listener: Rc<L>,
    op: RefCell<Option<LocalBoxFuture<io::Result<L::Accepted>>>>,
    wakers: Arc<AcceptWakers>,
    waker: Waker,
}

impl<L: Listen> CompioListener<L> {
    /// Wraps a bound compio listener.
    pub fn new(listener: L) -> Self {
        let wakers = Arc::new(AcceptWakers::default());
        let waker = Waker::from(Arc::clone(&wakers));
        CompioListener {
            listener: Rc::new(listener),
            op: RefCell::new(None),
            wakers,
            waker,
        }
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<L::Accepted>> {
        self.wakers.register(cx.waker());
        let mut op = self.op.borrow_mut();
        let future = op.get_or_insert_with(|| self.listener.accept());
        let result = ready!(future.as_mut().poll(&mut Context::from_waker(&self.waker)));
        *op = None;
        drop(op);
        // Other tasks waiting on this accept poll again and start the next.
        self.waker.wake_by_ref();
        Poll::Ready(result)
    }
}

impl<L: Listen> Deref for CompioListener<L> {
    type Target = L;

    fn deref(&self) -> &L {
        &self.listener
    }
}

impl<L: Listen> std::os::fd::AsFd for CompioListener<L> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.listener.as_fd()
    }
}

impl<L: Listen> fmt::Debug for CompioListener<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompioListener")
            .field("accepting", &self.op.borrow().is_some())
            .finish_non_exhaustive()
    }
}

impl Runtime for Compio {
    type Tcp = CompioStream<compio::net::TcpStream>;
    type TcpListener = CompioListener<compio::net::TcpListener>;
    type Unix = CompioStream<compio::net::UnixStream>;
    type UnixListener = CompioListener<compio::net::UnixListener>;

    /// None: the close deadline uses compio's own timer (see
    /// [`CompioStream`]), whose sleeps are not `Send`.
    fn timer() -> Option<Arc<dyn flow_api::Timer>> {
        None
    }

    async fn resolve(addr: String) -> io::Result<Vec<SocketAddr>> {
        in_runtime()?;
        Ok(addr.to_socket_addrs_async().await?.collect())
    }

    async fn connect_tcp(addr: SocketAddr) -> io::Result<Self::Tcp> {
        in_runtime()?;
        Ok(CompioStream::new(compio::net::TcpStream::connect(addr).await?))
    }

    fn tcp_stream(stream: std::net::TcpStream) -> io::Result<Self::Tcp> {
        Ok(CompioStream::new(compio::net::TcpStream::from_std(blocking(stream)?)?))
    }

    fn tcp_listener(listener: std::net::TcpListener) -> io::Result<Self::TcpListener> {
        Ok(CompioListener::new(compio::net::TcpListener::from_std(blocking(
            listener,
        )?)?))
    }

    fn poll_accept_tcp(
        listener: &Self::TcpListener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Tcp, SocketAddr)>> {
        listener
            .poll_accept(cx)
            .map_ok(|(stream, peer)| (CompioStream::new(stream), peer))
    }

    async fn connect_unix(path: std::path::PathBuf) -> io::Result<Self::Unix> {
        in_runtime()?;
        Ok(CompioStream::new(compio::net::UnixStream::connect(path).await?))
    }

    fn unix_stream(stream: std::os::unix::net::UnixStream) -> io::Result<Self::Unix> {
        Ok(CompioStream::new(compio::net::UnixStream::from_std(blocking(stream)?)?))
    }

    fn unix_listener(listener: std::os::unix::net::UnixListener) -> io::Result<Self::UnixListener> {
        Ok(CompioListener::new(compio::net::UnixListener::from_std(blocking(
            listener,
        )?)?))
    }

    fn poll_accept_unix(listener: &Self::UnixListener, cx: &mut Context<'_>) -> Poll<io::Result<Self::Unix>> {
        listener.poll_accept(cx).map_ok(|(stream, _)| CompioStream::new(stream))
    }
}
