//! Unix domain socket flows.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_std::os::unix::net::SocketAddr;
use flow_api::Error;
use flow_socket::StreamFlow;

crate::byte_stream!(Unix, async_std::os::unix::net::UnixStream, flow_api::ErrorKind::Closed);

/// A Unix domain stream socket as a flow.
pub struct UnixFlow {
    inner: StreamFlow<Unix>,
}

flow_api::forward_flow!(UnixFlow => inner);

impl UnixFlow {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Refused`](flow_api::ErrorKind::Refused) when nothing
    /// listens there; other failures (no such file, permission) by kind.
    pub async fn connect(path: impl AsRef<Path>) -> Result<UnixFlow, Error> {
        Ok(UnixFlow::from_stream(
            async_std::os::unix::net::UnixStream::connect(path.as_ref()).await?,
        ))
    }

    /// Two connected flows, without a listener.
    ///
    /// # Errors
    ///
    /// The socket pair could not be made (for example, too many open files).
    pub fn pair() -> Result<(UnixFlow, UnixFlow), Error> {
        let (a, b) = async_std::os::unix::net::UnixStream::pair()?;
        Ok((UnixFlow::from_stream(a), UnixFlow::from_stream(b)))
    }

    /// Wraps a connected async-net stream.
    pub fn from_stream(stream: async_std::os::unix::net::UnixStream) -> UnixFlow {
        UnixFlow {
            inner: StreamFlow::new(Unix::new(stream)).with_timer(crate::AsyncStdTimer::shared()),
        }
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
    /// The socket's error.
    pub fn peer_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.stream().peer_addr()?)
    }

    /// How long close waits for the peer to finish; 30 s by default.
    pub fn set_close_timeout(&mut self, timeout: Option<Duration>) {
        self.inner.set_close_timeout(timeout);
    }

    /// The underlying async-std stream. Reading or writing it directly
    /// bypasses the flow's buffers.
    pub fn stream(&self) -> &async_std::os::unix::net::UnixStream {
        &self.inner.get_ref().stream
    }
}

impl fmt::Debug for UnixFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixFlow")
            .field("local", &self.stream().local_addr().ok())
            .field("peer", &self.stream().peer_addr().ok())
            .finish_non_exhaustive()
    }
}

/// Accepts Unix domain socket connections as flows.
#[derive(Debug)]
pub struct UnixListener {
    inner: async_std::os::unix::net::UnixListener,
}

impl UnixListener {
    /// Binds to `path`, which must not exist yet.
    ///
    /// # Errors
    ///
    /// The path exists, or its directory is not writable.
    pub fn bind(path: impl AsRef<Path>) -> Result<UnixListener, Error> {
        // Binding does not block: the std socket, handed to async-std.
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        Ok(UnixListener { inner: listener.into() })
    }

    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// Accepting failed.
    pub async fn accept(&self) -> Result<(UnixFlow, SocketAddr), Error> {
        let (stream, peer) = self.inner.accept().await?;
        Ok((UnixFlow::from_stream(stream), peer))
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
