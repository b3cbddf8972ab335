//! A TCP proxy built on [`flow_util::proxy`]: every connection accepted is
//! forwarded to a backend, both ways at once, half-close included, and the
//! bytes moved each way are printed when it ends. On Linux the bytes move
//! inside the kernel (`splice`), and a connection that one side
//! half-closed ends once the other side has been idle for 60 s.
//!
//! ```sh
//! cargo run -p flow-util --features tokio,splice --example tcp_proxy -- 127.0.0.1:9000 127.0.0.1:8080
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use flow_tokio::{TcpFlow, TcpListener};
use flow_util::ProxyStats;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Forwards one accepted connection to `backend` (the tests use it; `main`
/// serves many).
#[allow(dead_code)]
pub(crate) async fn forward_one(listener: &TcpListener, backend: SocketAddr) -> Result<ProxyStats, BoxError> {
    let (client, _peer) = listener.accept().await?;
    forward(client, backend).await
}

/// Connects to `backend` and proxies `client` to it until both are done.
async fn forward(client: TcpFlow, backend: SocketAddr) -> Result<ProxyStats, BoxError> {
    let upstream = TcpFlow::connect(backend).await?;
    let relay = flow_util::proxy(client, upstream)
        .splice()
        .half_close_timeout(flow_tokio::TokioTimer::shared(), Duration::from_secs(60));
    Ok(relay.await?)
}

/// Forwards `connections` connections (all if `None`), each on its own task.
pub(crate) async fn serve(
    listener: &TcpListener,
    backend: SocketAddr,
    connections: Option<usize>,
) -> Result<(), BoxError> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut accepted = 0;
    while connections.is_none_or(|n| accepted < n) {
        let (client, peer) = listener.accept().await?;
        accepted += 1;
        tasks.spawn(async move {
            let stats = forward(client, backend).await?;
            println!(
                "{peer}: {} bytes up, {} bytes down",
                stats.a_to_b.bytes_written, stats.b_to_a.bytes_written
            );
            Ok::<_, BoxError>(stats)
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

#[allow(dead_code)] // The tests include this file for the functions above.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, backend] = args.as_slice() else {
        return Err("usage: tcp_proxy LISTEN_ADDR BACKEND_ADDR".into());
    };
    let listener = TcpListener::bind(listen.as_str()).await?;
    println!("proxying {} to {backend}", listener.local_addr()?);
    serve(&listener, backend.parse()?, None).await
}
