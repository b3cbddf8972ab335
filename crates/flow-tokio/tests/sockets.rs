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

flow_conformance::send_checks!(flow_tokio);

/// A close deadline sleeps on tokio's timer, not on a timer thread: the
/// socket type names it, so that a flow holds no timer until it closes.
#[test]
fn the_close_deadline_uses_the_runtime_timer() {
    use flow_socket::Transport;
    assert!(flow_tokio::TokioSocket::<tokio::net::TcpStream>::runtime_timer().is_some());
    #[cfg(unix)]
    assert!(flow_tokio::TokioSocket::<tokio::net::UnixStream>::runtime_timer().is_some());
}
