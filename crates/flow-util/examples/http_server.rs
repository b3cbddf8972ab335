//! An HTTP/1.1 server with hyper, over flows: each connection is a flow
//! (plain TCP from `flow-tokio`, or TLS from `flow-tls` over it), seen as
//! tokio IO through [`flow_util::FlowIo`] and handed to hyper through
//! `hyper_util`'s `TokioIo`. The same `serve_connection` works over any flow.
//!
//! ```sh
//! cargo run -p flow-util --features tokio --example http_server -- 127.0.0.1:8080
//! curl http://127.0.0.1:8080/
//! curl --data-binary 'echo me' http://127.0.0.1:8080/echo
//! # HTTPS, with a certificate chain and key in PEM files:
//! cargo run -p flow-util --features tokio --example http_server -- 127.0.0.1:8443 cert.pem key.pem
//! curl --cacert ca.pem https://localhost:8443/
//! ```

use std::convert::Infallible;

use flow_api::{ErrorKind, Flow};
use flow_tls::TlsAcceptor;
use flow_tokio::TcpListener;
use flow_util::{FlowIo, Metered};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The body of `GET /`.
pub(crate) const GREETING: &str = "hello from a flow\n";

/// `GET /` greets, `POST /echo` sends the body back, anything else is 404.
async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => Response::new(Full::new(Bytes::from_static(GREETING.as_bytes()))),
        (&Method::POST, "/echo") => match request.into_body().collect().await {
            Ok(body) => Response::new(Full::new(body.to_bytes())),
            Err(_) => status(StatusCode::BAD_REQUEST),
        },
        _ => status(StatusCode::NOT_FOUND),
    };
    Ok(response)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// Serves HTTP/1.1 on one flow until the client is done, then closes it.
pub(crate) async fn serve_connection<F>(flow: F) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    F: Flow + Send + Unpin + 'static,
{
    let mut io = TokioIo::new(FlowIo::new(flow));
    hyper::server::conn::http1::Builder::new()
        .serve_connection(&mut io, hyper::service::service_fn(handle))
        .await?;
    // hyper shut down writing already; wait for the client's end too.
    match io.inner_mut().close_flow().await {
        Ok(()) => Ok(()),
        // A client may close its socket as soon as it has the response; what
        // we still send then (a TLS close_notify) meets a closed socket,
        // which answers with a reset. The exchange was complete.
        Err(err) if err.kind() == ErrorKind::Reset => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Accepts `connections` connections (all of them if `None`), each served
/// on its own task, over TLS when `tls` is given; returns once they are all
/// done. Each TCP flow is metered: its byte counts are printed when it ends.
pub(crate) async fn serve(
    listener: &TcpListener,
    connections: Option<usize>,
    tls: Option<TlsAcceptor>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut accepted = 0;
    while connections.is_none_or(|n| accepted < n) {
        let (flow, peer) = listener.accept().await?;
        accepted += 1;
        let flow = Metered::with_label(flow, peer.to_string());
        let meter = flow.meter();
        let tls = tls.clone();
        tasks.spawn(async move {
            let result = match tls {
                Some(acceptor) => match acceptor.accept(flow).await {
                    Ok(tls_flow) => serve_connection(tls_flow).await,
                    Err(err) => Err(err.into()),
                },
                None => serve_connection(flow).await,
            };
            let counts = meter.snapshot();
            println!(
                "{peer}: {} bytes in, {} bytes out{}",
                counts.bytes_read,
                counts.bytes_written,
                result
                    .as_ref()
                    .err()
                    .map(|e| format!(", error: {e}"))
                    .unwrap_or_default()
            );
            result
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

#[allow(dead_code)] // The tests include this file for the functions above.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().map_or("127.0.0.1:8080", String::as_str);
    let tls = match args.get(1..) {
        Some([cert, key]) => Some(TlsAcceptor::from_pem(&std::fs::read(cert)?, &std::fs::read(key)?)?),
        Some([]) | None => None,
        Some(_) => return Err("usage: http_server [ADDR [CERT.pem KEY.pem]]".into()),
    };
    let listener = TcpListener::bind(addr).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{}", listener.local_addr()?);
    serve(&listener, None, tls).await
}
