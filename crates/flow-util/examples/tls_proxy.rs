//! A TLS-terminating proxy built on [`flow_util::proxy`]: it accepts TLS
//! (with `flow-tls`, over TCP from `flow-tokio`) and forwards the plaintext
//! to a backend over plain TCP, both ways at once, half-close included. It
//! also has a line echo backend to try it with, written on
//! [`flow_util::BufFlow`].
//!
//! ```sh
//! cargo run -p flow-util --features tokio --example tls_proxy -- echo 127.0.0.1:7000 &
//! cargo run -p flow-util --features tokio --example tls_proxy -- proxy 127.0.0.1:7443 127.0.0.1:7000 cert.pem key.pem &
//! openssl s_client -connect 127.0.0.1:7443 -CAfile ca.pem -servername localhost -quiet
//! ```

use std::net::SocketAddr;

use flow_api::FlowWriteExt as _;
use flow_tls::TlsAcceptor;
use flow_tokio::{TcpFlow, TcpListener};
use flow_util::{BufFlow, ProxyStats};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Terminates TLS on one accepted connection and forwards it to `backend`
/// (the tests use it; `main` serves many).
#[allow(dead_code)]
pub(crate) async fn forward_one(
    listener: &TcpListener,
    acceptor: &TlsAcceptor,
    backend: SocketAddr,
) -> Result<ProxyStats, BoxError> {
    let (client, _peer) = listener.accept().await?;
    forward(client, acceptor, backend).await
}

async fn forward(client: TcpFlow, acceptor: &TlsAcceptor, backend: SocketAddr) -> Result<ProxyStats, BoxError> {
    // Handshake and connect at once: the backend need not wait for TLS.
    let (tls, upstream) = futures_util::future::try_join(acceptor.accept(client), TcpFlow::connect(backend)).await?;
    Ok(flow_util::proxy(tls, upstream).await?)
}

/// Echoes one connection line by line (lines of up to 4 KiB); after the
/// line `bye`, or at end of file, it closes.
pub(crate) async fn echo_one(listener: &TcpListener) -> Result<usize, BoxError> {
    let (flow, _peer) = listener.accept().await?;
    let mut channel = BufFlow::new(flow);
    let mut lines = 0;
    while let Some(line) = channel.read_line(4096).await? {
        lines += 1;
        let bye = line == "bye";
        channel.queue_line(line);
        channel.flush().await?;
        if bye {
            break;
        }
    }
    channel.close().await?;
    Ok(lines)
}

#[allow(dead_code)] // The tests include this file for the functions above.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["echo", addr] => {
            let listener = TcpListener::bind(*addr).await?;
            println!("echoing lines on {}", listener.local_addr()?);
            loop {
                let lines = echo_one(&listener).await?;
                println!("echoed {lines} lines");
            }
        }
        ["proxy", listen, backend, cert, key] => {
            let acceptor = TlsAcceptor::from_pem(&std::fs::read(cert)?, &std::fs::read(key)?)?;
            let listener = TcpListener::bind(*listen).await?;
            let backend: SocketAddr = backend.parse()?;
            println!("terminating TLS on {}, forwarding to {backend}", listener.local_addr()?);
            loop {
                let (client, peer) = listener.accept().await?;
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match forward(client, &acceptor, backend).await {
                        Ok(stats) => println!(
                            "{peer}: {} bytes up, {} bytes down",
                            stats.a_to_b.bytes_written, stats.b_to_a.bytes_written
                        ),
                        Err(err) => println!("{peer}: {err}"),
                    }
                });
            }
        }
        _ => Err("usage: tls_proxy echo ADDR | tls_proxy proxy LISTEN BACKEND CERT.pem KEY.pem".into()),
    }
}
