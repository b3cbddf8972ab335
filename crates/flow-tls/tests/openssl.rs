//! Interoperability with OpenSSL: `openssl s_server` and `openssl s_client`
//! as child processes, over loopback TCP (flow-smol), TLS 1.3 and 1.2:
//! handshake, data both ways, and `close_notify` in both directions.
//!
//! The tests synchronise on the child's output (never on sleeps), run under
//! a 20 s limit, and kill the child on drop. Without an `openssl` binary
//! (or `$OPENSSL`) they FAIL, saying so: they do not pass silently.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use flow_api::prelude::*;
use flow_tls::rustls::{ProtocolVersion, SupportedProtocolVersion, version};
use flow_tls::{TlsAcceptor, TlsConnector, TlsFlow, server_name};
use support::tls::pki;
use support::{TempDir, within_limit};

const LIMIT: Duration = Duration::from_secs(20);

/// A running `openssl` child: its stdin, its output line by line (stdout
/// and stderr), killed on drop.
struct OpenSsl {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    transcript: Vec<String>,
}

impl OpenSsl {
    fn spawn(args: &[&str]) -> OpenSsl {
        let program = std::env::var("OPENSSL").unwrap_or_else(|_| "openssl".to_owned());
        let mut child = match Command::new(&program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(err) => panic!(
                "cannot run `{program}` ({err}): the OpenSSL interoperability tests need the openssl \
                 command-line tool (install the `openssl` package, or set OPENSSL to its path)"
            ),
        };
        let (tx, lines) = channel();
        for output in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        OpenSsl {
            stdin: child.stdin.take(),
            child,
            lines,
            transcript: Vec::new(),
        }
    }

    /// Waits for a line matching `pred`, returning it.
    fn expect(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.transcript.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "openssl did not print {what} within {LIMIT:?}; it printed:\n{}",
                        self.transcript.join("\n")
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "openssl exited without printing {what}; it printed:\n{}",
                        self.transcript.join("\n")
                    )
                }
            }
        }
    }

    fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the child to exit; returns whether it succeeded. Its
    /// output closing is the signal (the reader thread then hangs up), so
    /// nothing polls or sleeps.
    fn wait(&mut self) -> bool {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.transcript.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "openssl did not exit within {LIMIT:?}; it printed:\n{}",
                    self.transcript.join("\n")
                ),
            }
        }
        self.child.wait().unwrap().success()
    }
}

impl Drop for OpenSsl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test PKI in PEM files, for openssl.
struct Files {
    dir: TempDir,
}

impl Files {
    fn new() -> Files {
        let dir = TempDir::new("flow-tls-openssl");
        std::fs::write(dir.path("ca.pem").unwrap(), &pki().ca_pem).unwrap();
        std::fs::write(dir.path("server.pem").unwrap(), &pki().server.cert_pem).unwrap();
        std::fs::write(dir.path("server.key").unwrap(), &pki().server.key_pem).unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path(name).unwrap().to_string_lossy().into_owned()
    }
}

async fn read_line<F: Flow + Unpin>(tls: &mut F) -> String {
    let mut got = Vec::new();
    while !got.ends_with(b"\n") {
        match tls.read().await.unwrap() {
            Chunk::Data(data) => got.extend_from_slice(&data),
            Chunk::Eof => panic!("end of file after {:?}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8(got).unwrap()
}

/// flow-tls client against `openssl s_server`.
fn against_s_server(version: &'static SupportedProtocolVersion, flag: &str, expected: ProtocolVersion) {
    let files = Files::new();
    let mut server = OpenSsl::spawn(&[
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-naccept",
        "1",
        flag,
        "-cert",
        &files.path("server.pem"),
        "-key",
        &files.path("server.key"),
    ]);
    let accept = server.expect("ACCEPT", |l| l.starts_with("ACCEPT"));
    let addr: std::net::SocketAddr = accept.trim_start_matches("ACCEPT").trim().parse().unwrap();
    smol::block_on(within_limit(async {
        let connector = TlsConnector::builder()
            .root_certificates(pki().roots())
            .protocol_versions(&[version])
            .build()
            .unwrap();
        let tcp = flow_smol::TcpFlow::connect(addr).await.unwrap();
        let mut tls: TlsFlow<_> = connector.connect(server_name("localhost").unwrap(), tcp).await.unwrap();
        assert_eq!(tls.protocol_version(), Some(expected));
        // flow-tls to OpenSSL.
        tls.write("hello from flow-tls\n").await.unwrap();
        server.expect("the client's data", |l| l == "hello from flow-tls");
        // OpenSSL to flow-tls.
        server.send("hello from openssl\n");
        assert_eq!(read_line(&mut tls).await, "hello from openssl\n");
        // Our close_notify: s_server says DONE (an end without it is an
        // ERROR there), then sends its own, which we read as a clean end.
        tls.shutdown(Shutdown::Write).await.unwrap();
        server.expect("DONE (it received close_notify)", |l| l == "DONE");
        assert_eq!(
            tls.read().await.unwrap(),
            Chunk::Eof,
            "OpenSSL's close_notify is a clean end"
        );
        tls.close().await.unwrap();
    }));
    assert!(server.wait(), "s_server failed:\n{}", server.transcript.join("\n"));
    assert!(
        !server
            .transcript
            .iter()
            .any(|l| l.contains("ERROR") || l.contains(":error:")),
        "{}",
        server.transcript.join("\n")
    );
}

#[test]
fn client_against_openssl_s_server_tls13() {
    against_s_server(&version::TLS13, "-tls1_3", ProtocolVersion::TLSv1_3);
}

#[test]
fn client_against_openssl_s_server_tls12() {
    against_s_server(&version::TLS12, "-tls1_2", ProtocolVersion::TLSv1_2);
}

/// flow-tls server against `openssl s_client`; `we_close_first` says who
/// sends close_notify first.
fn against_s_client(
    version: &'static SupportedProtocolVersion,
    flag: &str,
    expected: ProtocolVersion,
    we_close_first: bool,
) {
    let files = Files::new();
    smol::block_on(within_limit(async {
        let listener = flow_smol::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let mut client = OpenSsl::spawn(&[
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
            "-CAfile",
            &files.path("ca.pem"),
            "-verify_return_error",
            flag,
        ]);
        let acceptor = TlsAcceptor::builder(pki().server.chain(), pki().server.key())
            .protocol_versions(&[version])
            .build()
            .unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        assert_eq!(tls.protocol_version(), Some(expected));
        assert_eq!(tls.server_name(), Some("localhost"));
        client.expect("a verified handshake", |l| l.contains("Verify return code: 0 (ok)"));
        // flow-tls to OpenSSL, and back.
        tls.write("hello from flow-tls\n").await.unwrap();
        client.expect("the server's data", |l| l == "hello from flow-tls");
        client.send("hello from openssl\n");
        assert_eq!(read_line(&mut tls).await, "hello from openssl\n");
        if we_close_first {
            // s_client says "closed" on close_notify, then sends its own.
            tls.shutdown(Shutdown::Write).await.unwrap();
            client.expect("closed (it received close_notify)", |l| l == "closed");
            assert_eq!(
                tls.read().await.unwrap(),
                Chunk::Eof,
                "OpenSSL's close_notify is a clean end"
            );
            tls.close().await.unwrap();
        } else {
            // At the end of its input, s_client sends close_notify: a clean
            // end here; our close then completes.
            client.close_stdin();
            assert_eq!(
                tls.read().await.unwrap(),
                Chunk::Eof,
                "OpenSSL's close_notify is a clean end"
            );
            client.expect("DONE", |l| l == "DONE");
            tls.close().await.unwrap();
        }
        assert!(client.wait(), "s_client failed:\n{}", client.transcript.join("\n"));
        assert!(
            !client.transcript.iter().any(|l| l.contains(":error:")),
            "{}",
            client.transcript.join("\n")
        );
    }));
}

#[test]
fn server_against_openssl_s_client_tls13_we_close() {
    against_s_client(&version::TLS13, "-tls1_3", ProtocolVersion::TLSv1_3, true);
}

#[test]
fn server_against_openssl_s_client_tls13_it_closes() {
    against_s_client(&version::TLS13, "-tls1_3", ProtocolVersion::TLSv1_3, false);
}

#[test]
fn server_against_openssl_s_client_tls12_we_close() {
    against_s_client(&version::TLS12, "-tls1_2", ProtocolVersion::TLSv1_2, true);
}

#[test]
fn server_against_openssl_s_client_tls12_it_closes() {
    against_s_client(&version::TLS12, "-tls1_2", ProtocolVersion::TLSv1_2, false);
}
