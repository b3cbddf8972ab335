//! TCP flows.

use std::fmt;
use std::net::SocketAddr;

use async_std::net::ToSocketAddrs;
use flow_api::Error;
use flow_socket::StreamFlow;

crate::byte_stream!(Tcp, async_std::net::TcpStream, flow_api::ErrorKind::Reset);

/// A TCP connection as a flow.
pub struct TcpFlow {
    inner: StreamFlow<Tcp>,
}

flow_api::forward_flow!(TcpFlow => inner);

impl TcpFlow {
    /// Connects to `addr`, trying each address it resolves to in turn.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Refused`](flow_api::ErrorKind::Refused) when nothing
    /// listens there; other connection failures by their kind.
    pub async fn connect(addr: impl ToSocketAddrs) -> Result<TcpFlow, Error> {
        TcpFlow::from_stream(async_std::net::TcpStream::connect(addr).await?)
    }

    /// Wraps a connected async-std stream, setting `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// Setting the option failed.
    pub fn from_stream(stream: async_std::net::TcpStream) -> Result<TcpFlow, Error> {
        stream.set_nodelay(true)?;
        Ok(TcpFlow {
            inner: StreamFlow::new(Tcp::new(stream)).with_timer(crate::AsyncStdTimer::shared()),
        })
    }

    flow_socket::tcp_flow_options!(stream);

    /// The underlying async-std stream. Reading or writing it directly
    /// bypasses the flow's buffers.
    pub fn stream(&self) -> &async_std::net::TcpStream {
        &self.inner.get_ref().stream
    }
}

impl fmt::Debug for TcpFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpFlow")
            .field("local", &self.stream().local_addr().ok())
            .field("peer", &self.stream().peer_addr().ok())
            .finish_non_exhaustive()
    }
}

/// Accepts TCP connections as flows.
#[derive(Debug)]
pub struct TcpListener {
    inner: async_std::net::TcpListener,
}

impl TcpListener {
    /// Binds to `addr` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// The address is in use, not local, or not allowed.
    pub async fn bind(addr: impl ToSocketAddrs) -> Result<TcpListener, Error> {
        Ok(TcpListener {
            inner: async_std::net::TcpListener::bind(addr).await?,
        })
    }

    /// Wraps a bound async-std listener.
    pub fn from_listener(inner: async_std::net::TcpListener) -> TcpListener {
        TcpListener { inner }
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// Accepting failed (for example, too many open files).
    pub async fn accept(&self) -> Result<(TcpFlow, SocketAddr), Error> {
        let (stream, peer) = self.inner.accept().await?;
        Ok((TcpFlow::from_stream(stream)?, peer))
    }

    /// The address it listens on.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.inner.local_addr()?)
    }
}
