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

flow_conformance::send_checks!(flow_smol);
