//! QUIC: flow-quic's stream flows against raw quinn streams, over one
//! bidirectional stream of a connection between two endpoints on loopback,
//! on a tokio current-thread runtime. Both sides use the same quinn
//! configurations (rustls on ring, a self-signed certificate) and a fresh
//! connection per round; the raw side uses quinn's own owned-buffer calls
//! (`write_chunk`, `read_chunk`), as the flow does. Setup is not timed.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use flow_api::Bytes;
use flow_quic::{QuicFlow, quinn};

use crate::Scale;
use crate::rows::workloads::{BULK_CHUNK, flow};
use crate::rows::{MIB, Runtime, Tokio, interleave};
use crate::stats::{Table, Unit};

/// The client and server configurations both sides use.
#[derive(Clone)]
struct Configs {
    client: quinn::ClientConfig,
    server: quinn::ServerConfig,
}

fn configs() -> Configs {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a self-signed certificate");
    let cert = flow_tls::pki_types::CertificateDer::from(certified.cert.der().to_vec());
    let key = flow_tls::pki_types::PrivateKeyDer::Pkcs8(flow_tls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let acceptor = flow_tls::TlsAcceptor::builder(vec![cert.clone()], key)
        .alpn_protocols(["bench"])
        .build()
        .expect("the TLS server");
    let connector = flow_tls::TlsConnector::builder()
        .add_root_certificate(cert)
        .expect("the root certificate")
        .alpn_protocols(["bench"])
        .build()
        .expect("the TLS client");
    Configs {
        client: flow_quic::client_config(&connector).expect("the QUIC client configuration"),
        server: flow_quic::server_config(&acceptor).expect("the QUIC server configuration"),
    }
}

/// Two endpoints on loopback and one connection between them; dropped
/// after the timed run, so that the connection outlives its streams.
struct Link {
    _endpoints: (quinn::Endpoint, quinn::Endpoint),
    client: quinn::Connection,
    server: quinn::Connection,
}

type Ends = (
    (quinn::SendStream, quinn::RecvStream),
    (quinn::SendStream, quinn::RecvStream),
);

impl Link {
    async fn new(configs: &Configs) -> Link {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let server = quinn::Endpoint::server(configs.server.clone(), loopback).expect("server endpoint");
        let mut client = quinn::Endpoint::client(loopback).expect("client endpoint");
        client.set_default_client_config(configs.client.clone());
        let addr = server.local_addr().expect("addr");
        let connecting = client.connect(addr, "localhost").expect("connect");
        let (dialled, accepted) = tokio::join!(connecting, async {
            server.accept().await.expect("an incoming connection").await
        });
        Link {
            client: dialled.expect("connect"),
            server: accepted.expect("accept"),
            _endpoints: (server, client),
        }
    }

    /// One bidirectional stream, made visible to the acceptor with one
    /// byte (QUIC opens streams lazily) that the acceptor reads.
    async fn streams(&self) -> Ends {
        let (mut send, recv) = self.client.open_bi().await.expect("open_bi");
        send.write_all(b"!").await.expect("the opening byte");
        let (server_send, mut server_recv) = self.server.accept_bi().await.expect("accept_bi");
        let mut opening = [0u8; 1];
        server_recv.read_exact(&mut opening).await.expect("the opening byte");
        ((send, recv), (server_send, server_recv))
    }

    async fn flows(&self) -> (QuicFlow, QuicFlow) {
        let ((send, recv), (server_send, server_recv)) = self.streams().await;
        (
            QuicFlow::new(send, recv, &self.client),
            QuicFlow::new(server_send, server_recv, &self.server),
        )
    }
}

/// Reads a raw stream to its end; returns the byte count.
async fn raw_drain(recv: &mut quinn::RecvStream) -> u64 {
    let mut got = 0;
    while let Some(chunk) = recv.read_chunk(usize::MAX, true).await.expect("read_chunk") {
        got += chunk.bytes.len() as u64;
    }
    got
}

/// As [`flow::bulk`], over raw quinn streams: the client (on a spawned
/// task) writes `total` bytes in `chunk`-byte `write_chunk`s and finishes;
/// the server reads them all with `read_chunk`.
async fn raw_bulk(((mut send, _recv), (_server_send, mut server_recv)): Ends, total: u64, chunk: usize) -> Duration {
    let started = Instant::now();
    let writer = Tokio::spawn(async move {
        let buf = Bytes::from(vec![7u8; chunk]);
        for _ in 0..total / chunk as u64 {
            send.write_chunk(buf.clone()).await.expect("write_chunk");
        }
        send.finish().expect("finish");
    });
    assert_eq!(raw_drain(&mut server_recv).await, total);
    writer.await;
    started.elapsed()
}

/// As [`flow::pingpong`], over raw quinn streams: one byte there with
/// `write_chunk`, read with `read_chunk` and echoed with `write_chunk`.
async fn raw_pingpong(((mut send, mut recv), (mut server_send, mut server_recv)): Ends, trips: u64) -> Duration {
    let echo = async move {
        while let Some(chunk) = server_recv.read_chunk(usize::MAX, true).await.expect("read_chunk") {
            server_send.write_chunk(chunk.bytes).await.expect("write_chunk");
        }
    };
    let client = async move {
        let started = Instant::now();
        let ping = Bytes::from_static(b"x");
        for _ in 0..trips {
            send.write_chunk(ping.clone()).await.expect("write_chunk");
            let _ = recv.read_chunk(usize::MAX, true).await.expect("read_chunk");
        }
        let elapsed = started.elapsed();
        send.finish().expect("finish");
        elapsed
    };
    futures_util::future::join(echo, client).await.1
}

/// Bulk throughput and ping-pong round trips over one stream.
pub(crate) fn rows(scale: &Scale, table: &mut Table) {
    let configs = configs();
    let runtime = Tokio::current_thread();
    if scale.wants("quic-bulk") {
        let total = scale.bytes(64 * MIB, 16 * MIB);
        let (raw, ours) = interleave(
            scale,
            &runtime,
            || {
                let configs = configs.clone();
                async move {
                    let link = Link::new(&configs).await;
                    raw_bulk(link.streams().await, total, BULK_CHUNK).await
                }
            },
            || {
                let configs = configs.clone();
                async move {
                    let link = Link::new(&configs).await;
                    flow::bulk::<Tokio, _>(link.flows().await, total, BULK_CHUNK).await
                }
            },
        );
        table.compare(
            &format!(
                "QUIC bulk over one stream, loopback, tokio current-thread, {} MiB in 64 KiB writes",
                total / MIB
            ),
            "flow-quic",
            &ours,
            "raw quinn streams",
            &raw,
            Unit::Throughput(total),
            Some(0.95),
        );
    }
    if scale.wants("quic-pingpong") {
        let trips = scale.bytes(10_000, 2_000);
        let (raw, ours) = interleave(
            scale,
            &runtime,
            || {
                let configs = configs.clone();
                async move {
                    let link = Link::new(&configs).await;
                    raw_pingpong(link.streams().await, trips).await
                }
            },
            || {
                let configs = configs.clone();
                async move {
                    let link = Link::new(&configs).await;
                    flow::pingpong(link.flows().await, trips).await
                }
            },
        );
        table.compare(
            "QUIC 1-byte ping-pong over one stream, loopback, tokio current-thread",
            "flow-quic",
            &ours,
            "raw quinn streams",
            &raw,
            Unit::Latency(trips),
            Some(0.95),
        );
    }
}
