//! Test support: certificates made at run time with rcgen, QUIC endpoints
//! on loopback, and the conformance factory.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use flow_api::{Error, ErrorKind};
use flow_conformance::{Capabilities, Factory};
use flow_quic::{QuicConnection, QuicEndpoint, QuicFlow, quinn};
use flow_tls::{TlsAcceptor, TlsConnector};

/// The ALPN protocol of every test.
pub const ALPN: &str = "flow-quic-test";

/// A test CA and a server certificate for `localhost` and 127.0.0.1 it signed.
pub struct Pki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

fn generate() -> Result<Pki, rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, "flow-quic test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::from_params(&ca, &ca_key);
    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        server_cert_pem: cert.pem(),
        server_key_pem: key.serialize_pem(),
    })
}

/// The process's certificates, made on first use.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| generate().unwrap_or_else(|err| panic!("cannot generate the test certificates: {err}")))
}

pub fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// A transport that lets 1,000 pairs share one connection.
fn transport() -> Arc<quinn::TransportConfig> {
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_bidi_streams(quinn::VarInt::from_u32(8192));
    Arc::new(transport)
}

pub fn client_config() -> Result<quinn::ClientConfig, Error> {
    let tls = TlsConnector::builder()
        .add_root_certificates_pem(pki().ca_pem.as_bytes())?
        .alpn_protocols([ALPN])
        .build()?;
    let mut config = flow_quic::client_config(&tls)?;
    config.transport_config(transport());
    Ok(config)
}

pub fn server_config() -> Result<quinn::ServerConfig, Error> {
    let tls = TlsAcceptor::builder(
        flow_tls::certs_from_pem(pki().server_cert_pem.as_bytes())?,
        flow_tls::private_key_from_pem(pki().server_key_pem.as_bytes())?,
    )
    .alpn_protocols([ALPN])
    .build()?;
    let mut config = flow_quic::server_config(&tls)?;
    config.transport_config(transport());
    Ok(config)
}

/// A client and a server endpoint on loopback and one connection between them.
#[derive(Debug)]
pub struct Link {
    pub server_endpoint: QuicEndpoint,
    pub client_endpoint: QuicEndpoint,
    pub client: QuicConnection,
    pub server: QuicConnection,
}

impl Link {
    pub async fn new() -> Result<Link, Error> {
        let server_endpoint = QuicEndpoint::server(loopback(), server_config()?)?;
        let client_endpoint = QuicEndpoint::client(loopback(), client_config()?)?;
        let addr = server_endpoint.local_addr()?;
        let (client, server) =
            futures_util::future::try_join(client_endpoint.connect(addr, "localhost"), server_endpoint.accept())
                .await?;
        Ok(Link {
            server_endpoint,
            client_endpoint,
            client,
            server,
        })
    }

    /// A connected pair of stream flows, made visible to the acceptor as
    /// QUIC needs (see `QuicPairs`).
    pub async fn pair(&self) -> Result<(QuicFlow, QuicFlow), Error> {
        let quinn_err = |what: &'static str| {
            move |err: quinn::ConnectionError| Error::with_source(ErrorKind::Other, err).context(what)
        };
        let (mut send, recv) = self.client.inner().open_bi().await.map_err(quinn_err("open_bi"))?;
        send.write_all(&[0x42])
            .await
            .map_err(|err| Error::with_source(ErrorKind::Other, err).context("writing the opening byte"))?;
        let (server_send, mut server_recv) = self.server.inner().accept_bi().await.map_err(quinn_err("accept_bi"))?;
        let mut opening = [0u8; 1];
        server_recv
            .read_exact(&mut opening)
            .await
            .map_err(|err| Error::with_source(ErrorKind::Other, err).context("reading the opening byte"))?;
        if opening != [0x42] {
            return Err(Error::new(ErrorKind::InvalidData).context("the opening byte was wrong"));
        }
        Ok((
            QuicFlow::new(send, recv, self.client.inner()),
            QuicFlow::new(server_send, server_recv, self.server.inner()),
        ))
    }
}

/// Connected pairs of QUIC stream flows for the conformance suite, all
/// streams of one connection (made on the first `connect`, in the runtime
/// of the clause's `block_on`).
///
/// QUIC streams are opened lazily: a stream the opener has not written to
/// is invisible to the peer's `accept_bi`. The suite's clauses may have
/// either end speak first (or neither), so the factory makes the stream
/// visible itself before handing the pair out: the opener writes one
/// opening byte through quinn directly, the acceptor accepts the stream
/// and reads that byte, and only then are both ends wrapped as flows. The
/// flows see none of it, and opening and accepting are serialised, so the
/// stream accepted is the one just opened.
#[derive(Debug, Default)]
pub struct QuicPairs {
    link: futures_util::lock::Mutex<Option<Link>>,
}

impl Factory for QuicPairs {
    type Client = QuicFlow;
    type Server = QuicFlow;

    async fn connect(&self) -> Result<(QuicFlow, QuicFlow), Error> {
        let mut link = self.link.lock().await;
        if link.is_none() {
            *link = Some(Link::new().await?);
        }
        match link.as_ref() {
            Some(link) => link.pair().await,
            None => Err(Error::new(ErrorKind::Other).context("no QUIC link")),
        }
    }

    fn capabilities(&self) -> Capabilities {
        // A dropped end finishes its stream (so that what it flushed arrives):
        // the peer reads end of file, not an error. See `QuicFlow::set_reset_on_drop`.
        Capabilities::new()
    }
}

/// A fresh current-thread tokio runtime per clause.
pub fn tokio_block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a tokio runtime: {err}"),
    }
}
