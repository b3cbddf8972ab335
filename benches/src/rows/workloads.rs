//! The timed workloads, once per API: over flows, over tokio's
//! `AsyncRead`/`AsyncWrite`, and over `futures-io`'s (async-net,
//! async-std, piper). Each takes connected ends and returns how long the
//! work took; connection setup is not timed.

/// Bytes in each write of a bulk transfer.
pub(crate) const BULK_CHUNK: usize = 64 * 1024;
/// Bytes in each message of a burst.
pub(crate) const SMALL: usize = 64;

/// Over flows.
pub(crate) mod flow {
    use std::time::{Duration, Instant};

    use flow_api::prelude::*;

    use crate::rows::Runtime;

    /// Reads a flow to its end; returns the byte count.
    pub(crate) async fn drain<F: FlowRead + Unpin>(flow: &mut F) -> u64 {
        let mut got = 0;
        while let Chunk::Data(data) = flow.read().await.expect("read") {
            got += data.len() as u64;
        }
        got
    }

    /// `a` (on a spawned task) writes `total` bytes in `chunk`-byte writes
    /// and shuts down; `b` reads them all.
    pub(crate) async fn bulk<R, F>((mut a, mut b): (F, F), total: u64, chunk: usize) -> Duration
    where
        R: Runtime,
        F: Flow + Unpin + Send + 'static,
    {
        let started = Instant::now();
        let writer = R::spawn(async move {
            let buf = Bytes::from(vec![7u8; chunk]);
            for _ in 0..total / chunk as u64 {
                a.write(buf.clone()).await.expect("write");
            }
            a.shutdown(Shutdown::Write).await.expect("shutdown");
        });
        assert_eq!(drain(&mut b).await, total);
        writer.await;
        started.elapsed()
    }

    /// `a` (on a spawned task) feeds `messages` messages of `size` bytes,
    /// flushing only at the end; `b` reads them all.
    pub(crate) async fn burst<R, F>((mut a, mut b): (F, F), messages: u64, size: usize) -> Duration
    where
        R: Runtime,
        F: Flow + Unpin + Send + 'static,
    {
        let started = Instant::now();
        let writer = R::spawn(async move {
            let msg = Bytes::from(vec![9u8; size]);
            for _ in 0..messages {
                a.feed(msg.clone()).await.expect("feed");
            }
            a.shutdown(Shutdown::Write).await.expect("shutdown");
        });
        assert_eq!(drain(&mut b).await, messages * size as u64);
        writer.await;
        started.elapsed()
    }

    /// `a` sends one byte and waits for `b` to echo it, `trips` times, both
    /// on the calling task; returns the time of the trips.
    pub(crate) async fn pingpong<F: Flow + Unpin>((mut a, mut b): (F, F), trips: u64) -> Duration {
        let echo = async move {
            while let Chunk::Data(data) = b.read().await.expect("read") {
                b.write(data).await.expect("write");
            }
        };
        let client = async move {
            let started = Instant::now();
            let ping = Bytes::from_static(b"x");
            for _ in 0..trips {
                a.write(ping.clone()).await.expect("write");
                let _ = a.read().await.expect("read");
            }
            let elapsed = started.elapsed();
            a.shutdown(Shutdown::Write).await.expect("shutdown");
            elapsed
        };
        futures_util::future::join(echo, client).await.1
    }

    /// `a` writes `total` bytes in `size`-byte messages and shuts down while
    /// `b` reads them, both on the calling task.
    pub(crate) async fn local_stream<F: Flow + Unpin>((mut a, mut b): (F, F), total: u64, size: usize) -> Duration {
        let started = Instant::now();
        let buf = Bytes::from(vec![3u8; size]);
        let writer = async {
            for _ in 0..total / size as u64 {
                a.write(buf.clone()).await.expect("write");
            }
            a.shutdown(Shutdown::Write).await.expect("shutdown");
        };
        let (_, got) = futures_util::future::join(writer, drain(&mut b)).await;
        assert_eq!(got, total);
        started.elapsed()
    }
}

/// The raw baselines' workloads, the same for tokio's and futures-io's
/// `AsyncRead` and `AsyncWrite` (two trait families with the same method
/// names). A writer ends with `$finish` and drops its end: tokio's
/// `shutdown` sends a FIN; futures-io's `close` flushes (and ends a pipe),
/// and async-io sockets send their FIN when the last handle is dropped.
macro_rules! raw_workloads {
    ($(#[$doc:meta])* $module:ident, $traits:path, $finish:ident) => {
        $(#[$doc])*
        pub(crate) mod $module {
            use std::time::{Duration, Instant};

            use $traits::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

            use crate::rows::Runtime;

            /// Reads to end of file into a 64 KiB buffer; returns the byte count.
            pub(crate) async fn drain<S: AsyncRead + Unpin>(reader: &mut S) -> u64 {
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = 0;
                loop {
                    let n = reader.read(&mut buf).await.expect("read");
                    if n == 0 {
                        return got;
                    }
                    got += n as u64;
                }
            }

            /// As [`flow::bulk`](super::flow::bulk), with `write_all`s.
            pub(crate) async fn bulk<R, S>((mut a, mut b): (S, S), total: u64, chunk: usize) -> Duration
            where
                R: Runtime,
                S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
            {
                let started = Instant::now();
                let writer = R::spawn(async move {
                    let buf = vec![7u8; chunk];
                    for _ in 0..total / chunk as u64 {
                        a.write_all(&buf).await.expect("write");
                    }
                    a.$finish().await.expect(stringify!($finish));
                    drop(a);
                });
                assert_eq!(drain(&mut b).await, total);
                writer.await;
                started.elapsed()
            }

            /// As [`flow::burst`](super::flow::burst), with one `write_all` per message.
            pub(crate) async fn burst<R, S>((mut a, mut b): (S, S), messages: u64, size: usize) -> Duration
            where
                R: Runtime,
                S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
            {
                let started = Instant::now();
                let writer = R::spawn(async move {
                    let msg = vec![9u8; size];
                    for _ in 0..messages {
                        a.write_all(&msg).await.expect("write");
                    }
                    a.$finish().await.expect(stringify!($finish));
                    drop(a);
                });
                assert_eq!(drain(&mut b).await, messages * size as u64);
                writer.await;
                started.elapsed()
            }

            /// As [`flow::pingpong`](super::flow::pingpong).
            pub(crate) async fn pingpong<S: AsyncRead + AsyncWrite + Unpin>((mut a, mut b): (S, S), trips: u64) -> Duration {
                let echo = async move {
                    let mut byte = [0u8; 1];
                    while b.read(&mut byte).await.expect("read") == 1 {
                        b.write_all(&byte).await.expect("write");
                    }
                };
                let client = async move {
                    let started = Instant::now();
                    let mut byte = [1u8; 1];
                    for _ in 0..trips {
                        a.write_all(&byte).await.expect("write");
                        a.read_exact(&mut byte).await.expect("read");
                    }
                    let elapsed = started.elapsed();
                    a.$finish().await.expect(stringify!($finish));
                    drop(a);
                    elapsed
                };
                futures_util::future::join(echo, client).await.1
            }

            /// As [`flow::local_stream`](super::flow::local_stream).
            pub(crate) async fn local_stream<W, R>(mut a: W, mut b: R, total: u64, size: usize) -> Duration
            where
                W: AsyncWrite + Unpin,
                R: AsyncRead + Unpin,
            {
                let started = Instant::now();
                let buf = vec![3u8; size];
                let writer = async {
                    for _ in 0..total / size as u64 {
                        a.write_all(&buf).await.expect("write");
                    }
                    a.$finish().await.expect(stringify!($finish));
                    drop(a);
                };
                let (_, got) = futures_util::future::join(writer, drain(&mut b)).await;
                assert_eq!(got, total);
                started.elapsed()
            }
        }
    };
}

raw_workloads!(
    /// Over tokio's `AsyncRead` and `AsyncWrite`.
    tokio_raw,
    tokio::io,
    shutdown
);

raw_workloads!(
    /// Over `futures-io`'s `AsyncRead` and `AsyncWrite`.
    fio,
    futures_util::io,
    close
);
