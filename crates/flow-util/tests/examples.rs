//! Runs the examples' own code: the hyper server answering `curl` over
//! plain TCP and over TLS (a test CA made with rcgen, given to `curl` with
//! `--cacert`), the hyper client over both, the TCP proxy in front of an
//! HTTP server (through `curl`) and of a backend that answers only after end
//! of file, and the TLS-terminating proxy in front of a line echo backend,
//! driven by `openssl s_client`; hyper-util's client over flows against the
//! HTTP/1.1 server (plain and TLS); the HTTP/2-over-TLS server answering
//! `curl --http2` and hyper-util's client over HTTP/2; and the WebSocket
//! echo server and client talking to each other.
//!
//! `curl` and `openssl` run as child processes, killed if the test fails or
//! times out; a missing one fails the test with a message that says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::{Output, Stdio};
use std::time::Duration;

use flow_api::prelude::*;
use flow_tokio::{TcpFlow, TcpListener};

use common::{TempFile, test_pki};

#[path = "../examples/http_server.rs"]
mod http_server;

#[path = "../examples/http_client.rs"]
mod http_client;

#[path = "../examples/tcp_proxy.rs"]
mod tcp_proxy;

#[path = "../examples/tls_proxy.rs"]
mod tls_proxy;

#[path = "../examples/http2_tls.rs"]
mod http2_tls;

// Included by the http2_tls example, which uses it.
use http2_tls::hyper_util_client;

#[path = "../examples/websocket_echo.rs"]
mod websocket_echo;

/// Every example test runs under this limit.
const LIMIT: Duration = Duration::from_secs(30);

/// Runs `program` to completion under the limit; killed on drop (time-out
/// or failure). Fails clearly when the program is not installed.
async fn run(program: &str, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match tokio::time::timeout(LIMIT, command.output()).await {
        Err(_) => panic!("{program} {args:?} did not finish within {LIMIT:?}"),
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::NotFound => {
            panic!("`{program}` is not installed, and this test needs it (apt-get install {program})")
        }
        Ok(Err(err)) => panic!("cannot run {program}: {err}"),
        Ok(Ok(output)) => output,
    }
}

fn stdout_of(program: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "{program} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn limited<F: std::future::Future>(what: &str, future: F) -> F::Output {
    common::tokio_block_on(async {
        match tokio::time::timeout(LIMIT, future).await {
            Ok(output) => output,
            Err(_) => panic!("{what}: hung for {LIMIT:?}"),
        }
    })
}

#[test]
fn http_server_answers_curl() {
    let seed = common::seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let body: Vec<u8> = (0..300_000).map(|_| rng.alphanumeric() as u8).collect();
    let file = TempFile::with(&body);
    limited("http server and curl", async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let data = format!("@{}", file.0.display());
        let (served, ()) = tokio::join!(http_server::serve(&listener, Some(3), None), async {
            let greeting = run("curl", &["-sS", "--fail", &format!("{url}/")]).await;
            assert_eq!(stdout_of("curl", &greeting), http_server::GREETING);
            let echo = run(
                "curl",
                &["-sS", "--fail", "--data-binary", &data, &format!("{url}/echo")],
            )
            .await;
            assert!(
                stdout_of("curl", &echo).as_bytes() == body,
                "the echoed body differs (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"
            );
            let missing = run(
                "curl",
                &["-sS", "-o", "/dev/null", "-w", "%{http_code}", &format!("{url}/nope")],
            )
            .await;
            assert_eq!(stdout_of("curl", &missing), "404");
        });
        served.unwrap();
    });
}

#[test]
fn http_client_talks_to_http_server() {
    limited("http client and server", async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (served, got, echoed) = tokio::join!(
            http_server::serve(&listener, Some(2), None),
            http_client::get(addr, "/"),
            async {
                let flow = TcpFlow::connect(addr).await?;
                http_client::request(
                    flow,
                    &addr.to_string(),
                    hyper::Method::POST,
                    "/echo",
                    hyper::body::Bytes::from_static(b"over a flow"),
                )
                .await
            }
        );
        served.unwrap();
        let (status, body) = got.unwrap();
        assert_eq!(status, hyper::StatusCode::OK);
        assert_eq!(body, http_server::GREETING.as_bytes());
        let (status, body) = echoed.unwrap();
        assert_eq!(status, hyper::StatusCode::OK);
        assert_eq!(body, "over a flow");
    });
}

#[test]
fn curl_through_the_tcp_proxy() {
    limited("curl through the proxy", async {
        let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend_addr = backend.local_addr().unwrap();
        let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", front.local_addr().unwrap());
        let (served, proxied, ()) = tokio::join!(
            http_server::serve(&backend, Some(2), None),
            tcp_proxy::serve(&front, backend_addr, Some(2)),
            async {
                for _ in 0..2 {
                    let output = run("curl", &["-sS", "--fail", &url]).await;
                    assert_eq!(stdout_of("curl", &output), http_server::GREETING);
                }
            }
        );
        served.unwrap();
        proxied.unwrap();
    });
}

/// Reads everything until end of file, then answers with it reversed:
/// it answers only if the proxy passed the client's end of file on.
async fn reverse_after_eof(listener: &TcpListener) -> Result<usize, flow_api::Error> {
    let (mut flow, _) = listener.accept().await?;
    let mut all = common::read_all(&mut flow).await?;
    all.reverse();
    flow.write(all.clone()).await?;
    flow.close().await?;
    Ok(all.len())
}

#[test]
fn the_tcp_proxy_passes_half_close_on_and_counts_bytes() {
    let seed = common::seed();
    let data = common::random_bytes(seed, 2 << 20);
    limited("proxy to a reversing backend", async {
        let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend_addr: SocketAddr = backend.local_addr().unwrap();
        let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front_addr = front.local_addr().unwrap();
        let (reversed, stats, reply) = tokio::join!(
            reverse_after_eof(&backend),
            tcp_proxy::forward_one(&front, backend_addr),
            async {
                let mut flow = TcpFlow::connect(front_addr).await?;
                common::send_all(&mut flow, &data, seed).await?;
                let reply = common::read_all(&mut flow).await?;
                flow.close().await?;
                Ok::<_, flow_api::Error>(reply)
            }
        );
        assert_eq!(reversed.unwrap(), data.len());
        let mut expected = data.clone();
        expected.reverse();
        assert!(
            reply.unwrap() == expected,
            "reply differs (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"
        );
        let stats = stats.unwrap();
        assert_eq!(stats.a_to_b.bytes_written, data.len() as u64);
        assert_eq!(stats.b_to_a.bytes_written, data.len() as u64);
        // Both ends are plain TCP flows: the example relays in the kernel.
        assert_eq!(stats.a_to_b.spliced, data.len() as u64, "{stats:?}");
        assert_eq!(stats.b_to_a.spliced, data.len() as u64, "{stats:?}");
    });
}

#[test]
fn https_server_answers_curl_with_a_test_ca() {
    let pki = test_pki();
    let ca = TempFile::with(pki.ca_pem.as_bytes());
    limited("https server and curl", async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let resolve = format!("localhost:{port}:127.0.0.1");
        let url = format!("https://localhost:{port}");
        let (served, ()) = tokio::join!(http_server::serve(&listener, Some(3), Some(pki.acceptor())), async {
            let greeting = run(
                "curl",
                &[
                    "-sS",
                    "--fail",
                    "--cacert",
                    ca.path(),
                    "--resolve",
                    &resolve,
                    &format!("{url}/"),
                ],
            )
            .await;
            assert_eq!(stdout_of("curl", &greeting), http_server::GREETING);
            let echo = run(
                "curl",
                &[
                    "-sS",
                    "--fail",
                    "--cacert",
                    ca.path(),
                    "--resolve",
                    &resolve,
                    "--data-binary",
                    "sealed",
                    &format!("{url}/echo"),
                ],
            )
            .await;
            assert_eq!(stdout_of("curl", &echo), "sealed");
            // Without the test CA, curl refuses the certificate.
            let untrusted = run("curl", &["-sS", "--resolve", &resolve, &format!("{url}/")]).await;
            assert!(
                !untrusted.status.success(),
                "curl trusted a certificate from an unknown CA"
            );
        });
        // The refused connection fails its handshake: the server reports it.
        let err = served.unwrap_err();
        assert!(err.to_string().contains("TLS"), "{err}");
    });
}

#[test]
fn http_client_over_tls_talks_to_https_server() {
    let pki = test_pki();
    limited("https client and server", async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connector = pki.connector();
        let (served, got) = tokio::join!(http_server::serve(&listener, Some(1), Some(pki.acceptor())), async {
            let tcp = TcpFlow::connect(addr).await?;
            let tls = connector.connect(flow_tls::server_name("localhost")?, tcp).await?;
            http_client::request(tls, "localhost", hyper::Method::GET, "/", hyper::body::Bytes::new()).await
        });
        served.unwrap();
        let (status, body) = got.unwrap();
        assert_eq!(status, hyper::StatusCode::OK);
        assert_eq!(body, http_server::GREETING.as_bytes());
    });
}

#[test]
fn the_tls_proxy_terminates_tls_for_openssl_s_client() {
    use tokio::io::AsyncWriteExt;
    let pki = test_pki();
    let ca = TempFile::with(pki.ca_pem.as_bytes());
    let acceptor = pki.acceptor();
    limited("TLS proxy and openssl s_client", async {
        let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend_addr = backend.local_addr().unwrap();
        let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let connect = front.local_addr().unwrap().to_string();
        let (echoed, stats, output) = tokio::join!(
            tls_proxy::echo_one(&backend),
            tls_proxy::forward_one(&front, &acceptor, backend_addr),
            async {
                let spawned = tokio::process::Command::new("openssl")
                    .args([
                        "s_client",
                        "-connect",
                        &connect,
                        "-CAfile",
                        ca.path(),
                        "-servername",
                        "localhost",
                    ])
                    .args(["-verify_return_error", "-quiet", "-nocommands"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true)
                    .spawn();
                let mut child = match spawned {
                    Ok(child) => child,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                        panic!("`openssl` is not installed, and this test needs it (apt-get install openssl)")
                    }
                    Err(err) => panic!("cannot run openssl: {err}"),
                };
                // Stdin stays open: s_client ends when the backend closes
                // (after `bye`), through the proxy.
                let mut stdin = child.stdin.take().unwrap();
                stdin.write_all(b"hello through TLS\nbye\n").await.unwrap();
                stdin.flush().await.unwrap();
                let output = child.wait_with_output().await.unwrap();
                drop(stdin);
                output
            }
        );
        let stdout = stdout_of("openssl s_client", &output);
        assert_eq!(
            stdout,
            "hello through TLS\nbye\n",
            "stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(echoed.unwrap(), 2);
        let stats = stats.unwrap();
        assert_eq!(stats.a_to_b.bytes_written, 22);
        assert_eq!(stats.b_to_a.bytes_written, 22);
    });
}

#[test]
fn hyper_util_client_fetches_from_the_http_server() {
    let pki = test_pki();
    limited("hyper-util client and the http server", async {
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain_url = format!("http://{}/", plain.local_addr().unwrap());
        let tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls_url = format!("https://localhost:{}/", tls.local_addr().unwrap().port());
        let fetching = async {
            let client = hyper_util_client::client(Some(pki.connector_with_alpn(&["h2", "http/1.1"])));
            // Twice over one pooled connection each.
            let mut got = Vec::new();
            for url in [&plain_url, &plain_url, &tls_url, &tls_url] {
                got.push(hyper_util_client::get(&client, url).await.unwrap());
            }
            drop(client); // closes the pooled connections, so the servers end
            got
        };
        let (plain_served, tls_served, got) = tokio::join!(
            http_server::serve(&plain, Some(1), None),
            http_server::serve(&tls, Some(1), Some(pki.acceptor())),
            fetching
        );
        plain_served.unwrap();
        tls_served.unwrap();
        for (status, version, body) in got {
            assert_eq!(status, hyper::StatusCode::OK);
            // The HTTP/1.1 server's acceptor offers no ALPN: HTTP/1.1 throughout.
            assert_eq!(version, hyper::Version::HTTP_11);
            assert_eq!(body, http_server::GREETING.as_bytes());
        }
    });
}

#[test]
fn http2_tls_server_answers_curl_over_http2() {
    let seed = common::seed();
    let body = common::random_bytes(seed, 200_000);
    let upload = TempFile::with(&body);
    let download = TempFile::with(b"");
    let (cert, key) = http2_tls::self_signed().unwrap();
    let acceptor = http2_tls::acceptor(cert.as_bytes(), key.as_bytes()).unwrap();
    limited("http2 server and curl", async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let data = format!("@{}", upload.path());
        let (served, ()) = tokio::join!(http2_tls::serve(&listener, &acceptor, Some(3)), async {
            let greeting = run(
                "curl",
                &[
                    "-sS",
                    "--fail",
                    "--http2",
                    "-k",
                    "-w",
                    "\n%{http_version}",
                    &format!("{url}/"),
                ],
            )
            .await;
            assert_eq!(stdout_of("curl", &greeting), "HTTP/2.0\n\n2");
            let echo = run(
                "curl",
                &[
                    "-sS",
                    "--fail",
                    "--http2",
                    "-k",
                    "--data-binary",
                    &data,
                    "-o",
                    download.path(),
                    "-w",
                    "%{http_version}",
                    &format!("{url}/echo"),
                ],
            )
            .await;
            assert_eq!(stdout_of("curl", &echo), "2");
            assert!(
                std::fs::read(&download.0).unwrap() == body,
                "the echoed body differs (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"
            );
            // A client that offers only HTTP/1.1 is served in HTTP/1.1.
            let old = run(
                "curl",
                &[
                    "-sS",
                    "--fail",
                    "--http1.1",
                    "-k",
                    "-w",
                    "\n%{http_version}",
                    &format!("{url}/"),
                ],
            )
            .await;
            assert_eq!(stdout_of("curl", &old), "HTTP/1.1\n\n1.1");
        });
        served.unwrap();
    });
}

#[test]
fn hyper_util_client_speaks_http2_to_the_http2_tls_server() {
    let seed = common::seed();
    let body = common::random_bytes(seed, 300_000);
    let pki = test_pki();
    let acceptor = http2_tls::acceptor(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    limited("hyper-util client over HTTP/2 and the http2 server", async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://localhost:{}", listener.local_addr().unwrap().port());
        let fetching = async {
            let client = hyper_util_client::client(Some(pki.connector_with_alpn(&["h2"])));
            let greeting = hyper_util_client::get(&client, &format!("{url}/")).await.unwrap();
            let request = hyper::Request::post(format!("{url}/echo"))
                .body(http_body_util::Full::new(hyper::body::Bytes::from(body.clone())))
                .unwrap();
            let echo = hyper_util_client::send(&client, request).await.unwrap();
            drop(client);
            (greeting, echo)
        };
        let (served, (greeting, echo)) = tokio::join!(http2_tls::serve(&listener, &acceptor, Some(1)), fetching);
        served.unwrap();
        assert_eq!(greeting.0, hyper::StatusCode::OK);
        assert_eq!(greeting.1, hyper::Version::HTTP_2, "the client did not speak HTTP/2");
        assert_eq!(greeting.2, "HTTP/2.0\n", "the server did not see HTTP/2");
        assert_eq!(echo.1, hyper::Version::HTTP_2);
        assert!(
            echo.2 == body,
            "the echoed body differs (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"
        );
    });
}

#[test]
fn websocket_echo_client_and_server_over_flows() {
    use tokio_tungstenite::tungstenite::Message;
    let seed = common::seed();
    let payload = common::random_bytes(seed, 300 * 1024);
    limited("websocket echo", async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let talking = async {
            let tcp = TcpFlow::connect(addr).await.unwrap();
            let mut ws = websocket_echo::connect(&format!("ws://{addr}/"), tcp).await.unwrap();
            let text = websocket_echo::round_trip(&mut ws, Message::text("over a flow"))
                .await
                .unwrap();
            assert_eq!(text, Message::text("over a flow"));
            let binary = websocket_echo::round_trip(&mut ws, Message::binary(payload.clone()))
                .await
                .unwrap();
            assert!(
                binary == Message::binary(payload.clone()),
                "the echoed payload differs (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"
            );
            websocket_echo::close(ws, 4000, "client done").await.unwrap()
        };
        let (served, reply) = tokio::join!(websocket_echo::serve(&listener, 1), talking);
        let frames = served.unwrap();
        assert_eq!(frames.len(), 1);
        let seen = frames[0].as_ref().expect("the server saw no close frame");
        assert_eq!(u16::from(seen.code), 4000);
        assert_eq!(seen.reason.as_str(), "client done");
        let reply = reply.expect("the client saw no close reply");
        assert_eq!(u16::from(reply.code), 4000);
    });
}
