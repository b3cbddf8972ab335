//! Endpoints and connections: where stream flows come from.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use flow_api::{Error, ErrorKind};
use flow_tls::{TlsAcceptor, TlsConnector};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

use crate::error::connection_error;
use crate::{CONNECTION_CLOSE_CODE, QuicFlow};

/// A quinn client configuration from a flow-tls connector (its roots,
/// ALPN protocols and client certificate; QUIC always uses TLS 1.3).
///
/// ```no_run
/// # fn main() -> Result<(), flow_api::Error> {
/// let tls = flow_tls::TlsConnector::builder().native_roots()?.alpn_protocols(["h3"]).build()?;
/// let config = flow_quic::client_config(&tls)?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`ErrorKind::Tls`] when the configuration cannot do QUIC (no TLS 1.3
/// cipher suite that QUIC's initial packets need).
pub fn client_config(tls: &TlsConnector) -> Result<quinn::ClientConfig, Error> {
    client_config_from_rustls(Arc::clone(tls.config()))
}

/// A quinn client configuration from a rustls one.
///
/// # Errors
///
/// [`ErrorKind::Tls`] when the configuration cannot do QUIC (no TLS 1.3).
pub fn client_config_from_rustls(tls: Arc<rustls::ClientConfig>) -> Result<quinn::ClientConfig, Error> {
    let crypto = QuicClientConfig::try_from(tls)
        .map_err(|err| Error::with_source(ErrorKind::Tls, err).context("making a QUIC client configuration"))?;
    Ok(quinn::ClientConfig::new(Arc::new(crypto)))
}

/// A quinn server configuration from a flow-tls acceptor (its certificate
/// chain and key, ALPN protocols and client authentication).
///
/// # Errors
///
/// [`ErrorKind::Tls`] when the configuration cannot do QUIC (no TLS 1.3).
pub fn server_config(tls: &TlsAcceptor) -> Result<quinn::ServerConfig, Error> {
    server_config_from_rustls(Arc::clone(tls.config()))
}

/// A quinn server configuration from a rustls one.
///
/// # Errors
///
/// [`ErrorKind::Tls`] when the configuration cannot do QUIC (no TLS 1.3,
/// or early data set to a size other than 0 or `u32::MAX`).
pub fn server_config_from_rustls(tls: Arc<rustls::ServerConfig>) -> Result<quinn::ServerConfig, Error> {
    let crypto = QuicServerConfig::try_from(tls)
        .map_err(|err| Error::with_source(ErrorKind::Tls, err).context("making a QUIC server configuration"))?;
    Ok(quinn::ServerConfig::with_crypto(Arc::new(crypto)))
}

/// A QUIC endpoint: one UDP socket that connects out, accepts, or both.
///
/// It runs on the runtime that quinn finds when it is made: tokio's
/// (feature `tokio`, inside a tokio runtime) or async-io's (feature `smol`,
/// for smol and async-std, on any executor).
#[derive(Debug, Clone)]
pub struct QuicEndpoint {
    endpoint: quinn::Endpoint,
}

impl QuicEndpoint {
    /// A client endpoint bound to `bind` (`0.0.0.0:0` or `[::]:0` for any
    /// port) that connects with `config`.
    ///
    /// # Errors
    ///
    /// Binding the UDP socket failed, or no runtime was found (outside a
    /// tokio runtime without feature `smol`): the error names the address.
    pub fn client(bind: SocketAddr, config: quinn::ClientConfig) -> Result<Self, Error> {
        let mut endpoint = quinn::Endpoint::client(bind)
            .map_err(|err| Error::from(err).context(format!("binding a QUIC client endpoint to {bind}")))?;
        endpoint.set_default_client_config(config);
        Ok(QuicEndpoint { endpoint })
    }

    /// A server endpoint bound to `bind` that accepts with `config` (and
    /// can connect out too, given a client configuration with
    /// [`connect_with`](QuicEndpoint::connect_with)).
    ///
    /// # Errors
    ///
    /// Binding the UDP socket failed, or no runtime was found.
    pub fn server(bind: SocketAddr, config: quinn::ServerConfig) -> Result<Self, Error> {
        let endpoint = quinn::Endpoint::server(config, bind)
            .map_err(|err| Error::from(err).context(format!("binding a QUIC server endpoint to {bind}")))?;
        Ok(QuicEndpoint { endpoint })
    }

    /// Wraps a quinn endpoint made by hand (another runtime, a socket of
    /// the caller's).
    pub fn from_quinn(endpoint: quinn::Endpoint) -> Self {
        QuicEndpoint { endpoint }
    }

    /// The endpoint's address: the real port when bound to port 0.
    ///
    /// # Errors
    ///
    /// The socket cannot say.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.endpoint
            .local_addr()
            .map_err(|err| Error::from(err).context("the QUIC endpoint's local address"))
    }

    /// Connects to `addr`, checking its certificate against `server_name`,
    /// with the endpoint's client configuration.
    ///
    /// # Errors
    ///
    /// See [`connect_with`](QuicEndpoint::connect_with).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the handshake; nothing is left behind.
    pub async fn connect(&self, addr: SocketAddr, server_name: &str) -> Result<QuicConnection, Error> {
        let connecting = self.endpoint.connect(addr, server_name);
        finish_connect(connecting, addr).await
    }

    /// Connects to `addr` with `config`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tls`] when the handshake fails (untrusted certificate,
    /// wrong name, no common ALPN protocol), [`ErrorKind::TimedOut`] when
    /// nothing answers within the idle timeout (QUIC has no refusal: a port
    /// with no server is silent), [`ErrorKind::InvalidData`] for a bad
    /// server name or address; each names the address.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the handshake.
    pub async fn connect_with(
        &self,
        config: quinn::ClientConfig,
        addr: SocketAddr,
        server_name: &str,
    ) -> Result<QuicConnection, Error> {
        let connecting = self.endpoint.connect_with(config, addr, server_name);
        finish_connect(connecting, addr).await
    }

    /// Accepts the next connection, handshake included.
    ///
    /// The handshake runs inside this call, so a client that is slow to
    /// finish it holds up the next one, and a failed handshake is this
    /// call's error. A server that accepts in a loop should take
    /// [`accept_handshake`](QuicEndpoint::accept_handshake)'s future and
    /// run each handshake on a task of its own.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Closed`] once the endpoint is closed; a failed
    /// handshake, naming the client's address (the endpoint accepts on).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before a client arrived loses nothing; dropping
    /// it during that client's handshake drops that client.
    pub async fn accept(&self) -> Result<QuicConnection, Error> {
        self.accept_handshake().await?.await
    }

    /// Waits for the next client and returns its handshake, not yet run:
    /// a future of the connection, `Send` and `'static`, to await where it
    /// holds nobody else up (a task of its own), while this endpoint
    /// accepts the next client.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Closed`] once the endpoint is closed. The handshake's
    /// own future fails as [`accept`](QuicEndpoint::accept) says, naming
    /// the client's address.
    ///
    /// # Cancel safety
    ///
    /// Dropping this future before a client arrived loses nothing; dropping
    /// the handshake's future drops that client.
    pub async fn accept_handshake(
        &self,
    ) -> Result<impl Future<Output = Result<QuicConnection, Error>> + Send + 'static, Error> {
        let incoming = self
            .endpoint
            .accept()
            .await
            .ok_or_else(|| Error::new(ErrorKind::Closed).context("accepting on a closed QUIC endpoint"))?;
        let addr = incoming.remote_address();
        Ok(async move {
            let connection = incoming
                .await
                .map_err(|err| connection_error(err).context(format!("accepting a QUIC connection from {addr}")))?;
            Ok(QuicConnection::new(connection))
        })
    }

    /// Closes every connection of the endpoint at once, with
    /// [`CONNECTION_CLOSE_CODE`]; their stream flows fail (see [`QuicFlow`]).
    pub fn close(&self) {
        self.endpoint.close(CONNECTION_CLOSE_CODE, b"endpoint closed");
    }

    /// Waits until every connection is closed and its last packets sent:
    /// call it before the program exits, after [`close`](QuicEndpoint::close)
    /// or the connections' own closes, so that the peers hear of it.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only waits.
    pub async fn wait_idle(&self) {
        self.endpoint.wait_idle().await;
    }

    /// quinn's endpoint.
    pub fn inner(&self) -> &quinn::Endpoint {
        &self.endpoint
    }
}

async fn finish_connect(
    connecting: Result<quinn::Connecting, quinn::ConnectError>,
    addr: SocketAddr,
) -> Result<QuicConnection, Error> {
    let what = || format!("connecting over QUIC to {addr}");
    let connecting = connecting.map_err(|err| {
        let kind = match err {
            quinn::ConnectError::InvalidServerName(_) | quinn::ConnectError::InvalidRemoteAddress(_) => {
                ErrorKind::InvalidData
            }
            quinn::ConnectError::EndpointStopping => ErrorKind::Closed,
            _ => ErrorKind::Other,
        };
        Error::with_source(kind, err).context(what())
    })?;
    let connection = connecting.await.map_err(|err| connection_error(err).context(what()))?;
    Ok(QuicConnection::new(connection))
}

/// A QUIC connection: each bidirectional stream of it is a [`QuicFlow`].
///
/// A stream opened with [`open`](QuicConnection::open) is invisible to the
/// peer until data (or the end of writes) is sent on it: QUIC opens
/// streams lazily, so the peer's [`accept`](QuicConnection::accept)
/// returns it once the opener's first write is flushed (or its
/// `shutdown(Write)`). A protocol where the accepting side speaks first
/// has the opener send something first.
///
/// Cloning gives another handle to the same connection. When every handle
/// and every stream flow is dropped, the connection closes.
#[derive(Debug, Clone)]
pub struct QuicConnection {
    connection: quinn::Connection,
}

impl QuicConnection {
    /// Wraps a quinn connection.
    pub fn new(connection: quinn::Connection) -> Self {
        QuicConnection { connection }
    }

    /// Opens a bidirectional stream. It does not wait for the peer (see the
    /// type's documentation), only for the peer's stream limit.
    ///
    /// # Errors
    ///
    /// The connection is lost (the error says why, see [`QuicFlow`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a stream is opened only when the future completes.
    pub async fn open(&self) -> Result<QuicFlow, Error> {
        let (send, recv) = self.connection.open_bi().await.map_err(|err| {
            connection_error(err).context(format!("opening a QUIC stream to {}", self.remote_address()))
        })?;
        Ok(QuicFlow::new(send, recv, &self.connection))
    }

    /// Accepts the next bidirectional stream the peer opened (and wrote to).
    ///
    /// # Errors
    ///
    /// The connection is lost or closed: [`ErrorKind::Reset`] when the peer
    /// closed it, [`ErrorKind::Closed`] when it was closed locally,
    /// [`ErrorKind::TimedOut`] at the idle timeout.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a stream is taken only when the future completes.
    pub async fn accept(&self) -> Result<QuicFlow, Error> {
        let (send, recv) = self.connection.accept_bi().await.map_err(|err| {
            connection_error(err).context(format!("accepting a QUIC stream from {}", self.remote_address()))
        })?;
        Ok(QuicFlow::new(send, recv, &self.connection))
    }

    /// The peer's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.connection.remote_address()
    }

    /// The ALPN protocol agreed on, if any.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.connection
            .handshake_data()
            .and_then(|data| data.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|data| data.protocol)
    }

    /// Closes the connection at once with [`CONNECTION_CLOSE_CODE`]: every
    /// stream flow of it fails from now on (locally [`ErrorKind::Closed`],
    /// at the peer [`ErrorKind::Reset`] naming the code). Close the
    /// streams first for a graceful end.
    pub fn close(&self) {
        self.close_with(CONNECTION_CLOSE_CODE, b"closed");
    }

    /// [`close`](QuicConnection::close) with a code and reason of the caller's.
    pub fn close_with(&self, code: quinn::VarInt, reason: &[u8]) {
        self.connection.close(code, reason);
    }

    /// Waits until the connection is closed, and says why.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only waits.
    pub async fn closed(&self) -> Error {
        connection_error(self.connection.closed().await)
            .context(format!("the QUIC connection to {}", self.remote_address()))
    }

    /// quinn's connection.
    pub fn inner(&self) -> &quinn::Connection {
        &self.connection
    }
}
