//! hyper-util's `Client` over flows, through [`flow_util::hyper::Connector`]:
//! `http://` URLs over TCP from `flow-tokio`, `https://` over TLS from
//! `flow-tls` on top of it, HTTP/2 when the server's ALPN chooses `h2`.
//! The client pools connections; the dial function is all it knows of flows.
//!
//! ```sh
//! cargo run -p flow-util --features tokio,hyper-client --example hyper_util_client -- http://127.0.0.1:8080/
//! # HTTPS, trusting a CA in a PEM file:
//! cargo run -p flow-util --features tokio,hyper-client --example hyper_util_client -- https://localhost:8443/ ca.pem
//! ```

use flow_api::FlowExt;
use flow_tls::TlsConnector;
use flow_tokio::TcpFlow;
use flow_util::hyper::{Connector, Dialed, host_and_port};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;
use hyper_util::rt::TokioExecutor;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A client that dials `http://` over TCP and `https://` over TLS with
/// `tls` (its ALPN list decides whether HTTP/2 may be chosen).
pub(crate) fn client(tls: Option<TlsConnector>) -> Client<impl Connect + Clone + Send + Sync + 'static, Full<Bytes>> {
    let connector =
        Connector::new(move |uri: Uri| {
            let tls = tls.clone();
            async move {
                let (host, port) = host_and_port(&uri)?;
                let tcp = TcpFlow::connect(format!("{host}:{port}")).await?;
                match (uri.scheme_str(), tls) {
                    (Some("https"), Some(tls)) => {
                        let name = flow_tls::server_name(host.trim_start_matches('[').trim_end_matches(']'))?;
                        let flow = tls.connect(name, tcp).await?;
                        let alpn = flow.alpn_protocol().map(<[u8]>::to_vec);
                        Ok(Dialed::new(flow.boxed()).alpn(alpn.as_deref()))
                    }
                    (Some("https"), None) => Err(flow_api::Error::new(flow_api::ErrorKind::Unsupported)
                        .context("https needs a TLS configuration")),
                    _ => Ok::<_, flow_api::Error>(Dialed::new(tcp.boxed())),
                }
            }
        });
    // Nothing in the pool outlives a test: idle connections go at once.
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(5))
        .build(connector)
}

/// Sends `request` and returns the status, the HTTP version the response
/// came over, and the body.
pub(crate) async fn send<C>(
    client: &Client<C, Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Version, Bytes), BoxError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let response = client.request(request).await?;
    let (status, version) = (response.status(), response.version());
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, version, body))
}

/// `GET uri`.
pub(crate) async fn get<C>(client: &Client<C, Full<Bytes>>, uri: &str) -> Result<(StatusCode, Version, Bytes), BoxError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    send(client, Request::get(uri).body(Full::new(Bytes::new()))?).await
}

#[allow(dead_code)] // The tests include this file for the functions above.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let uri = args.first().map_or("http://127.0.0.1:8080/", String::as_str);
    let tls = match args.get(1) {
        Some(ca) => TlsConnector::builder().add_root_certificates_pem(&std::fs::read(ca)?)?,
        None => TlsConnector::builder().native_roots()?,
    }
    .alpn_protocols(["h2", "http/1.1"])
    .build()?;
    let client = client(Some(tls));
    let (status, version, body) = get(&client, uri).await?;
    println!("{status} over {version:?}");
    print!("{}", String::from_utf8_lossy(&body));
    Ok(())
}
