//! Interoperability with aioquic (Python), a QUIC stack nobody here wrote:
//! our client against its echo server, its client against our echo server;
//! echoes both ways, FIN seen on both sides, resets seen on both sides.
//!
//! The interpreter comes from `FLOW_PYTHON` (`cargo xtask peers` installs
//! the pinned aioquic and the test step sets it).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use flow_api::prelude::*;
use flow_quic::{ABORT_CODE, QuicEndpoint, QuicFlow};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use support::{ALPN, loopback, pki};

const LIMIT: Duration = Duration::from_secs(30);

fn python() -> String {
    let python = std::env::var("FLOW_PYTHON").unwrap_or_else(|_| {
        panic!("FLOW_PYTHON is not set: run `cargo xtask peers` and point FLOW_PYTHON at target/peers/venv/bin/python")
    });
    let check = std::process::Command::new(&python)
        .args(["-c", "import aioquic"])
        .output();
    match check {
        Ok(out) if out.status.success() => python,
        _ => panic!("{python} cannot import aioquic: run `cargo xtask peers` (FLOW_PYTHON={python})"),
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/aioquic_peer.py")
}

/// The certificates as files for the Python peer.
fn cert_files() -> (tempdir::Dir, PathBuf, PathBuf, PathBuf) {
    let dir = tempdir::Dir::new();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        let mut file = std::fs::File::create(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        file.write_all(text.as_bytes())
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        path
    };
    let ca = write("ca.pem", &pki().ca_pem);
    let cert = write("cert.pem", &pki().server_cert_pem);
    let key = write("key.pem", &pki().server_key_pem);
    (dir, ca, cert, key)
}

mod tempdir {
    use std::path::{Path, PathBuf};

    /// A directory removed on drop.
    pub(crate) struct Dir(PathBuf);

    impl Dir {
        pub(crate) fn new() -> Dir {
            let path = std::env::temp_dir().join(format!(
                "flow-quic-interop-{}-{}",
                std::process::id(),
                fastrand::u64(..)
            ));
            std::fs::create_dir_all(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            Dir(path)
        }
        pub(crate) fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

struct Peer {
    child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Peer {
    fn spawn(args: &[&std::ffi::OsStr]) -> Peer {
        let mut child = Command::new(python())
            .arg(script())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start the aioquic peer: {err}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        Peer {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    async fn line(&mut self) -> String {
        match self.lines.next_line().await {
            Ok(Some(line)) => line,
            other => panic!("the aioquic peer ended without a line: {other:?}"),
        }
    }
}

fn run<F: std::future::Future<Output = ()>>(test: F) {
    support::tokio_block_on(async {
        if tokio::time::timeout(LIMIT, test).await.is_err() {
            panic!("the interop test hung for {LIMIT:?}");
        }
    });
}

/// Our client against aioquic's echo server.
#[test]
fn our_client_against_aioquic_server() {
    run(async {
        let (_dir, _ca, cert, key) = cert_files();
        let mut peer = Peer::spawn(&[
            "server".as_ref(),
            "--cert".as_ref(),
            cert.as_os_str(),
            "--key".as_ref(),
            key.as_os_str(),
            "--alpn".as_ref(),
            ALPN.as_ref(),
        ]);
        let port: u16 = match peer.line().await.strip_prefix("PORT ").map(str::parse) {
            Some(Ok(port)) => port,
            other => panic!("the aioquic server did not print its port: {other:?}"),
        };
        let endpoint =
            QuicEndpoint::client(loopback(), support::client_config().expect("client config")).expect("endpoint");
        let conn = endpoint
            .connect(([127, 0, 0, 1], port).into(), "localhost")
            .await
            .expect("connect to aioquic");
        assert_eq!(conn.alpn_protocol().as_deref(), Some(ALPN.as_bytes()));

        // An echo with a FIN each way.
        let seed = fastrand::u64(..);
        println!("payload seed {seed}");
        let mut rng = fastrand::Rng::with_seed(seed);
        let payload: Vec<u8> = (0..300_000).map(|_| rng.u8(..)).collect();
        let mut flow = conn.open().await.expect("open");
        let id = flow.id();
        let (mut reader, mut writer) = flow_api::split(&mut flow);
        let sending = async {
            for part in payload.chunks(7_000) {
                writer.write(Bytes::copy_from_slice(part)).await.expect("write");
            }
            writer.shutdown_write().await.expect("finish");
        };
        let receiving = async {
            let mut echoed = Vec::new();
            while let Chunk::Data(data) = reader.read().await.expect("read the echo") {
                echoed.extend_from_slice(&data);
            }
            echoed
        };
        let ((), echoed) = tokio::join!(sending, receiving);
        drop((reader, writer));
        assert!(
            echoed == payload,
            "the echo differs ({} of {} bytes)",
            echoed.len(),
            payload.len()
        );
        assert_eq!(
            peer.line().await,
            format!("FIN {}", u64::from(id)),
            "aioquic saw our FIN"
        );
        flow.close().await.expect("close");

        // Our abort: aioquic sees a reset with ABORT_CODE.
        let mut flow = conn.open().await.expect("open");
        flow.write("going").await.expect("write");
        let id = flow.id();
        flow.abort();
        assert_eq!(
            peer.line().await,
            format!("RESET {} {}", u64::from(id), ABORT_CODE),
            "aioquic saw our reset"
        );

        // aioquic's reset: our read fails with Reset, naming the code.
        let mut flow = conn.open().await.expect("open");
        flow.write("please-reset").await.expect("write");
        let err = loop {
            match flow.read().await {
                Ok(Chunk::Data(_)) => continue,
                Ok(Chunk::Eof) => panic!("aioquic's reset read as end of file"),
                Err(err) => break err,
            }
        };
        assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
        assert!(err.to_string().contains("code 7"), "{err}");
        drop(flow);
        conn.close();
        endpoint.wait_idle().await;
    });
}

/// What our echo server saw on one stream.
#[derive(Debug, PartialEq)]
enum Saw {
    Fin(usize),
    Reset(String),
}

async fn echo_stream(mut flow: QuicFlow) -> Saw {
    let mut total = 0;
    loop {
        match flow.read().await {
            Ok(Chunk::Data(data)) if data.starts_with(b"please-reset") => {
                flow.abort_with(flow_quic::VarInt::from_u32(5));
                return Saw::Reset("we reset".into());
            }
            Ok(Chunk::Data(data)) => {
                total += data.len();
                if flow.write(data).await.is_err() {
                    return Saw::Reset("write failed".into());
                }
            }
            Ok(Chunk::Eof) => {
                flow.close().await.expect("close after the echo");
                return Saw::Fin(total);
            }
            Err(err) => return Saw::Reset(format!("{:?}: {err}", err.kind())),
        }
    }
}

/// aioquic's client against our echo server.
#[test]
fn aioquic_client_against_our_server() {
    run(async {
        let (_dir, ca, _cert, _key) = cert_files();
        let endpoint =
            QuicEndpoint::server(loopback(), support::server_config().expect("server config")).expect("endpoint");
        let port = endpoint.local_addr().expect("addr").port().to_string();
        let mut peer = Peer::spawn(&[
            "client".as_ref(),
            "--port".as_ref(),
            port.as_ref(),
            "--ca".as_ref(),
            ca.as_os_str(),
            "--alpn".as_ref(),
            ALPN.as_ref(),
        ]);
        let conn = endpoint.accept().await.expect("accept aioquic");
        assert_eq!(conn.alpn_protocol().as_deref(), Some(ALPN.as_bytes()));

        let first = echo_stream(conn.accept().await.expect("stream 1")).await;
        assert_eq!(first, Saw::Fin(100_000), "the echo stream ends with aioquic's FIN");
        assert_eq!(peer.line().await, "ECHO 100000 FIN", "aioquic got the echo and our FIN");

        let second = echo_stream(conn.accept().await.expect("stream 2")).await;
        match &second {
            Saw::Reset(how) => assert!(how.starts_with("Reset:") && how.contains("code 9"), "{how}"),
            other => panic!("aioquic's reset was not seen as a reset: {other:?}"),
        }
        assert_eq!(peer.line().await, "RESET-SENT");

        let third = echo_stream(conn.accept().await.expect("stream 3")).await;
        assert_eq!(third, Saw::Reset("we reset".into()));
        assert_eq!(peer.line().await, "RESET-SEEN 5", "aioquic saw our reset");

        let stdin = peer.child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"ok\n").await.expect("tell the client");
        assert_eq!(peer.line().await, "DONE ok");
        let status = peer.child.wait().await.expect("wait");
        assert!(status.success(), "the aioquic client failed: {status}");
        endpoint.close();
    });
}
