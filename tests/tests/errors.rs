//! A gallery of error messages as users read them: what failed and where
//! (the address, the path), the I/O kind kept, context layered, and no
//! message printed twice when a reporter walks the source chain.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::error::Error as _;
use std::io;

use flow_api::{Error, ErrorKind};
use flow_tests::{TempDir, tokio_block_on, within_limit};

/// What an error reporter prints: the message, then each source's.
fn report(err: &Error) -> Vec<String> {
    let mut lines = vec![err.to_string()];
    let mut source = err.source();
    while let Some(next) = source {
        lines.push(next.to_string());
        source = next.source();
    }
    lines
}

/// Fails if a source's message is printed again by an outer one.
fn printed_once(err: &Error) {
    let lines = report(err);
    for (i, line) in lines.iter().enumerate() {
        for outer in &lines[..i] {
            assert!(!outer.contains(line.as_str()), "{line:?} is printed twice: {lines:?}");
        }
    }
}

fn closed_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn a_refused_connection_names_the_address() {
    let addr = closed_port();
    for err in [
        tokio_block_on(within_limit(flow_tokio::TcpFlow::connect(addr))).unwrap_err(),
        smol::block_on(within_limit(flow_smol::TcpFlow::connect(addr))).unwrap_err(),
        async_std::task::block_on(within_limit(flow_async_std::TcpFlow::connect(addr))).unwrap_err(),
    ] {
        assert_eq!(err.to_string(), format!("connecting to {addr}: connection refused"));
        assert_eq!(err.kind(), ErrorKind::Refused);
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::ConnectionRefused);
    }
}

#[test]
fn a_host_name_that_does_not_resolve_is_named() {
    let err = tokio_block_on(within_limit(flow_tokio::TcpFlow::connect("no-such-host.invalid:80"))).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("connecting to (resolving) no-such-host.invalid:80: "),
        "{text}"
    );
    printed_once(&err);
}

#[test]
fn a_missing_unix_socket_names_the_path_and_keeps_not_found() {
    let dir = TempDir::new("flow-errors");
    let path = dir.path("missing.sock").unwrap();
    for err in [
        tokio_block_on(within_limit(flow_tokio::UnixFlow::connect(&path))).unwrap_err(),
        smol::block_on(within_limit(flow_smol::UnixFlow::connect(&path))).unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("connecting to {}: ", path.display())),
            "{text}"
        );
        assert!(text.contains("No such file or directory"), "{text}");
        assert_eq!(err.io_kind(), io::ErrorKind::NotFound, "{text}");
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::NotFound);
    }
}

#[test]
fn binding_an_address_in_use_keeps_the_kind_and_names_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = tokio_block_on(within_limit(flow_tokio::TcpListener::bind(addr))).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with(&format!("binding {addr}: ")), "{text}");
    assert_eq!(err.io_kind(), io::ErrorKind::AddrInUse, "{text}");
    printed_once(&err);
}

#[test]
fn binding_a_unix_socket_in_a_missing_directory_names_the_path() {
    let dir = TempDir::new("flow-errors");
    let path = dir.path("gone").unwrap().join("x.sock");
    let err = smol::block_on(async { flow_smol::UnixListener::bind(&path) }).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with(&format!("binding {}: ", path.display())), "{text}");
    assert_eq!(err.io_kind(), io::ErrorKind::NotFound, "{text}");
    printed_once(&err);
}

#[test]
fn context_adds_a_layer() {
    let err = Error::new(ErrorKind::Reset)
        .context("reading the response")
        .context("fetching the index");
    assert_eq!(
        err.to_string(),
        "fetching the index: reading the response: connection reset by peer"
    );
    assert_eq!(err.context_message(), Some("fetching the index"));
    assert_eq!(
        err.contexts().collect::<Vec<_>>(),
        ["fetching the index", "reading the response"]
    );
    // Across the io::Error round trip, too.
    let back = Error::from(io::Error::from(err));
    assert_eq!(
        back.to_string(),
        "fetching the index: reading the response: connection reset by peer"
    );
}

#[test]
fn a_tls_failure_says_why_once() {
    use flow_tests::tls::{acceptor, connector};
    let (client, server) = flow_mem::pair();
    let name = flow_tls::server_name("not-the-certificate-name.example").unwrap();
    let versions = flow_tls::rustls::DEFAULT_VERSIONS;
    let (client, _server) = futures_executor::block_on(within_limit(futures_util::future::join(
        connector(versions).connect(name, client),
        acceptor(versions).accept(server),
    )));
    let err = client.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls);
    let text = err.to_string();
    assert!(text.contains("certificate"), "the reason is missing: {text}");
    printed_once(&err);
}

#[test]
fn write_closed_has_one_shape() {
    let err = flow_api::WriteError::from(Error::new(ErrorKind::Closed).context("writing the request"));
    assert!(err.is_closed());
    assert_eq!(err.to_string(), "attempted to write to a closed flow");
}
