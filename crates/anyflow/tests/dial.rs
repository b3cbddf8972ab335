//! `anyflow::dial`: addresses parsed (good and bad), round trips by
//! address on each transport, the conformance suite over a dialled TCP
//! pair and over dialled QUIC streams, and the errors of transports whose
//! feature is off.
//!
//! Every test that does I/O runs under a time limit
//! (`flow_conformance::sockets::within_limit`, 20 s, on any executor).

#![cfg(any(
    feature = "tokio",
    feature = "smol",
    feature = "async-std",
    feature = "mem",
    feature = "quic"
))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyflow::dial::{self, Address, AddressErrorKind, Dialer, Runtime};
use anyflow::prelude::*;
use anyflow::{BoxFlow, ErrorKind};
use flow_conformance::sockets::within_limit;

// ---------------------------------------------------------------------------
// Parsing

#[test]
fn good_addresses_parse_to_their_canonical_form() {
    let tcp = |host: &str, port| Address::Tcp {
        host: host.into(),
        port,
    };
    let table: &[(&str, Address, &str)] = &[
        ("tcp://127.0.0.1:80", tcp("127.0.0.1", 80), "tcp://127.0.0.1:80"),
        ("tcp://localhost:0", tcp("localhost", 0), "tcp://localhost:0"),
        ("tcp://[::1]:80", tcp("::1", 80), "tcp://[::1]:80"),
        ("tcp://[fe80::1]:80", tcp("fe80::1", 80), "tcp://[fe80::1]:80"),
        (
            "TCP://example.com:65535",
            tcp("example.com", 65535),
            "tcp://example.com:65535",
        ),
        ("tcp://example.com:0080", tcp("example.com", 80), "tcp://example.com:80"),
        (
            "tls://example.com:443",
            Address::Tls {
                host: "example.com".into(),
                port: 443,
            },
            "tls://example.com:443",
        ),
        (
            "quic://[2001:db8::1]:4433",
            Address::Quic {
                host: "2001:db8::1".into(),
                port: 4433,
            },
            "quic://[2001:db8::1]:4433",
        ),
        (
            "unix:/run/x.sock",
            Address::Unix("/run/x.sock".into()),
            "unix:/run/x.sock",
        ),
        (
            "unix:///run/x.sock",
            Address::Unix("/run/x.sock".into()),
            "unix:/run/x.sock",
        ),
        (
            "unix:relative.sock",
            Address::Unix("relative.sock".into()),
            "unix:relative.sock",
        ),
        ("mem:test-1", Address::Mem("test-1".into()), "mem:test-1"),
    ];
    for (input, expected, canonical) in table {
        let parsed: Address = input.parse().unwrap_or_else(|err| panic!("{input}: {err}"));
        assert_eq!(&parsed, expected, "{input}");
        assert_eq!(parsed.to_string(), *canonical, "{input}");
        assert_eq!(canonical.parse::<Address>().unwrap(), parsed, "{canonical} parses back");
    }
}

#[test]
fn bad_addresses_fail_with_what_is_wrong() {
    use AddressErrorKind as K;
    let table: &[(&str, AddressErrorKind)] = &[
        ("", K::Empty),
        ("127.0.0.1:80", K::MissingScheme),
        ("localhost:80", K::MissingScheme),
        ("/run/x.sock", K::MissingScheme),
        ("http://example.com:80", K::UnknownScheme("http".into())),
        ("udp://example.com:53", K::UnknownScheme("udp".into())),
        ("tcp:example.com:80", K::MissingSlashes),
        ("tcp://", K::EmptyHost),
        ("tcp://:80", K::EmptyHost),
        ("tcp://example.com", K::MissingPort),
        ("tcp://example.com:", K::MissingPort),
        ("tcp://example.com/x", K::MissingPort),
        ("tcp://[::1]", K::MissingPort),
        ("tcp://example.com:http", K::InvalidPort),
        ("tcp://example.com:+80", K::InvalidPort),
        ("tcp://example.com:-1", K::InvalidPort),
        ("tcp://example.com:65536", K::PortOutOfRange),
        ("tcp://example.com:99999999999999999999", K::PortOutOfRange),
        ("tcp://example.com:80/path", K::UnexpectedPath),
        ("tcp://example.com:80?x=1", K::UnexpectedPath),
        ("tcp://::1:80", K::InvalidHost),
        ("tcp://user@example.com:80", K::InvalidHost),
        ("tcp://exa mple.com:80", K::InvalidHost),
        ("tcp://[::1]x:80", K::InvalidHost),
        ("tcp://[::1:80", K::InvalidIpv6),
        ("tcp://[example.com]:80", K::InvalidIpv6),
        ("tls://example.com", K::MissingPort),
        ("quic://:443", K::EmptyHost),
        ("unix:", K::EmptyPath),
        ("unix://", K::EmptyPath),
        ("unix://host/run/x.sock", K::UnexpectedHost),
        ("mem:", K::EmptyName),
        ("mem:a b", K::InvalidName),
        ("mem://x", K::InvalidName),
    ];
    for (input, kind) in table {
        match input.parse::<Address>() {
            Ok(addr) => panic!("{input:?} parsed as {addr:?}"),
            Err(err) => {
                assert_eq!(err.kind(), kind, "{input:?}: {err}");
                assert_eq!(err.input(), *input);
                assert!(
                    err.to_string().starts_with(&format!("invalid address {input:?}: ")),
                    "{err}"
                );
            }
        }
    }
}

#[test]
fn address_errors_say_what_is_wrong() {
    let table = [
        (
            "tcp://example.com",
            r#"invalid address "tcp://example.com": missing port (expected SCHEME://HOST:PORT)"#,
        ),
        (
            "tcp://example.com:70000",
            r#"invalid address "tcp://example.com:70000": port out of range (expected a number from 0 to 65535)"#,
        ),
        (
            "ftp://example.com:21",
            r#"invalid address "ftp://example.com:21": unknown scheme "ftp" (expected tcp, tls, unix, quic or mem)"#,
        ),
        ("unix:", r#"invalid address "unix:": empty path (expected unix:PATH)"#),
        (
            "tcp://:80",
            r#"invalid address "tcp://:80": empty host (expected SCHEME://HOST:PORT)"#,
        ),
        (
            "tcp://::1:80",
            r#"invalid address "tcp://::1:80": invalid host (IPv6 addresses go in brackets: tcp://[::1]:80)"#,
        ),
    ];
    for (input, message) in table {
        assert_eq!(input.parse::<Address>().unwrap_err().to_string(), message);
    }
}

#[test]
fn parsing_never_panics() {
    let tricky = [
        "tcp://[::1]:80/é",
        "tls://é.example:443",
        "unix:///é/x.sock",
        "mem:é",
        "quic://[fe80::1]:65535?x#y",
        "é://x:1",
        "tcp://[é]:80",
        "tcp://x:8é0",
    ];
    for input in tricky {
        for (i, _) in input.char_indices() {
            let _ = input[..i].parse::<Address>();
            let _ = input[i..].parse::<Address>();
        }
    }
}

/// Runs a future that does no I/O to completion on any executor.
fn run<F: std::future::Future>(future: F) -> F::Output {
    futures_executor::block_on(within_limit(future))
}

/// The error of a dial that must fail.
fn dial_error(dialer: &Dialer, addr: &str) -> anyflow::Error {
    match run(dialer.dial(addr)) {
        Ok(_) => panic!("dialling {addr} succeeded"),
        Err(err) => err,
    }
}

/// The error of a listen that must fail.
fn listen_error(dialer: &Dialer, addr: &str) -> anyflow::Error {
    match run(dialer.listen(addr)) {
        Ok(listener) => panic!("listening on {addr} succeeded: {listener:?}"),
        Err(err) => err,
    }
}

#[test]
fn dialling_a_bad_address_is_invalid_data_with_the_parse_error() {
    let err = dial_error(&Dialer::new(), "tcp://example.com");
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert_eq!(
        err.to_string(),
        r#"invalid address "tcp://example.com": missing port (expected SCHEME://HOST:PORT)"#
    );
    let parse = err
        .get_ref()
        .and_then(|source| source.downcast_ref::<dial::AddressError>());
    assert_eq!(parse.map(|e| e.kind()), Some(&AddressErrorKind::MissingPort));
    assert_eq!(listen_error(&Dialer::new(), "nope").kind(), ErrorKind::InvalidData);
}

// ---------------------------------------------------------------------------
// What is not there: compio, features that are off

#[cfg(not(feature = "quic"))]
#[test]
fn quic_without_the_feature_names_it() {
    let err = dial_error(&Dialer::new(), "quic://127.0.0.1:4433");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(
        err.to_string(),
        "dialling quic://127.0.0.1:4433: quic:// needs QUIC: enable the quic feature of anyflow: \
         operation not supported by this flow"
    );
    let err = listen_error(&Dialer::new(), "quic://127.0.0.1:0");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.to_string()
            .starts_with("listening on quic://127.0.0.1:0: quic:// needs QUIC: enable the quic feature"),
        "{err}"
    );
}

#[test]
fn compio_cannot_make_a_boxflow() {
    let dialer = Dialer::new().runtime(Runtime::Compio);
    let err = dial_error(&dialer, "tcp://127.0.0.1:9");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(
        err.to_string(),
        "dialling tcp://127.0.0.1:9: compio's flows are not Send, so they cannot be a BoxFlow: \
         use anyflow::compio's TcpFlow and UnixFlow directly: operation not supported by this flow"
    );
    assert_eq!(listen_error(&dialer, "unix:/tmp/x.sock").kind(), ErrorKind::Unsupported);
}

#[test]
fn the_preferred_runtime_is_the_first_enabled() {
    let expected = if cfg!(feature = "tokio") {
        Some(Runtime::Tokio)
    } else if cfg!(feature = "smol") {
        Some(Runtime::Smol)
    } else if cfg!(feature = "async-std") {
        Some(Runtime::AsyncStd)
    } else {
        None
    };
    assert_eq!(Runtime::preferred(), expected);
    assert_eq!(Runtime::Compio.is_enabled(), cfg!(feature = "compio"));
}

#[cfg(not(any(feature = "tokio", feature = "smol", feature = "async-std")))]
#[test]
fn sockets_without_a_runtime_name_the_features() {
    for (addr, scheme) in [("tcp://127.0.0.1:9", "tcp://"), ("unix:/tmp/x.sock", "unix:")] {
        let err = dial_error(&Dialer::new(), addr);
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert_eq!(
            err.to_string(),
            format!(
                "dialling {addr}: {scheme} needs a runtime: enable the tokio, smol or async-std feature of anyflow: \
                 operation not supported by this flow"
            )
        );
        let err = listen_error(&Dialer::new(), addr);
        assert!(
            err.to_string().contains("enable the tokio, smol or async-std feature"),
            "{err}"
        );
    }
}

#[cfg(not(feature = "smol"))]
#[test]
fn a_runtime_whose_feature_is_off_names_it() {
    let err = dial_error(&Dialer::new().runtime(Runtime::Smol), "tcp://127.0.0.1:9");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(
        err.to_string(),
        "dialling tcp://127.0.0.1:9: the smol runtime is not enabled: enable the smol feature of anyflow: \
         operation not supported by this flow"
    );
}

#[cfg(not(feature = "tls"))]
#[test]
fn tls_without_the_feature_names_it() {
    let err = dial_error(&Dialer::new(), "tls://example.com:443");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(
        err.to_string(),
        "dialling tls://example.com:443: tls:// needs TLS: enable the tls feature of anyflow: \
         operation not supported by this flow"
    );
    assert_eq!(
        listen_error(&Dialer::new(), "tls://127.0.0.1:0").kind(),
        ErrorKind::Unsupported
    );
}

#[cfg(not(feature = "mem"))]
#[test]
fn mem_without_the_feature_names_it() {
    let err = dial_error(&Dialer::new(), "mem:x");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(
        err.to_string(),
        "dialling mem:x: mem: needs the in-memory backend: enable the mem feature of anyflow: \
         operation not supported by this flow"
    );
    assert_eq!(listen_error(&Dialer::new(), "mem:x").kind(), ErrorKind::Unsupported);
}

// ---------------------------------------------------------------------------
// Round trips

/// The client sends a request and half-closes; the server reads it to the
/// end of file, answers, and half-closes; both then close.
async fn echo_both_ways(mut client: BoxFlow<'static>, mut server: BoxFlow<'static>) {
    async fn read_to_end(flow: &mut BoxFlow<'static>) -> Vec<u8> {
        let mut all = Vec::new();
        while let Chunk::Data(bytes) = flow.read().await.unwrap() {
            all.extend_from_slice(&bytes);
        }
        all
    }
    let request: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let client_side = async {
        client.write(Bytes::from(request.clone())).await.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();
        let reply = read_to_end(&mut client).await;
        client.close().await.unwrap();
        reply
    };
    let server_side = async {
        let got = read_to_end(&mut server).await;
        // The client's end of file came first; this side can still write.
        server
            .write(Bytes::from(format!("got {} bytes", got.len())))
            .await
            .unwrap();
        server.shutdown(Shutdown::Write).await.unwrap();
        server.close().await.unwrap();
        got
    };
    let (reply, got) = futures_util::future::join(client_side, server_side).await;
    assert_eq!(got, request);
    assert_eq!(reply, format!("got {} bytes", request.len()).into_bytes());
}

#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std", feature = "mem"))]
/// Accepts the next connection and completes its TLS handshake, if any
/// (a `tls://` listener's flows handshake on first use: a flush with
/// nothing queued does only that).
async fn accept_ready(listener: &dial::Listener) -> Result<(BoxFlow<'static>, dial::Peer), anyflow::Error> {
    let (mut flow, peer) = listener.accept().await?;
    flow.flush().await?;
    Ok((flow, peer))
}

#[cfg(any(feature = "tokio", feature = "smol", feature = "async-std", feature = "mem"))]
/// Listens on `addr`, dials what the listener reports, and echoes both ways.
async fn round_trip(dialer: &Dialer, addr: &str) -> Address {
    let listener = dialer.listen(addr).await.unwrap();
    let local = listener.local_addr().clone();
    let (client, (server, _peer)) = futures_util::future::try_join(dialer.dial(&local), accept_ready(&listener))
        .await
        .unwrap();
    echo_both_ways(client, server).await;
    local
}

#[cfg(feature = "mem")]
#[test]
fn mem_round_trip_and_errors() {
    run(async {
        let dialer = Dialer::new();
        let local = round_trip(&dialer, "mem:round-trip").await;
        assert_eq!(local.to_string(), "mem:round-trip");

        let listener = dial::listen("mem:taken").await.unwrap();
        let err = dial::listen("mem:taken").await.unwrap_err();
        assert_eq!(err.io_kind(), std::io::ErrorKind::AddrInUse);
        assert_eq!(
            err.to_string(),
            "listening on mem:taken: another listener has this name"
        );
        drop(listener);
        // Free again once the listener is gone; nobody listens meanwhile.
        let err = dial::dial("mem:taken").await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Refused);
        assert_eq!(err.to_string(), "dialling mem:taken: connection refused");
        drop(dial::listen("mem:taken").await.unwrap());
    });
}

#[cfg(feature = "mem")]
#[test]
fn mem_connections_never_accepted_are_reset() {
    run(async {
        let listener = dial::listen("mem:dropped").await.unwrap();
        let mut client = dial::dial("mem:dropped").await.unwrap();
        drop(listener);
        assert_eq!(client.read().await.unwrap_err().kind(), ErrorKind::Reset);
    });
}

#[cfg(any(feature = "tokio", feature = "quic"))]
fn tokio_block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(within_limit(future))
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_tcp_round_trip_on_port_0() {
    tokio_block_on(async {
        let local = round_trip(&Dialer::new().runtime(Runtime::Tokio), "tcp://127.0.0.1:0").await;
        match local {
            Address::Tcp { host, port } => {
                assert_eq!(host, "127.0.0.1");
                assert_ne!(port, 0, "the real port");
            }
            other => panic!("{other:?}"),
        }
    });
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_tcp_round_trip_over_ipv6() {
    tokio_block_on(async {
        // Skipped where the machine has no IPv6 loopback.
        if std::net::TcpListener::bind("[::1]:0").is_err() {
            return;
        }
        let local = round_trip(&Dialer::new(), "tcp://[::1]:0").await;
        assert!(local.to_string().starts_with("tcp://[::1]:"), "{local}");
    });
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_tcp_refused_names_the_address() {
    tokio_block_on(async {
        // A port that was free a moment ago and has no listener now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = dial::dial(format!("tcp://127.0.0.1:{port}")).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Refused);
        assert_eq!(
            err.to_string(),
            format!("dialling tcp://127.0.0.1:{port}: connecting to 127.0.0.1:{port}: connection refused")
        );
    });
}

#[cfg(all(feature = "tokio", unix))]
#[test]
fn tokio_unix_round_trip() {
    tokio_block_on(async {
        let dir = flow_conformance::sockets::TempDir::new("anyflow-dial");
        let path = dir.path("socket").unwrap();
        let addr = format!("unix://{}", path.display()); // unix:///tmp/...
        let local = round_trip(&Dialer::new(), &addr).await;
        assert_eq!(local, Address::Unix(path.clone()));
        assert_eq!(local.to_string(), format!("unix:{}", path.display()));
    });
}

/// A CA and a leaf for `localhost` and `127.0.0.1` signed by it, made at
/// run time: the CA's certificate, the leaf's, the leaf's PKCS #8 key.
#[cfg(feature = "tls")]
fn test_pki() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "anyflow dial test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let leaf = params.signed_by(&key, &issuer).unwrap();
    (ca.der().to_vec(), leaf.der().to_vec(), key.serialize_der())
}

/// A dialer that trusts the test CA and serves its leaf.
#[cfg(feature = "tls")]
fn tls_dialer() -> Dialer {
    use anyflow::tls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use anyflow::tls::{TlsAcceptor, TlsConnector};
    let (ca, leaf, key) = test_pki_once().clone();
    let connector = TlsConnector::builder()
        .add_root_certificate(CertificateDer::from(ca))
        .unwrap()
        .build()
        .unwrap();
    let acceptor = TlsAcceptor::builder(
        vec![CertificateDer::from(leaf)],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
    )
    .build()
    .unwrap();
    Dialer::new().tls_connector(connector).tls_acceptor(acceptor)
}

#[cfg(all(feature = "tokio", feature = "tls"))]
#[test]
fn tokio_tls_round_trip() {
    tokio_block_on(async {
        let dialer = tls_dialer();
        // By IP address (the listener's local address)...
        let local = round_trip(&dialer, "tls://127.0.0.1:0").await;
        assert!(local.to_string().starts_with("tls://127.0.0.1:"), "{local}");
        // ...and by name, the certificate checked for `localhost`.
        let listener = dialer.listen("tls://127.0.0.1:0").await.unwrap();
        let Address::Tls { port, .. } = *listener.local_addr() else {
            panic!("{:?}", listener.local_addr());
        };
        let (client, (server, peer)) =
            futures_util::future::try_join(dialer.dial(format!("tls://localhost:{port}")), accept_ready(&listener))
                .await
                .unwrap();
        assert!(
            matches!(peer, dial::Peer::Tcp(addr) if addr.ip().is_loopback()),
            "{peer}"
        );
        echo_both_ways(client, server).await;
    });
}

#[cfg(all(feature = "tokio", feature = "tls"))]
#[test]
fn tokio_tls_errors() {
    tokio_block_on(async {
        // Listening on tls:// needs a server configuration.
        let err = dial::listen("tls://127.0.0.1:0").await.unwrap_err();
        assert_eq!(err.io_kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "listening on tls://127.0.0.1:0: no TLS server configuration: \
             give one with Dialer::tls_acceptor or Dialer::tls_server_config"
        );
        // A server that accepts TCP and says nothing: the connect timeout
        // bounds the handshake too.
        let silent = anyflow::tokio::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let dialer = tls_dialer().connect_timeout(std::time::Duration::from_millis(200));
        let (dialled, _accepted) =
            futures_util::future::join(dialer.dial(format!("tls://127.0.0.1:{port}")), silent.accept()).await;
        let err = dialled.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(
            err.to_string(),
            format!("dialling tls://127.0.0.1:{port}: no connection within 200ms: operation timed out")
        );
        // A client that trusts no CA: the handshake fails, naming the address.
        let listener = tls_dialer().listen("tls://127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().clone();
        let distrustful = Dialer::new().tls_connector(anyflow::tls::TlsConnector::builder().build().unwrap());
        let (dialled, accepted) = futures_util::future::join(distrustful.dial(&local), async {
            // The server's side of the failed handshake is the error of the
            // flow's first use, naming the client and the listener; it stays.
            let (mut served, peer) = listener.accept().await.unwrap();
            let first = served.read().await.unwrap_err();
            let again = served.write("x").await.unwrap_err();
            (first, again, peer)
        })
        .await;
        let err = dialled.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Tls);
        assert!(err.to_string().starts_with(&format!("dialling {local}: ")), "{err}");
        let (first, again, peer) = accepted;
        assert_eq!(first.kind(), ErrorKind::Tls, "{first}");
        assert!(
            first
                .to_string()
                .starts_with(&format!("accepting TLS from {peer} on {local}: ")),
            "{first}"
        );
        assert_eq!(flow_api::Error::from(again).kind(), ErrorKind::Tls);
    });
}

#[cfg(all(feature = "tokio", feature = "tls"))]
#[test]
fn a_silent_tls_client_does_not_hold_the_accept_loop() {
    tokio_block_on(async {
        let dialer = tls_dialer();
        let listener = dialer.listen("tls://127.0.0.1:0").await.unwrap();
        let Address::Tls { port, .. } = *listener.local_addr() else {
            panic!("{:?}", listener.local_addr());
        };
        // Connects over TCP and never starts the handshake.
        let _silent = anyflow::tokio::TcpFlow::connect(("127.0.0.1".parse::<std::net::IpAddr>().unwrap(), port))
            .await
            .unwrap();
        let (_first, _) = listener.accept().await.unwrap();
        // The next client is served while the first still says nothing:
        // well inside the 10 s handshake deadline the first could hold.
        let served = async { accept_ready(&listener).await.unwrap().0 };
        let (client, server) = futures_util::future::join(dialer.dial(format!("tls://localhost:{port}")), served).await;
        let client = client.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), echo_both_ways(client, server))
            .await
            .expect("the second TLS client waited for the silent one");
    });
}

#[cfg(feature = "smol")]
#[test]
fn smol_tcp_round_trip_on_port_0() {
    smol::block_on(within_limit(async {
        let local = round_trip(&Dialer::new().runtime(Runtime::Smol), "tcp://127.0.0.1:0").await;
        assert!(local.to_string().starts_with("tcp://127.0.0.1:"), "{local}");
    }));
}

#[cfg(all(feature = "smol", unix))]
#[test]
fn smol_unix_round_trip() {
    smol::block_on(within_limit(async {
        let dir = flow_conformance::sockets::TempDir::new("anyflow-dial-smol");
        let path = dir.path("socket").unwrap();
        round_trip(
            &Dialer::new().runtime(Runtime::Smol),
            &format!("unix:{}", path.display()),
        )
        .await;
    }));
}

#[cfg(feature = "async-std")]
#[test]
fn async_std_tcp_round_trip_on_port_0() {
    async_std::task::block_on(within_limit(async {
        round_trip(&Dialer::new().runtime(Runtime::AsyncStd), "tcp://127.0.0.1:0").await;
    }));
}

/// The futures of `dial`, `listen` and `accept` are `Send`: a server
/// spawns them on a multi-threaded runtime.
#[test]
fn the_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let dialer = Dialer::new();
    send(&dialer.dial("tcp://127.0.0.1:9"));
    send(&dialer.listen("tcp://127.0.0.1:0"));
    send(&dial::dial("mem:x"));
    fn accept_is_send(listener: &dial::Listener) {
        send(&listener.accept());
    }
    let _ = accept_is_send;
    fn shared<T: Send + Sync>() {}
    shared::<dial::Listener>();
    shared::<Dialer>();
}

// ---------------------------------------------------------------------------
// The conformance suite over a dialled TCP pair

/// Pairs made the way a program makes them: a listener from
/// `listen("tcp://127.0.0.1:0")`, a client from `dial`, both `BoxFlow`s.
#[cfg(feature = "tokio")]
#[derive(Debug, Default)]
struct DialledTcp {
    listener: std::sync::OnceLock<dial::Listener>,
}

#[cfg(feature = "tokio")]
impl flow_conformance::Factory for DialledTcp {
    type Client = BoxFlow<'static>;
    type Server = BoxFlow<'static>;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), anyflow::Error> {
        if self.listener.get().is_none() {
            let _ = self.listener.set(dial::listen("tcp://127.0.0.1:0").await?);
        }
        let listener = self.listener.get().ok_or(ErrorKind::Other)?;
        let (client, (server, _peer)) =
            futures_util::future::try_join(dial::dial(listener.local_addr()), listener.accept()).await?;
        Ok((client, server))
    }

    fn capabilities(&self) -> flow_conformance::Capabilities {
        flow_conformance::Capabilities::new()
    }
}

#[cfg(any(feature = "tokio", feature = "quic"))]
fn suite_block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[cfg(feature = "tokio")]
flow_conformance::suite! {
    name: dialled_tcp,
    factory: crate::DialledTcp::default(),
    block_on: crate::suite_block_on,
}

// ---------------------------------------------------------------------------
// QUIC: a stream per dial; every stream a peer opens is one accepted flow

/// Reads `flow` to its end of file.
#[cfg(feature = "quic")]
async fn read_all(flow: &mut BoxFlow<'static>) -> Result<Vec<u8>, anyflow::Error> {
    let mut all = Vec::new();
    while let Chunk::Data(bytes) = flow.read().await? {
        all.extend_from_slice(&bytes);
    }
    Ok(all)
}

/// Dials `addr` and has the listener accept the stream. QUIC opens streams
/// lazily: the listener sees the stream once the client wrote to it, so
/// the client sends one opening byte and the server reads it.
#[cfg(feature = "quic")]
async fn quic_pair(
    dialer: &Dialer,
    listener: &dial::Listener,
    addr: &Address,
) -> Result<(BoxFlow<'static>, BoxFlow<'static>, dial::Peer), anyflow::Error> {
    let mut client = dialer.dial(addr).await?;
    client.write("!").await?;
    let (mut server, peer) = listener.accept().await?;
    match server.read().await? {
        Chunk::Data(bytes) if bytes.as_ref() == b"!" => Ok((client, server, peer)),
        other => Err(anyflow::Error::new(ErrorKind::InvalidData).context(format!("the opening byte: {other:?}"))),
    }
}

#[cfg(feature = "quic")]
#[test]
fn quic_round_trip_on_port_0() {
    tokio_block_on(async {
        let dialer = tls_dialer();
        let listener = dialer.listen("quic://127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().clone();
        let Address::Quic { ref host, port } = local else {
            panic!("{local:?}");
        };
        assert_eq!(host, "127.0.0.1");
        assert_ne!(port, 0, "the real port");
        let (client, server, peer) = quic_pair(&dialer, &listener, &local).await.unwrap();
        assert!(
            matches!(peer, dial::Peer::Quic(addr) if addr.ip().is_loopback()),
            "{peer}"
        );
        echo_both_ways(client, server).await;
        // Again, on a second connection to the same listener.
        let (client, server, _) = quic_pair(&dialer, &listener, &local).await.unwrap();
        echo_both_ways(client, server).await;
    });
}

/// Three dials (three connections) and three streams of one connection
/// opened with `anyflow::quic`: the listener yields six flows, each
/// echoing its own stream; the three streams share their peer's address.
/// When that connection closes, its accepted flows fail with a reset.
#[cfg(feature = "quic")]
#[test]
fn quic_listener_yields_every_stream_of_every_connection() {
    use anyflow::quic::{QuicEndpoint, client_config};
    tokio_block_on(async {
        let dialer = tls_dialer();
        let listener = dialer.listen("quic://127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().clone();
        let Address::Quic { port, .. } = local else {
            panic!("{local:?}");
        };
        let (ca, _, _) = test_pki_once();
        let tls = anyflow::tls::TlsConnector::builder()
            .add_root_certificate(anyflow::tls::pki_types::CertificateDer::from(ca.clone()))
            .unwrap()
            .alpn_protocols([dial::DEFAULT_QUIC_ALPN])
            .build()
            .unwrap();
        let endpoint = QuicEndpoint::client("127.0.0.1:0".parse().unwrap(), client_config(&tls).unwrap()).unwrap();
        let server_addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let connection = endpoint.connect(server_addr, "localhost").await.unwrap();

        let mut clients: Vec<(String, BoxFlow<'static>)> = Vec::new();
        for i in 0..3 {
            let mut flow: BoxFlow<'static> = Box::pin(connection.open().await.unwrap());
            let greeting = format!("stream {i}");
            flow.write(greeting.clone()).await.unwrap();
            flow.shutdown(Shutdown::Write).await.unwrap();
            clients.push((greeting, flow));
        }
        for i in 0..3 {
            let mut flow = dialer.dial(&local).await.unwrap();
            let greeting = format!("dial {i}");
            flow.write(greeting.clone()).await.unwrap();
            flow.shutdown(Shutdown::Write).await.unwrap();
            clients.push((greeting, flow));
        }
        let mut servers = Vec::new();
        for _ in 0..6 {
            let (mut flow, peer) = listener.accept().await.unwrap();
            let got = String::from_utf8(read_all(&mut flow).await.unwrap()).unwrap();
            flow.write(format!("echo {got}")).await.unwrap();
            servers.push((got, peer, flow));
        }
        let mut greetings: Vec<&str> = servers.iter().map(|(got, _, _)| got.as_str()).collect();
        greetings.sort_unstable();
        assert_eq!(
            greetings,
            ["dial 0", "dial 1", "dial 2", "stream 0", "stream 1", "stream 2"]
        );
        let peer_of = |prefix: &str| -> Vec<dial::Peer> {
            servers
                .iter()
                .filter(|(got, _, _)| got.starts_with(prefix))
                .map(|(_, peer, _)| peer.clone())
                .collect()
        };
        let shared = peer_of("stream");
        assert!(shared.iter().all(|peer| *peer == shared[0]), "{shared:?}");
        let mut dialled = peer_of("dial");
        dialled.sort_by_key(ToString::to_string);
        dialled.dedup();
        assert_eq!(dialled.len(), 3, "one connection per dial: {dialled:?}");
        assert!(!dialled.contains(&shared[0]), "{dialled:?} {shared:?}");

        let clients_done = futures_util::future::join_all(clients.into_iter().map(|(greeting, mut flow)| async move {
            assert_eq!(
                read_all(&mut flow).await.unwrap(),
                format!("echo {greeting}").into_bytes()
            );
            flow.close().await.unwrap();
        }));
        let servers_done = futures_util::future::join_all(servers.into_iter().map(|(_, _, mut flow)| async move {
            flow.shutdown(Shutdown::Write).await.unwrap();
            flow.close().await.unwrap();
        }));
        futures_util::future::join(clients_done, servers_done).await;

        // One more stream of the connection, accepted; then the client
        // closes the connection, and the accepted flow fails.
        let mut last = connection.open().await.unwrap();
        last.write("last").await.unwrap();
        let (mut accepted, _) = listener.accept().await.unwrap();
        assert_eq!(accepted.read().await.unwrap(), Chunk::Data(Bytes::from_static(b"last")));
        connection.close();
        let err = accepted.read().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
        endpoint.wait_idle().await;
    });
}

#[cfg(feature = "quic")]
#[test]
fn quic_errors_name_the_address() {
    tokio_block_on(async {
        // Not an address.
        let err = dial::dial("quic://127.0.0.1").await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert_eq!(
            err.to_string(),
            r#"invalid address "quic://127.0.0.1": missing port (expected SCHEME://HOST:PORT)"#
        );
        // Listening needs a server configuration.
        let err = dial::listen("quic://127.0.0.1:0").await.unwrap_err();
        assert_eq!(err.io_kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "listening on quic://127.0.0.1:0: no TLS server configuration: \
             give one with Dialer::tls_acceptor or Dialer::tls_server_config"
        );
        // QUIC runs on tokio only.
        let err = Dialer::new()
            .runtime(Runtime::Smol)
            .dial("quic://127.0.0.1:9")
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert_eq!(
            err.to_string(),
            "dialling quic://127.0.0.1:9: quic:// runs on tokio (quinn's tokio runtime), not on smol: \
             use Runtime::Tokio or no runtime: operation not supported by this flow"
        );
        // Nothing answers on a UDP port that is bound and silent: QUIC has
        // no refusal, so the connect timeout ends the dial.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let dialer = tls_dialer().connect_timeout(std::time::Duration::from_millis(200));
        let err = dialer.dial(format!("quic://127.0.0.1:{port}")).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(
            err.to_string(),
            format!("dialling quic://127.0.0.1:{port}: no connection within 200ms: operation timed out")
        );
        // A client that trusts no CA: the handshake fails, naming the address.
        let listener = tls_dialer().listen("quic://127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().clone();
        let distrustful = Dialer::new().tls_connector(anyflow::tls::TlsConnector::builder().build().unwrap());
        let err = distrustful.dial(&local).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(err.to_string().starts_with(&format!("dialling {local}: ")), "{err}");
        // Different ALPN protocols on the two sides: no common protocol.
        let alpn = anyflow::tls::TlsConnector::builder()
            .add_root_certificate(anyflow::tls::pki_types::CertificateDer::from(test_pki_once().0.clone()))
            .unwrap()
            .alpn_protocols(["h3"])
            .build()
            .unwrap();
        let err = Dialer::new().tls_connector(alpn).dial(&local).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    });
}

/// The test PKI, made once for the process (the QUIC tests need the CA's
/// certificate apart from the dialer).
#[cfg(feature = "tls")]
fn test_pki_once() -> &'static (Vec<u8>, Vec<u8>, Vec<u8>) {
    static PKI: std::sync::OnceLock<(Vec<u8>, Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    PKI.get_or_init(test_pki)
}

#[cfg(feature = "quic")]
#[test]
fn a_quic_flow_is_a_send_boxflow() {
    fn send<T: Send>(_: &T) {}
    let dialer = Dialer::new();
    send(&dialer.dial("quic://127.0.0.1:9"));
    send(&dialer.listen("quic://127.0.0.1:0"));
    fn boxed(flow: anyflow::quic::QuicFlow) -> BoxFlow<'static> {
        Box::pin(flow)
    }
    let _ = boxed;
}

/// Pairs made the way a program makes them: a listener from
/// `listen("quic://127.0.0.1:0")`, a client from `dial` (a connection of
/// its own per pair), both `BoxFlow`s, made visible to the listener with
/// an opening byte (see `quic_pair`).
#[cfg(feature = "quic")]
#[derive(Default)]
struct DialledQuic {
    listener: futures_util::lock::Mutex<Option<(Dialer, dial::Listener)>>,
}

#[cfg(feature = "quic")]
impl flow_conformance::Factory for DialledQuic {
    type Client = BoxFlow<'static>;
    type Server = BoxFlow<'static>;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), anyflow::Error> {
        // One pair at a time, so that the stream accepted is the one dialled.
        let mut state = self.listener.lock().await;
        if state.is_none() {
            let dialer = tls_dialer();
            let listener = dialer.listen("quic://127.0.0.1:0").await?;
            *state = Some((dialer, listener));
        }
        let (dialer, listener) = state.as_ref().ok_or(ErrorKind::Other)?;
        let (client, server, _peer) = quic_pair(dialer, listener, &listener.local_addr().clone()).await?;
        Ok((client, server))
    }

    fn capabilities(&self) -> flow_conformance::Capabilities {
        // A dropped end finishes its stream: the peer reads end of file.
        flow_conformance::Capabilities::new()
    }
}

#[cfg(feature = "quic")]
flow_conformance::suite! {
    name: dialled_quic,
    factory: crate::DialledQuic::default(),
    block_on: crate::suite_block_on,
}
