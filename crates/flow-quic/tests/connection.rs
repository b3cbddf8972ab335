//! What stream flows see when their connection closes, and the lazy
//! opening of streams.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use flow_api::prelude::*;

fn run<F: std::future::Future<Output = ()>>(test: F) {
    support::tokio_block_on(async {
        if tokio::time::timeout(Duration::from_secs(20), test).await.is_err() {
            panic!("the test hung");
        }
    });
}

/// The peer closing the connection fails our open stream flows with a
/// reset naming the cause; the local side sees Closed.
#[test]
fn connection_close_fails_open_flows() {
    run(async {
        let link = support::Link::new().await.expect("link");
        let (mut client, mut server) = link.pair().await.expect("pair");
        link.server.close();
        let err = match client.read().await {
            Err(err) => err,
            Ok(chunk) => panic!("read after the peer closed the connection: {chunk:?}"),
        };
        assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("closed by peer") && text.contains("client side"),
            "{text}"
        );
        let source = err
            .get_ref()
            .and_then(|s| s.downcast_ref::<flow_quic::quinn::ConnectionError>());
        assert!(
            matches!(source, Some(flow_quic::quinn::ConnectionError::ApplicationClosed(_))),
            "source {source:?}"
        );
        let write = client
            .write("late")
            .await
            .expect_err("write after the connection closed");
        assert_eq!(write.kind(), ErrorKind::Reset, "{write}");
        let local = server.read().await.expect_err("local read after the local close");
        assert_eq!(local.kind(), ErrorKind::Closed, "{local}");
        assert!(server.write("late").await.expect_err("local write").is_closed());
    });
}

/// An opened stream is invisible to the peer until its first write.
#[test]
fn streams_are_accepted_after_the_first_write() {
    run(async {
        let link = support::Link::new().await.expect("link");
        let mut opened = link.client.open().await.expect("open");
        let pending = tokio::time::timeout(Duration::from_millis(200), link.server.accept()).await;
        assert!(pending.is_err(), "a stream nobody wrote to was accepted");
        opened.write("hi").await.expect("write");
        let mut accepted = link.server.accept().await.expect("accept");
        assert_eq!(
            accepted.read().await.expect("read"),
            Chunk::Data(Bytes::from_static(b"hi"))
        );
        opened.shutdown(Shutdown::Write).await.expect("finish");
        assert_eq!(accepted.read().await.expect("read"), Chunk::Eof);
        accepted.close().await.expect("close accepted");
        opened.close().await.expect("close opened");
    });
}

/// An abort is a reset at the peer, naming ABORT_CODE; a drop is a FIN.
#[test]
fn abort_resets_and_drop_finishes() {
    run(async {
        let link = support::Link::new().await.expect("link");
        let (mut client, mut server) = link.pair().await.expect("pair");
        client.abort();
        let err = server.read().await.expect_err("read after the abort");
        assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
        assert!(err.to_string().contains("ABORT_CODE"), "{err}");
        let (mut client, mut server) = link.pair().await.expect("pair");
        client.write("last").await.expect("write");
        drop(client);
        assert_eq!(
            server.read().await.expect("read"),
            Chunk::Data(Bytes::from_static(b"last"))
        );
        assert_eq!(server.read().await.expect("read"), Chunk::Eof);
        let err = loop {
            match server.write("x").await {
                Ok(()) => tokio::task::yield_now().await,
                Err(err) => break err,
            }
        };
        assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
    });
}

/// Dropping a flow together with its connection's last handle delivers
/// what it flushed: quinn closes a connection whose handles are all gone,
/// and throws away what the peer has not acknowledged, so the dropped flow
/// keeps the connection open (a task on its runtime) until the peer read
/// it all, as a TCP socket lingers.
#[test]
fn a_flow_dropped_with_its_connection_delivers_what_it_flushed() {
    const LEN: usize = 4 << 20;
    run(async {
        let link = support::Link::new().await.expect("link");
        let (mut client, mut server) = link.pair().await.expect("pair");
        let support::Link {
            server_endpoint: _server_endpoint,
            client_endpoint: _client_endpoint,
            client: connection,
            server: _server_connection,
        } = link;
        drop(connection);
        let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let send = async move {
            client.write(Bytes::from(data)).await.expect("write");
            client.flush().await.expect("flush");
            // The flow's stream handles were the connection's last.
            drop(client);
        };
        let receive = async move {
            let mut got = Vec::with_capacity(LEN);
            loop {
                match server.read().await {
                    Ok(Chunk::Data(bytes)) => got.extend_from_slice(&bytes),
                    Ok(Chunk::Eof) => break,
                    Err(err) => panic!("after {} of {LEN} bytes: {err}", got.len()),
                }
            }
            assert!(got == expected, "the bytes differ ({} of {LEN} read)", got.len());
        };
        futures_util::future::join(send, receive).await;
    });
}

/// `accept_handshake` hands the handshake out instead of running it: a
/// client whose handshake fails (no common ALPN protocol) neither holds up
/// nor ends the accepting of the next one, and its failure names it.
#[test]
fn a_failed_handshake_holds_up_no_other_client() {
    run(async {
        let server = flow_quic::QuicEndpoint::server(support::loopback(), support::server_config().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        let other_alpn = flow_tls::TlsConnector::builder()
            .add_root_certificates_pem(support::pki().ca_pem.as_bytes())
            .unwrap()
            .alpn_protocols(["not-the-server's"])
            .build()
            .unwrap();
        let bad = flow_quic::QuicEndpoint::client(support::loopback(), flow_quic::client_config(&other_alpn).unwrap())
            .unwrap();
        let bad_client = tokio::spawn(async move { bad.connect(addr, "localhost").await.map(|_| ()) });
        let first = server.accept_handshake().await.expect("the first client");
        let good = flow_quic::QuicEndpoint::client(support::loopback(), support::client_config().unwrap()).unwrap();
        let good_client = tokio::spawn(async move { good.connect(addr, "localhost").await });
        let second = server
            .accept_handshake()
            .await
            .expect("the second client, the first not handshaken");
        let accepted = second.await.expect("the second client's handshake");
        let connected = good_client.await.unwrap().expect("the second client connects");
        let mut ours = connected.open().await.expect("open");
        ours.write("hi").await.expect("write");
        ours.flush().await.expect("flush");
        let mut theirs = accepted.accept().await.expect("accept the stream");
        assert_eq!(
            theirs.read().await.expect("read"),
            Chunk::Data(Bytes::from_static(b"hi"))
        );
        let err = match first.await {
            Ok(_) => panic!("a client with no common ALPN protocol was accepted"),
            Err(err) => err,
        };
        assert!(
            err.to_string().contains("accepting a QUIC connection from 127.0.0.1:"),
            "{err}"
        );
        assert!(bad_client.await.unwrap().is_err(), "the first client connected");
    });
}
