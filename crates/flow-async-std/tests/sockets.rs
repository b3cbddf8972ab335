//! What only real sockets show: a FIN a foreign peer sees, resets, refusals,
//! options, the close deadline; and spawned tasks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

flow_conformance::socket_tests!(flow_async_std, async_std::task::block_on);
flow_conformance::ownership_tests!(flow_async_std, async_std::task::block_on);

#[test]
fn client_and_server_as_spawned_tasks() {
    async_std::task::block_on(flow_conformance::sockets::within_limit(async {
        let listener = flow_async_std::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = async_std::task::spawn(async move {
            let (mut flow, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            while let Chunk::Data(data) = flow.read().await.unwrap() {
                got.extend_from_slice(&data);
            }
            flow.write(Bytes::from(got)).await.unwrap();
            flow.close().await.unwrap();
        });
        let client = async_std::task::spawn(async move {
            let mut flow = flow_async_std::TcpFlow::connect(addr).await.unwrap();
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
}

/// async-std's own streams become flows that keep the contract: data, a real
/// FIN, and end of file.
#[test]
fn async_std_streams_become_flows() {
    async_std::task::block_on(flow_conformance::sockets::within_limit(async {
        let listener = async_std::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, (server, _)) =
            futures_util::future::try_join(async_std::net::TcpStream::connect(addr), listener.accept())
                .await
                .unwrap();
        let mut client = flow_async_std::tcp_flow(client).unwrap();
        let mut server = flow_async_std::tcp_flow(server).unwrap();
        assert!(client.nodelay().unwrap());
        client.write("over async-std").await.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();
        assert_eq!(server.read().await.unwrap(), Chunk::Data(Bytes::from("over async-std")));
        assert_eq!(server.read().await.unwrap(), Chunk::Eof);

        let (a, b) = async_std::os::unix::net::UnixStream::pair().unwrap();
        let (mut a, mut b) = (
            flow_async_std::unix_flow(a).unwrap(),
            flow_async_std::unix_flow(b).unwrap(),
        );
        a.write("over unix").await.unwrap();
        a.shutdown(Shutdown::Write).await.unwrap();
        assert_eq!(b.read().await.unwrap(), Chunk::Data(Bytes::from("over unix")));
        assert_eq!(b.read().await.unwrap(), Chunk::Eof);
    }));
}

flow_conformance::send_checks!(flow_async_std);
