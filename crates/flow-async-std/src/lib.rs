//! The async-std backend of the flow contract: TCP and Unix socket flows.
//!
//! **async-std is discontinued upstream** (2025; RustSec lists it as
//! unmaintained). This crate is kept thin for programs that still run on
//! it; new code should use `flow-smol` (smol is what async-std was built
//! on, and its flows behave the same).
//!
//! ```no_run
//! use flow_api::prelude::*;
//! use flow_async_std::{TcpFlow, TcpListener};
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
//! A thin layer over flow-smol: async-std runs on the same async-io
//! reactor, so its flows are flow-socket's flows over flow-smol's sockets
//! ([`SmolSocket`](flow_smol::SmolSocket)) and async-io's timer, with
//! async-std's resolver ([`AsyncStd`]). async-std's own `close` only flushes and sends
//! no FIN: `shutdown(Write)` calls the socket's `shutdown`, so the peer
//! reads end of file. Resets are
//! [`ErrorKind::Reset`](flow_api::ErrorKind::Reset), and close is bounded by
//! a deadline (30 s by default,
//! [`set_close_timeout`](flow_socket::TcpFlow::set_close_timeout)). New
//! connections have `TCP_NODELAY` set. Streams made by async-std itself
//! become flows with [`tcp_flow`] and [`unix_flow`].

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use flow_api::Error;
use flow_smol::Smol;
use flow_socket::Runtime;

/// A TCP connection as a flow, on async-std.
pub type TcpFlow = flow_socket::TcpFlow<AsyncStd>;
/// Accepts TCP connections as flows, on async-std.
pub type TcpListener = flow_socket::TcpListener<AsyncStd>;
/// The read half of a [`TcpFlow`] split with [`into_split`](TcpFlow::into_split).
pub type TcpReadHalf = flow_socket::TcpReadHalf<AsyncStd>;
/// The write half of a [`TcpFlow`] split with [`into_split`](TcpFlow::into_split).
pub type TcpWriteHalf = flow_socket::TcpWriteHalf<AsyncStd>;
/// A Unix domain stream socket as a flow, on async-std.
#[cfg(unix)]
pub type UnixFlow = flow_socket::UnixFlow<AsyncStd>;
/// Accepts Unix domain socket connections as flows, on async-std.
#[cfg(unix)]
pub type UnixListener = flow_socket::UnixListener<AsyncStd>;
/// The read half of a [`UnixFlow`] split with [`into_split`](UnixFlow::into_split).
#[cfg(unix)]
pub type UnixReadHalf = flow_socket::UnixReadHalf<AsyncStd>;
/// The write half of a [`UnixFlow`] split with [`into_split`](UnixFlow::into_split).
#[cfg(unix)]
pub type UnixWriteHalf = flow_socket::UnixWriteHalf<AsyncStd>;

/// The timer of this crate's flows: async-io's ([`flow_smol::SmolTimer`]),
/// which `async_std::task::sleep` runs on too.
pub use flow_smol::SmolTimer as AsyncStdTimer;

/// async-std, for flow-socket's flows: flow-smol's sockets with
/// async-std's resolver (the timer is async-io's, which async-std runs on).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AsyncStd;

impl Runtime for AsyncStd {
    type Tcp = <Smol as Runtime>::Tcp;
    type TcpListener = <Smol as Runtime>::TcpListener;
    #[cfg(unix)]
    type Unix = <Smol as Runtime>::Unix;
    #[cfg(unix)]
    type UnixListener = <Smol as Runtime>::UnixListener;

    fn timer() -> Option<Arc<dyn flow_api::Timer>> {
        Some(AsyncStdTimer::shared())
    }

    async fn resolve(addr: String) -> io::Result<Vec<SocketAddr>> {
        Ok(async_std::net::ToSocketAddrs::to_socket_addrs(&addr).await?.collect())
    }

    fn connect_tcp(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Tcp>> {
        Smol::connect_tcp(addr)
    }

    fn tcp_stream(stream: std::net::TcpStream) -> io::Result<Self::Tcp> {
        Smol::tcp_stream(stream)
    }

    fn tcp_listener(listener: std::net::TcpListener) -> io::Result<Self::TcpListener> {
        Smol::tcp_listener(listener)
    }

    fn poll_accept_tcp(
        listener: &Self::TcpListener,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Tcp, SocketAddr)>> {
        Smol::poll_accept_tcp(listener, cx)
    }

    #[cfg(unix)]
    fn connect_unix(path: std::path::PathBuf) -> impl Future<Output = io::Result<Self::Unix>> {
        Smol::connect_unix(path)
    }

    #[cfg(unix)]
    fn unix_stream(stream: std::os::unix::net::UnixStream) -> io::Result<Self::Unix> {
        Smol::unix_stream(stream)
    }

    #[cfg(unix)]
    fn unix_listener(listener: std::os::unix::net::UnixListener) -> io::Result<Self::UnixListener> {
        Smol::unix_listener(listener)
    }

    #[cfg(unix)]
    fn poll_accept_unix(listener: &Self::UnixListener, cx: &mut Context<'_>) -> Poll<io::Result<Self::Unix>> {
        Smol::poll_accept_unix(listener, cx)
    }
}

/// Makes a connected async-std TCP stream a flow (setting `TCP_NODELAY`).
///
/// # Errors
///
/// The socket could not be registered with the reactor, or setting the
/// option failed.
#[cfg(unix)]
pub fn tcp_flow(stream: async_std::net::TcpStream) -> Result<TcpFlow, Error> {
    let std = std::net::TcpStream::from(std::os::fd::OwnedFd::from(stream));
    std.set_nonblocking(true)?;
    let io = async_io::Async::new(std)?;
    TcpFlow::from_stream(flow_smol::SmolSocket::new(Arc::new(io)))
}

/// Makes a connected async-std Unix stream a flow.
///
/// # Errors
///
/// The socket could not be registered with the reactor.
#[cfg(unix)]
pub fn unix_flow(stream: async_std::os::unix::net::UnixStream) -> Result<UnixFlow, Error> {
    let std = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(stream));
    std.set_nonblocking(true)?;
    let io = async_io::Async::new(std)?;
    Ok(UnixFlow::from_stream(flow_smol::SmolSocket::new(Arc::new(io))))
}
