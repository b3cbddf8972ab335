//! TLS over flow-compio: flow-tls needs no runtime and no `Send`, so the
//! whole suite runs over TLS 1.3 on compio's loopback TCP, plainly and
//! under faults, and an echo ends with a graceful close both ways.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use flow_api::Error;
use flow_api::prelude::*;
use flow_conformance::{Capabilities, Factory};
use flow_tls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use flow_tls::{TlsAcceptor, TlsConnector, TlsFlow};

flow_conformance::socket_factories!(CompioTcp, CompioUnix, flow_compio);

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match compio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => panic!("cannot start a compio runtime: {err}"),
    }
}

/// A CA and a `localhost` leaf signed by it, made once per process.
struct Pki {
    ca: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    key: Vec<u8>,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "flow-compio test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let leaf = params.signed_by(&key, &issuer).unwrap();
        Pki {
            ca: ca.der().clone(),
            leaf: leaf.der().clone(),
            key: key.serialize_der(),
        }
    })
}

fn connector() -> TlsConnector {
    TlsConnector::builder()
        .add_root_certificate(pki().ca.clone())
        .unwrap()
        .build()
        .unwrap()
}

fn acceptor() -> TlsAcceptor {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki().key.clone()));
    // The handshake deadline takes any Timer: the suite's own thread timer
    // works under compio, whose sleeps are not Send.
    let timer: Arc<dyn flow_api::Timer> =
        Arc::new(|d: Duration| -> flow_api::Sleep { Box::pin(flow_conformance::timer::sleep(d)) });
    TlsAcceptor::builder(vec![pki().leaf.clone()], key)
        .build()
        .unwrap()
        .handshake_timeout(Duration::from_secs(10), timer)
}

/// TLS 1.3 over flow-compio's loopback TCP.
#[derive(Debug)]
pub struct TlsCompio {
    tcp: CompioTcp,
    connector: TlsConnector,
    acceptor: TlsAcceptor,
}

impl Default for TlsCompio {
    fn default() -> Self {
        TlsCompio {
            tcp: CompioTcp::default(),
            connector: connector(),
            acceptor: acceptor(),
        }
    }
}

impl Factory for TlsCompio {
    type Client = TlsFlow<flow_compio::TcpFlow>;
    type Server = TlsFlow<flow_compio::TcpFlow>;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), Error> {
        let (client, server) = self.tcp.connect().await?;
        let name = flow_tls::server_name("localhost")?;
        futures_util::future::try_join(self.connector.connect(name, client), self.acceptor.accept(server)).await
    }

    fn capabilities(&self) -> Capabilities {
        // Records are decrypted into fresh buffers; a dropped TLS end sends
        // no close_notify, so the peer reads Truncated.
        Capabilities::new().zero_copy(false).abort_visible(true)
    }
}

flow_conformance::suite! {
    name: tls13,
    factory: crate::TlsCompio::default(),
    block_on: crate::block_on,
}

#[test]
fn tls_echo_then_close_both_ways() {
    block_on(flow_conformance::sockets::within_limit(async {
        let factory = TlsCompio::default();
        let (mut client, mut server) = factory.connect().await.unwrap();
        assert_eq!(client.server_name(), None);
        assert_eq!(server.server_name(), Some("localhost"));
        let echo = async {
            let mut got = Vec::new();
            while let Chunk::Data(data) = server.read().await.unwrap() {
                server.write(data.clone()).await.unwrap();
                got.extend_from_slice(&data);
            }
            server.close().await.unwrap();
            got
        };
        let ask = async {
            let mut reply = Vec::new();
            for word in ["over ", "compio ", "and ", "TLS"] {
                client.write(word).await.unwrap();
                let mut want = word.len();
                while want > 0 {
                    let Chunk::Data(data) = client.read().await.unwrap() else {
                        panic!("end of file before the echo")
                    };
                    want -= data.len();
                    reply.extend_from_slice(&data);
                }
            }
            client.close().await.unwrap();
            reply
        };
        let (got, reply) = futures_util::future::join(echo, ask).await;
        assert_eq!(got, b"over compio and TLS");
        assert_eq!(reply, b"over compio and TLS");
        assert_eq!(client.read().await.unwrap(), Chunk::Eof);
    }));
}
