//! What only real sockets show (a FIN a foreign peer sees, resets,
//! refusals, options, the close deadline), and what only completion I/O
//! shows: operations that outlive the future that started them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

flow_conformance::socket_tests!(flow_compio, block_on);

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use flow_compio::{TcpFlow, TcpListener, UnixFlow};
use flow_conformance::sockets::{TempDir, within_limit};

/// A fresh compio runtime per test.
fn block_on<F: Future>(future: F) -> F::Output {
    compio::runtime::Runtime::new().unwrap().block_on(future)
}

/// Lets the runtime run once: submit what was queued, reap completions.
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

/// Polls `future` once; true if it is still pending.
async fn poll_once<F: Future>(future: Pin<&mut F>) -> bool {
    let mut future = Some(future);
    std::future::poll_fn(|cx: &mut Context<'_>| {
        let pending = future.as_mut().map(|f| f.as_mut().poll(cx).is_pending());
        Poll::Ready(pending.unwrap_or(false))
    })
    .await
}

async fn tcp_pair() -> (TcpFlow, TcpFlow) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (client, (server, _)) =
        futures_util::future::try_join(TcpFlow::connect(listener.local_addr().unwrap()), listener.accept())
            .await
            .unwrap();
    (client, server)
}

async fn read_to_end(flow: &mut (impl FlowRead + Unpin)) -> Vec<u8> {
    let mut got = Vec::new();
    while let Chunk::Data(data) = flow.read().await.unwrap() {
        got.extend_from_slice(&data);
    }
    got
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The kernel fills the buffer of a read whose future was dropped: the
/// next read returns exactly those bytes, then what came after, once.
#[test]
fn a_dropped_read_loses_nothing_and_duplicates_nothing() {
    block_on(within_limit(async {
        let (mut client, mut server) = tcp_pair().await;
        for round in 0..3u8 {
            {
                let read = pin!(client.read());
                assert!(poll_once(read).await, "nothing was sent yet");
            }
            // The receive is in the kernel now, its future gone.
            yield_now().await;
            let message = vec![round; 1000];
            server.write(message.clone()).await.unwrap();
            // Let the kernel complete the receive before anyone reads.
            for _ in 0..10 {
                yield_now().await;
            }
            let mut got = Vec::new();
            while got.len() < message.len() {
                match client.read().await.unwrap() {
                    Chunk::Data(data) => got.extend_from_slice(&data),
                    Chunk::Eof => panic!("end of file in round {round}"),
                }
            }
            assert_eq!(got, message, "round {round}");
        }
        server.write("tail").await.unwrap();
        server.shutdown(Shutdown::Write).await.unwrap();
        assert_eq!(read_to_end(&mut client).await, b"tail");
    }));
}

/// The same over a Unix socket, dropping the read future at every poll of
/// a long transfer.
#[test]
fn reads_dropped_at_every_poll_over_unix_deliver_every_byte_once() {
    block_on(within_limit(async {
        let (mut a, mut b) = UnixFlow::pair().unwrap();
        let sent = pattern(4 << 20);
        let expected = sent.clone();
        let writer = async move {
            for piece in sent.chunks(100_000) {
                a.write(piece.to_vec()).await.unwrap();
            }
            a.shutdown(Shutdown::Write).await.unwrap();
            a
        };
        let reader = async {
            let mut got = Vec::new();
            loop {
                // Poll once; if pending, drop the future and start again.
                let mut read = Box::pin(b.read());
                let outcome = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
                drop(read);
                match outcome {
                    Poll::Ready(Ok(Chunk::Data(data))) => got.extend_from_slice(&data),
                    Poll::Ready(Ok(Chunk::Eof)) => break got,
                    Poll::Ready(Err(err)) => panic!("{err}"),
                    Poll::Pending => yield_now().await,
                }
            }
        };
        let (_a, got) = futures_util::future::join(writer, reader).await;
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "the bytes differ");
    }));
}

/// Messages of mixed sizes (1 byte to 256 KiB, log-uniform, seeded), so
/// that receives switch between small ones (into initialised room,
/// submitted directly) and large ones (through compio's stream), with the
/// read future dropped at every poll and every third chunk kept alive
/// (its buffer cannot be taken back): every byte arrives once, in order.
/// `FLOW_SEED` replays a seed.
async fn mixed_reads_dropped_at_every_poll<F: Flow + Unpin>((mut a, mut b): (F, F), seed: u64) {
    let sent: Vec<u8> = (0..3usize << 20).map(|i| (i % 251) as u8 ^ (seed as u8)).collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut lens = Vec::new();
    let mut left = sent.len();
    while left > 0 {
        let top = 1usize << rng.u32(0..19);
        let len = rng.usize(1..=top).min(left);
        lens.push(len);
        left -= len;
    }
    let expected = sent.clone();
    let writer = async move {
        let mut at = 0;
        for len in lens {
            a.write(sent[at..at + len].to_vec()).await.unwrap();
            at += len;
        }
        a.shutdown(Shutdown::Write).await.unwrap();
        a
    };
    let reader = async {
        let mut got = Vec::new();
        let mut kept = Vec::new();
        let mut chunks = 0u32;
        loop {
            let mut read = Box::pin(b.read());
            let outcome = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
            drop(read);
            match outcome {
                Poll::Ready(Ok(Chunk::Data(data))) => {
                    got.extend_from_slice(&data);
                    chunks += 1;
                    if chunks.is_multiple_of(3) {
                        kept.push(data);
                    }
                }
                Poll::Ready(Ok(Chunk::Eof)) => break (got, kept),
                Poll::Ready(Err(err)) => panic!("seed {seed:#x}: {err}"),
                Poll::Pending => yield_now().await,
            }
        }
    };
    let (_a, (got, _kept)) = futures_util::future::join(writer, reader).await;
    assert_eq!(got.len(), expected.len(), "seed {seed:#x}: byte count");
    if let Some(at) = got.iter().zip(&expected).position(|(g, e)| g != e) {
        panic!("seed {seed:#x}: the bytes differ from byte {at} on");
    }
}

fn seed() -> u64 {
    match std::env::var("FLOW_SEED") {
        Ok(seed) => u64::from_str_radix(seed.trim_start_matches("0x"), 16).unwrap(),
        Err(_) => 0x00c0_4910,
    }
}

#[test]
fn mixed_reads_dropped_at_every_poll_deliver_every_byte_once_over_tcp() {
    block_on(within_limit(async {
        mixed_reads_dropped_at_every_poll(tcp_pair().await, seed()).await
    }));
}

#[test]
fn mixed_reads_dropped_at_every_poll_deliver_every_byte_once_over_unix() {
    block_on(within_limit(async {
        mixed_reads_dropped_at_every_poll(UnixFlow::pair().unwrap(), seed().wrapping_add(1)).await;
    }));
}

/// A write and a flush whose futures are dropped while their send is in
/// flight (the peer does not read yet): the data still arrives, once.
#[test]
fn dropped_writes_and_flushes_send_their_data_once() {
    block_on(within_limit(async {
        let (mut client, mut server) = tcp_pair().await;
        let first = pattern(8 << 20);
        {
            let write = pin!(client.write(first.clone()));
            assert!(poll_once(write).await, "8 MiB cannot fit in the socket buffers");
        }
        let second = vec![7u8; 1 << 20];
        let reader = async {
            let got = read_to_end(&mut server).await;
            server.close().await.unwrap();
            got
        };
        let writer = async {
            // The first write still fills the socket: this waits for room.
            client.feed(second.clone()).await.unwrap();
            {
                let flush = pin!(client.flush());
                let _ = poll_once(flush).await;
            }
            client.flush().await.unwrap();
            client.close().await.unwrap();
        };
        let (got, ()) = futures_util::future::join(reader, writer).await;
        assert_eq!(got.len(), first.len() + second.len());
        assert!(got[..first.len()] == first[..], "the first write differs");
        assert!(got[first.len()..] == second[..], "the fed buffer differs");
    }));
}

/// A writev goes out whole and in order, however many buffers it has.
#[test]
fn a_large_writev_arrives_in_order() {
    block_on(within_limit(async {
        let (mut client, mut server) = tcp_pair().await;
        let bufs: Vec<Bytes> = (0..3000u32).map(|i| Bytes::from(i.to_be_bytes().to_vec())).collect();
        let expected: Vec<u8> = bufs.iter().flat_map(|b| b.to_vec()).collect();
        let writer = async {
            client.writev(bufs).await.unwrap();
            client.shutdown(Shutdown::Write).await.unwrap();
        };
        let ((), got) = futures_util::future::join(writer, read_to_end(&mut server)).await;
        assert_eq!(got, expected);
    }));
}

/// An accept future dropped while its accept is in flight: the connection
/// goes to the next accept.
#[test]
fn a_dropped_accept_loses_no_connection() {
    block_on(within_limit(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        {
            let accept = pin!(listener.accept());
            assert!(poll_once(accept).await);
        }
        yield_now().await;
        let mut client = TcpFlow::connect(listener.local_addr().unwrap()).await.unwrap();
        for _ in 0..10 {
            yield_now().await;
        }
        let (mut server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        client.write("hello").await.unwrap();
        client.shutdown(Shutdown::Write).await.unwrap();
        assert_eq!(read_to_end(&mut server).await, b"hello");
    }));
}

#[test]
fn refused_connections_name_the_address() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    block_on(within_limit(async {
        let err = TcpFlow::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
        assert_eq!(err.to_string(), format!("connecting to {addr}: connection refused"));
    }));
}

#[test]
fn a_missing_unix_path_is_not_found_and_named() {
    let dir = TempDir::new("flow-compio-missing");
    let path = dir.path("nothing-here.sock").unwrap();
    block_on(within_limit(async {
        let err = UnixFlow::connect(&path).await.unwrap_err();
        assert_eq!(err.io_kind(), std::io::ErrorKind::NotFound, "{err}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("connecting to {}: ", path.display())),
            "{message}"
        );
    }));
}

#[test]
fn binding_a_used_address_names_it() {
    block_on(within_limit(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let err = TcpListener::bind(addr).await.unwrap_err();
        assert_eq!(err.io_kind(), std::io::ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().starts_with(&format!("binding {addr}: ")), "{err}");
    }));
}

#[test]
fn constructors_outside_a_runtime_fail_instead_of_panicking() {
    let err = UnixFlow::pair().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let err = futures_util::FutureExt::now_or_never(TcpFlow::connect("127.0.0.1:9"))
        .expect("fails at once")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
}

#[test]
fn into_inner_gives_the_socket_back_when_idle() {
    block_on(within_limit(async {
        let (mut client, mut server) = tcp_pair().await;
        client.write("x").await.unwrap();
        assert_eq!(server.read().await.unwrap(), Chunk::Data(Bytes::from("x")));
        // The server's read completed: nothing is in flight.
        let stream = server.into_inner().expect("idle");
        drop(stream);
        // A read left in flight keeps the flow busy.
        {
            let read = pin!(client.read());
            assert!(poll_once(read).await);
        }
        let client = client.into_inner().expect_err("a receive is in flight");
        drop(client);
    }));
}
