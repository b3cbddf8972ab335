//! The kernel relay (`proxy(..).splice()`, `copy(..).splice()`) over real
//! sockets, and the proxy's half-close bound (the relay hang of
//! tokio#3876), with and without the kernel relay. The bound's timing is
//! also checked against a manual clock, without sockets.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::{random_bytes, read_all, seed, tokio_block_on};
use flow_api::prelude::*;
use flow_api::{Sleep, Timer};
use flow_tokio::{TcpFlow, TcpListener, TokioTimer, UnixFlow, UnixListener};
use flow_util::{Direction, ProxyError, ProxyStats, Side, copy, proxy};
use futures_util::future::join;

/// Every socket test runs under this limit, so a hang fails.
const LIMIT: Duration = Duration::from_secs(30);

async fn limited<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(LIMIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what}: hung for {LIMIT:?}"),
    }
}

/// A connected pair of TCP flows on loopback.
async fn tcp_pair() -> (TcpFlow, TcpFlow) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (connected, accepted) = tokio::join!(TcpFlow::connect(addr), listener.accept());
    (connected.unwrap(), accepted.unwrap().0)
}

/// A connected pair of Unix flows, in a fresh directory.
async fn unix_pair(name: &str) -> (UnixFlow, UnixFlow) {
    let dir = std::env::temp_dir().join(format!("flow-util-relay-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (connected, accepted) = tokio::join!(UnixFlow::connect(&path), listener.accept());
    (connected.unwrap(), accepted.unwrap().0)
}

/// Writes `data` in seeded random pieces (1 byte to 256 KiB), then shuts
/// down writing.
async fn send_half<W: FlowWrite + Unpin>(w: &mut W, data: &[u8], seed: u64) -> Result<(), flow_api::Error> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut at = 0;
    while at < data.len() {
        let n = rng.usize(1..=256 * 1024).min(data.len() - at);
        w.write(Bytes::copy_from_slice(&data[at..at + n])).await?;
        at += n;
    }
    std::future::poll_fn(|cx| Pin::new(&mut *w).poll_shutdown_write(cx)).await
}

/// Client and server each send `len` seeded bytes and then shut down
/// writing, both at once, through `proxying`; checks that each got the
/// other's bytes in order and returns the proxy's stats.
async fn exchange<C, S>(
    client: &mut C,
    server: &mut S,
    proxying: impl Future<Output = Result<ProxyStats, ProxyError>>,
    len: usize,
    seed: u64,
) -> ProxyStats
where
    C: Flow + Unpin,
    S: Flow + Unpin,
{
    let up = random_bytes(seed, len);
    let down = random_bytes(seed ^ 0x5a5a, len);
    let (mut client_r, mut client_w) = flow_api::split(client);
    let (mut server_r, mut server_w) = flow_api::split(server);
    let (stats, ((sent_up, got_down), (sent_down, got_up))) = join(
        proxying,
        join(
            join(send_half(&mut client_w, &up, seed ^ 1), read_all(&mut client_r)),
            join(send_half(&mut server_w, &down, seed ^ 2), read_all(&mut server_r)),
        ),
    )
    .await;
    sent_up.unwrap();
    sent_down.unwrap();
    assert!(
        got_up.unwrap() == up,
        "client to server differs (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"
    );
    assert!(got_down.unwrap() == down, "server to client differs (seed {seed})");
    let stats = stats.unwrap();
    assert_eq!(stats.a_to_b.bytes_written, len as u64, "seed {seed}");
    assert_eq!(stats.b_to_a.bytes_written, len as u64, "seed {seed}");
    stats
}

#[test]
fn splice_relays_tcp_both_ways_in_the_kernel_with_half_close() {
    let seed = seed();
    tokio_block_on(limited("splice over TCP", async {
        let (mut client, a) = tcp_pair().await;
        let (b, mut server) = tcp_pair().await;
        let len = 16 << 20;
        let stats = exchange(&mut client, &mut server, proxy(a, b).splice(), len, seed).await;
        // Every byte went socket to pipe to socket: none through user space.
        assert_eq!(stats.a_to_b.spliced, len as u64, "{stats:?}");
        assert_eq!(stats.b_to_a.spliced, len as u64, "{stats:?}");
        assert_eq!(stats.a_to_b.bytes_read, len as u64);
        assert!(
            stats.a_to_b.reads >= 1 && stats.a_to_b.writes >= stats.a_to_b.reads,
            "{stats:?}"
        );
        // Both ends of the proxy were closed: the peers see end of file
        // again, and nothing else.
        assert_eq!(client.read().await.unwrap(), Chunk::Eof);
        assert_eq!(server.read().await.unwrap(), Chunk::Eof);
    }));
}

#[test]
fn splice_relays_between_a_tcp_and_a_unix_socket() {
    let seed = seed() ^ 7;
    tokio_block_on(limited("splice TCP to Unix", async {
        let (mut client, a) = tcp_pair().await;
        let (b, mut server) = unix_pair("mixed").await;
        let len = 4 << 20;
        let stats = exchange(&mut client, &mut server, proxy(a, b).splice(), len, seed).await;
        assert_eq!(stats.a_to_b.spliced, len as u64, "{stats:?}");
        assert_eq!(stats.b_to_a.spliced, len as u64, "{stats:?}");
    }));
}

#[test]
fn splice_relays_over_smol_sockets() {
    // async-std's flows are the same sockets (async-io's), so this covers them too.
    let seed = seed() ^ 13;
    smol::block_on(async {
        let pair = || async {
            let listener = flow_smol::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (connected, accepted) =
                futures_util::future::join(flow_smol::TcpFlow::connect(addr), listener.accept()).await;
            (connected.unwrap(), accepted.unwrap().0)
        };
        let (mut client, a) = pair().await;
        let (b, mut server) = pair().await;
        let len = 4 << 20;
        let relay = proxy(a, b).splice();
        let exchanged = exchange(&mut client, &mut server, relay, len, seed);
        let stats = flow_conformance::timer::timeout(LIMIT, exchanged)
            .await
            .expect("splice over smol hung");
        assert_eq!(stats.a_to_b.spliced, len as u64, "{stats:?}");
        assert_eq!(stats.b_to_a.spliced, len as u64, "{stats:?}");
    });
}

#[test]
fn without_splice_nothing_is_spliced() {
    let seed = seed() ^ 11;
    tokio_block_on(limited("user-space proxy over TCP", async {
        let (mut client, a) = tcp_pair().await;
        let (b, mut server) = tcp_pair().await;
        let stats = exchange(&mut client, &mut server, proxy(a, b), 1 << 20, seed).await;
        assert_eq!((stats.a_to_b.spliced, stats.b_to_a.spliced), (0, 0), "{stats:?}");
    }));
}

#[test]
fn bytes_queued_before_the_relay_go_out_first() {
    tokio_block_on(limited("queued bytes before splicing", async {
        let (mut client, a) = tcp_pair().await;
        let (mut b, mut server) = tcp_pair().await;
        // Handed over but not flushed: the relay must send it before what
        // it splices, or the server reads the stream out of order.
        b.feed("header:").await.unwrap();
        client.write("body").await.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();
        server.shutdown(Shutdown::Write).await.unwrap();
        let (stats, got) = tokio::join!(proxy(a, b).splice(), read_all(&mut server));
        assert_eq!(got.unwrap(), b"header:body");
        let stats = stats.unwrap();
        assert_eq!(stats.a_to_b.spliced, 4, "{stats:?}");
    }));
}

#[test]
fn a_direction_whose_source_is_shut_goes_through_the_flow() {
    tokio_block_on(limited("fallback per direction", async {
        let (mut client, mut a) = tcp_pair().await;
        let (b, mut server) = tcp_pair().await;
        // a's reading is over before the relay starts: that direction
        // cannot splice, and must still pass the end of file on.
        a.shutdown(Shutdown::Read).await.unwrap();
        // The client is done too, so that closing a completes.
        client.shutdown(Shutdown::Write).await.unwrap();
        server.write(vec![7u8; 100_000]).await.unwrap();
        server.shutdown(Shutdown::Write).await.unwrap();
        let (stats, got_server, got_client) =
            tokio::join!(proxy(a, b).splice(), read_all(&mut server), read_all(&mut client));
        let stats = stats.unwrap();
        assert_eq!(got_server.unwrap(), b"", "the server reads end of file");
        assert_eq!(got_client.unwrap(), vec![7u8; 100_000]);
        assert_eq!(stats.a_to_b.spliced, 0, "{stats:?}");
        assert_eq!(stats.b_to_a.spliced, 100_000, "{stats:?}");
    }));
}

#[test]
fn copy_splices_one_direction_and_passes_the_end_of_file_on() {
    tokio_block_on(limited("copy with splice", async {
        let (mut client, mut a) = tcp_pair().await;
        let (mut b, mut server) = tcp_pair().await;
        let data = random_bytes(seed(), 3 << 20);
        let (stats, sent, got) = tokio::join!(
            copy(&mut a, &mut b).splice().shutdown_on_eof(true),
            async {
                client.write(Bytes::from(data.clone())).await?;
                client.shutdown(Shutdown::Write).await
            },
            read_all(&mut server)
        );
        sent.unwrap();
        assert!(got.unwrap() == data, "the copy changed the bytes");
        let stats = stats.unwrap();
        assert_eq!(stats.spliced, data.len() as u64, "{stats:?}");
        // Spliced bytes are on the wire already: only the end of file's flush.
        assert_eq!(stats.flushes, 1, "{stats:?}");
    }));
}

#[test]
fn a_reset_while_splicing_is_the_read_side_of_its_direction() {
    tokio_block_on(limited("reset while splicing", async {
        let (_client, a) = tcp_pair().await;
        let (b, server) = tcp_pair().await;
        let relay = tokio::spawn(proxy(a, b).splice());
        // An abortive close: the server's socket sends a reset.
        server.set_linger(Some(Duration::ZERO)).unwrap();
        drop(server);
        let err = relay.await.unwrap().unwrap_err();
        assert_eq!(err.direction(), Direction::BToA, "{err:?}");
        assert_eq!(err.copy_error().side(), Side::Read, "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Reset, "{err:?}");
    }));
}

#[test]
fn a_peer_that_stopped_reading_is_the_write_side() {
    tokio_block_on(limited("vanished reader while splicing", async {
        let (client, a) = tcp_pair().await;
        let (b, mut server) = tcp_pair().await;
        // The client goes away with a reset: the relay's writes to it fail.
        let relay = tokio::spawn(proxy(a, b).splice());
        let flood = tokio::spawn(async move {
            loop {
                if server.write(vec![1u8; 256 * 1024]).await.is_err() {
                    return;
                }
            }
        });
        client.set_linger(Some(Duration::ZERO)).unwrap();
        drop(client);
        let err = relay.await.unwrap().unwrap_err();
        flood.abort();
        // The reset reaches the relay on whichever of its calls on that
        // socket comes first: writing the flood to it, or reading from it.
        let failed = (err.direction(), err.copy_error().side());
        assert!(
            failed == (Direction::BToA, Side::Write) || failed == (Direction::AToB, Side::Read),
            "{err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Reset, "{err:?}");
    }));
}

/// tokio#3876: the client half-closes, the server reads the request and
/// then stays idle, holding its connection open. The proxy must end within
/// its half-close timeout, not live as long as the server.
fn half_closed_and_idle_ends_within_the_bound(splice: bool) {
    tokio_block_on(limited("half-closed and idle", async {
        let (mut client, a) = tcp_pair().await;
        let (b, mut server) = tcp_pair().await;
        let idle = Duration::from_millis(200);
        let relay = proxy(a, b).half_close_timeout(TokioTimer::shared(), idle);
        let relay = if splice { relay.splice() } else { relay };
        let started = Instant::now();
        let relay = tokio::spawn(relay);
        client.write("request").await.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();
        assert_eq!(read_all(&mut server).await.unwrap(), b"request");
        let err = relay.await.unwrap().unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err:?}");
        assert_eq!(err.direction(), Direction::BToA, "{err:?}");
        assert_eq!(err.copy_error().side(), Side::Read);
        assert!(took >= idle, "ended after {took:?}, before the bound");
        let message = flow_api::Error::from(err).to_string();
        assert!(message.contains("half-close timeout"), "{message}");
        // The proxy's flows are gone: the server and the client learn it.
        assert!(matches!(server.read().await, Ok(Chunk::Eof) | Err(_)));
        assert!(matches!(client.read().await, Ok(Chunk::Eof) | Err(_)));
    }));
}

#[test]
fn a_half_closed_idle_proxy_ends_within_its_bound() {
    half_closed_and_idle_ends_within_the_bound(false);
}

#[test]
fn a_half_closed_idle_splice_relay_ends_within_its_bound() {
    half_closed_and_idle_ends_within_the_bound(true);
}

/// A clock that moves only when the test says so.
#[derive(Default)]
struct ManualClock {
    state: Mutex<(Duration, Vec<Waker>)>,
}

impl ManualClock {
    fn advance(&self, by: Duration) {
        let wakers = {
            let mut state = self.state.lock().unwrap();
            state.0 += by;
            std::mem::take(&mut state.1)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

struct ManualTimer(Arc<ManualClock>);

impl Timer for ManualTimer {
    fn sleep(&self, duration: Duration) -> Sleep {
        let clock = Arc::clone(&self.0);
        let deadline = clock.state.lock().unwrap().0 + duration;
        Box::pin(std::future::poll_fn(move |cx: &mut Context<'_>| {
            let mut state = clock.state.lock().unwrap();
            if state.0 >= deadline {
                Poll::Ready(())
            } else {
                state.1.push(cx.waker().clone());
                Poll::Pending
            }
        }))
    }
}

#[test]
fn the_half_close_bound_restarts_with_every_byte_moved() {
    futures_executor::block_on(async {
        let clock = Arc::new(ManualClock::default());
        let (mut client, a) = flow_mem::pair();
        let (b, mut server) = flow_mem::pair();
        let idle = Duration::from_millis(100);
        let mut relay = proxy(a, b).half_close_timeout(Arc::new(ManualTimer(Arc::clone(&clock))), idle);
        let pending = |polled: Poll<Result<ProxyStats, ProxyError>>| match polled {
            Poll::Pending => true,
            Poll::Ready(result) => panic!("the proxy ended early: {result:?}"),
        };
        // Before any half-close, time does not count.
        assert!(pending(futures_util::poll!(&mut relay)));
        clock.advance(idle * 10);
        assert!(pending(futures_util::poll!(&mut relay)));
        client.write("request").await.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();
        assert!(pending(futures_util::poll!(&mut relay)));
        assert_eq!(read_all(&mut server).await.unwrap(), b"request");
        // Half-closed from here. Just short of the bound:
        clock.advance(idle - Duration::from_millis(1));
        assert!(pending(futures_util::poll!(&mut relay)));
        // A byte moves: the bound starts again.
        server.write("r").await.unwrap();
        assert!(pending(futures_util::poll!(&mut relay)));
        assert_eq!(client.read().await.unwrap(), Chunk::Data(Bytes::from("r")));
        clock.advance(idle - Duration::from_millis(1));
        assert!(pending(futures_util::poll!(&mut relay)), "cut a live transfer");
        // Idle for the whole bound since the last byte: over.
        clock.advance(Duration::from_millis(1));
        match futures_util::poll!(&mut relay) {
            Poll::Ready(Err(err)) => {
                assert_eq!(err.kind(), ErrorKind::TimedOut, "{err:?}");
                assert_eq!(err.direction(), Direction::BToA);
                assert_eq!(err.copy_error().stats().bytes_read, 1);
                assert_eq!(err.other_stats().bytes_read, 7);
            }
            other => panic!("the proxy should have ended with a timeout: {other:?}"),
        }
    });
}
