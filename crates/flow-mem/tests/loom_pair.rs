//! Loom models of the in-memory pair: the two ends on two threads, every
//! interleaving of their lock operations explored (up to the preemption
//! bound, `LOOM_MAX_PREEMPTIONS`).
//!
//! All coordination between the ends is the one `Mutex<Shared>`: each end
//! checks the state and registers its waker under the same lock, and each
//! change wakes the other end under it too, so no wake-up can fall between
//! a check and a registration. A lost wake-up would leave a
//! `loom::future::block_on` waiting for ever, which loom reports as a
//! deadlock.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p flow-mem --release --test loom_pair`,
//! or `cargo xtask loom`.

#![cfg(loom)]

use flow_api::prelude::*;
use loom::future::block_on;
use loom::thread;

/// Checks `f` under loom, bounded to 3 preemptions unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise (unbounded, loom's default, takes
/// far longer and found nothing more here).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.check(f);
}

#[test]
fn a_read_waits_for_the_write() {
    model(|| {
        // Ping-pong: each write must wake the read waiting for it, as nothing
        // else follows that would.
        let (mut left, mut right) = flow_mem::pair();
        // At least ZERO_COPY_MIN bytes: handed over, not copied.
        let ping = Bytes::from(vec![7u8; flow_mem::ZERO_COPY_MIN]);
        let sent = ping.clone();
        let peer = thread::spawn(move || {
            block_on(right.write(sent)).map_err(|e| e.to_string())?;
            block_on(right.read()).map_err(|e| e.to_string())
        });
        let got = block_on(left.read());
        assert_eq!(got.as_ref().ok(), Some(&Chunk::Data(ping.clone())));
        if let Ok(Chunk::Data(buf)) = got {
            // Zero-copy: the very buffer the writer handed over.
            assert_eq!(buf.as_ptr(), ping.as_ptr());
        }
        assert!(block_on(left.write("pong")).is_ok());
        assert_eq!(peer.join().ok(), Some(Ok(Chunk::Data(Bytes::from_static(b"pong")))));
    });
}

#[test]
fn a_read_sees_the_end_of_writes() {
    model(|| {
        let (mut reader, mut writer) = flow_mem::pair();
        let peer = thread::spawn(move || {
            block_on(writer.shutdown(Shutdown::Write)).map_err(|e| e.to_string())?;
            Ok::<_, String>(writer)
        });
        assert_eq!(block_on(reader.read()).ok(), Some(Chunk::Eof));
        assert!(matches!(peer.join(), Ok(Ok(_))));
    });
}

#[test]
fn a_read_sees_a_dropped_peer_after_its_data() {
    model(|| {
        let (mut reader, mut writer) = flow_mem::pair();
        let peer = thread::spawn(move || {
            let written = block_on(writer.write("last words")).map_err(|e| e.to_string());
            drop(writer);
            written
        });
        assert_eq!(
            block_on(reader.read()).ok(),
            Some(Chunk::Data(Bytes::from_static(b"last words")))
        );
        let after = block_on(reader.read());
        assert_eq!(after.err().map(|e| e.kind()), Some(ErrorKind::Reset));
        assert_eq!(peer.join().ok(), Some(Ok(())));
    });
}

#[test]
fn a_writer_waits_for_room() {
    model(|| {
        // Room for one buffer: the second write waits until the first was read.
        let (mut reader, mut writer) = flow_mem::pair_with_capacity(1);
        let peer = thread::spawn(move || {
            for buf in ["a", "b"] {
                block_on(writer.write(buf)).map_err(|e| e.to_string())?;
            }
            block_on(writer.shutdown(Shutdown::Write)).map_err(|e| e.to_string())
        });
        for expected in ["a", "b"] {
            assert_eq!(block_on(reader.read()).ok(), Some(Chunk::Data(Bytes::from(expected))));
        }
        assert_eq!(block_on(reader.read()).ok(), Some(Chunk::Eof));
        assert_eq!(peer.join().ok(), Some(Ok(())));
    });
}

#[test]
fn both_ends_close_at_once() {
    model(|| {
        // Each close waits for the other end's end of writes.
        let (mut left, mut right) = flow_mem::pair();
        let peer = thread::spawn(move || block_on(right.close()).map_err(|e| e.to_string()));
        assert_eq!(block_on(left.close()).map_err(|e| e.to_string()), Ok(()));
        assert_eq!(peer.join().ok(), Some(Ok(())));
    });
}

#[test]
fn a_close_sees_a_dropped_peer() {
    model(|| {
        let (mut closer, dropped) = flow_mem::pair();
        let peer = thread::spawn(move || drop(dropped));
        let closed = block_on(closer.close());
        assert_eq!(closed.err().map(|e| e.kind()), Some(ErrorKind::Reset));
        assert!(peer.join().is_ok());
    });
}
