//! Slow and hostile peers, bounded: a slowloris, a trickled TLS handshake,
//! a peer that never reads, one that never closes, and a line that never
//! ends. Each test shows the bound that holds against such a peer, over
//! flow-tokio loopback TCP, and prints what it measured (`--nocapture`).
//!
//! The peers pace themselves with tokio's timer: that is their workload,
//! scaled down (a byte per 10 ms instead of per second), not a way to
//! synchronise the test. Every test runs under `within_limit` (20 s), and
//! each timing bound allows [`SLACK`] for a loaded machine.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use flow_api::prelude::*;
use flow_api::{Error, ErrorKind};
use flow_tests::tls::{acceptor, connector};
use flow_tests::{tokio_block_on, within_limit};
use flow_tls::rustls::version;
use flow_tls::server_name;
use flow_tokio::{TcpFlow, TcpListener, TokioTimer};
use flow_util::{BufFlow, BufFlowError};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// What a deadline may overrun by on a shared, loaded machine before the
/// test calls it a hang: a timer that fires late, a task scheduled late.
const SLACK: Duration = Duration::from_millis(700);

/// Bytes a `StreamFlow` queues before its `poll_write_ready` waits
/// (flow-socket's `WRITE_HIGH_WATER`, private there).
const SOCKET_HIGH_WATER: usize = 256 * KIB;

/// The most a `StreamFlow` read returns at once (flow-socket's read buffer).
const SOCKET_READ_BUFFER: usize = 64 * KIB;

/// A connected loopback pair: `(client, server)`.
async fn tcp_pair() -> (TcpFlow, TcpFlow) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = futures_util::future::join(TcpFlow::connect(addr), listener.accept()).await;
    (client.unwrap(), accepted.unwrap().0)
}

/// Fails unless `elapsed` is at least `deadline` (the bound did not fire
/// early) and at most `deadline + SLACK` (it fired).
fn within_deadline(what: &str, elapsed: Duration, deadline: Duration) {
    println!("{what}: gave up after {elapsed:?} with a {deadline:?} deadline");
    assert!(
        elapsed >= deadline,
        "{what}: gave up after {elapsed:?}, before its {deadline:?} deadline"
    );
    assert!(
        elapsed <= deadline + SLACK,
        "{what}: gave up after {elapsed:?}, more than {SLACK:?} past its {deadline:?} deadline"
    );
}

/// Awaits `close`, which must give up with `TimedOut` at `deadline` (within
/// the slack); returns its error.
async fn close_times_out(what: &str, deadline: Duration, close: impl Future<Output = Result<(), Error>>) -> Error {
    let started = Instant::now();
    let Err(err) = close.await else {
        panic!("{what}: the close completed while the peer holds on");
    };
    within_deadline(what, started.elapsed(), deadline);
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{what}: {err}");
    err
}

/// Sends `data` one byte per `interval`, each byte in its own segment
/// (`TCP_NODELAY` is on): a slowloris. Returns the first write error, if
/// the other end went away.
async fn trickle(flow: &mut TcpFlow, data: &[u8], interval: Duration) -> Result<(), WriteError> {
    for (i, byte) in data.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(interval).await;
        }
        flow.write(Bytes::copy_from_slice(&[*byte])).await?;
    }
    Ok(())
}

/// A flow that counts the chunks its reads return.
#[derive(Debug)]
struct Counting<F> {
    inner: F,
    chunks: Arc<AtomicUsize>,
}

impl<F: FlowRead + Unpin> FlowRead for Counting<F> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let chunk = std::task::ready!(Pin::new(&mut self.inner).poll_read(cx));
        if let Ok(Chunk::Data(_)) = &chunk {
            self.chunks.fetch_add(1, Ordering::Relaxed);
        }
        Poll::Ready(chunk)
    }

    fn poll_shutdown_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.inner).poll_shutdown_read(cx)
    }
}

// 1. A slowloris: one byte per interval.

const TRICKLE: Duration = Duration::from_millis(10);

/// A line sent one byte per 10 ms arrives intact, in one chunk per byte:
/// `read_line` waits as long as the peer takes (the line's bound is its
/// length, not its time), reading each chunk once.
#[test]
fn a_slowloris_line_arrives_intact_one_chunk_per_byte() {
    tokio_block_on(within_limit(async {
        let (mut client, server) = tcp_pair().await;
        let line = b"GET /slowly HTTP/1.1\r\n";
        let peer = tokio::spawn(async move {
            trickle(&mut client, line, TRICKLE).await.unwrap();
            client
        });
        let chunks = Arc::new(AtomicUsize::new(0));
        let mut reader = BufFlow::new(Counting {
            inner: server,
            chunks: Arc::clone(&chunks),
        });
        let started = Instant::now();
        let got = reader.read_line(8 * KIB).await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(got.as_deref(), Some(&b"GET /slowly HTTP/1.1"[..]));
        assert_eq!(reader.buffered(), 0);
        let chunks = chunks.load(Ordering::Relaxed);
        println!(
            "slowloris: {} bytes, one per {TRICKLE:?}, read as {chunks} chunks in {elapsed:?}",
            line.len()
        );
        // It really trickled, and no byte was read twice or split further.
        assert!(elapsed >= TRICKLE * (line.len() as u32 - 1), "{elapsed:?}");
        assert!(
            (1..=line.len()).contains(&chunks),
            "{chunks} chunks for {} bytes",
            line.len()
        );
        peer.await.unwrap();
    }));
}

/// A reader that bounds the whole request with a deadline gives up on a
/// slowloris in time, keeps what arrived (reads are cancel-safe), and drops
/// the connection cleanly: the peer's next writes fail.
#[test]
fn a_deadline_on_the_request_gives_up_on_a_slowloris() {
    const DEADLINE: Duration = Duration::from_millis(300);
    tokio_block_on(within_limit(async {
        let (mut client, server) = tcp_pair().await;
        // 10 s of header at this pace, if nobody stopped it.
        let peer = tokio::spawn(async move {
            let endless = vec![b'x'; 1000];
            trickle(&mut client, &endless, TRICKLE).await
        });
        let mut reader = BufFlow::new(server);
        let started = Instant::now();
        let outcome = flow_conformance::timer::timeout(DEADLINE, reader.read_line(8 * KIB)).await;
        within_deadline("read_line under a request deadline", started.elapsed(), DEADLINE);
        assert!(outcome.is_none(), "the line ended: {outcome:?}");
        let kept = reader.buffered();
        println!("slowloris: {kept} bytes kept when the deadline came");
        assert!(kept > 0 && kept <= 1000, "{kept}");
        assert_eq!(reader.read_exact(kept).await.unwrap(), vec![b'x'; kept]);
        drop(reader);
        // Dropped with the peer's bytes unread, the socket resets: the
        // peer's next write (or the one after) fails instead of trickling on.
        let err = peer
            .await
            .unwrap()
            .expect_err("the peer trickled all 1000 bytes into a dropped flow");
        println!("slowloris: the peer's write failed with {err}");
        assert!(matches!(err.kind(), ErrorKind::Reset | ErrorKind::Closed), "{err}");
    }));
}

/// A flow whose every read first returns `Pending` (waking itself): data
/// that arrives a chunk per wake-up, as from a socket, so that a time limit
/// around a read can fire between chunks.
#[derive(Debug)]
struct Yielding<F> {
    inner: F,
    yielded: bool,
}

impl<F: FlowRead + Unpin> FlowRead for Yielding<F> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        if !std::mem::replace(&mut self.yielded, true) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        Pin::new(&mut self.inner).poll_read(cx)
    }

    fn poll_shutdown_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.inner).poll_shutdown_read(cx)
    }
}

/// The cost of one more byte stays bounded: `read_line` over 1-byte chunks
/// (the worst case a slowloris makes) scans each byte once, so it takes
/// about as long as `read_exact` of the same bytes, which only gathers
/// them. (It once walked every buffered chunk per chunk: 64 Ki one-byte
/// chunks took 6.5 s, against 20 ms to gather.) Measured in memory, where
/// the chunks arrive as fast as they can be read; gathering, the best of
/// three runs.
#[test]
fn read_line_over_one_byte_chunks_takes_linear_time() {
    const LEN: usize = 64 * KIB;
    /// One line of `LEN` bytes, a byte per chunk.
    async fn one_byte_chunks() -> BufFlow<Yielding<flow_mem::MemFlow>> {
        let (a, mut b) = flow_mem::pair_with_capacity(usize::MAX);
        for _ in 0..LEN {
            b.feed(Bytes::from_static(b"a")).await.unwrap();
        }
        b.write(Bytes::from_static(b"\n")).await.unwrap();
        BufFlow::new(Yielding {
            inner: a,
            yielded: false,
        })
    }
    futures_executor::block_on(async {
        let mut gather = Duration::MAX;
        for _ in 0..3 {
            let mut reader = one_byte_chunks().await;
            let started = Instant::now();
            assert_eq!(reader.read_exact(LEN + 1).await.unwrap().len(), LEN + 1);
            gather = gather.min(started.elapsed());
        }
        // Scanning a byte costs about what gathering it does; eight times
        // as much leaves room for a noisy machine (other tests run beside
        // this one), and a quadratic scan is hundreds. A run may lose its
        // core to another process: one of three within budget passes.
        let budget = gather * 8 + Duration::from_millis(100);
        let mut scan = None;
        for _ in 0..3 {
            let mut reader = one_byte_chunks().await;
            let started = Instant::now();
            if let Some(line) = flow_conformance::timer::timeout(budget, reader.read_line(LEN)).await {
                assert_eq!(line.unwrap().unwrap().len(), LEN);
                scan = Some(started.elapsed());
                break;
            }
        }
        let scan = scan.unwrap_or_else(|| {
            panic!("read_line of {LEN} one-byte chunks took over {budget:?} three times; read_exact {gather:?}")
        });
        println!("{LEN} one-byte chunks: read_exact in {gather:?}, read_line in {scan:?} (budget {budget:?})");
    });
}

/// What one read of the channel gave, for comparison with the model.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Data(Vec<u8>),
    End,
    TooLong,
    UnexpectedEof,
}

fn got(result: Result<Option<Bytes>, BufFlowError>) -> Got {
    match result {
        Ok(Some(data)) => Got::Data(data.to_vec()),
        Ok(None) => Got::End,
        Err(BufFlowError::LineTooLong { .. }) => Got::TooLong,
        Err(BufFlowError::UnexpectedEof { .. }) => Got::UnexpectedEof,
        Err(err) => panic!("{err}"),
    }
}

/// The scan that skips chunks already scanned, checked against a model (a
/// position in the bytes sent): seeded random `read_line`, `read_until`
/// (changing delimiters), `read_exact` and `read_some` calls with small
/// maxima, over chunks of one to a few bytes, so that lines too long,
/// delimiters at chunk edges and partly scanned chunks are common. Replay
/// a failure with `FLOW_CONFORMANCE_SEED=<seed>`.
#[test]
fn small_chunk_reads_match_a_model() {
    const RUNS: u64 = 16;
    let base = flow_conformance::base_seed();
    for run in 0..RUNS {
        let seed = base.wrapping_add(run);
        let mut rng = fastrand::Rng::with_seed(seed);
        let alphabet = b"aab;\r\n";
        let wire: Vec<u8> = (0..8 * KIB).map(|_| alphabet[rng.usize(..alphabet.len())]).collect();
        futures_executor::block_on(async {
            let (a, mut b) = flow_mem::pair_with_capacity(usize::MAX);
            let mut at = 0;
            while at < wire.len() {
                let len = if rng.u8(..10) == 0 {
                    rng.usize(1..=64)
                } else {
                    rng.usize(1..=3)
                };
                let end = (at + len).min(wire.len());
                b.feed(Bytes::copy_from_slice(&wire[at..end])).await.unwrap();
                at = end;
            }
            b.shutdown(Shutdown::Write).await.unwrap();
            let mut reader = BufFlow::new(a);
            let mut pos = 0;
            for step in 0..4000 {
                let rest = &wire[pos..];
                let context = format!("seed {seed} (rerun with FLOW_CONFORMANCE_SEED={seed}), step {step}, at {pos}");
                match rng.u8(..4) {
                    0 => {
                        let max = rng.usize(0..40);
                        let window = &rest[..rest.len().min(max + 2)];
                        let expected = match window.iter().position(|b| *b == b'\n') {
                            Some(i) => {
                                let len = if i > 0 && window[i - 1] == b'\r' { i - 1 } else { i };
                                if len > max {
                                    Got::TooLong
                                } else {
                                    pos += i + 1;
                                    Got::Data(window[..len].to_vec())
                                }
                            }
                            None if rest.len() >= max + 2 => Got::TooLong,
                            None if rest.is_empty() => Got::End,
                            None => Got::UnexpectedEof,
                        };
                        assert_eq!(
                            got(reader.read_line(max).await),
                            expected,
                            "read_line({max}), {context}"
                        );
                    }
                    1 => {
                        let delim = [b';', b'\n', b'b'][rng.usize(..3)];
                        let max = rng.usize(1..40);
                        let window = &rest[..rest.len().min(max)];
                        let expected = match window.iter().position(|b| *b == delim) {
                            Some(i) => {
                                pos += i + 1;
                                Got::Data(window[..=i].to_vec())
                            }
                            None if rest.len() >= max => Got::TooLong,
                            None if rest.is_empty() => Got::End,
                            None => Got::UnexpectedEof,
                        };
                        let result = reader.read_until(delim, max).await;
                        assert_eq!(got(result), expected, "read_until({delim}, {max}), {context}");
                    }
                    2 => {
                        let n = rng.usize(0..8);
                        let expected = if rest.len() >= n {
                            pos += n;
                            Got::Data(rest[..n].to_vec())
                        } else {
                            Got::UnexpectedEof
                        };
                        assert_eq!(
                            got(reader.read_exact(n).await.map(Some)),
                            expected,
                            "read_exact({n}), {context}"
                        );
                    }
                    _ => {
                        let max = rng.usize(1..8);
                        match reader.read_some(max).await.unwrap() {
                            Chunk::Data(data) => {
                                assert!(
                                    data.len() <= max && rest.starts_with(&data),
                                    "read_some({max}), {context}"
                                );
                                pos += data.len();
                            }
                            Chunk::Eof => assert!(rest.is_empty(), "read_some({max}) ended early, {context}"),
                        }
                    }
                }
                assert!(reader.buffered() <= wire.len() - pos, "{context}");
            }
        });
    }
}

// 2. A TLS peer that trickles its handshake.

/// What a TLS client trickling its handshake got to.
#[derive(Debug, Default)]
struct Relayed {
    /// Client bytes forwarded to the server.
    up: AtomicUsize,
}

/// Connects a TLS client to `addr` through a relay that forwards the
/// client's bytes one per `interval` (the server's at full speed): a TLS
/// peer trickling its handshake. Returns the client's task (its handshake
/// and one echoed message) and what the relay forwarded.
fn trickling_tls_client(
    addr: std::net::SocketAddr,
    interval: Duration,
) -> (tokio::task::JoinHandle<Result<Bytes, Error>>, Arc<Relayed>) {
    let relayed = Arc::new(Relayed::default());
    let (client_end, relay_end) = flow_mem::pair();
    let counts = Arc::clone(&relayed);
    tokio::spawn(async move {
        let Ok(tcp) = TcpFlow::connect(addr).await else { return };
        let (mut from_server, mut to_server) = tcp.into_split().unwrap();
        let (mut from_client, mut to_client) = flow_api::split(relay_end);
        let down = tokio::spawn(async move {
            while let Ok(Chunk::Data(data)) = from_server.read().await {
                if to_client.write(data).await.is_err() {
                    break;
                }
            }
            let _ = to_client.shutdown_write().await;
        });
        'up: while let Ok(Chunk::Data(data)) = from_client.read().await {
            for byte in data {
                if to_server.write(Bytes::copy_from_slice(&[byte])).await.is_err() {
                    break 'up;
                }
                counts.up.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(interval).await;
            }
        }
        drop(to_server);
        let _ = down.await;
    });
    let client = tokio::spawn(async move {
        let name = server_name("localhost")?;
        let mut tls = connector(&[&version::TLS13]).connect(name, client_end).await?;
        tls.write("ping").await?;
        match tls.read().await? {
            Chunk::Data(data) => Ok(data),
            Chunk::Eof => Err(Error::new(ErrorKind::Truncated)),
        }
    });
    (client, relayed)
}

/// A handshake trickled a byte per 10 ms takes seconds; the server's
/// handshake deadline ends it with `TimedOut` on time.
#[test]
fn a_trickled_tls_handshake_times_out_at_the_deadline() {
    const DEADLINE: Duration = Duration::from_millis(300);
    tokio_block_on(within_limit(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, relayed) = trickling_tls_client(listener.local_addr().unwrap(), TRICKLE);
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor(&[&version::TLS13]).handshake_timeout(DEADLINE, TokioTimer::shared());
        let started = Instant::now();
        let err = tls
            .accept(tcp)
            .await
            .expect_err("a handshake trickled at 10 ms a byte completed");
        let elapsed = started.elapsed();
        let up = relayed.up.load(Ordering::Relaxed);
        println!("trickled TLS handshake: {up} client bytes had arrived; {err}");
        within_deadline("a trickled TLS handshake", elapsed, DEADLINE);
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(err.to_string().contains("handshake"), "{err}");
        // The server dropped the connection: the client's handshake fails
        // too, rather than trickling on into nothing.
        let client_err = client.await.unwrap().expect_err("the client's handshake completed");
        println!("trickled TLS handshake: the client's side failed with {client_err}");
    }));
}

/// A handshake trickled a byte per millisecond is slow but legal: within
/// the deadline, it completes and the connection works. The deadline bounds
/// the whole handshake, not the gap between bytes.
#[test]
fn a_trickled_tls_handshake_within_the_deadline_completes() {
    const DEADLINE: Duration = Duration::from_secs(10);
    const SLOW: Duration = Duration::from_millis(1);
    tokio_block_on(within_limit(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, relayed) = trickling_tls_client(listener.local_addr().unwrap(), SLOW);
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor(&[&version::TLS13]).handshake_timeout(DEADLINE, TokioTimer::shared());
        let started = Instant::now();
        let mut server = tls.accept(tcp).await.unwrap();
        let elapsed = started.elapsed();
        let up = relayed.up.load(Ordering::Relaxed);
        println!("trickled TLS handshake: completed after {elapsed:?}, {up} client bytes one per {SLOW:?}");
        assert!(up >= 100, "only {up} bytes: the handshake was not trickled");
        assert!(elapsed >= SLOW * 100, "{elapsed:?}");
        assert_eq!(server.read().await.unwrap(), Chunk::Data(Bytes::from("ping")));
        server.write("pong").await.unwrap();
        assert_eq!(client.await.unwrap().unwrap(), Bytes::from("pong"));
    }));
}

// 3. A peer that never reads while we write.

/// Writes against a peer that reads nothing stall once its kernel buffers
/// and the flow's queue are full: a write loop with a per-write deadline
/// sees the stall long before 64 MiB, the flow holds at most its high-water
/// mark plus one buffer that the kernel did not take, and a close with a
/// deadline gives up on time instead of hanging.
#[test]
fn writes_to_a_peer_that_never_reads_stall_with_bounded_memory() {
    const CHUNK: usize = 64 * KIB;
    const STALL: Duration = Duration::from_millis(200);
    const CLOSE: Duration = Duration::from_millis(300);
    const GIVE_UP: usize = 64 * MIB;
    tokio_block_on(within_limit(async {
        let (mut client, mut server) = tcp_pair().await;
        let chunk = Bytes::from(vec![0x5a; CHUNK]);
        let mut handed = 0;
        loop {
            // `feed` returns once the flow took the buffer (it waits only
            // for room in the queue), so this exercises the flow's own bound.
            match tokio::time::timeout(STALL, client.feed(chunk.clone())).await {
                Ok(result) => result.unwrap(),
                Err(_) => break,
            }
            handed += CHUNK;
            assert!(handed < GIVE_UP, "{handed} bytes taken without a stall: unbounded");
        }
        println!(
            "never-reading peer: the writer stalled after {handed} bytes ({} MiB)",
            handed / MIB
        );

        let started = Instant::now();
        let err = client
            .close_within(TokioTimer::shared().sleep(CLOSE))
            .await
            .expect_err("the close completed with a peer that reads nothing");
        within_deadline("close_within against a never-reading peer", started.elapsed(), CLOSE);
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        drop(client);

        // What reaches the peer is what the kernels held; the rest was the
        // flow's own queue, bounded by its high-water mark and one buffer.
        let mut received = 0;
        while let Ok(Chunk::Data(data)) = server.read().await {
            received += data.len();
        }
        let queued = handed - received;
        println!(
            "never-reading peer: the kernels held {received} bytes, the flow's queue {queued} \
             (bound {SOCKET_HIGH_WATER} + {CHUNK})"
        );
        assert!(received <= handed);
        assert!(queued <= SOCKET_HIGH_WATER + CHUNK, "the flow queued {queued} bytes");
    }));
}

// 4. A peer that never closes.

/// The flow's close deadline ends a close that waits for a peer that never
/// closes, even one that keeps trickling bytes (which the close discards:
/// the deadline bounds the whole close, not the time between bytes).
#[test]
fn close_gives_up_on_a_peer_that_never_closes() {
    const CLOSE: Duration = Duration::from_millis(300);
    tokio_block_on(within_limit(async {
        // A silent peer, holding its end open.
        let (mut client, _silent) = tcp_pair().await;
        client.set_close_timeout(Some(CLOSE));
        let err = close_times_out("close with set_close_timeout, silent peer", CLOSE, client.close()).await;
        println!("never-closing peer: {err}");

        // A chatty one: a byte per 10 ms, for 10 s if nobody stops it.
        let (mut client, mut chatty) = tcp_pair().await;
        let peer = tokio::spawn(async move { trickle(&mut chatty, &[b'x'; 1000], TRICKLE).await });
        client.set_close_timeout(Some(CLOSE));
        close_times_out("close with set_close_timeout, trickling peer", CLOSE, client.close()).await;
        drop(client);
        // Closed and dropped, the flow refuses the peer's bytes: it stops.
        let err = peer
            .await
            .unwrap()
            .expect_err("the peer trickled on into a closed flow");
        assert!(matches!(err.kind(), ErrorKind::Reset | ErrorKind::Closed), "{err}");
    }));
}

/// `close_within` bounds a close the same way, with the flow's own deadline
/// switched off.
#[test]
fn close_within_gives_up_on_a_peer_that_never_closes() {
    const CLOSE: Duration = Duration::from_millis(300);
    tokio_block_on(within_limit(async {
        let (mut client, _silent) = tcp_pair().await;
        client.set_close_timeout(None);
        close_times_out(
            "close_within, silent peer",
            CLOSE,
            client.close_within(tokio::time::sleep(CLOSE)),
        )
        .await;
    }));
}

// 5. A line that never ends.

/// A peer that sends a megabyte with no line end gets `LineTooLong` once
/// `max` bytes (plus room for a CRLF) arrived: the reader buffers at most
/// that plus one read of the socket, does not wait for more, and consumes
/// nothing.
#[test]
fn a_line_that_never_ends_is_too_long_not_unbounded() {
    const MAX: usize = 1024;
    tokio_block_on(within_limit(async {
        let (mut client, server) = tcp_pair().await;
        let peer = tokio::spawn(async move {
            // Written, flushed, and the connection held open: no end of
            // file comes to end the line either.
            let _ = client.write(Bytes::from(vec![b'x'; MIB])).await;
            client
        });
        let mut reader = BufFlow::new(server);
        match reader.read_line(MAX).await {
            Err(BufFlowError::LineTooLong { max }) => assert_eq!(max, MAX),
            other => panic!("expected LineTooLong, got {other:?}"),
        }
        let buffered = reader.buffered();
        println!("endless line: LineTooLong with {buffered} bytes buffered (max {MAX})");
        assert!(buffered >= MAX + 2, "{buffered}");
        assert!(
            buffered <= MAX + 2 + SOCKET_READ_BUFFER,
            "{buffered} bytes buffered for a {MAX}-byte line"
        );
        // Nothing consumed: the bytes are all there, to skip or read otherwise.
        let kept = reader.read_exact(buffered).await.unwrap();
        assert!(kept.iter().all(|b| *b == b'x'));
        // And the error is the same the next time, not a hang.
        match reader.read_line(MAX).await {
            Err(BufFlowError::LineTooLong { max }) => assert_eq!(max, MAX),
            other => panic!("expected LineTooLong again, got {other:?}"),
        }
        drop(reader);
        drop(peer.await.unwrap());
    }));
}

/// The bound is exact: a line of `max` bytes is read, one byte more is too
/// long, whether it ends with LF or CRLF.
#[test]
fn read_line_takes_max_bytes_and_not_one_more() {
    const MAX: usize = 64;
    tokio_block_on(within_limit(async {
        let (mut client, server) = tcp_pair().await;
        let mut data = Vec::new();
        data.extend(vec![b'a'; MAX]);
        data.extend(b"\r\n");
        data.extend(vec![b'b'; MAX]);
        data.extend(b"\n");
        data.extend(vec![b'c'; MAX + 1]);
        data.extend(b"\r\n");
        client.write(Bytes::from(data)).await.unwrap();
        let mut reader = BufFlow::new(server);
        assert_eq!(reader.read_line(MAX).await.unwrap().unwrap(), vec![b'a'; MAX]);
        assert_eq!(reader.read_line(MAX).await.unwrap().unwrap(), vec![b'b'; MAX]);
        match reader.read_line(MAX).await {
            Err(BufFlowError::LineTooLong { max }) => assert_eq!(max, MAX),
            other => panic!("expected LineTooLong, got {other:?}"),
        }
        assert_eq!(reader.read_line(MAX + 1).await.unwrap().unwrap(), vec![b'c'; MAX + 1]);
    }));
}
