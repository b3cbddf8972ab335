//! What a round trip costs in allocations: flow-compio holds compio's send
//! and small-receive operations itself, and runs large receives in one loop
//! kept for the life of the flow, so a receive or a send allocates only
//! what compio's driver allocates for it, as compio's own stream does.
//!
//! One test in its own binary: it counts the process's allocations (dhat's
//! heap statistics), which other tests running at the same time would
//! change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;

use bytes::Bytes;
use compio::BufResult;
use compio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};
use flow_api::prelude::*;
use flow_compio::{CompioStream, TcpFlow};
use flow_conformance::sockets::within_limit;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (a, accepted) = futures_util::future::join(TcpStream::connect(addr), listener.accept()).await;
    (a.unwrap(), accepted.unwrap().0)
}

/// 1-byte round trips over compio's own stream.
async fn raw_trips((mut a, mut b): (TcpStream, TcpStream), trips: u64) {
    let echo = async move {
        let mut byte = [0u8; 1];
        loop {
            let BufResult(n, back) = b.read(byte).await;
            if n.unwrap() == 0 {
                return;
            }
            let BufResult(done, back) = b.write_all(back).await;
            done.unwrap();
            byte = back;
        }
    };
    let client = async move {
        let mut byte = [1u8; 1];
        for _ in 0..trips {
            let BufResult(done, back) = a.write_all(byte).await;
            done.unwrap();
            let BufResult(done, back) = a.read_exact(back).await;
            done.unwrap();
            byte = back;
        }
        AsyncWrite::shutdown(&mut a).await.unwrap();
    };
    futures_util::future::join(echo, client).await;
}

/// The same round trips, each end a flow.
async fn flow_trips((a, b): (TcpStream, TcpStream), trips: u64) {
    let mut a = TcpFlow::from_stream(CompioStream::new(a)).unwrap();
    let mut b = TcpFlow::from_stream(CompioStream::new(b)).unwrap();
    let echo = async move {
        while let Chunk::Data(data) = b.read().await.unwrap() {
            b.write(data).await.unwrap();
        }
    };
    let client = async move {
        let ping = Bytes::from_static(b"x");
        for _ in 0..trips {
            a.write(ping.clone()).await.unwrap();
            assert_eq!(a.read().await.unwrap(), Chunk::Data(ping.clone()));
        }
        a.shutdown(Shutdown::Write).await.unwrap();
    };
    futures_util::future::join(echo, client).await;
}

fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// Allocations per round trip: the count over `2n` trips less the count
/// over `n`, over `n`, so that connecting and set-up cancel out.
async fn per_trip<F: Future<Output = ()>>(run: impl Fn((TcpStream, TcpStream), u64) -> F) -> f64 {
    const N: u64 = 500;
    let mut counts = [0; 2];
    for (count, trips) in counts.iter_mut().zip([N, 2 * N]) {
        let sockets = pair().await;
        let before = allocations();
        run(sockets, trips).await;
        *count = allocations() - before;
    }
    (counts[1] - counts[0]) as f64 / N as f64
}

#[test]
fn a_round_trip_allocates_no_more_than_compios_own_stream() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = compio::runtime::Runtime::new().unwrap();
    let (raw, flow) = runtime.block_on(within_limit(async {
        let raw = per_trip(raw_trips).await;
        let flow = per_trip(flow_trips).await;
        (raw, flow)
    }));
    eprintln!("allocations per round trip: compio's stream {raw}, flow-compio {flow}");
    // compio's driver allocates for each operation it runs; a read buffer
    // of 64 KiB lasts tens of thousands of 1-byte trips, so the flow's own
    // share is below one allocation in a hundred trips.
    assert!(
        raw >= 1.0,
        "compio allocated nothing per trip ({raw}): the count is broken"
    );
    assert!(
        flow <= raw + 0.01,
        "flow-compio allocates {flow} times per round trip, compio's own stream {raw}"
    );
}
