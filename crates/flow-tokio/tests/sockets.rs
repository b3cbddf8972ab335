//! What only real sockets show: a FIN a foreign peer sees, resets, refusals,
//! options, the close deadline; and a multi-threaded runtime.

#![allow(clippy::unwrap_used, clippy::expect_used)]

flow_conformance::socket_tests!(flow_tokio, block_on);
flow_conformance::ownership_tests!(flow_tokio, block_on);

/// A fresh current-thread tokio runtime per test.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn the_flow_runs_on_a_multi_threaded_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = flow_tokio::TcpListener::bind("127.0.0.1:0").await.unwrap();
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
            let mut flow = flow_tokio::TcpFlow::connect(addr).await.unwrap();
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

/// The flows, their halves, listeners and the futures of connect, bind and
/// accept stay `Send` on this runtime, now that flow-socket's `Runtime`
/// asks for no `Send` (a compile-time check; nothing runs).
#[allow(dead_code, clippy::let_underscore_future)]
fn sockets_and_their_futures_are_send(
    addr: std::net::SocketAddr,
    listener: &flow_tokio::TcpListener,
    unix: &flow_tokio::UnixListener,
) {
    fn assert_send<T: Send>(_: T) {}
    fn assert_sync<T: Sync>() {}
    assert_send(flow_tokio::TcpFlow::connect(addr));
    assert_send(flow_tokio::TcpFlow::connect("localhost:80"));
    assert_send(flow_tokio::TcpListener::bind(addr));
    assert_send(listener.accept());
    assert_send(flow_tokio::UnixFlow::connect("/tmp/x.sock"));
    assert_send(unix.accept());
    assert_sync::<flow_tokio::TcpListener>();
    assert_sync::<flow_tokio::UnixListener>();
    assert_send(None::<flow_tokio::TcpFlow>);
    assert_send(None::<flow_tokio::UnixFlow>);
    assert_send(None::<flow_tokio::TcpReadHalf>);
    assert_send(None::<flow_tokio::TcpWriteHalf>);
    assert_send(None::<flow_tokio::UnixReadHalf>);
    assert_send(None::<flow_tokio::UnixWriteHalf>);
}
