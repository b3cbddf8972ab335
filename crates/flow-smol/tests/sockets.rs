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

/// A Unix socket that counts its reads: what a ping-pong costs in system calls.
#[derive(Debug)]
struct Counting {
    socket: std::os::unix::net::UnixStream,
    reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl std::io::Read for &Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (&self.socket).read(buf)
    }
}

impl std::io::Write for &Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (&self.socket).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::os::fd::AsFd for Counting {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl flow_smol::StdSocket for Counting {
    const BROKEN_PIPE: flow_api::ErrorKind = flow_api::ErrorKind::Closed;

    fn shut(&self, how: std::net::Shutdown) -> std::io::Result<()> {
        self.socket.shutdown(how)
    }
}

/// A read that goes through drops the readiness registration it made
/// itself, as async-net does: kept, it fires later and the next read pays
/// a `recv` that finds nothing before it waits again. A ping-pong then costs
/// at most two reads per message (one that finds nothing, one that gets it);
/// with the registration kept it cost about three.
#[test]
fn a_ping_pong_costs_at_most_two_reads_per_message() {
    use flow_api::prelude::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    const TRIPS: usize = 500;
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let reads = Arc::new(AtomicUsize::new(0));
    let flow = |socket| {
        let counting = Counting {
            socket,
            reads: Arc::clone(&reads),
        };
        flow_socket::StreamFlow::new(flow_smol::SmolSocket::new(Arc::new(
            async_io::Async::new(counting).unwrap(),
        )))
    };
    let (mut client, mut server) = (flow(a), flow(b));
    smol::block_on(flow_conformance::sockets::within_limit(async {
        let serve = async {
            for _ in 0..TRIPS {
                let Chunk::Data(data) = server.read().await.unwrap() else {
                    panic!("the server read an end of file")
                };
                server.write(data).await.unwrap();
            }
        };
        let ping = async {
            for _ in 0..TRIPS {
                client.write(Bytes::from_static(b"x")).await.unwrap();
                assert_eq!(client.read().await.unwrap(), Chunk::Data(Bytes::from_static(b"x")));
            }
        };
        futures_util::future::join(serve, ping).await;
    }));
    let reads = reads.load(Ordering::Relaxed);
    let messages = 2 * TRIPS;
    assert!(
        reads <= 2 * messages + 4,
        "{messages} messages took {reads} reads ({:.2} each): a registration that fired late costs a read",
        reads as f64 / messages as f64
    );
}

/// A close deadline sleeps on async-io's timer, not on a timer thread: the
/// socket type names it, so that a flow holds no timer until it closes.
#[test]
fn the_close_deadline_uses_the_runtime_timer() {
    use flow_socket::Transport;
    assert!(flow_smol::SmolSocket::<std::net::TcpStream>::runtime_timer().is_some());
    #[cfg(unix)]
    assert!(flow_smol::SmolSocket::<std::os::unix::net::UnixStream>::runtime_timer().is_some());
}
