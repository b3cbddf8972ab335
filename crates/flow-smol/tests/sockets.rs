//! What only real sockets show: a FIN a foreign peer sees, resets, refusals,
//! options, the close deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

flow_conformance::socket_tests!(flow_smol, smol::block_on);
flow_conformance::ownership_tests!(flow_smol, smol::block_on);

/// Client and server as tasks on an executor driven by two threads.
#[test]
fn the_flow_runs_on_a_multi_threaded_executor() {
    use flow_api::prelude::*;
    let executor = std::sync::Arc::new(smol::Executor::new());
    let (stop, stopped) = smol::channel::unbounded::<()>();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let executor = executor.clone();
            let stopped = stopped.clone();
            std::thread::spawn(move || smol::block_on(executor.run(stopped.recv())))
        })
        .collect();
    smol::block_on(flow_conformance::sockets::within_limit(async {
        let listener = flow_smol::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = executor.spawn(async move {
            let (mut flow, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            while let Chunk::Data(data) = flow.read().await.unwrap() {
                got.extend_from_slice(&data);
            }
            flow.write(Bytes::from(got)).await.unwrap();
            flow.close().await.unwrap();
        });
        let client = executor.spawn(async move {
            let mut flow = flow_smol::TcpFlow::connect(addr).await.unwrap();
            flow.writev([Bytes::from("a"), Bytes::from("b"), Bytes::from("c")])
                .await
                .unwrap();
            flow.shutdown(Shutdown::Write).await.unwrap();
            assert_eq!(flow.read().await.unwrap(), Chunk::Data(Bytes::from("abc")));
            flow.close().await.unwrap();
        });
        server.await;
        client.await;
    }));
    drop(stop);
    for thread in threads {
        let _ = thread.join().unwrap();
    }
}

/// The flows, their halves, listeners and the futures of connect, bind and
/// accept stay `Send` on this runtime, now that flow-socket's `Runtime`
/// asks for no `Send` (a compile-time check; nothing runs).
#[allow(dead_code, clippy::let_underscore_future)]
fn sockets_and_their_futures_are_send(
    addr: std::net::SocketAddr,
    listener: &flow_smol::TcpListener,
    unix: &flow_smol::UnixListener,
) {
    fn assert_send<T: Send>(_: T) {}
    fn assert_sync<T: Sync>() {}
    assert_send(flow_smol::TcpFlow::connect(addr));
    assert_send(flow_smol::TcpFlow::connect("localhost:80"));
    assert_send(flow_smol::TcpListener::bind(addr));
    assert_send(listener.accept());
    assert_send(flow_smol::UnixFlow::connect("/tmp/x.sock"));
    assert_send(unix.accept());
    assert_sync::<flow_smol::TcpListener>();
    assert_sync::<flow_smol::UnixListener>();
    assert_send(None::<flow_smol::TcpFlow>);
    assert_send(None::<flow_smol::UnixFlow>);
    assert_send(None::<flow_smol::TcpReadHalf>);
    assert_send(None::<flow_smol::TcpWriteHalf>);
    assert_send(None::<flow_smol::UnixReadHalf>);
    assert_send(None::<flow_smol::UnixWriteHalf>);
}
