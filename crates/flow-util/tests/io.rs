//! `FlowIo`: a flow as tokio and futures-io IO, checked directly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{random_bytes, seed, within};
use flow_api::prelude::*;
use flow_util::FlowIo;

#[test]
fn tokio_reads_keep_what_does_not_fit_and_end_with_zero() {
    common::tokio_block_on(within("FlowIo", async {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        let (a, mut b) = flow_mem::pair();
        let mut io = FlowIo::new(a);
        b.write("hello world\nsecond").await.unwrap();
        b.shutdown(Shutdown::Write).await.unwrap();
        let mut small = [0u8; 5];
        assert_eq!(io.read(&mut small).await.unwrap(), 5);
        assert_eq!(&small, b"hello");
        let mut line = String::new();
        io.read_line(&mut line).await.unwrap();
        assert_eq!(line, " world\n");
        let mut rest = Vec::new();
        io.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"second");
        assert_eq!(io.read(&mut small).await.unwrap(), 0, "end of file is a read of 0");
    }));
}

#[test]
fn tokio_writes_flush_and_shutdown_is_a_half_close() {
    common::tokio_block_on(within("FlowIo", async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (a, mut b) = flow_mem::pair();
        let mut io = FlowIo::new(a);
        io.write_all(b"ping").await.unwrap();
        let bufs = [
            std::io::IoSlice::new(b"a"),
            std::io::IoSlice::new(b""),
            std::io::IoSlice::new(b"bc"),
        ];
        assert_eq!(io.write_vectored(&bufs).await.unwrap(), 3);
        io.flush().await.unwrap();
        io.shutdown().await.unwrap();
        assert_eq!(common::read_all(&mut b).await.unwrap(), b"pingabc");
        // Reading goes on after the shutdown.
        b.write("pong").await.unwrap();
        b.shutdown(Shutdown::Write).await.unwrap();
        let mut reply = String::new();
        io.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, "pong");
        // Writing after the shutdown is a broken pipe carrying WriteError::Closed.
        let err = io.write_all(b"late").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        assert_eq!(flow_api::Error::from(err).kind(), ErrorKind::Closed);
        io.close_flow().await.unwrap();
    }));
}

#[test]
fn flow_errors_survive_the_trip_through_io_errors() {
    common::tokio_block_on(within("FlowIo", async {
        use tokio::io::AsyncReadExt;
        let (a, b) = flow_mem::pair();
        let mut io = FlowIo::new(a);
        drop(b);
        let err = io.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
        assert_eq!(flow_api::Error::from(err).kind(), ErrorKind::Reset);
    }));
}

#[test]
fn futures_io_copy_through_flow_io_is_intact() {
    let seed = seed();
    let data = random_bytes(seed, 300_000);
    futures_executor::block_on(within("FlowIo futures-io", async {
        use futures_util::{AsyncReadExt, AsyncWriteExt};
        let (a, b) = flow_mem::pair();
        let (mut wa, mut rb) = (FlowIo::new(a), FlowIo::new(b));
        let (written, read) = futures_util::join!(
            async {
                for piece in data.chunks(7777) {
                    wa.write_all(piece).await?;
                }
                wa.close().await // futures-io close: the flow's shutdown(Write)
            },
            async {
                let mut all = Vec::new();
                rb.read_to_end(&mut all).await.map(|_| all)
            }
        );
        written.unwrap();
        assert!(read.unwrap() == data, "seed {seed}");
    }));
}

#[test]
fn into_parts_gives_back_unread_bytes() {
    futures_executor::block_on(within("FlowIo", async {
        use futures_util::AsyncReadExt;
        let (a, mut b) = flow_mem::pair();
        let mut io = FlowIo::new(a);
        b.write("abcdef").await.unwrap();
        let mut two = [0u8; 2];
        io.read_exact(&mut two).await.unwrap();
        let (_flow, rest) = io.into_parts();
        assert_eq!(rest, "cdef");
    }));
}
