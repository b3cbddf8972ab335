//! An accept loop when the process runs out of descriptors (`EMFILE`).
//!
//! This file holds one test, in its own process: it lowers the soft
//! `RLIMIT_NOFILE`, which is process-wide, and fills the table up.
//!
//! The recommended accept loop (docs/reliability.md; tokio's own docs give the
//! same advice): an `accept` error is not the end of the listener. Log it,
//! back off briefly with the runtime's timer, and accept again. Without the
//! pause, `accept` fails at once, again and again, with the connection
//! still pending in the kernel: the loop spins on the CPU and starves the
//! tasks (the connections being served) that would free descriptors.
//!
//! ```ignore
//! loop {
//!     match listener.accept().await {
//!         Ok((flow, _peer)) => spawn(serve(flow)),
//!         Err(err) => {
//!             log(&err); // "accepting on 127.0.0.1:8080: Too many open files (os error 24)"
//!             tokio::time::sleep(Duration::from_millis(50)).await;
//!         }
//!     }
//! }
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs::File;
use std::io;
use std::time::{Duration, Instant};

use flow_api::prelude::*;
use flow_api::{Error, ErrorKind};
use flow_tests::{tokio_block_on, within_limit};
use flow_tokio::{TcpFlow, TcpListener};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The pause after a failed accept.
const BACKOFF: Duration = Duration::from_millis(50);
/// Failed accepts the loop sits through before descriptors are freed.
const FAILURES: u32 = 8;

fn emfile() -> i32 {
    rustix::io::Errno::MFILE.raw_os_error()
}

/// Whether `err` is the process's descriptor table being full.
fn is_emfile(err: &Error) -> bool {
    err.get_ref()
        .and_then(|source| source.downcast_ref::<io::Error>())
        .and_then(io::Error::raw_os_error)
        == Some(emfile())
}

/// Opens descriptors until the table is full: what a process under a flood
/// of connections, or with a leak, comes to.
fn exhaust_descriptors() -> Vec<File> {
    let mut files = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(file) => files.push(file),
            Err(err) if err.raw_os_error() == Some(emfile()) => return files,
            Err(err) => panic!("opening /dev/null: {err}"),
        }
        assert!(files.len() < 4096, "the lowered descriptor limit does not hold");
    }
}

#[test]
fn an_accept_loop_backs_off_on_emfile_and_serves_the_pending_connection() {
    tokio_block_on(within_limit(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Connected before the table fills: it waits in the listen backlog,
        // its request already sent.
        let mut client = TcpFlow::connect(addr).await.unwrap();
        client.write("ping").await.unwrap();

        // Room for what is open now and a few more, then none at all.
        let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
        let old = getrlimit(Resource::Nofile);
        let lowered = open + 16;
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(lowered),
                maximum: old.maximum,
            },
        )
        .unwrap();
        let mut filler = Some(exhaust_descriptors());
        println!(
            "emfile: {open} descriptors open, soft limit {lowered}, {} more opened to fill it",
            filler.as_ref().map_or(0, Vec::len)
        );

        // A loop with no pause: every accept fails at once, the listener
        // stays usable. (This is what a server must not do: count how fast
        // it spins.)
        let spin = Instant::now();
        let mut spun = 0_u32;
        while spin.elapsed() < Duration::from_millis(20) {
            let err = listener.accept().await.expect_err("accepted with no descriptor free");
            assert!(is_emfile(&err), "{err}");
            spun += 1;
        }
        println!("emfile: without a pause, {spun} failed accepts in 20 ms");

        // The recommended loop: back off with the runtime's timer, retry.
        let mut failures = 0_u32;
        let mut first_failure = None;
        let (mut served, peer) = loop {
            match listener.accept().await {
                Ok(accepted) => break accepted,
                Err(err) => {
                    failures += 1;
                    if failures == 1 {
                        first_failure = Some(Instant::now());
                        println!("emfile: the accept error reads {err:?} / \"{err}\"");
                        assert!(is_emfile(&err), "{err}");
                        assert_eq!(err.kind(), ErrorKind::Other);
                        assert_eq!(err.io_kind(), io::Error::from_raw_os_error(emfile()).kind());
                        let text = err.to_string();
                        assert!(text.starts_with(&format!("accepting on {addr}: ")), "{text}");
                        assert!(text.contains("os error 24"), "{text}");
                    }
                    if failures == FAILURES {
                        // Descriptors come back (connections end): the next
                        // attempt must get the connection that waited.
                        drop(filler.take());
                    }
                    assert!(
                        failures <= FAILURES,
                        "still failing after the descriptors were freed: {err}"
                    );
                    tokio::time::sleep(BACKOFF).await;
                }
            }
        };
        let waited = first_failure.map(|at| at.elapsed()).unwrap_or_default();
        let rate = f64::from(failures) / waited.as_secs_f64();
        println!("emfile: with a {BACKOFF:?} pause, {failures} failed accepts in {waited:?} ({rate:.0} a second)");
        assert_eq!(failures, FAILURES);
        // It did not spin: one attempt per pause at most.
        assert!(waited >= BACKOFF * FAILURES, "{failures} attempts in {waited:?}");

        // The connection that waited through it all is served.
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(served.read().await.unwrap(), Chunk::Data(Bytes::from("ping")));
        served.write("pong").await.unwrap();
        assert_eq!(client.read().await.unwrap(), Chunk::Data(Bytes::from("pong")));

        // And the listener goes on accepting.
        let (second, accepted) = futures_util::future::join(TcpFlow::connect(addr), listener.accept()).await;
        let (second, (_, peer)) = (second.unwrap(), accepted.unwrap());
        assert_eq!(peer, second.local_addr().unwrap());

        setrlimit(Resource::Nofile, old).unwrap();
    }));
}
