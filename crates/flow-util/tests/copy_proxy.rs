//! `copy` and `proxy`: data intact, zero-copy, statistics, half-close, and
//! errors that say which side and direction failed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::error::Error as _;

use common::{random_bytes, read_all, seed, send_all, within};
use flow_api::prelude::*;
use flow_mem::{FaultConfig, Faulty};
use flow_util::{Direction, Side, copy, proxy};
use futures_executor::block_on;
use futures_util::future::{join, join3};

#[test]
fn copy_hands_the_very_buffers_read_to_the_writer() {
    block_on(within("copy", async {
        let (mut src, mut src_peer) = flow_mem::pair();
        let (mut dst, mut dst_peer) = flow_mem::pair();
        // At least ZERO_COPY_MIN bytes each: flow-mem hands them over.
        let bufs: Vec<Bytes> = (1..=3u8)
            .map(|i| Bytes::from(vec![i; flow_mem::ZERO_COPY_MIN * usize::from(i)]))
            .collect();
        for buf in &bufs {
            src_peer.write(buf.clone()).await.unwrap();
        }
        src_peer.shutdown(Shutdown::Write).await.unwrap();
        let stats = copy(&mut src, &mut dst).await.unwrap();
        let total = 6 * flow_mem::ZERO_COPY_MIN as u64;
        assert_eq!(stats.bytes_read, total);
        assert_eq!(stats.bytes_written, total);
        assert_eq!(stats.reads, 3);
        assert_eq!(stats.writes, 3);
        assert!(stats.flushes >= 1, "{stats:?}");
        for buf in &bufs {
            match dst_peer.read().await.unwrap() {
                Chunk::Data(got) => {
                    assert_eq!(got, *buf);
                    assert_eq!(got.as_ptr(), buf.as_ptr(), "copy copied the buffer");
                }
                Chunk::Eof => panic!("end of file before the data"),
            }
        }
        // Without shutdown_on_eof, the destination stays open for writing.
        dst.write("more").await.unwrap();
        dst.shutdown(Shutdown::Write).await.unwrap();
        assert_eq!(read_all(&mut dst_peer).await.unwrap(), b"more");
    }));
}

#[test]
fn copy_delivers_everything_in_order_under_faults() {
    let seed = seed();
    let data = random_bytes(seed, 1 << 20);
    block_on(within(
        &format!("copy under faults (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"),
        async {
            let (src, mut src_peer) = flow_mem::pair();
            let (dst, mut dst_peer) = flow_mem::pair();
            let mut src = Faulty::new(src, FaultConfig::new(seed));
            let mut dst = Faulty::new(dst, FaultConfig::new(seed ^ 1));
            let (sent, stats, received) = join3(
                send_all(&mut src_peer, &data, seed ^ 2),
                copy(&mut src, &mut dst).shutdown_on_eof(true),
                read_all(&mut dst_peer),
            )
            .await;
            sent.unwrap();
            let stats = stats.unwrap();
            let received = received.unwrap();
            assert!(
                received == data,
                "data differs (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"
            );
            assert_eq!(stats.bytes_read, data.len() as u64, "seed {seed}");
            assert_eq!(stats.bytes_written, data.len() as u64, "seed {seed}");
            assert_eq!(stats.reads, stats.writes, "seed {seed}");
            assert!(
                stats.reads > 16,
                "the fault injector should chunk the data (seed {seed}): {stats:?}"
            );
        },
    ));
}

#[test]
fn a_failing_source_is_the_read_side() {
    block_on(within("copy", async {
        let (src, mut src_peer) = flow_mem::pair();
        let (mut dst, _dst_peer) = flow_mem::pair();
        let mut src = Faulty::new(
            src,
            FaultConfig::new(1)
                .pending_percent(0)
                .fail_read_after(100, ErrorKind::Reset),
        );
        src_peer.write(vec![5u8; 1000]).await.unwrap();
        let err = copy(&mut src, &mut dst).await.unwrap_err();
        assert_eq!(err.side(), Side::Read, "{err}");
        assert_eq!(err.kind(), ErrorKind::Reset);
        assert_eq!(err.to_string(), "copy failed reading from the source");
        let source = err.source().and_then(|s| s.downcast_ref::<flow_api::Error>()).unwrap();
        assert_eq!(source.kind(), ErrorKind::Reset);
        assert_eq!(err.stats().bytes_read, 100);
        assert_eq!(err.stats().bytes_written, 100);
        let flow_err = flow_api::Error::from(err);
        assert_eq!(flow_err.kind(), ErrorKind::Reset);
        assert!(
            flow_err.to_string().contains("copy failed reading from the source"),
            "{flow_err}"
        );
    }));
}

#[test]
fn a_closed_destination_is_the_write_side() {
    block_on(within("copy", async {
        let (mut src, mut src_peer) = flow_mem::pair();
        let (mut dst, _dst_peer) = flow_mem::pair();
        dst.shutdown(Shutdown::Write).await.unwrap();
        src_peer.write("lost").await.unwrap();
        let err = copy(&mut src, &mut dst).await.unwrap_err();
        assert_eq!(err.side(), Side::Write, "{err}");
        assert_eq!(err.kind(), ErrorKind::Closed);
        assert_eq!(err.to_string(), "copy failed writing to the destination");
        assert_eq!(err.stats().bytes_read, 4);
        assert_eq!(err.stats().bytes_written, 0);
    }));
}

#[test]
fn proxy_propagates_half_close_each_way() {
    block_on(within("proxy", async {
        let (mut client, a) = flow_mem::pair();
        let (b, mut server) = flow_mem::pair();
        let talk = async {
            let client_side = async {
                client.write("request").await.unwrap();
                client.shutdown(Shutdown::Write).await.unwrap();
                let reply = read_all(&mut client).await.unwrap();
                client.close().await.unwrap();
                reply
            };
            let server_side = async {
                // The server answers only after the client's end of file went
                // through the proxy: without half-close this would hang.
                let request = read_all(&mut server).await.unwrap();
                server.write("reply to ").await.unwrap();
                server.write(request.clone()).await.unwrap();
                server.shutdown(Shutdown::Write).await.unwrap();
                server.close().await.unwrap();
                request
            };
            join(client_side, server_side).await
        };
        let (stats, (reply, request)) = join(proxy(a, b), talk).await;
        let stats = stats.unwrap();
        assert_eq!(request, b"request");
        assert_eq!(reply, b"reply to request");
        assert_eq!(stats.a_to_b.bytes_read, 7);
        assert_eq!(stats.a_to_b.bytes_written, 7);
        assert_eq!(stats.b_to_a.bytes_written, 16);
        // Each chunk read is written on as it is (flow-mem may have joined
        // the server's two small writes into one read).
        assert_eq!(stats.b_to_a.writes, stats.b_to_a.reads, "{stats:?}");
        assert!((1..=2).contains(&stats.b_to_a.reads), "{stats:?}");
    }));
}

#[test]
fn proxy_moves_megabytes_both_ways_at_once_under_faults() {
    let seed = seed();
    let up = random_bytes(seed, 4 << 20);
    let down = random_bytes(seed ^ 9, 4 << 20);
    block_on(within(
        &format!("proxy under faults (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"),
        async {
            let (client, a) = flow_mem::pair();
            let (b, server) = flow_mem::pair();
            let mut client = Faulty::new(client, FaultConfig::new(seed));
            let mut server = Faulty::new(server, FaultConfig::new(seed ^ 1));
            let a = Faulty::new(a, FaultConfig::new(seed ^ 2));
            let b = Faulty::new(b, FaultConfig::new(seed ^ 3));
            let (client_r, client_w) = flow_api::split(&mut client);
            let (server_r, server_w) = flow_api::split(&mut server);
            let (mut client_r, mut client_w, mut server_r, mut server_w) = (client_r, client_w, server_r, server_w);
            // Both ends write everything before reading anything back would
            // deadlock a proxy that does one direction at a time.
            let (stats, ((sent_up, got_down), (sent_down, got_up))) = join(
                proxy(a, b),
                join(
                    join(send_half(&mut client_w, &up, seed ^ 4), read_all(&mut client_r)),
                    join(send_half(&mut server_w, &down, seed ^ 5), read_all(&mut server_r)),
                ),
            )
            .await;
            sent_up.unwrap();
            sent_down.unwrap();
            assert!(
                got_up.unwrap() == up,
                "a to b differs (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"
            );
            assert!(got_down.unwrap() == down, "b to a differs (seed {seed})");
            let stats = stats.unwrap();
            assert_eq!(stats.a_to_b.bytes_written, up.len() as u64, "seed {seed}");
            assert_eq!(stats.b_to_a.bytes_written, down.len() as u64, "seed {seed}");
        },
    ));
}

async fn send_half<W: FlowWrite + Unpin>(w: &mut W, data: &[u8], seed: u64) -> Result<(), flow_api::Error> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut at = 0;
    while at < data.len() {
        let n = rng.usize(1..=64 * 1024).min(data.len() - at);
        w.write(Bytes::copy_from_slice(&data[at..at + n])).await?;
        at += n;
    }
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *w).poll_shutdown_write(cx)).await
}

#[test]
fn proxy_names_the_direction_and_side_that_failed() {
    block_on(within("proxy", async {
        let (mut client, a) = flow_mem::pair();
        let (b, mut server) = flow_mem::pair();
        let b = Faulty::new(
            b,
            FaultConfig::new(3)
                .pending_percent(0)
                .fail_read_after(10, ErrorKind::Reset),
        );
        server.write(vec![1u8; 100]).await.unwrap();
        client.write("hi").await.unwrap();
        let err = proxy(a, b).await.unwrap_err();
        assert_eq!(err.direction(), Direction::BToA, "{err}");
        assert_eq!(err.copy_error().side(), Side::Read);
        assert_eq!(err.kind(), ErrorKind::Reset);
        assert_eq!(err.to_string(), "proxy failed copying b to a");
        assert_eq!(err.copy_error().stats().bytes_read, 10);
        assert_eq!(err.other_stats().bytes_read, 2);
        let flow_err = flow_api::Error::from(err);
        assert_eq!(flow_err.kind(), ErrorKind::Reset);
        assert!(flow_err.to_string().contains("b to a"), "{flow_err}");
    }));
}

#[test]
fn proxy_takes_mutable_references_and_leaves_the_flows_closed() {
    block_on(within("proxy", async {
        let (mut client, mut a) = flow_mem::pair();
        let (mut b, mut server) = flow_mem::pair();
        client.shutdown(Shutdown::Write).await.unwrap();
        server.shutdown(Shutdown::Write).await.unwrap();
        let stats = proxy(&mut a, &mut b).await.unwrap();
        assert_eq!(stats.a_to_b.bytes_read, 0);
        assert_eq!(stats.b_to_a.bytes_read, 0);
        assert_eq!(client.read().await.unwrap(), Chunk::Eof);
        assert_eq!(server.read().await.unwrap(), Chunk::Eof);
        // The proxy closed both of its flows.
        assert!(a.write("x").await.unwrap_err().is_closed());
        assert!(b.write("x").await.unwrap_err().is_closed());
    }));
}
