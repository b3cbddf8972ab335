//! What only real sockets show: a FIN a foreign peer sees, resets, refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::time::Duration;

use flow_api::prelude::*;
use flow_tokio::{TcpFlow, TcpListener};

const LIMIT: Duration = Duration::from_secs(20);

fn run<F: std::future::Future<Output = ()>>(test: F) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(LIMIT, test).await.expect("the test hung");
    });
}

/// The peer is a plain blocking std socket in a thread: it sees end of file
/// only if the flow sent a real FIN, and it answers after that.
#[test]
fn shutdown_write_sends_a_fin_that_a_plain_socket_sees() {
    run(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            socket.set_read_timeout(Some(LIMIT)).unwrap();
            let mut request = Vec::new();
            // read_to_end returns only at end of file: the FIN.
            socket.read_to_end(&mut request).unwrap();
            socket.write_all(b"reply after your FIN").unwrap();
            request
        });
        let mut flow = TcpFlow::connect(addr).await.unwrap();
        flow.write("request").await.unwrap();
        flow.shutdown(Shutdown::Write).await.unwrap();
        let mut reply = Vec::new();
        while let Chunk::Data(data) = flow.read().await.unwrap() {
            reply.extend_from_slice(&data);
        }
        assert_eq!(reply, b"reply after your FIN");
        assert_eq!(
            tokio::task::spawn_blocking(move || peer.join().unwrap()).await.unwrap(),
            b"request"
        );
    });
}

#[test]
fn a_reset_peer_gives_the_reset_kind_on_read_and_write() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpFlow::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        // SO_LINGER 0: dropping the socket aborts the connection with a RST.
        server.set_linger(Some(Duration::ZERO)).unwrap();
        drop(server);
        let err = loop {
            match client.read().await {
                Err(err) => break err,
                Ok(Chunk::Eof) => panic!("a reset must not look like a clean end of file"),
                Ok(Chunk::Data(_)) => continue,
            }
        };
        assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
        let err = client.write("after reset").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
    });
}

#[test]
fn writes_after_a_reset_learnt_by_writing_give_the_reset_kind() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpFlow::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        server.set_linger(Some(Duration::ZERO)).unwrap();
        drop(server);
        // No read: the write path alone must learn of the reset.
        let mut last = None;
        for _ in 0..1000 {
            if let Err(err) = client.write(vec![1u8; 1024]).await {
                last = Some(err);
                break;
            }
            tokio::task::yield_now().await;
        }
        let err = last.expect("writes to a reset connection kept succeeding");
        assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
    });
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    run(async {
        let addr = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let err = TcpFlow::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
        assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn socket_options_and_addresses() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpFlow::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        assert!(client.nodelay().unwrap(), "TCP_NODELAY is on by default");
        client.set_nodelay(false).unwrap();
        assert!(!client.nodelay().unwrap());
        client.set_ttl(33).unwrap();
        assert_eq!(client.stream().ttl().unwrap(), 33);
        client.set_keepalive(Some(Duration::from_secs(60))).unwrap();
        client.set_keepalive(None).unwrap();
        assert_eq!(client.local_addr().unwrap(), peer);
        assert_eq!(server.peer_addr().unwrap(), peer);
        assert_eq!(client.peer_addr().unwrap(), listener.local_addr().unwrap());
    });
}

#[test]
fn close_gives_up_at_its_deadline_when_the_peer_never_closes() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpFlow::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        client.set_close_timeout(Some(Duration::from_millis(100)));
        let err = client.close().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        // The peer learnt the end of writes, and the flow is closed now.
        assert_eq!(server.read().await.unwrap(), Chunk::Eof);
        assert!(client.write("x").await.unwrap_err().is_closed());
        assert_eq!(client.read().await.unwrap(), Chunk::Eof);
        client.close().await.unwrap();
    });
}

#[test]
fn the_flow_runs_on_a_multi_threaded_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut flow, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            while let Chunk::Data(data) = flow.read().await.unwrap() {
                got.extend_from_slice(&data);
            }
            flow.write(Bytes::from(got)).await.unwrap();
            flow.close().await.unwrap();
        });
        let client = tokio::spawn(async move {
            let mut flow = TcpFlow::connect(addr).await.unwrap();
            flow.writev([Bytes::from("a"), Bytes::from("b"), Bytes::from("c")])
                .await
                .unwrap();
            flow.shutdown(Shutdown::Write).await.unwrap();
            assert_eq!(flow.read().await.unwrap(), Chunk::Data(Bytes::from("abc")));
            flow.close().await.unwrap();
        });
        tokio::time::timeout(LIMIT, async {
            server.await.unwrap();
            client.await.unwrap();
        })
        .await
        .expect("the test hung");
    });
}
