//! Unix domain socket flows.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use flow_api::Error;
use flow_socket::StreamFlow;
use tokio::net::unix::SocketAddr;

crate::byte_stream!(Unix, tokio::net::UnixStream, flow_api::ErrorKind::Closed);

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
        Ok(UnixFlow::from_stream(tokio::net::UnixStream::connect(path).await?))
    }

    /// Two connected flows, without a listener.
    ///
    /// # Errors
    ///
    /// The socket pair could not be made (for example, too many open files).
    pub fn pair() -> Result<(UnixFlow, UnixFlow), Error> {
        let (a, b) = tokio::net::UnixStream::pair()?;
        Ok((UnixFlow::from_stream(a), UnixFlow::from_stream(b)))
    }

    /// Wraps a connected tokio stream.
    pub fn from_stream(stream: tokio::net::UnixStream) -> UnixFlow {
        UnixFlow {
            inner: StreamFlow::new(Unix(stream)).with_timer(crate::TokioTimer::shared()),
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

    /// The underlying tokio stream. Reading or writing it directly bypasses
    /// the flow's buffers.
    pub fn stream(&self) -> &tokio::net::UnixStream {
        &self.inner.get_ref().0
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
    inner: tokio::net::UnixListener,
}

impl UnixListener {
    /// Binds to `path`, which must not exist yet.
    ///
    /// # Errors
    ///
    /// The path exists, or its directory is not writable.
    pub fn bind(path: impl AsRef<Path>) -> Result<UnixListener, Error> {
        Ok(UnixListener {
            inner: tokio::net::UnixListener::bind(path)?,
        })
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
