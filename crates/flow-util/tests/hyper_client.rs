//! hyper-util's `Client` over flows, through `flow_util::hyper::Connector`,
//! against servers nobody here wrote: Python's standard `http.server` over
//! plain TCP and over TLS (Python's `ssl`), and Hypercorn speaking HTTP/2
//! over TLS, chosen with ALPN. The peers run from `tests/peers/` with the
//! interpreter `FLOW_PYTHON` names (`cargo xtask peers` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Peer, TempDir, test_pki};
use flow_util::hyper::{ConnectError, host_and_port};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Version};

#[path = "../examples/hyper_util_client.rs"]
#[allow(dead_code)]
mod hyper_util_client;

fn limited<F: std::future::Future>(what: &str, future: F) -> F::Output {
    common::tokio_block_on(common::within(what, future))
}

#[test]
fn fetches_from_python_http_server_over_tcp() {
    let seed = common::seed();
    let body = common::random_bytes(seed, 250_000);
    let dir = TempDir::new();
    dir.write("body.bin", &body);
    limited("hyper-util client and Python's http.server", async {
        let mut server = Peer::spawn("http_server.py", &[&dir.path()]);
        let url = format!("http://127.0.0.1:{}", server.port().await);
        let client = hyper_util_client::client(None);
        // Twice: the second request reuses the pooled connection.
        for _ in 0..2 {
            let (status, version, got) = hyper_util_client::get(&client, &format!("{url}/body.bin"))
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK);
            assert_eq!(version, Version::HTTP_11);
            assert!(
                got == body,
                "the body differs (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"
            );
        }
        let (status, _, _) = hyper_util_client::get(&client, &format!("{url}/missing"))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND);
        drop(server);
    });
}

#[test]
fn fetches_from_python_http_server_over_tls() {
    let seed = common::seed().wrapping_add(1);
    let body = common::random_bytes(seed, 250_000);
    let pki = test_pki();
    let dir = TempDir::new();
    dir.write("body.bin", &body);
    let certs = TempDir::new();
    let cert = certs.write("cert.pem", pki.cert_pem.as_bytes());
    let key = certs.write("key.pem", pki.key_pem.as_bytes());
    limited("hyper-util client and Python's http.server over TLS", async {
        let mut server = Peer::spawn("http_server.py", &[&dir.path(), &cert, &key]);
        let url = format!("https://localhost:{}/body.bin", server.port().await);
        // The client offers h2 too: Python answers http/1.1, and the
        // connection must stay HTTP/1.1.
        let client = hyper_util_client::client(Some(pki.connector_with_alpn(&["h2", "http/1.1"])));
        let (status, version, got) = hyper_util_client::get(&client, &url).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(version, Version::HTTP_11);
        assert!(
            got == body,
            "the body differs (seed {seed}: rerun with FLOW_UTIL_SEED={})",
            seed.wrapping_sub(1)
        );
        // A client that does not trust the test CA fails to connect, and says where.
        let untrusting = hyper_util_client::client(Some(
            flow_tls::TlsConnector::builder()
                .add_root_certificates_pem(test_pki().ca_pem.as_bytes())
                .unwrap()
                .build()
                .unwrap(),
        ));
        let err = hyper_util_client::get(&untrusting, &url).await.unwrap_err();
        let connect = find_connect_error(&*err).expect("no ConnectError in the chain");
        assert_eq!(connect.uri().port_u16(), url.parse::<hyper::Uri>().unwrap().port_u16());
        assert_eq!(connect.get_ref().kind(), flow_api::ErrorKind::Tls, "{connect}");
        drop(server);
    });
}

#[test]
fn speaks_http2_to_hypercorn_chosen_with_alpn() {
    let seed = common::seed().wrapping_add(2);
    let body = common::random_bytes(seed, 200_000);
    let pki = test_pki();
    let certs = TempDir::new();
    let cert = certs.write("cert.pem", pki.cert_pem.as_bytes());
    let key = certs.write("key.pem", pki.key_pem.as_bytes());
    limited("hyper-util client and Hypercorn over HTTP/2", async {
        let mut server = Peer::spawn("h2_server.py", &[&cert, &key]);
        let url = format!("https://localhost:{}", server.port().await);
        let client = hyper_util_client::client(Some(pki.connector_with_alpn(&["h2"])));
        let (status, version, got) = hyper_util_client::get(&client, &format!("{url}/")).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(version, Version::HTTP_2, "the client did not speak HTTP/2");
        assert_eq!(got, "http_version=2\n", "Hypercorn did not see HTTP/2");
        let request = Request::post(format!("{url}/echo"))
            .body(Full::new(Bytes::from(body.clone())))
            .unwrap();
        let (status, version, echoed) = hyper_util_client::send(&client, request).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(version, Version::HTTP_2);
        assert!(
            echoed == body,
            "the echoed body differs (seed {seed}: rerun with FLOW_UTIL_SEED={})",
            seed.wrapping_sub(2)
        );
        drop(server);
    });
}

#[test]
fn a_refused_connection_is_a_connect_error_naming_the_uri() {
    limited("connecting to a closed port", async {
        let listener = flow_tokio::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = hyper_util_client::client(None);
        let err = hyper_util_client::get(&client, &format!("http://{addr}/"))
            .await
            .unwrap_err();
        let connect = find_connect_error(&*err).expect("no ConnectError in the chain");
        assert_eq!(connect.get_ref().kind(), flow_api::ErrorKind::Refused);
        assert!(
            connect.to_string().starts_with(&format!("dialling http://{addr}/: ")),
            "{connect}"
        );
    });
}

#[test]
fn host_and_port_defaults_by_scheme() {
    let parse = |s: &str| s.parse::<hyper::Uri>().unwrap();
    assert_eq!(
        host_and_port(&parse("http://example.com/")).unwrap(),
        ("example.com", 80)
    );
    assert_eq!(
        host_and_port(&parse("https://example.com/x")).unwrap(),
        ("example.com", 443)
    );
    assert_eq!(host_and_port(&parse("wss://[::1]:9/")).unwrap(), ("[::1]", 9));
    let err = host_and_port(&parse("ftp://example.com/")).unwrap_err();
    assert_eq!(err.kind(), flow_api::ErrorKind::InvalidData);
    assert!(err.to_string().contains("ftp://example.com/"), "{err}");
    assert!(host_and_port(&parse("/relative")).is_err());
}

/// The connector's error somewhere in the source chain of `err`.
fn find_connect_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a ConnectError<flow_api::Error>> {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(found) = err.downcast_ref::<ConnectError<flow_api::Error>>() {
            return Some(found);
        }
        next = err.source();
    }
    None
}
