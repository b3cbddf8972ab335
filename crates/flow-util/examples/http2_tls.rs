//! HTTP/2 over TLS with ALPN, with hyper, over flows: the server offers
//! `h2` and `http/1.1` (flow-tls over TCP from `flow-tokio`) and serves each
//! connection in the protocol the client chose; hyper reads and writes the
//! TLS flow through [`flow_util::FlowIo`] (feature `hyper`), with no tokio
//! I/O traits in between. The client is hyper-util's, over
//! [`flow_util::hyper::Connector`], which reports `h2` to it.
//!
//! ```sh
//! # Serves with a self-signed certificate for localhost made at start:
//! cargo run -p flow-util --features tokio,hyper-client --example http2_tls -- 127.0.0.1:8443
//! curl --http2 -k https://localhost:8443/
//! # Or with a certificate chain and key in PEM files:
//! cargo run -p flow-util --features tokio,hyper-client --example http2_tls -- 127.0.0.1:8443 cert.pem key.pem
//! # With no address: serves on a free port, fetches once over HTTP/2, prints it.
//! cargo run -p flow-util --features tokio,hyper-client --example http2_tls
//! ```

use std::convert::Infallible;

use flow_api::{ErrorKind, Flow};
use flow_tls::{TlsAcceptor, TlsConnector};
use flow_tokio::TcpListener;
use flow_util::FlowIo;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioExecutor;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `GET /` says which HTTP version the request came over (`HTTP/2.0`);
/// `POST /echo` sends the body back; anything else is 404.
async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => Response::new(Full::new(Bytes::from(format!("{:?}\n", request.version())))),
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

/// A TLS acceptor that offers HTTP/2 first, then HTTP/1.1.
pub(crate) fn acceptor(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, flow_api::Error> {
    let chain = flow_tls::certs_from_pem(cert_pem)?;
    let key = flow_tls::private_key_from_pem(key_pem)?;
    TlsAcceptor::builder(chain, key)
        .alpn_protocols(["h2", "http/1.1"])
        .build()
}

/// Serves one TLS flow in the protocol its ALPN chose, then closes it.
pub(crate) async fn serve_connection<F>(tls: flow_tls::TlsFlow<F>) -> Result<(), BoxError>
where
    F: Flow + Send + Unpin + 'static,
{
    let h2 = tls.alpn_protocol() == Some(b"h2".as_slice());
    let mut io = FlowIo::new(tls);
    let service = hyper::service::service_fn(handle);
    if h2 {
        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(&mut io, service)
            .await?;
    } else {
        hyper::server::conn::http1::Builder::new()
            .serve_connection(&mut io, service)
            .await?;
    }
    match io.close_flow().await {
        // The exchange was complete. A client may then drop its socket
        // without a close_notify of its own (curl does: the TLS stream is
        // truncated), or before ours arrives (a reset).
        Err(err) if !matches!(err.kind(), ErrorKind::Reset | ErrorKind::Truncated) => Err(err.into()),
        _ => Ok(()),
    }
}

/// Accepts `connections` connections (all of them if `None`), each on its
/// own task; returns once they are all done.
pub(crate) async fn serve(
    listener: &TcpListener,
    acceptor: &TlsAcceptor,
    connections: Option<usize>,
) -> Result<(), BoxError> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut accepted = 0;
    while connections.is_none_or(|n| accepted < n) {
        let (tcp, _peer) = listener.accept().await?;
        accepted += 1;
        let acceptor = acceptor.clone();
        tasks.spawn(async move { serve_connection(acceptor.accept(tcp).await?).await });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// A self-signed certificate for `localhost` and `127.0.0.1`: (cert, key) in PEM.
pub(crate) fn self_signed() -> Result<(String, String), BoxError> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    Ok((certified.cert.pem(), certified.signing_key.serialize_pem()))
}

#[allow(dead_code)] // The tests include this file for the functions above.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cert, key) = match args.get(1..) {
        Some([cert, key]) => (std::fs::read_to_string(cert)?, std::fs::read_to_string(key)?),
        Some([]) | None => self_signed()?,
        Some(_) => return Err("usage: http2_tls [ADDR [CERT.pem KEY.pem]]".into()),
    };
    let acceptor = acceptor(cert.as_bytes(), key.as_bytes())?;
    if let Some(addr) = args.first() {
        let listener = TcpListener::bind(addr.as_str()).await?;
        println!("listening on https://{}", listener.local_addr()?);
        return serve(&listener, &acceptor, None).await;
    }
    // No address: serve one connection and fetch from it over HTTP/2.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("https://localhost:{}/", listener.local_addr()?.port());
    let tls = TlsConnector::builder()
        .add_root_certificates_pem(cert.as_bytes())?
        .alpn_protocols(["h2"])
        .build()?;
    let fetching = async {
        let client = hyper_util_client::client(Some(tls));
        let fetched = hyper_util_client::get(&client, &url).await;
        drop(client); // closes the pooled connection: the server's task ends
        fetched
    };
    let (served, fetched) = tokio::join!(serve(&listener, &acceptor, Some(1)), fetching);
    let (status, version, body) = fetched?;
    served?;
    println!(
        "{status} over {version:?}: {}",
        String::from_utf8_lossy(&body).trim_end()
    );
    Ok(())
}

/// The client is the `hyper_util_client` example's.
#[path = "hyper_util_client.rs"]
#[allow(dead_code)]
pub(crate) mod hyper_util_client;
