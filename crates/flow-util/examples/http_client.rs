//! An HTTP/1.1 client with hyper, over a flow (plain TCP from `flow-tokio`),
//! through [`flow_util::FlowIo`] and `hyper_util`'s `TokioIo`.
//!
//! ```sh
//! cargo run -p flow-util --features tokio --example http_server -- 127.0.0.1:8080 &
//! cargo run -p flow-util --features tokio --example http_client -- 127.0.0.1:8080 /
//! ```

use flow_api::Flow;
use flow_tokio::TcpFlow;
use flow_util::FlowIo;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Sends one request over `flow` and returns the status and the body.
pub(crate) async fn request<F>(
    flow: F,
    host: &str,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<(StatusCode, Bytes), BoxError>
where
    F: Flow + Send + Unpin + 'static,
{
    let io = TokioIo::new(FlowIo::new(flow));
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io).await?;
    // The connection runs beside the request; it ends when `sender` is dropped.
    let connection = tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, host)
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    drop(sender);
    connection.await??;
    Ok((status, body))
}

/// `GET path` from the server at `addr`, over TCP.
pub(crate) async fn get(addr: std::net::SocketAddr, path: &str) -> Result<(StatusCode, Bytes), BoxError> {
    let flow = TcpFlow::connect(addr).await?;
    request(flow, &addr.to_string(), Method::GET, path, Bytes::new()).await
}

#[allow(dead_code)] // The tests include this file for the functions above.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().map_or("127.0.0.1:8080", String::as_str).parse()?;
    let path = args.get(1).map_or("/", String::as_str);
    let (status, body) = get(addr, path).await?;
    println!("{status}");
    print!("{}", String::from_utf8_lossy(&body));
    Ok(())
}
