//! Flows dropped with operations in flight: compio's driver keeps each
//! buffer until the kernel is done with it, then frees it and closes the
//! socket. Descriptors come back to where they were, nothing panics.
//!
//! One test in its own binary: it counts the process's descriptors, which
//! other tests running at the same time would change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use flow_api::prelude::*;
use flow_compio::{TcpFlow, TcpListener, UnixFlow};
use flow_conformance::sockets::within_limit;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// Polls `future` once.
async fn poll_once<F: Future>(future: Pin<&mut F>) {
    let mut future = Some(future);
    std::future::poll_fn(|cx: &mut Context<'_>| {
        if let Some(f) = future.as_mut() {
            let _ = f.as_mut().poll(cx);
        }
        Poll::Ready(())
    })
    .await;
}

/// Starts a receive that stays in flight (nothing is sent).
async fn start_read(flow: &mut (impl FlowRead + Unpin)) {
    let read = pin!(flow.read());
    poll_once(read).await;
}

/// Starts a send that stays in flight (the peer does not read).
async fn start_write(flow: &mut (impl FlowWrite + Unpin)) {
    let write = pin!(flow.write(vec![0x5a; 8 << 20]));
    poll_once(write).await;
}

/// Lets the runtime reap completions until the descriptors are back to
/// `baseline`, for a bounded number of turns.
async fn settle(baseline: usize) -> usize {
    let mut now = open_descriptors();
    for _ in 0..10_000 {
        if now <= baseline {
            break;
        }
        yield_now().await;
        now = open_descriptors();
    }
    now
}

#[test]
fn flows_dropped_with_operations_in_flight_release_their_sockets() {
    let runtime = compio::runtime::Runtime::new().unwrap();
    runtime.block_on(within_limit(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Warm up: whatever the runtime opens on first use is not a leak.
        {
            let (mut client, (mut server, _)) =
                futures_util::future::try_join(TcpFlow::connect(addr), listener.accept())
                    .await
                    .unwrap();
            client.write("warm").await.unwrap();
            let _ = server.read().await.unwrap();
        }
        settle(0).await;
        let baseline = open_descriptors();

        for round in 0..3 {
            let mut flows = Vec::new();
            for i in 0..40 {
                let (mut client, (mut server, _)) =
                    futures_util::future::try_join(TcpFlow::connect(addr), listener.accept())
                        .await
                        .unwrap();
                match i % 4 {
                    // A receive in flight on both ends.
                    0 => {
                        start_read(&mut client).await;
                        start_read(&mut server).await;
                    }
                    // A send in flight, stuck on a peer that does not read,
                    // and a receive on that peer.
                    1 => {
                        start_write(&mut client).await;
                        start_read(&mut server).await;
                    }
                    // Both at once on one end.
                    2 => {
                        start_read(&mut client).await;
                        start_write(&mut client).await;
                    }
                    // A close in flight, waiting for the peer.
                    _ => {
                        let close = pin!(client.close());
                        poll_once(close).await;
                    }
                }
                flows.push((client, server));
            }
            let (mut a, mut b) = UnixFlow::pair().unwrap();
            start_read(&mut a).await;
            start_write(&mut b).await;
            // Let the kernel take the submissions before the flows go.
            for _ in 0..10 {
                yield_now().await;
            }
            assert!(open_descriptors() > baseline, "round {round}: the sockets are open");
            drop(flows);
            drop((a, b));
            let dropped = open_descriptors();
            let now = settle(baseline).await;
            eprintln!("round {round}: baseline {baseline}, right after the drop {dropped}, settled {now}");
            assert_eq!(now, baseline, "round {round}: descriptors leaked");
        }

        // The listener still works.
        let (mut client, (mut server, _)) = futures_util::future::try_join(TcpFlow::connect(addr), listener.accept())
            .await
            .unwrap();
        client.write("after").await.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();
        assert_eq!(server.read().await.unwrap(), Chunk::Data(Bytes::from("after")));
    }));
    // The runtime goes last, with nothing in flight.
    drop(runtime);
}
