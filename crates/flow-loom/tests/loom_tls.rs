//! Loom models of the TLS flow's waker fan-out: every interleaving of the
//! lock operations explored (up to the preemption bound,
//! `LOOM_MAX_PREEMPTIONS`).
//!
//! A TLS flow polls its underlying flow with one fan-out waker, whichever
//! of its tasks (reader, writer) is polling, and the fan-out wakes both.
//! Two kinds of models check that no task waiting on it is left asleep:
//!
//! - the fan-out itself (the very `wakers.rs` of flow-tls, compiled here
//!   with loom's `Mutex`), with a reader and a writer of the TLS flow
//!   waiting on one registration of an underlying flow, and the read path
//!   waking the writer; flow-socket's fan-out for its discarding read;
//! - whole TLS flows over an in-memory pair (the pair's lock is loom's
//!   too), one end on each thread.
//!
//! A lost wake-up leaves a `loom::future::block_on` waiting for ever, which
//! loom reports as a deadlock.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p flow-loom --release --test loom_tls`,
//! or `cargo xtask loom`.

#![cfg(loom)]

use std::future::poll_fn;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use flow_api::prelude::*;
use flow_tls::{TlsAcceptor, TlsConnector, rustls};
use loom::future::block_on;
use loom::thread;

/// What `wakers.rs` takes from flow-tls's `sync` shim under `--cfg loom`.
mod sync {
    pub(crate) use loom::sync::Mutex;
}

#[path = "../../flow-tls/src/wakers.rs"]
mod wakers;

/// flow-socket's fan-out of its one read waker, for the discarding read
/// (the same pattern as the TLS one, without `wake_write`).
#[path = "../../flow-socket/src/wakers.rs"]
mod socket_wakers;

use socket_wakers::{DrainWakers, Side};
use wakers::Fanout;

/// Checks `f` under loom, bounded to 3 preemptions unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(f);
}

/// One direction of an underlying flow, as a flow keeps it: readiness and
/// one waker, checked and registered under one lock, the registration
/// replacing the last one.
#[derive(Default)]
struct Direction {
    state: loom::sync::Mutex<(bool, Option<Waker>)>,
}

impl Direction {
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 {
            return Poll::Ready(());
        }
        state.1 = Some(cx.waker().clone());
        Poll::Pending
    }

    fn make_ready(&self) {
        let waker = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.0 = true;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A TLS task's poll: register its own waker with the fan-out, then poll
/// the underlying flow with the fan-out waker, as `TlsFlow`'s polls do.
fn wait(register: impl Fn(&Waker), fanout_waker: &Waker, direction: &Direction) {
    block_on(poll_fn(|cx| {
        register(cx.waker());
        direction.poll_ready(&mut Context::from_waker(fanout_waker))
    }));
}

#[test]
fn a_reader_and_a_writer_waiting_on_one_registration_both_wake() {
    model(|| {
        // A TLS read that must send (an alert, a key update) and a TLS write
        // wait on the same direction of the underlying flow, which keeps one
        // waker: the fan-out's.
        let (fanout, waker) = Fanout::new();
        let direction = Arc::new(Direction::default());
        let reader = {
            let (fanout, waker, direction) = (Arc::clone(&fanout), waker.clone(), Arc::clone(&direction));
            thread::spawn(move || wait(|w| fanout.register_read(w), &waker, &direction))
        };
        let writer = {
            let (fanout, waker, direction) = (Arc::clone(&fanout), waker.clone(), Arc::clone(&direction));
            thread::spawn(move || wait(|w| fanout.register_write(w), &waker, &direction))
        };
        direction.make_ready();
        assert!(reader.join().is_ok());
        assert!(writer.join().is_ok());
    });
}

#[test]
fn the_read_path_wakes_the_writer() {
    model(|| {
        // The writer waits for progress that the read path makes without
        // the underlying flow knowing (it flushed what the writer queued):
        // the read path wakes it through the fan-out.
        let (fanout, _waker) = Fanout::new();
        let progress = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (fanout, progress) = (Arc::clone(&fanout), Arc::clone(&progress));
            thread::spawn(move || {
                block_on(poll_fn(|cx| {
                    fanout.register_write(cx.waker());
                    if progress.load(loom::sync::atomic::Ordering::Acquire) {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                }));
            })
        };
        progress.store(true, loom::sync::atomic::Ordering::Release);
        fanout.wake_write();
        assert!(writer.join().is_ok());
    });
}

#[test]
fn the_sockets_drain_wakers_wake_a_reader_and_a_writer_waiting_on_one_registration() {
    model(|| {
        // A reader after shutdown(Read) and a closing writer both wait on
        // the socket's discarding read, which keeps one waker: this one.
        let wakers = Arc::new(DrainWakers::default());
        let waker = Waker::from(Arc::clone(&wakers));
        let direction = Arc::new(Direction::default());
        let waiting: Vec<_> = [Side::Read, Side::Write]
            .into_iter()
            .map(|side| {
                let (wakers, waker, direction) = (Arc::clone(&wakers), waker.clone(), Arc::clone(&direction));
                thread::spawn(move || wait(|w| wakers.register(side, w), &waker, &direction))
            })
            .collect();
        direction.make_ready();
        for side in waiting {
            assert!(side.join().is_ok());
        }
    });
}

/// A client and a server configuration with a self-signed `localhost`
/// certificate, made once for the process (outside the models: key
/// generation is not what is checked).
fn tls() -> &'static (TlsConnector, TlsAcceptor) {
    static TLS: OnceLock<(TlsConnector, TlsAcceptor)> = OnceLock::new();
    TLS.get_or_init(|| {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .unwrap_or_else(|e| panic!("a test certificate: {e}"));
        let cert = certified.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(cert.clone())
            .unwrap_or_else(|e| panic!("the test certificate as a root: {e}"));
        let connector = TlsConnector::builder()
            .root_certificates(roots)
            .build()
            .unwrap_or_else(|e| panic!("the test client configuration: {e}"));
        let acceptor = TlsAcceptor::builder(vec![cert], key)
            .build()
            .unwrap_or_else(|e| panic!("the test server configuration: {e}"));
        // No handshake deadline: its timer thread is outside what loom can
        // run, and these models explore the handshake's wake-ups, not time.
        (connector.no_handshake_timeout(), acceptor.no_handshake_timeout())
    })
}

/// A TLS client and server over an in-memory pair of `capacity`, the
/// handshake run on this thread (both ends in one task).
fn tls_pair(
    capacity: usize,
) -> (
    flow_tls::TlsFlow<flow_mem::MemFlow>,
    flow_tls::TlsFlow<flow_mem::MemFlow>,
) {
    let (connector, acceptor) = tls();
    let (client, server) = flow_mem::pair_with_capacity(capacity);
    let name = flow_tls::server_name("localhost").unwrap_or_else(|e| panic!("a server name: {e}"));
    block_on(futures_util::future::try_join(
        connector.connect(name, client),
        acceptor.accept(server),
    ))
    .unwrap_or_else(|e| panic!("the handshake: {e}"))
}

/// Runs `f` on a loom thread with room for rustls: the model's own thread
/// has a small stack that a TLS handshake overflows.
fn spawn_big<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> thread::JoinHandle<T> {
    match thread::Builder::new().stack_size(8 << 20).spawn(f) {
        Ok(handle) => handle,
        Err(err) => panic!("cannot spawn a loom thread: {err}"),
    }
}

#[test]
fn tls_ping_pong_across_threads() {
    let _ = tls();
    model(|| {
        let client = spawn_big(|| {
            let (mut client, mut server) = tls_pair(flow_mem::DEFAULT_CAPACITY);
            let peer = spawn_big(move || {
                let ping = block_on(server.read()).map_err(|e| e.to_string())?;
                block_on(server.write("pong")).map_err(|e| e.to_string())?;
                Ok::<_, String>((ping, server))
            });
            assert!(block_on(client.write("ping")).is_ok());
            assert_eq!(
                block_on(client.read()).ok(),
                Some(Chunk::Data(Bytes::from_static(b"pong")))
            );
            let joined = peer.join().ok().map(|r| r.map(|(ping, _server)| ping));
            assert_eq!(joined, Some(Ok(Chunk::Data(Bytes::from_static(b"ping")))));
        });
        assert!(client.join().is_ok());
    });
}

#[test]
fn tls_close_waits_for_the_peers_close_notify() {
    let _ = tls();
    model(|| {
        // The closing task waits on the underlying flow's read direction
        // (for close_notify) with the fan-out waker it registered as a writer.
        let client = spawn_big(|| {
            let (mut client, mut server) = tls_pair(flow_mem::DEFAULT_CAPACITY);
            let peer = spawn_big(move || {
                let end = block_on(server.read()).map_err(|e| e.to_string())?;
                block_on(server.close()).map_err(|e| e.to_string())?;
                Ok::<_, String>(end)
            });
            assert_eq!(block_on(client.close()).map_err(|e| e.to_string()), Ok(()));
            assert_eq!(peer.join().ok(), Some(Ok(Chunk::Eof)));
        });
        assert!(client.join().is_ok());
    });
}

#[test]
fn tls_write_waits_for_room() {
    let _ = tls();
    model(|| {
        // Room for one buffer below: the close_notify record waits until
        // the peer read the data record, woken through the fan-out.
        let client = spawn_big(|| {
            let (mut client, mut server) = tls_pair(1);
            let peer = spawn_big(move || {
                let mut got = Vec::new();
                loop {
                    match block_on(server.read()).map_err(|e| e.to_string())? {
                        Chunk::Data(buf) => got.extend_from_slice(&buf),
                        Chunk::Eof => return Ok::<_, String>((got, server)),
                    }
                }
            });
            assert!(block_on(client.write("data")).is_ok());
            assert!(block_on(client.shutdown(Shutdown::Write)).is_ok());
            let joined = peer.join().ok().map(|r| r.map(|(got, _server)| got));
            assert_eq!(joined, Some(Ok(b"data".to_vec())));
        });
        assert!(client.join().is_ok());
    });
}
