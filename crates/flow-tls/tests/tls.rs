//! flow-tls behaviour beyond the contract: what the handshake negotiates,
//! configuration helpers, and every failure with its error kind.
//!
//! Every test runs under `support::within_limit` (20 s): a hang fails.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use flow_api::BoxFlow;
use flow_api::prelude::*;
use flow_mem::MemFlow;
use flow_tls::rustls::{self, CertificateError, ProtocolVersion, version};
use flow_tls::{Handshake, TlsAcceptor, TlsConnector, TlsFlow, server_name};
use futures_executor::block_on;
use futures_util::future::{join, try_join};
use support::tls::{acceptor, connector, pki};
use support::within_limit;

fn timer() -> std::sync::Arc<dyn flow_api::Timer> {
    flow_conformance::timer::SuiteTimer::shared()
}

async fn handshake(
    connector: &TlsConnector,
    acceptor: &TlsAcceptor,
    host: &str,
) -> (Result<TlsFlow<MemFlow>, Error>, Result<TlsFlow<MemFlow>, Error>) {
    let (a, b) = flow_mem::pair();
    join(connector.connect(server_name(host).unwrap(), a), acceptor.accept(b)).await
}

/// The rustls error behind a flow error.
fn rustls_source(err: &Error) -> &rustls::Error {
    err.get_ref()
        .and_then(|s| s.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("no rustls error as the source of {err:?}"))
}

/// Reads until an error; data before it is fine, end of file is not.
async fn read_error<R: FlowRead + Unpin>(r: &mut R) -> Error {
    loop {
        match r.read().await {
            Ok(Chunk::Data(_)) => continue,
            Ok(Chunk::Eof) => panic!("expected an error, got a clean end of file"),
            Err(err) => return err,
        }
    }
}

#[test]
fn the_handshake_reports_what_was_negotiated() {
    block_on(within_limit(async {
        for (versions, expected) in [
            (&[&version::TLS13][..], ProtocolVersion::TLSv1_3),
            (&[&version::TLS12][..], ProtocolVersion::TLSv1_2),
        ] {
            let connector = TlsConnector::builder()
                .root_certificates(pki().roots())
                .protocol_versions(versions)
                .alpn_protocols(["h2", "http/1.1"])
                .build()
                .unwrap();
            let acceptor = TlsAcceptor::builder(pki().server.chain(), pki().server.key())
                .alpn_protocols(["http/1.1"])
                .build()
                .unwrap();
            let (client, server) = handshake(&connector, &acceptor, "localhost").await;
            let (client, server) = (client.unwrap(), server.unwrap());
            assert!(client.is_client() && !server.is_client());
            for end in [&client, &server] {
                assert_eq!(end.protocol_version(), Some(expected));
                assert_eq!(end.alpn_protocol(), Some(&b"http/1.1"[..]));
                assert_eq!(end.cipher_suite().map(|s| s.version().version), Some(expected));
            }
            assert_eq!(client.cipher_suite(), server.cipher_suite());
            assert_eq!(client.peer_certificates().unwrap()[0], pki().server.cert);
            assert_eq!(server.peer_certificates(), None);
            assert_eq!(server.server_name(), Some("localhost"));
            assert_eq!(client.server_name(), None);
        }
    }));
}

#[test]
fn data_goes_both_ways_and_close_is_graceful() {
    block_on(within_limit(async {
        let (client, server) = handshake(
            &connector(&[&version::TLS13]),
            &acceptor(&[&version::TLS13]),
            "127.0.0.1",
        )
        .await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        client.write("ping").await.unwrap();
        assert_eq!(server.read().await.unwrap(), Chunk::Data(Bytes::from("ping")));
        server.write("pong").await.unwrap();
        assert_eq!(client.read().await.unwrap(), Chunk::Data(Bytes::from("pong")));
        let (a, b) = join(client.close(), server.close()).await;
        a.unwrap();
        b.unwrap();
        assert_eq!(client.read().await.unwrap(), Chunk::Eof);
        assert!(server.write("late").await.unwrap_err().is_closed());
    }));
}

#[test]
fn into_inner_hands_over_the_connection_only_when_nothing_would_be_lost() {
    block_on(within_limit(async {
        let (client, server) = handshake(
            &connector(&[&version::TLS13]),
            &acceptor(&[&version::TLS13]),
            "127.0.0.1",
        )
        .await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        client.feed("queued").await.unwrap();
        let err = client.into_inner().unwrap_err();
        assert_eq!((err.unsent(), err.unread()), (6, 0), "{err}");
        let mut client = err.into_flow();
        client.flush().await.unwrap();
        assert_eq!(server.read().await.unwrap(), Chunk::Data(Bytes::from("queued")));
        let (mut mem, mut conn) = client.into_inner().unwrap();
        // The connection goes on where the flow stopped: its next record,
        // written by rustls directly, is what the server reads next.
        std::io::Write::write_all(&mut conn.writer(), b"by hand").unwrap();
        let mut records = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut records).unwrap();
        }
        mem.write(records).await.unwrap();
        assert_eq!(server.read().await.unwrap(), Chunk::Data(Bytes::from("by hand")));
    }));
}

#[test]
fn mutual_tls_gives_the_server_the_client_certificate() {
    block_on(within_limit(async {
        for versions in [&[&version::TLS13][..], &[&version::TLS12][..]] {
            let connector = TlsConnector::builder()
                .root_certificates(pki().roots())
                .protocol_versions(versions)
                .client_auth_cert(pki().client.chain(), pki().client.key())
                .build()
                .unwrap();
            let acceptor = TlsAcceptor::builder(pki().server.chain(), pki().server.key())
                .require_client_auth(pki().roots())
                .build()
                .unwrap();
            let (client, server) = handshake(&connector, &acceptor, "localhost").await;
            let (mut client, mut server) = (client.unwrap(), server.unwrap());
            assert_eq!(server.peer_certificates().unwrap()[0], pki().client.cert);
            client.write("authenticated").await.unwrap();
            assert_eq!(server.read().await.unwrap(), Chunk::Data(Bytes::from("authenticated")));
        }
    }));
}

#[test]
fn optional_client_auth_accepts_anonymous_clients() {
    block_on(within_limit(async {
        let acceptor = TlsAcceptor::builder(pki().server.chain(), pki().server.key())
            .optional_client_auth(pki().roots())
            .build()
            .unwrap();
        let (client, server) = handshake(&connector(&[&version::TLS13]), &acceptor, "localhost").await;
        client.unwrap();
        assert_eq!(server.unwrap().peer_certificates(), None);
    }));
}

#[test]
fn a_missing_required_client_certificate_fails_both_ends() {
    block_on(within_limit(async {
        for versions in [&[&version::TLS13][..], &[&version::TLS12][..]] {
            let acceptor = TlsAcceptor::builder(pki().server.chain(), pki().server.key())
                .protocol_versions(versions)
                .require_client_auth(pki().roots())
                .build()
                .unwrap();
            let (client, server) = handshake(&connector(versions), &acceptor, "localhost").await;
            let err = server.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            assert!(
                matches!(rustls_source(&err), rustls::Error::NoCertificatesPresented),
                "{err}"
            );
            // TLS 1.3 clients finish before the server checks them: they
            // learn of the refusal (an alert) on their first read.
            let err = match client {
                Err(err) => err,
                Ok(mut client) => read_error(&mut client).await,
            };
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            assert!(matches!(rustls_source(&err), rustls::Error::AlertReceived(_)), "{err}");
        }
    }));
}

fn assert_certificate_error(host: &str, server: &support::tls::Leaf, expected: fn(&CertificateError) -> bool) {
    block_on(within_limit(async {
        let acceptor = TlsAcceptor::builder(server.chain(), server.key()).build().unwrap();
        let (client, server) = handshake(&connector(rustls::DEFAULT_VERSIONS), &acceptor, host).await;
        let err = client.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        match rustls_source(&err) {
            rustls::Error::InvalidCertificate(cert) => assert!(expected(cert), "unexpected {cert:?}: {err}"),
            other => panic!("expected a certificate error, got {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("TLS handshake failed: invalid peer certificate"),
            "{err}"
        );
        // The client's alert reaches the server: it fails too, at once.
        let err = server.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(matches!(rustls_source(&err), rustls::Error::AlertReceived(_)), "{err}");
    }));
}

#[test]
fn a_certificate_for_another_host_is_a_tls_error() {
    assert_certificate_error("example.com", &pki().server, |e| {
        matches!(
            e,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    });
}

#[test]
fn an_untrusted_certificate_is_a_tls_error() {
    assert_certificate_error("localhost", &pki().untrusted, |e| {
        matches!(e, CertificateError::UnknownIssuer)
    });
}

#[test]
fn an_expired_certificate_is_a_tls_error() {
    assert_certificate_error("localhost", &pki().expired, |e| {
        matches!(e, CertificateError::Expired | CertificateError::ExpiredContext { .. })
    });
}

#[test]
fn garbage_instead_of_a_handshake_is_a_tls_error() {
    let seed = flow_conformance::base_seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    for round in 0..20 {
        let garbage: Vec<u8> = (0..rng.usize(1..4096)).map(|_| rng.u8(..)).collect();
        block_on(within_limit(async {
            // As the server's reply to a client.
            let (a, mut b) = flow_mem::pair();
            let peer = async {
                b.write(garbage.clone()).await.unwrap();
                b.shutdown(Shutdown::Write).await.unwrap();
                b
            };
            let (client, _b) = join(
                connector(rustls::DEFAULT_VERSIONS).connect(server_name("localhost").unwrap(), a),
                peer,
            )
            .await;
            let err = client.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::Tls,
                "round {round}, seed {seed} (FLOW_CONFORMANCE_SEED): {err}"
            );
            // As a client's hello to a server.
            let (mut a, b) = flow_mem::pair();
            a.write(garbage.clone()).await.unwrap();
            a.shutdown(Shutdown::Write).await.unwrap();
            let err = acceptor(rustls::DEFAULT_VERSIONS).accept(b).await.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::Tls,
                "round {round}, seed {seed} (FLOW_CONFORMANCE_SEED): {err}"
            );
        }));
    }
}

#[test]
fn garbage_after_the_handshake_fails_reads_and_writes_with_tls() {
    block_on(within_limit(async {
        let (client, server) = handshake(
            &connector(&[&version::TLS13]),
            &acceptor(&[&version::TLS13]),
            "localhost",
        )
        .await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        server.write("genuine").await.unwrap();
        // A forged application-data record: right header, wrong contents.
        let mut forged = vec![0x17, 0x03, 0x03, 0x00, 0x40];
        forged.extend_from_slice(&[0x5a; 0x40]);
        server.get_mut().write(forged).await.unwrap();
        // Both records reach the client in one chunk (flow-mem joins small
        // writes): the genuine record's plaintext still comes first.
        assert_eq!(client.read().await.unwrap(), Chunk::Data(Bytes::from("genuine")));
        let err = client.read().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(matches!(rustls_source(&err), rustls::Error::DecryptError), "{err}");
        // Sticky, and the write side is dead too.
        assert_eq!(client.read().await.unwrap_err().kind(), ErrorKind::Tls);
        assert_eq!(client.write("more").await.unwrap_err().kind(), ErrorKind::Tls);
        // The client's alert reaches the server.
        let err = read_error(&mut server).await;
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    }));
}

#[test]
fn end_of_file_without_close_notify_is_truncated() {
    block_on(within_limit(async {
        for versions in [&[&version::TLS13][..], &[&version::TLS12][..]] {
            let (client, server) = handshake(&connector(versions), &acceptor(versions), "localhost").await;
            let (mut client, mut server) = (client.unwrap(), server.unwrap());
            server.write("the first half").await.unwrap();
            // End the transport under TLS: no close_notify.
            server.get_mut().shutdown(Shutdown::Write).await.unwrap();
            assert_eq!(client.read().await.unwrap(), Chunk::Data(Bytes::from("the first half")));
            let err = client.read().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Truncated, "{err}");
            let io = err.get_ref().and_then(|s| s.downcast_ref::<std::io::Error>()).unwrap();
            assert_eq!(io.kind(), std::io::ErrorKind::UnexpectedEof);
            assert!(err.to_string().contains("close_notify"), "{err}");
            assert_eq!(client.read().await.unwrap_err().kind(), ErrorKind::Truncated, "sticky");
            // The cut fails the write side too, for good.
            for _ in 0..2 {
                let err = client.write("after the cut").await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Truncated, "{err}");
            }
            assert_eq!(client.flush().await.unwrap_err().kind(), ErrorKind::Truncated);
            // With close_notify, the same end is clean.
            let (client, server) = handshake(&connector(versions), &acceptor(versions), "localhost").await;
            let (mut client, mut server) = (client.unwrap(), server.unwrap());
            server.write("all").await.unwrap();
            server.shutdown(Shutdown::Write).await.unwrap();
            assert_eq!(client.read().await.unwrap(), Chunk::Data(Bytes::from("all")));
            assert_eq!(client.read().await.unwrap(), Chunk::Eof);
        }
    }));
}

#[test]
fn a_peer_closing_during_the_handshake_is_a_tls_error() {
    block_on(within_limit(async {
        let (a, mut b) = flow_mem::pair();
        b.shutdown(Shutdown::Write).await.unwrap();
        let err = connector(rustls::DEFAULT_VERSIONS)
            .connect(server_name("localhost").unwrap(), a)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        // A peer dropped outright is the transport's reset.
        let (a, b) = flow_mem::pair();
        drop(b);
        let err = acceptor(rustls::DEFAULT_VERSIONS).accept(a).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
    }));
}

#[test]
fn a_stalled_handshake_times_out() {
    block_on(within_limit(async {
        let limit = Duration::from_millis(200);
        // A server that never answers the client's hello.
        let (a, _silent) = flow_mem::pair();
        let connect: Handshake<MemFlow> = connector(rustls::DEFAULT_VERSIONS)
            .handshake_timeout(limit, timer())
            .connect(server_name("localhost").unwrap(), a);
        let started = std::time::Instant::now();
        let err = connect.await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(started.elapsed() >= limit);
        // A client that never says hello.
        let (b, _silent) = flow_mem::pair();
        let err = acceptor(rustls::DEFAULT_VERSIONS)
            .handshake_timeout(limit, timer())
            .accept(b)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        // A deadline that a working peer beats changes nothing.
        let (a, b) = flow_mem::pair();
        let (client, server) = try_join(
            connector(rustls::DEFAULT_VERSIONS)
                .handshake_timeout(Duration::from_secs(10), timer())
                .connect(server_name("localhost").unwrap(), a),
            acceptor(rustls::DEFAULT_VERSIONS)
                .handshake_timeout(Duration::from_secs(10), timer())
                .accept(b),
        )
        .await
        .unwrap();
        drop((client, server));
    }));
}

/// With no deadline configured and no runtime timer, a silent peer still
/// cannot hold a handshake for ever: the default deadline (10 s) fails it,
/// on either side, here on an executor without any timer.
#[test]
fn handshakes_have_a_default_deadline_without_a_timer() {
    block_on(support::within_limit(async {
        assert_eq!(flow_tls::DEFAULT_HANDSHAKE_TIMEOUT, Duration::from_secs(10));
        let started = std::time::Instant::now();
        let (a, _silent_server) = flow_mem::pair();
        let (b, _silent_client) = flow_mem::pair();
        let (client, server) = join(
            connector(rustls::DEFAULT_VERSIONS).connect(server_name("localhost").unwrap(), a),
            acceptor(rustls::DEFAULT_VERSIONS).accept(b),
        )
        .await;
        for err in [client.unwrap_err(), server.unwrap_err()] {
            assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
            assert!(err.to_string().contains("within 10s"), "{err}");
        }
        assert!(started.elapsed() >= flow_tls::DEFAULT_HANDSHAKE_TIMEOUT);
        // Without the deadline, a silent peer is waited for.
        let (a, _silent) = flow_mem::pair();
        let connect = connector(rustls::DEFAULT_VERSIONS)
            .no_handshake_timeout()
            .connect(server_name("localhost").unwrap(), a);
        let waited = flow_conformance::timer::timeout(Duration::from_millis(300), connect).await;
        assert!(waited.is_none(), "a handshake without a deadline ended early");
    }));
}

/// A TLS close is bounded: a peer that reads `close_notify` and then neither
/// answers nor closes holds it only until the underlying flow's close
/// deadline, and `close_within` bounds it further.
#[test]
fn a_tls_close_against_a_peer_that_never_closes_is_bounded() {
    use flow_conformance::Factory as _;
    support::tokio_block_on(within_limit(async {
        for bound_by in ["the close deadline", "close_within"] {
            let (client, server) = support::TokioTcp::default().connect().await.unwrap();
            let (client, mut server) = try_join(
                connector(rustls::DEFAULT_VERSIONS).connect(server_name("localhost").unwrap(), client),
                acceptor(rustls::DEFAULT_VERSIONS).accept(server),
            )
            .await
            .unwrap();
            let mut client = client;
            let limit = Duration::from_millis(300);
            let started = std::time::Instant::now();
            let closing = async {
                if bound_by == "close_within" {
                    client.close_within(flow_tokio::TokioTimer::shared().sleep(limit)).await
                } else {
                    client.get_mut().set_close_timeout(Some(limit));
                    client.close().await
                }
            };
            // The server reads everything up to close_notify, then stays.
            let silent = async {
                assert_eq!(server.read().await.unwrap(), Chunk::Eof);
                std::future::pending::<()>().await;
            };
            let err = match futures_util::future::select(Box::pin(closing), Box::pin(silent)).await {
                futures_util::future::Either::Left((result, _)) => result.unwrap_err(),
                futures_util::future::Either::Right(_) => unreachable!("the silent server never ends"),
            };
            assert_eq!(err.kind(), ErrorKind::TimedOut, "{bound_by}: {err}");
            let took = started.elapsed();
            assert!(took >= limit && took < limit * 10, "{bound_by}: took {took:?}");
        }
    }));
}

/// Over real TCP: a plain-text peer on either side fails the handshake with
/// a TLS error, not a hang.
#[test]
fn a_peer_speaking_plain_tcp_is_a_tls_error() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let http_server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut hello = [0u8; 5];
        socket.read_exact(&mut hello).unwrap();
        socket
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        hello
    });
    smol::block_on(within_limit(async {
        let tcp = flow_smol::TcpFlow::connect(addr).await.unwrap();
        let err = connector(rustls::DEFAULT_VERSIONS)
            .connect(server_name("localhost").unwrap(), tcp)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(err.get_ref().is_some(), "{err}");
    }));
    // The client did speak TLS: a handshake record.
    assert_eq!(http_server.join().unwrap()[0], 0x16);

    smol::block_on(within_limit(async {
        let listener = flow_smol::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut socket = std::net::TcpStream::connect(addr).unwrap();
            socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            socket.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
            let mut reply = Vec::new();
            let _ = socket.read_to_end(&mut reply);
            reply
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let err = acceptor(rustls::DEFAULT_VERSIONS).accept(tcp).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(err.get_ref().is_some(), "{err}");
        client.join().unwrap();
    }));
}

#[test]
fn pem_helpers_load_certificates_and_keys() {
    let pki = pki();
    let chain = flow_tls::certs_from_pem(pki.server.cert_pem.as_bytes()).unwrap();
    assert_eq!(chain, vec![pki.server.cert.clone()]);
    let both = format!("{}{}", pki.server.cert_pem, pki.ca_pem);
    assert_eq!(
        flow_tls::certs_from_pem(both.as_bytes()).unwrap(),
        vec![pki.server.cert.clone(), pki.ca.clone()]
    );
    let key = flow_tls::private_key_from_pem(pki.server.key_pem.as_bytes()).unwrap();
    assert_eq!(key.secret_der(), &pki.server.key_der[..]);
    for bad in [&b""[..], b"not pem at all", pki.server.key_pem.as_bytes()] {
        let err = flow_tls::certs_from_pem(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    }
    let err = flow_tls::private_key_from_pem(pki.server.cert_pem.as_bytes()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    // From files, and into a working acceptor and connector.
    let dir = support::TempDir::new("flow-tls-pem");
    let (cert_path, key_path) = (dir.path("cert.pem").unwrap(), dir.path("key.pem").unwrap());
    std::fs::write(&cert_path, &pki.server.cert_pem).unwrap();
    std::fs::write(&key_path, &pki.server.key_pem).unwrap();
    let acceptor = TlsAcceptor::builder(
        flow_tls::certs_from_pem_file(&cert_path).unwrap(),
        flow_tls::private_key_from_pem_file(&key_path).unwrap(),
    )
    .build()
    .unwrap();
    let err = flow_tls::certs_from_pem_file(dir.path("missing.pem").unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other, "{err}");
    let connector = TlsConnector::builder()
        .add_root_certificates_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    block_on(within_limit(async {
        let (client, server) = handshake(&connector, &acceptor, "localhost").await;
        client.unwrap();
        server.unwrap();
    }));
    let from_pem = TlsAcceptor::from_pem(pki.server.cert_pem.as_bytes(), pki.server.key_pem.as_bytes()).unwrap();
    block_on(within_limit(async {
        let (client, server) = handshake(&connector, &from_pem, "localhost").await;
        client.unwrap();
        server.unwrap();
    }));
    // A key that does not match the certificate is refused at build time.
    let err = TlsAcceptor::builder(pki.server.chain(), pki.client.key())
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.get_ref().is_some());
}

#[test]
fn invalid_server_names_are_invalid_data() {
    let err = server_name("not a host name!").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    assert!(server_name("127.0.0.1").is_ok());
    assert!(server_name("localhost").is_ok());
}

#[test]
fn writes_wait_when_the_peer_does_not_read() {
    // Bounded buffering: with a 1-byte underlying pipe, a writer can hand
    // over little before poll_write_ready says Pending.
    block_on(within_limit(async {
        let (a, b) = flow_mem::pair_with_capacity(1);
        let (client, server) = join(
            connector(&[&version::TLS13]).connect(server_name("localhost").unwrap(), a),
            acceptor(&[&version::TLS13]).accept(b),
        )
        .await;
        let (mut client, _server) = (client.unwrap(), server.unwrap());
        let mut handed = 0usize;
        let chunk = Bytes::from(vec![1u8; 16 * 1024]);
        loop {
            let write = client.write(chunk.clone());
            match futures_util::FutureExt::now_or_never(write) {
                Some(result) => {
                    result.unwrap();
                    handed += chunk.len();
                }
                None => break,
            }
            assert!(handed < 16 * 1024 * 1024, "16 MiB accepted by a peer that never reads");
        }
        assert!(handed <= 256 * 1024, "{handed} bytes buffered before waiting");
    }));
}

/// The deadline with a runtime's own sleep, over real TCP: a server that
/// accepted the connection and never answers.
#[test]
fn a_stalled_handshake_over_tokio_tcp_times_out_with_tokio_sleep() {
    use flow_conformance::Factory as _;
    support::tokio_block_on(within_limit(async {
        let (client, _silent_server) = support::TokioTcp::default().connect().await.unwrap();
        let err = connector(rustls::DEFAULT_VERSIONS)
            .handshake_timeout(Duration::from_millis(200), flow_tokio::TokioTimer::shared())
            .connect(server_name("localhost").unwrap(), client)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(err.to_string().contains("handshake"), "{err}");
    }));
}

/// The platform's roots: loaded when the platform has some (CI images and
/// this machine do); otherwise the error says why, with kind `Other`.
#[test]
fn native_roots_load_or_say_why() {
    match flow_tls::native_roots() {
        Ok(roots) => {
            assert!(!roots.is_empty());
            TlsConnector::builder().native_roots().unwrap().build().unwrap();
        }
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::Other, "{err}");
            assert!(err.to_string().contains("root certificate"), "{err}");
        }
    }
}

/// Reader and writer of both ends in four separate tasks on a
/// multi-threaded runtime: a TLS read may need to write and a write to
/// read, and no task's wake-up may get lost between them (the suite's
/// clauses run their branches in one task, which would hide that).
#[test]
fn split_halves_in_separate_tasks_never_lose_a_wake_up() {
    use flow_conformance::Factory as _;

    const TOTAL: usize = 8 * 1024 * 1024;

    async fn writer<W: FlowWrite + Unpin>(mut w: W, seed: u64) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut sent = 0usize;
        while sent < TOTAL {
            let len = rng.usize(1..64 * 1024).min(TOTAL - sent);
            let buf: Vec<u8> = (sent..sent + len).map(|i| (i as u64 ^ seed) as u8).collect();
            w.write(buf).await.unwrap();
            sent += len;
        }
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut w).poll_shutdown_write(cx))
            .await
            .unwrap();
    }

    async fn reader<R: FlowRead + Unpin>(mut r: R, seed: u64) {
        let mut got = 0usize;
        while let Chunk::Data(data) = r.read().await.unwrap() {
            for (i, byte) in data.iter().enumerate() {
                assert_eq!(*byte, ((got + i) as u64 ^ seed) as u8, "byte {} (seed {seed})", got + i);
            }
            got += data.len();
        }
        assert_eq!(got, TOTAL);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let seed = flow_conformance::base_seed();
        let memory = support::tls::TlsPairs::tls13(flow_conformance::MemPairs { capacity: 4096 });
        let tcp = support::tls::TlsTokio::default();
        let pairs: Vec<(BoxFlow<'static>, BoxFlow<'static>)> = vec![
            {
                let (a, b) = memory.connect().await.unwrap();
                (a.boxed(), b.boxed())
            },
            {
                let (a, b) = tcp.connect().await.unwrap();
                (a.boxed(), b.boxed())
            },
        ];
        for (a, b) in pairs {
            let (ar, aw) = flow_api::split(a);
            let (br, bw) = flow_api::split(b);
            let tasks = [
                tokio::spawn(writer(aw, seed)),
                tokio::spawn(reader(br, seed)),
                tokio::spawn(writer(bw, seed ^ 1)),
                tokio::spawn(reader(ar, seed ^ 1)),
            ];
            let all = futures_util::future::try_join_all(tasks);
            tokio::time::timeout(Duration::from_secs(20), all)
                .await
                .unwrap_or_else(|_| panic!("a task hung (seed {seed})"))
                .unwrap();
        }
    });
}
