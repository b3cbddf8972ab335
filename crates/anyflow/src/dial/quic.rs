//! `quic://`: one QUIC connection per dial, with one bidirectional stream
//! of it as the flow; a listener that yields every bidirectional stream
//! its peers open, from every connection, as one peer each.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use flow_api::{BoxFlow, Error, ErrorKind};
use flow_quic::{QuicConnection, QuicEndpoint, QuicFlow, quinn};
use flow_tls::{TlsAcceptor, TlsConnector};
use tokio::runtime::Handle;

use super::DEFAULT_QUIC_ALPN;

/// How often a dialled connection pings its peer when nothing else is
/// sent: well inside quinn's idle timeout (30 s), so an idle flow lives as
/// long as a TCP one does.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Streams accepted and not yet taken by `Listener::accept`, across the
/// listener's connections. When it is full, the connections stop
/// accepting streams, and QUIC's stream limits hold their peers back.
const BACKLOG: usize = 64;

/// The first address `host:port` resolves to.
async fn resolve(host: &str, port: u16) -> Result<SocketAddr, Error> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut found = tokio::net::lookup_host((host, port))
        .await
        .map_err(|err| Error::from(err).context(format!("resolving {host}")))?;
    found.next().ok_or_else(|| {
        Error::with_source(
            ErrorKind::Other,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        )
        .context(format!("resolving {host}"))
    })
}

/// `alpn` if it names protocols, else [`DEFAULT_QUIC_ALPN`].
fn alpn_or_default(alpn: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    alpn.is_empty().then(|| vec![DEFAULT_QUIC_ALPN.as_bytes().to_vec()])
}

fn client_config(connector: &TlsConnector) -> Result<quinn::ClientConfig, Error> {
    let mut config = match alpn_or_default(&connector.config().alpn_protocols) {
        None => flow_quic::client_config(connector)?,
        Some(alpn) => {
            let mut tls = (**connector.config()).clone();
            tls.alpn_protocols = alpn;
            flow_quic::client_config_from_rustls(Arc::new(tls))?
        }
    };
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(KEEP_ALIVE));
    config.transport_config(Arc::new(transport));
    Ok(config)
}

fn server_config(acceptor: &TlsAcceptor) -> Result<quinn::ServerConfig, Error> {
    match alpn_or_default(&acceptor.config().alpn_protocols) {
        None => flow_quic::server_config(acceptor),
        Some(alpn) => {
            let mut tls = (**acceptor.config()).clone();
            tls.alpn_protocols = alpn;
            flow_quic::server_config_from_rustls(Arc::new(tls))
        }
    }
}

/// Connects to `host:port` on a client endpoint of its own, checking the
/// certificate against `host`, and opens one bidirectional stream.
pub(super) async fn dial(connector: &TlsConnector, host: &str, port: u16) -> Result<BoxFlow<'static>, Error> {
    let config = client_config(connector)?;
    let addr = resolve(host, port).await?;
    let any = match addr {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let endpoint = QuicEndpoint::client(any, config)?;
    let connection = endpoint.connect(addr, host).await?;
    let flow = connection.open().await?;
    Ok(Box::pin(flow))
}

/// A `quic://` listener: a server endpoint, a task that accepts its
/// connections, and per connection a task that accepts its streams.
#[derive(Debug)]
pub(super) struct QuicListener {
    endpoint: QuicEndpoint,
    streams: tokio::sync::Mutex<tokio::sync::mpsc::Receiver<(QuicFlow, SocketAddr)>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl QuicListener {
    /// Binds a server endpoint to `host:port` and starts accepting (on the
    /// current tokio runtime).
    pub(super) async fn bind(acceptor: &TlsAcceptor, host: &str, port: u16) -> Result<(Self, SocketAddr), Error> {
        let config = server_config(acceptor)?;
        let addr = resolve(host, port).await?;
        let endpoint = QuicEndpoint::server(addr, config)?;
        let local = endpoint.local_addr()?;
        let (sender, receiver) = tokio::sync::mpsc::channel(BACKLOG);
        // The endpoint was made, so this is a tokio runtime.
        let runtime = Handle::try_current()
            .map_err(|err| Error::with_source(ErrorKind::Other, err).context("starting the QUIC accept loop"))?;
        let accepting = runtime.spawn(accept_connections(endpoint.inner().clone(), sender));
        let listener = QuicListener {
            endpoint,
            streams: tokio::sync::Mutex::new(receiver),
            accepting,
        };
        Ok((listener, local))
    }

    /// The next stream any peer opened, and who opened it.
    ///
    /// Cancel-safe: the receiver's `recv` is, and the lock is taken anew.
    pub(super) async fn accept(&self) -> Result<(BoxFlow<'static>, SocketAddr), Error> {
        let mut streams = self.streams.lock().await;
        match streams.recv().await {
            Some((flow, peer)) => Ok((Box::pin(flow), peer)),
            None => Err(Error::new(ErrorKind::Closed).context("the QUIC endpoint stopped accepting")),
        }
    }
}

impl Drop for QuicListener {
    fn drop(&mut self) {
        // New connections are refused, the accept tasks end (their
        // connections stay open while flows of them live).
        self.endpoint.inner().set_server_config(None);
        self.accepting.abort();
    }
}

/// Accepts connections until the endpoint closes; each one's streams are
/// accepted by a task of its own, so that a slow handshake holds nobody.
/// Aborting this task aborts those too (the join set goes with it).
async fn accept_connections(endpoint: quinn::Endpoint, streams: tokio::sync::mpsc::Sender<(QuicFlow, SocketAddr)>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Some(incoming) = endpoint.accept().await {
        while connections.try_join_next().is_some() {}
        connections.spawn(accept_streams(incoming, streams.clone()));
    }
}

/// Completes one connection's handshake and hands on every bidirectional
/// stream its peer opens, until the connection closes or nobody listens.
/// A failed handshake is the client's error, not the listener's.
async fn accept_streams(incoming: quinn::Incoming, streams: tokio::sync::mpsc::Sender<(QuicFlow, SocketAddr)>) {
    let Ok(connection) = incoming.await else {
        return;
    };
    let connection = QuicConnection::new(connection);
    let peer = connection.remote_address();
    while let Ok(flow) = connection.accept().await {
        if streams.send((flow, peer)).await.is_err() {
            return;
        }
    }
}
