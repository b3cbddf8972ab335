//! hyper-util's client over any flow (feature `hyper-client`).
//!
//! [`Connector`] is the connector that `hyper_util::client::legacy::Client`
//! takes (a `tower_service::Service<Uri>`), made from a function that dials
//! a flow for a URI: TCP on any runtime, TLS over it, memory in tests. The
//! client pools the connections, as it does its own.
//!
//! HTTP/2 needs the client to know what the server agreed to: the dial
//! function returns the flow in a [`Dialed`], which records the protocol
//! negotiated with ALPN ([`Dialed::alpn`], given flow-tls's
//! `TlsFlow::alpn_protocol`). A connection that negotiated `h2` is reported
//! to the client as HTTP/2 (`Connected::negotiated_h2`); every other one
//! speaks what the client was built for (HTTP/1.1 by default).
//!
//! ```no_run
//! use flow_util::hyper::{Connector, Dialed, host_and_port};
//! use http_body_util::Empty;
//! use hyper::body::Bytes;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let connector = Connector::new(|uri: http::Uri| async move {
//!     let (host, port) = host_and_port(&uri)?;
//!     let flow = flow_tokio::TcpFlow::connect(format!("{host}:{port}")).await?;
//!     Ok::<_, flow_api::Error>(Dialed::new(flow))
//! });
//! let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
//! let response = client.get("http://127.0.0.1:8080/".parse()?).await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use flow_api::{Error, ErrorKind, FlowRead, FlowWrite};
use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};

use crate::FlowIo;

/// A connector for `hyper_util::client::legacy::Client` that dials flows
/// with a function: `dial(uri)` returns a future of a [`Dialed`] flow, or
/// of an error the client reports as a connect error
/// ([`ConnectError`], which names the URI).
///
/// The function is called once for each new connection the client opens;
/// `Uri` is the request's scheme and authority. The client needs the
/// connector to be `Clone + Send + Sync + 'static`, so the function is too
/// (a closure that clones what it captures, such as a `TlsConnector`).
#[derive(Clone)]
pub struct Connector<D> {
    dial: D,
}

impl<D> Connector<D> {
    /// A connector that dials with `dial`.
    pub fn new(dial: D) -> Self {
        Connector { dial }
    }
}

impl<D> fmt::Debug for Connector<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

/// A flow a [`Connector`]'s dial function made, with what was negotiated on
/// it.
#[derive(Debug)]
pub struct Dialed<F> {
    flow: F,
    h2: bool,
}

impl<F> Dialed<F> {
    /// `flow`, which negotiated nothing: the client speaks HTTP/1.1 on it
    /// (or HTTP/2 with prior knowledge, if it was built `http2_only`).
    pub fn new(flow: F) -> Self {
        Dialed { flow, h2: false }
    }

    /// Records the protocol negotiated with ALPN (`TlsFlow::alpn_protocol`
    /// of flow-tls, or any TLS layer's): `h2` makes the connection HTTP/2,
    /// anything else (or `None`) leaves it HTTP/1.1.
    pub fn alpn(mut self, protocol: Option<&[u8]>) -> Self {
        self.h2 = protocol == Some(b"h2".as_slice());
        self
    }

    /// Whether the flow negotiated HTTP/2.
    pub fn is_h2(&self) -> bool {
        self.h2
    }
}

/// A connection the client reads and writes: a dialed flow through
/// [`FlowIo`], reporting HTTP/2 when ALPN chose it.
pub struct FlowConnection<F> {
    io: FlowIo<F>,
    h2: bool,
}

impl<F> FlowConnection<F> {
    /// The flow.
    pub fn get_ref(&self) -> &F {
        self.io.get_ref()
    }

    /// Whether the connection is reported to the client as HTTP/2.
    pub fn is_h2(&self) -> bool {
        self.h2
    }
}

impl<F> Connection for FlowConnection<F> {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.h2 { connected.negotiated_h2() } else { connected }
    }
}

impl<F: FlowRead + Unpin> ::hyper::rt::Read for FlowConnection<F> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ::hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<F: FlowWrite + Unpin> ::hyper::rt::Write for FlowConnection<F> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<F: fmt::Debug> fmt::Debug for FlowConnection<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowConnection")
            .field("io", &self.io)
            .field("h2", &self.h2)
            .finish()
    }
}

/// Dialling failed: the URI, and the dial function's error as the source.
#[derive(Debug)]
pub struct ConnectError<E> {
    uri: Uri,
    source: E,
}

impl<E> ConnectError<E> {
    /// The URI being dialled.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The dial function's error.
    pub fn get_ref(&self) -> &E {
        &self.source
    }

    /// The dial function's error, by value.
    pub fn into_inner(self) -> E {
        self.source
    }
}

impl<E: fmt::Display> fmt::Display for ConnectError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dialling {}: {}", self.uri, self.source)
    }
}

impl<E: StdError + 'static> StdError for ConnectError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

type BoxConnect<F, E> = Pin<Box<dyn Future<Output = Result<FlowConnection<F>, ConnectError<E>>> + Send>>;

/// The future of a [`Connector`]'s connection: the dial function's future,
/// its error tagged with the URI.
///
/// Cancel safety: dropping it drops the dial function's future, which
/// abandons the attempt (for flow-socket's and flow-tls's, nothing stays
/// connected).
#[must_use = "futures do nothing unless polled"]
pub struct Connecting<F, E> {
    inner: BoxConnect<F, E>,
}

impl<F, E> Future for Connecting<F, E> {
    type Output = Result<FlowConnection<F>, ConnectError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<F, E> fmt::Debug for Connecting<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connecting").finish_non_exhaustive()
    }
}

impl<D, Fut, F, E> tower_service::Service<Uri> for Connector<D>
where
    D: FnMut(Uri) -> Fut,
    Fut: Future<Output = Result<Dialed<F>, E>> + Send + 'static,
    F: FlowRead + FlowWrite + Unpin + Send + 'static,
    E: Send + 'static,
{
    type Response = FlowConnection<F>;
    type Error = ConnectError<E>;
    type Future = Connecting<F, E>;

    /// Always ready: each call dials on its own.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    /// Dials `uri`. The returned future fails with a [`ConnectError`]
    /// naming `uri` when the dial function's future fails.
    fn call(&mut self, uri: Uri) -> Self::Future {
        let dialling = (self.dial)(uri.clone());
        Connecting {
            inner: Box::pin(async move {
                match dialling.await {
                    Ok(Dialed { flow, h2 }) => Ok(FlowConnection {
                        io: FlowIo::new(flow),
                        h2,
                    }),
                    Err(source) => Err(ConnectError { uri, source }),
                }
            }),
        }
    }
}

/// The host and port `uri` names, the port defaulting by scheme (`http`
/// and `ws` 80, `https` and `wss` 443). The host is as the URI writes it,
/// an IPv6 literal in brackets (`[::1]`), so `format!("{host}:{port}")` is
/// an address that flow-socket's `connect` takes; a TLS server name is the
/// host without brackets.
///
/// # Errors
///
/// [`ErrorKind::InvalidData`], naming the URI, when it has no host, or no
/// port and a scheme without a default one.
pub fn host_and_port(uri: &Uri) -> Result<(&str, u16), Error> {
    let invalid = |what: &str| Error::with_source(ErrorKind::InvalidData, format!("the URI {uri} {what}"));
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("names no host"))?;
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(port), _) => port,
        (None, Some("http" | "ws")) => 80,
        (None, Some("https" | "wss")) => 443,
        (None, _) => return Err(invalid("names no port, and its scheme has no default port")),
    };
    Ok((host, port))
}
