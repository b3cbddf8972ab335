//! TCP flows.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use async_std::net::ToSocketAddrs;
use flow_api::Error;
use flow_api::stream::StreamFlow;
use socket2::SockRef;

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
            inner: StreamFlow::new(Tcp::new(stream)).with_sleep(crate::sleep),
        })
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.stream().local_addr()?)
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The socket's error (for example, not connected any more).
    pub fn peer_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.stream().peer_addr()?)
    }

    /// Sets `TCP_NODELAY` (on by default).
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn set_nodelay(&self, nodelay: bool) -> Result<(), Error> {
        Ok(self.stream().set_nodelay(nodelay)?)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn nodelay(&self) -> Result<bool, Error> {
        Ok(self.stream().nodelay()?)
    }

    /// Sets the IP time-to-live.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn set_ttl(&self, ttl: u32) -> Result<(), Error> {
        Ok(self.stream().set_ttl(ttl)?)
    }

    /// Turns TCP keepalive on, probing after `idle` without traffic, or off
    /// with `None`.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> Result<(), Error> {
        let socket = SockRef::from(self.stream());
        match idle {
            Some(idle) => socket.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(idle))?,
            None => socket.set_keepalive(false)?,
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
        Ok(SockRef::from(self.stream()).set_linger(linger)?)
    }

    /// How long close waits for the peer to finish: see
    /// [`StreamFlow::set_close_timeout`]. 30 s by default.
    pub fn set_close_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_close_timeout(timeout);
    }

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
