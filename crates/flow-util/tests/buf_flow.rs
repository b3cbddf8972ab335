//! The buffered channel: exact reads, lines (LF and CRLF, maximum length,
//! end of file mid-line), delimiters, buffered writes and flush.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{random_bytes, seed, within};
use flow_api::prelude::*;
use flow_mem::{FaultConfig, Faulty, Scripted};
use flow_util::{BufFlow, BufFlowError};
use futures_executor::block_on;

#[test]
fn read_exact_across_and_within_chunks() {
    block_on(within("channel", async {
        let (flow, _rec) = Scripted::new(["abc", "defgh", "ij"]);
        let mut ch = BufFlow::new(flow);
        assert_eq!(ch.read_exact(2).await.unwrap(), "ab");
        // Spans three chunks.
        assert_eq!(ch.read_exact(7).await.unwrap(), "cdefghi");
        assert_eq!(ch.read_exact(0).await.unwrap(), "");
        let err = ch.read_exact(5).await.unwrap_err();
        assert!(
            matches!(err, BufFlowError::UnexpectedEof { needed: 5, buffered: 1 }),
            "{err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Truncated);
        // Nothing lost: the last byte is still there.
        assert_eq!(ch.read_some(100).await.unwrap(), Chunk::Data(Bytes::from("j")));
        assert_eq!(ch.read_some(100).await.unwrap(), Chunk::Eof);
    }));
}

#[test]
fn read_exact_within_one_chunk_is_a_slice_of_it() {
    block_on(within("channel", async {
        let chunk = Bytes::from(vec![9u8; 4096]);
        let ptr = chunk.as_ptr();
        let (flow, _rec) = Scripted::new([chunk]);
        let mut ch = BufFlow::new(flow);
        let first = ch.read_exact(1000).await.unwrap();
        assert_eq!(
            first.as_ptr(),
            ptr,
            "read_exact copied a request that fits in one chunk"
        );
        let second = ch.read_exact(1000).await.unwrap();
        assert_eq!(second.as_ptr(), ptr.wrapping_add(1000));
    }));
}

#[test]
fn lines_end_with_lf_or_crlf() {
    block_on(within("channel", async {
        let (flow, _rec) = Scripted::new(["GET / HTTP/1.1\r", "\nHost: x\n", "\r\n", "a\r\r\nlast\n"]);
        let mut ch = BufFlow::new(flow);
        assert_eq!(ch.read_line(100).await.unwrap().unwrap(), "GET / HTTP/1.1");
        assert_eq!(ch.read_line(100).await.unwrap().unwrap(), "Host: x");
        assert_eq!(ch.read_line(100).await.unwrap().unwrap(), "");
        // Only the CR right before the LF is part of the ending.
        assert_eq!(ch.read_line(100).await.unwrap().unwrap(), "a\r");
        assert_eq!(ch.read_line(100).await.unwrap().unwrap(), "last");
        assert_eq!(ch.read_line(100).await.unwrap(), None);
        assert_eq!(ch.read_line(100).await.unwrap(), None, "end of file is sticky");
    }));
}

#[test]
fn end_of_file_mid_line_is_an_error_that_keeps_the_bytes() {
    block_on(within("channel", async {
        let (flow, _rec) = Scripted::new(["one\ntw", "o"]);
        let mut ch = BufFlow::new(flow);
        assert_eq!(ch.read_line(100).await.unwrap().unwrap(), "one");
        let err = ch.read_line(100).await.unwrap_err();
        assert!(
            matches!(err, BufFlowError::UnexpectedEof { buffered: 3, .. }),
            "{err:?}"
        );
        assert_eq!(ch.buffered(), 3);
        assert_eq!(ch.read_exact(3).await.unwrap(), "two");
        assert_eq!(ch.read_line(100).await.unwrap(), None);
    }));
}

#[test]
fn a_line_too_long_is_a_typed_error_and_loses_nothing() {
    block_on(within("channel", async {
        let (flow, _rec) = Scripted::new(["0123456789", "abcdef\nok\r\n", "12345\r\n"]);
        let mut ch = BufFlow::new(flow);
        let err = ch.read_line(8).await.unwrap_err();
        assert!(matches!(err, BufFlowError::LineTooLong { max: 8 }), "{err:?}");
        assert_eq!(err.to_string(), "line too long: no end of line within 8 bytes");
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        // Every byte is still there: a bigger limit reads the whole line.
        assert_eq!(ch.read_line(16).await.unwrap().unwrap(), "0123456789abcdef");
        assert_eq!(ch.read_line(2).await.unwrap().unwrap(), "ok");
        // Exactly max bytes before CRLF fits; one more does not.
        let (flow, _rec) = Scripted::new(["12345\r\n123456\r\n"]);
        let mut ch = BufFlow::new(flow);
        assert_eq!(ch.read_line(5).await.unwrap().unwrap(), "12345");
        assert!(matches!(
            ch.read_line(5).await.unwrap_err(),
            BufFlowError::LineTooLong { max: 5 }
        ));
        assert_eq!(ch.read_line(6).await.unwrap().unwrap(), "123456");
    }));
}

#[test]
fn a_line_too_long_is_detected_without_waiting_for_its_end() {
    block_on(within("channel", async {
        // The peer never ends the line nor the flow: the limit must trigger
        // on what arrived, not hang.
        let (a, mut b) = flow_mem::pair();
        b.write(vec![b'x'; 100]).await.unwrap();
        let mut ch = BufFlow::new(a);
        assert!(matches!(
            ch.read_line(10).await.unwrap_err(),
            BufFlowError::LineTooLong { max: 10 }
        ));
        assert_eq!(ch.buffered(), 100);
    }));
}

#[test]
fn read_until_includes_the_delimiter() {
    block_on(within("channel", async {
        let (flow, _rec) = Scripted::new(["key=val", "ue;k2=v2;", "tail"]);
        let mut ch = BufFlow::new(flow);
        assert_eq!(ch.read_until(b'=', 64).await.unwrap().unwrap(), "key=");
        assert_eq!(ch.read_until(b';', 64).await.unwrap().unwrap(), "value;");
        assert_eq!(ch.read_until(b';', 6).await.unwrap().unwrap(), "k2=v2;");
        let err = ch.read_until(b';', 3).await.unwrap_err();
        assert!(matches!(err, BufFlowError::LineTooLong { max: 3 }), "{err:?}");
        assert!(matches!(
            ch.read_until(b';', 64).await.unwrap_err(),
            BufFlowError::UnexpectedEof { buffered: 4, .. }
        ));
        assert_eq!(ch.read_some(2).await.unwrap(), Chunk::Data(Bytes::from("ta")));
        assert_eq!(ch.read_some(9).await.unwrap(), Chunk::Data(Bytes::from("il")));
        assert_eq!(ch.read_until(b';', 64).await.unwrap(), None);
    }));
}

#[test]
fn lines_survive_random_chunking() {
    let seed = seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let lines: Vec<Vec<u8>> = (0..2000)
        .map(|_| (0..rng.usize(0..200)).map(|_| rng.u8(b'a'..=b'z')).collect())
        .collect();
    let mut wire = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        wire.extend_from_slice(line);
        wire.extend_from_slice(if i % 2 == 0 { b"\r\n" } else { b"\n" });
    }
    block_on(within(
        &format!("channel under faults (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"),
        async {
            let (a, mut b) = flow_mem::pair();
            let a = Faulty::new(a, FaultConfig::new(seed).max_chunk(300));
            let mut ch = BufFlow::new(a);
            let writer = async {
                b.write(wire.clone()).await.unwrap();
                b.shutdown(Shutdown::Write).await.unwrap();
            };
            let reader = async {
                let mut got = Vec::new();
                while let Some(line) = ch.read_line(200).await.unwrap() {
                    got.push(line.to_vec());
                }
                got
            };
            let ((), got) = futures_util::join!(writer, reader);
            assert!(
                got == lines,
                "lines differ (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"
            );
        },
    ));
}

#[test]
fn writes_are_buffered_until_flush_which_sends_them_together() {
    block_on(within("channel", async {
        let (flow, rec) = Scripted::new(Vec::<Bytes>::new());
        let mut ch = BufFlow::new(flow);
        let big = Bytes::from(vec![7u8; 4096]);
        ch.queue("HTTP/1.1 200 OK");
        ch.queue_line_crlf("");
        ch.queue_line("x: y");
        ch.queue(big.clone());
        ch.queue("end");
        assert_eq!(ch.queued(), 15 + 2 + 5 + 4096 + 3);
        assert!(rec.written().is_empty(), "nothing goes out before flush");
        ch.flush().await.unwrap();
        assert_eq!(ch.queued(), 0);
        let chunks = rec.chunks();
        // Small writes are gathered; the large one is passed as it is.
        assert_eq!(chunks.len(), 3, "{chunks:?}");
        assert_eq!(chunks[0], "HTTP/1.1 200 OK\r\nx: y\n");
        assert_eq!(chunks[1].as_ptr(), big.as_ptr());
        assert_eq!(chunks[2], "end");
        ch.close().await.unwrap();
        assert!(rec.is_closed());
    }));
}

#[test]
fn close_and_shutdown_flush_first() {
    block_on(within("channel", async {
        let (a, mut b) = flow_mem::pair();
        let mut ch = BufFlow::new(a);
        ch.queue_line("bye");
        ch.shutdown(Shutdown::Write).await.unwrap();
        assert_eq!(common::read_all(&mut b).await.unwrap(), b"bye\n");
        b.write("late\n").await.unwrap();
        assert_eq!(ch.read_line(10).await.unwrap().unwrap(), "late");
        ch.shutdown(Shutdown::Read).await.unwrap();
        assert_eq!(ch.read_some(10).await.unwrap(), Chunk::Eof);

        let (a, mut b) = flow_mem::pair();
        let mut ch = BufFlow::new(a);
        ch.queue("queued before close");
        let (closed, read) = futures_util::join!(ch.close(), async {
            let all = common::read_all(&mut b).await.unwrap();
            b.close().await.unwrap();
            all
        });
        closed.unwrap();
        assert_eq!(read, b"queued before close");
        // A write to a closed flow fails at flush, and the data stays queued.
        ch.queue("after");
        let err = ch.flush().await.unwrap_err();
        assert!(err.is_closed(), "{err:?}");
        assert_eq!(ch.queued(), 5);
    }));
}

#[test]
fn a_large_flush_waits_for_the_reader_and_arrives_intact() {
    let seed = seed();
    let data = random_bytes(seed, 1 << 20);
    block_on(within("channel", async {
        let (a, mut b) = flow_mem::pair_with_capacity(4096);
        let mut ch = BufFlow::new(a);
        for piece in data.chunks(1000) {
            ch.queue(Bytes::copy_from_slice(piece));
        }
        let (flushed, got) = futures_util::join!(
            async {
                ch.flush().await?;
                ch.shutdown(Shutdown::Write).await
            },
            common::read_all(&mut b)
        );
        flushed.unwrap();
        assert!(got.unwrap() == data, "seed {seed}");
    }));
}

#[test]
fn a_cancelled_read_line_loses_nothing() {
    block_on(within("channel", async {
        let (a, mut b) = flow_mem::pair();
        let mut ch = BufFlow::new(a);
        b.write("partial ").await.unwrap();
        {
            // Polled once: reads "partial " into the buffer, then waits.
            let mut read = std::pin::pin!(ch.read_line(100));
            let polled = futures_util::poll!(read.as_mut());
            assert!(polled.is_pending());
        }
        assert_eq!(ch.buffered(), 8);
        b.write("line\n").await.unwrap();
        assert_eq!(ch.read_line(100).await.unwrap().unwrap(), "partial line");
    }));
}

/// A channel is a flow: the whole conformance suite over channels on
/// memory pairs. Reads pass the flow's buffers on and writes hand them over
/// when nothing is queued, so zero-copy holds.
#[derive(Debug, Default)]
struct ChannelPairs;

impl flow_conformance::Factory for ChannelPairs {
    type Client = BufFlow<flow_mem::MemFlow>;
    type Server = BufFlow<flow_mem::MemFlow>;

    async fn connect(&self) -> Result<(Self::Client, Self::Server), flow_api::Error> {
        let (a, b) = flow_mem::pair();
        Ok((BufFlow::new(a), BufFlow::new(b)))
    }

    fn capabilities(&self) -> flow_conformance::Capabilities {
        flow_conformance::Capabilities::new().zero_copy(true)
    }
}

mod channel_as_a_flow {
    use super::*;
    flow_conformance::suite! { factory: ChannelPairs, block_on: futures_executor::block_on }
}

#[test]
fn a_channel_hands_its_buffered_bytes_on_to_copy() {
    block_on(within("channel then copy", async {
        let (a, mut b) = flow_mem::pair();
        let (mut dst, mut dst_peer) = flow_mem::pair();
        b.write("HEADER\nbody starts here").await.unwrap();
        b.write(" and goes on").await.unwrap();
        b.shutdown(Shutdown::Write).await.unwrap();
        let mut ch = BufFlow::new(a);
        assert_eq!(ch.read_line(100).await.unwrap().unwrap(), "HEADER");
        let stats = flow_util::copy(&mut ch, &mut dst).shutdown_on_eof(true).await.unwrap();
        assert_eq!(stats.bytes_read, 28);
        assert_eq!(
            common::read_all(&mut dst_peer).await.unwrap(),
            b"body starts here and goes on"
        );
    }));
}

#[test]
fn writes_through_the_flow_traits_queue_behind_buffered_ones() {
    block_on(within("channel as a flow", async {
        let (flow, rec) = Scripted::new(Vec::<Bytes>::new());
        let mut ch = BufFlow::new(flow);
        ch.queue("queued first, ");
        // FlowWriteExt::feed (trait method): queued behind, not overtaking.
        FlowWriteExt::feed(&mut ch, Bytes::from("then fed")).await.unwrap();
        assert!(rec.written().is_empty());
        FlowWriteExt::flush(&mut ch).await.unwrap();
        assert_eq!(rec.written(), b"queued first, then fed");
    }));
}
