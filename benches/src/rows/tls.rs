//! TLS: flow-tls over flow-tokio against tokio-rustls over tokio's
//! `TcpStream`, with the same rustls configurations (ring, TLS 1.3, a
//! self-signed ECDSA P-256 certificate, no session resumption and no
//! tickets, so every handshake is a full one).

use std::sync::Arc;
use std::time::{Duration, Instant};

use flow_tls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::Scale;
use crate::rows::workloads::{BULK_CHUNK, flow, tokio_raw};
use crate::rows::{MIB, Tokio, interleave};
use crate::stats::{Table, Unit};

/// The client and server configurations both sides use.
#[derive(Clone)]
pub(crate) struct Configs {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: ServerName<'static>,
}

pub(crate) fn configs() -> Configs {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a self-signed certificate");
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let mut server = ServerConfig::builder_with_provider(flow_tls::provider().expect("the crypto provider"))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("the server certificate");
    // No tickets either: a client that never reads would otherwise close
    // with them unread in its socket, and its kernel would reset the
    // connection under the data still in flight.
    server.send_tls13_tickets = 0;
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("the root certificate");
    let mut client = ClientConfig::builder_with_provider(flow_tls::provider().expect("the crypto provider"))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.resumption = rustls::client::Resumption::disabled();
    Configs {
        client: Arc::new(client),
        server: Arc::new(server),
        name: flow_tls::server_name("localhost").expect("the server name"),
    }
}

type RawTls = tokio_rustls::TlsStream<tokio::net::TcpStream>;
type FlowTls = flow_tls::TlsFlow<flow_tokio::TcpFlow>;

/// A tokio-rustls connection over a fresh TCP pair; returns it and how
/// long the handshake took.
async fn raw_tls_pair(configs: &Configs) -> ((RawTls, RawTls), Duration) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    let (client, server) = (client.expect("connect"), accepted.expect("accept").0);
    client.set_nodelay(true).expect("nodelay");
    server.set_nodelay(true).expect("nodelay");
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&configs.client));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&configs.server));
    let started = Instant::now();
    let (client, server) = tokio::join!(connector.connect(configs.name.clone(), client), acceptor.accept(server));
    let took = started.elapsed();
    let pair = (
        RawTls::from(client.expect("TLS connect")),
        RawTls::from(server.expect("TLS accept")),
    );
    (pair, took)
}

/// A flow-tls connection over a fresh flow-tokio pair; returns it and how
/// long the handshake took.
async fn flow_tls_pair(configs: &Configs) -> ((FlowTls, FlowTls), Duration) {
    let listener = flow_tokio::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, accepted) = tokio::join!(flow_tokio::TcpFlow::connect(addr), listener.accept());
    let (client, server) = (client.expect("connect"), accepted.expect("accept").0);
    let connector = flow_tls::TlsConnector::new(Arc::clone(&configs.client));
    let acceptor = flow_tls::TlsAcceptor::new(Arc::clone(&configs.server));
    let started = Instant::now();
    let (client, server) = tokio::join!(connector.connect(configs.name.clone(), client), acceptor.accept(server));
    let took = started.elapsed();
    ((client.expect("TLS connect"), server.expect("TLS accept")), took)
}

/// `count` tokio-rustls handshakes, each on a fresh connection; returns
/// the time of the handshakes alone.
pub(crate) async fn raw_handshakes(configs: &Configs, count: u64) -> Duration {
    let mut took = Duration::ZERO;
    for _ in 0..count {
        took += raw_tls_pair(configs).await.1;
    }
    took
}

/// As [`raw_handshakes`], with flow-tls over flow-tokio.
pub(crate) async fn flow_handshakes(configs: &Configs, count: u64) -> Duration {
    let mut took = Duration::ZERO;
    for _ in 0..count {
        took += flow_tls_pair(configs).await.1;
    }
    took
}

/// Bulk throughput and handshakes per second.
pub(crate) fn rows(scale: &Scale, table: &mut Table) {
    let configs = configs();
    let runtime = Tokio::multi_thread();
    if scale.wants("tls-bulk") {
        let total = scale.bytes(512 * MIB, 32 * MIB);
        let (raw, ours) = interleave(
            scale,
            &runtime,
            || {
                let configs = configs.clone();
                async move { tokio_raw::bulk::<Tokio, _>(raw_tls_pair(&configs).await.0, total, BULK_CHUNK).await }
            },
            || {
                let configs = configs.clone();
                async move { flow::bulk::<Tokio, _>(flow_tls_pair(&configs).await.0, total, BULK_CHUNK).await }
            },
        );
        table.compare(
            &format!("TLS bulk over tokio TCP, {} MiB in 64 KiB writes", total / MIB),
            "flow-tls on flow-tokio",
            &ours,
            "tokio-rustls",
            &raw,
            Unit::Throughput(total),
            Some(1.0),
        );
    }
    if scale.wants("tls-handshake") {
        // Each handshake on a fresh connection; only the handshakes are timed.
        let handshakes = scale.bytes(500, 50);
        let (raw, ours) = interleave(
            scale,
            &runtime,
            || {
                let configs = configs.clone();
                async move { raw_handshakes(&configs, handshakes).await }
            },
            || {
                let configs = configs.clone();
                async move { flow_handshakes(&configs, handshakes).await }
            },
        );
        table.compare(
            "TLS 1.3 full handshakes (ECDSA P-256) over tokio TCP",
            "flow-tls on flow-tokio",
            &ours,
            "tokio-rustls",
            &raw,
            Unit::Rate(handshakes),
            Some(1.0),
        );
    }
}
