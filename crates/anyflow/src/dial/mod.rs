//! Dial and listen by address, picking the transport at run time:
//! `tcp://host:port`, `tls://host:port`, `quic://host:port`, `unix:/path`,
//! `mem:NAME`. Every flow comes back as a [`BoxFlow`], so protocol code
//! takes one type whatever the address says.
//!
//! ```no_run
//! use anyflow::prelude::*;
//!
//! # async fn run() -> Result<(), anyflow::Error> {
//! // The server: any address, from a configuration file or the command line.
//! let listener = anyflow::dial::listen("tcp://127.0.0.1:0").await?;
//! let addr = listener.local_addr().clone(); // tcp://127.0.0.1:PORT, the real port
//!
//! // The client: the same code for tcp://, tls://, unix: or mem:.
//! let mut flow = anyflow::dial::dial(&addr).await?;
//! flow.write("hello").await?;
//! flow.shutdown(Shutdown::Write).await?;
//!
//! let (mut served, peer) = listener.accept().await?;
//! println!("{peer} says {:?}", served.read().await?);
//! # Ok(())
//! # }
//! ```
//!
//! [`Dialer`] carries the settings: the runtime (by default the first of
//! tokio, smol and async-std that is enabled), the TLS client and server
//! configurations, and a connect timeout. [`dial`] and [`listen`] use the
//! defaults.
//!
//! # Features
//!
//! The module exists when a runtime feature (`tokio`, `smol`, `async-std`),
//! `mem` or `quic` is on: with none, nothing could be dialled. An address whose
//! transport is not compiled in fails with [`ErrorKind::Unsupported`] and a
//! message naming the feature to enable: `tcp://` and `unix:` need a
//! runtime feature, `tls://` needs `tls` too, `mem:` needs `mem`, `quic://` needs `quic`. compio's
//! flows are not `Send`, so they cannot be a [`BoxFlow`]; asking for
//! [`Runtime::Compio`] fails the same way (use `anyflow::compio` directly).
//!
//! # Runtimes
//!
//! A dial or a listen runs on the runtime chosen: call it inside that
//! runtime (tokio's sockets need a running tokio runtime with I/O and time
//! enabled, as tokio's own do). `mem:` needs no runtime.
//!
//! # QUIC
//!
//! With feature `quic`, `quic://host:port` runs on tokio (quinn's tokio
//! runtime; a [`Dialer::runtime`] other than [`Runtime::Tokio`] is
//! [`ErrorKind::Unsupported`]), with the TLS settings of the [`Dialer`]:
//!
//! - [`dial`](Dialer::dial) binds a client endpoint of its own, connects
//!   (the certificate checked against the address's host, with the
//!   `tls_connector`'s roots, or the platform's), and opens one
//!   bidirectional stream: that stream is the flow. The connection closes
//!   when the flow is dropped, once the peer has acknowledged what the
//!   flow sent (the flow's close deadline at most, 30 s; outside a tokio
//!   runtime, at once). It pings the peer every 10 s when idle, so it
//!   lives as long as a TCP connection.
//! - [`listen`](Dialer::listen) binds a server endpoint (with the
//!   `tls_acceptor`, which it needs) and accepts connections in the
//!   background; [`Listener::accept`] yields each bidirectional stream
//!   that a peer opens, from any connection, as one flow with its
//!   [`Peer::Quic`] address. QUIC opens streams lazily: a dialled stream
//!   reaches the listener once the dialling side has written to it (or
//!   shut its writing down), so in a protocol where the server speaks
//!   first, the client sends something first. When a connection closes
//!   (its peer's flows all dropped, or the peer gone past the idle
//!   timeout), its flows still open fail with [`ErrorKind::Reset`] (or
//!   [`ErrorKind::TimedOut`]); the others are unaffected. Dropping the
//!   listener refuses new connections and stops accepting streams; flows
//!   already accepted live on.
//! - ALPN: the protocols of the TLS connector or acceptor, or
//!   [`DEFAULT_QUIC_ALPN`] when it names none (QUIC requires one to match
//!   when either side names any).

use std::fmt;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use flow_api::{BoxFlow, Error, ErrorKind, Timer};

mod address;
#[cfg(feature = "mem")]
mod mem;
#[cfg(feature = "quic")]
mod quic;
#[cfg(feature = "tls")]
mod tls_server;

pub use address::{Address, AddressError, AddressErrorKind, IntoAddress};

/// The ALPN protocol of `quic://` dials and listeners whose TLS connector
/// or acceptor names none: `"flow"`. A peer that is not anyflow offers or
/// accepts it to talk to them (or both sides configure their own).
pub const DEFAULT_QUIC_ALPN: &str = "flow";

/// Dials `addr` with the default settings: [`Dialer::dial`].
///
/// # Errors
///
/// As [`Dialer::dial`].
///
/// # Cancel safety
///
/// As [`Dialer::dial`]: dropping the future abandons the attempt.
pub async fn dial(addr: impl IntoAddress) -> Result<BoxFlow<'static>, Error> {
    Dialer::new().dial(addr).await
}

/// Listens on `addr` with the default settings: [`Dialer::listen`]. For
/// `tls://`, which needs a server configuration, use a [`Dialer`].
///
/// # Errors
///
/// As [`Dialer::listen`].
///
/// # Cancel safety
///
/// As [`Dialer::listen`]: dropping the future abandons the attempt.
pub async fn listen(addr: impl IntoAddress) -> Result<Listener, Error> {
    Dialer::new().listen(addr).await
}

/// A runtime to run sockets on, for [`Dialer::runtime`]. Every variant
/// exists whatever the features; one whose feature is off fails at dial
/// time with a message naming the feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Runtime {
    /// tokio (feature `tokio`).
    Tokio,
    /// smol, on async-io (feature `smol`).
    Smol,
    /// async-std (feature `async-std`; discontinued upstream).
    AsyncStd,
    /// compio (feature `compio`): its flows are not `Send`, so they cannot
    /// be a [`BoxFlow`]; dialling with it always fails with
    /// [`ErrorKind::Unsupported`]. Use `anyflow::compio` directly.
    Compio,
}

impl Runtime {
    /// The runtime [`Dialer`] uses by default: the first of tokio, smol and
    /// async-std whose feature is on, or `None` with none of them.
    pub fn preferred() -> Option<Runtime> {
        [Runtime::Tokio, Runtime::Smol, Runtime::AsyncStd]
            .into_iter()
            .find(|runtime| runtime.is_enabled())
    }

    /// Whether its feature is on (for [`Runtime::Compio`] too, though it
    /// cannot be dialled with).
    pub fn is_enabled(self) -> bool {
        match self {
            Runtime::Tokio => cfg!(feature = "tokio"),
            Runtime::Smol => cfg!(feature = "smol"),
            Runtime::AsyncStd => cfg!(feature = "async-std"),
            Runtime::Compio => cfg!(feature = "compio"),
        }
    }

    /// The name of its feature of this crate: `"tokio"`, `"smol"`,
    /// `"async-std"` or `"compio"`.
    pub fn feature(self) -> &'static str {
        match self {
            Runtime::Tokio => "tokio",
            Runtime::Smol => "smol",
            Runtime::AsyncStd => "async-std",
            Runtime::Compio => "compio",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.feature())
    }
}

/// A runtime that is compiled in and can make `Send` flows.
#[derive(Debug, Clone, Copy)]
enum Rt {
    #[cfg(feature = "tokio")]
    Tokio,
    #[cfg(feature = "smol")]
    Smol,
    #[cfg(feature = "async-std")]
    AsyncStd,
}

/// An [`ErrorKind::Unsupported`] error that says why.
fn unsupported(why: String) -> Error {
    Error::new(ErrorKind::Unsupported).context(why)
}

/// A runtime compiled in, for `scheme`, or the error naming the feature to enable.
fn usable(choice: Option<Runtime>, scheme: &str) -> Result<Rt, Error> {
    let Some(runtime) = choice.or_else(Runtime::preferred) else {
        return Err(unsupported(format!(
            "{scheme} needs a runtime: enable the tokio, smol or async-std feature of anyflow"
        )));
    };
    match runtime {
        #[cfg(feature = "tokio")]
        Runtime::Tokio => Ok(Rt::Tokio),
        #[cfg(feature = "smol")]
        Runtime::Smol => Ok(Rt::Smol),
        #[cfg(feature = "async-std")]
        Runtime::AsyncStd => Ok(Rt::AsyncStd),
        Runtime::Compio => Err(unsupported(
            "compio's flows are not Send, so they cannot be a BoxFlow: use anyflow::compio's TcpFlow and UnixFlow directly"
                .to_owned(),
        )),
        #[allow(unreachable_patterns)] // Every runtime whose feature is on matched above.
        other => Err(unsupported(format!(
            "the {other} runtime is not enabled: enable the {other} feature of anyflow"
        ))),
    }
}

// With `mem` alone there is no runtime: `Rt` has no variant, and its
// functions' arguments go unused.
#[cfg_attr(
    not(any(feature = "tokio", feature = "smol", feature = "async-std")),
    allow(unused_variables)
)]
impl Rt {
    fn timer(self) -> Arc<dyn Timer> {
        match self {
            #[cfg(feature = "tokio")]
            Rt::Tokio => flow_tokio::TokioTimer::shared(),
            #[cfg(feature = "smol")]
            Rt::Smol => flow_smol::SmolTimer::shared(),
            #[cfg(feature = "async-std")]
            Rt::AsyncStd => flow_async_std::AsyncStdTimer::shared(),
        }
    }

    async fn connect_tcp(self, host_port: String) -> Result<BoxFlow<'static>, Error> {
        match self {
            #[cfg(feature = "tokio")]
            Rt::Tokio => Ok(Box::pin(flow_tokio::TcpFlow::connect(host_port).await?)),
            #[cfg(feature = "smol")]
            Rt::Smol => Ok(Box::pin(flow_smol::TcpFlow::connect(host_port).await?)),
            #[cfg(feature = "async-std")]
            Rt::AsyncStd => Ok(Box::pin(flow_async_std::TcpFlow::connect(host_port).await?)),
        }
    }

    #[cfg(unix)]
    async fn connect_unix(self, path: &std::path::Path) -> Result<BoxFlow<'static>, Error> {
        match self {
            #[cfg(feature = "tokio")]
            Rt::Tokio => Ok(Box::pin(flow_tokio::UnixFlow::connect(path).await?)),
            #[cfg(feature = "smol")]
            Rt::Smol => Ok(Box::pin(flow_smol::UnixFlow::connect(path).await?)),
            #[cfg(feature = "async-std")]
            Rt::AsyncStd => Ok(Box::pin(flow_async_std::UnixFlow::connect(path).await?)),
        }
    }

    /// A TCP listener, with the address it is bound to.
    async fn bind_tcp(self, host_port: String) -> Result<(Inner, SocketAddr), Error> {
        match self {
            #[cfg(feature = "tokio")]
            Rt::Tokio => {
                let listener = flow_tokio::TcpListener::bind(host_port).await?;
                let local = listener.local_addr()?;
                Ok((Inner::TokioTcp(listener), local))
            }
            #[cfg(feature = "smol")]
            Rt::Smol => {
                let listener = flow_smol::TcpListener::bind(host_port).await?;
                let local = listener.local_addr()?;
                Ok((Inner::SmolTcp(listener), local))
            }
            #[cfg(feature = "async-std")]
            Rt::AsyncStd => {
                let listener = flow_async_std::TcpListener::bind(host_port).await?;
                let local = listener.local_addr()?;
                Ok((Inner::AsyncStdTcp(listener), local))
            }
        }
    }

    #[cfg(unix)]
    fn bind_unix(self, path: &std::path::Path) -> Result<Inner, Error> {
        match self {
            #[cfg(feature = "tokio")]
            Rt::Tokio => Ok(Inner::TokioUnix(flow_tokio::UnixListener::bind(path)?)),
            #[cfg(feature = "smol")]
            Rt::Smol => Ok(Inner::SmolUnix(flow_smol::UnixListener::bind(path)?)),
            #[cfg(feature = "async-std")]
            Rt::AsyncStd => Ok(Inner::AsyncStdUnix(flow_async_std::UnixListener::bind(path)?)),
        }
    }
}

/// Runs `future`, failing with [`ErrorKind::TimedOut`] once `limit` has
/// passed on `timer`.
async fn within<T>(
    limit: Option<(Arc<dyn Timer>, Duration)>,
    future: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some((timer, limit)) = limit else {
        return future.await;
    };
    let mut future = pin!(future);
    let mut deadline = timer.sleep(limit);
    poll_fn(|cx| {
        if let Poll::Ready(done) = future.as_mut().poll(cx) {
            return Poll::Ready(done);
        }
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(
                Error::new(ErrorKind::TimedOut).context(format!("no connection within {limit:?}"))
            )),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Dials and listens by [`Address`], with settings: the runtime, TLS
/// configurations, a connect timeout.
///
/// ```no_run
/// use std::time::Duration;
/// use anyflow::dial::{Dialer, Runtime};
///
/// # async fn run() -> Result<(), anyflow::Error> {
/// let dialer = Dialer::new().runtime(Runtime::Tokio).connect_timeout(Duration::from_secs(5));
/// let flow = dialer.dial("tcp://example.com:80").await?;
/// # drop(flow);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Dialer {
    runtime: Option<Runtime>,
    connect_timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    connector: Option<flow_tls::TlsConnector>,
    #[cfg(feature = "tls")]
    acceptor: Option<flow_tls::TlsAcceptor>,
}

impl Dialer {
    /// The defaults: the [preferred](Runtime::preferred) runtime, no
    /// connect timeout but the system's (and for TLS, the handshake's
    /// default deadline of 10 s), the
    /// platform's trust roots for `tls://` clients, and no TLS server
    /// configuration.
    pub fn new() -> Self {
        Dialer::default()
    }

    /// Runs sockets on `runtime`. A runtime whose feature is off, or
    /// [`Runtime::Compio`], makes socket dials and listens fail with
    /// [`ErrorKind::Unsupported`] (`mem:` needs no runtime).
    #[must_use]
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Bounds each dial, TLS handshake included: one that has not
    /// connected after `timeout` fails with [`ErrorKind::TimedOut`], on the
    /// runtime's timer.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The TLS client for `tls://` dials (trust roots, ALPN, client
    /// certificate, handshake deadline). Without one, the platform's trust
    /// roots are loaded at the first `tls://` dial and kept for the
    /// process.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls_connector(mut self, connector: flow_tls::TlsConnector) -> Self {
        self.connector = Some(connector);
        self
    }

    /// The TLS client for `tls://` dials, from a rustls configuration:
    /// [`tls_connector`](Dialer::tls_connector) with
    /// [`TlsConnector::new`](flow_tls::TlsConnector::new).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls_client_config(self, config: Arc<flow_tls::rustls::ClientConfig>) -> Self {
        self.tls_connector(flow_tls::TlsConnector::new(config))
    }

    /// The TLS server for `tls://` listeners: its certificate, key and
    /// settings. Listening on `tls://` without one fails.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls_acceptor(mut self, acceptor: flow_tls::TlsAcceptor) -> Self {
        self.acceptor = Some(acceptor);
        self
    }

    /// The TLS server for `tls://` listeners, from a rustls configuration:
    /// [`tls_acceptor`](Dialer::tls_acceptor) with
    /// [`TlsAcceptor::new`](flow_tls::TlsAcceptor::new).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls_server_config(self, config: Arc<flow_tls::rustls::ServerConfig>) -> Self {
        self.tls_acceptor(flow_tls::TlsAcceptor::new(config))
    }

    /// Connects to `addr` and returns the flow: TCP, TLS over TCP (the
    /// server's certificate checked against the address's host, which is
    /// also sent as SNI), a Unix socket, or the in-process listener of a
    /// `mem:` name.
    ///
    /// # Errors
    ///
    /// Every error names the address: `dialling tcp://127.0.0.1:9:
    /// connecting to 127.0.0.1:9: connection refused`.
    ///
    /// - [`ErrorKind::InvalidData`] when `addr` is a string that is not an
    ///   address (the [`AddressError`] is the source), or a `tls://` host
    ///   that is not a valid server name.
    /// - [`ErrorKind::Unsupported`] when the transport is not compiled in
    ///   (the message names the feature to enable), for [`Runtime::Compio`],
    ///   for `unix:` off Unix, and for `quic://` with a runtime other than
    ///   tokio.
    /// - [`ErrorKind::Refused`] when nothing listens there (for `mem:`, no
    ///   listener of that name), [`ErrorKind::TimedOut`] at the
    ///   [connect timeout](Dialer::connect_timeout), [`ErrorKind::Tls`]
    ///   when the TLS handshake fails, or the socket's error (resolving
    ///   the host, an unreachable network, a missing socket file). QUIC
    ///   has no refusal: a port where nothing listens is silent, and the
    ///   dial fails with [`ErrorKind::TimedOut`] at the connect timeout
    ///   (without one, at quinn's idle timeout, 30 s).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt and closes whatever it had
    /// opened; nothing else is affected, and there is nothing to resume.
    pub async fn dial(&self, addr: impl IntoAddress) -> Result<BoxFlow<'static>, Error> {
        let addr = parsed(addr)?;
        self.dial_address(&addr)
            .await
            .map_err(|err| err.context(format!("dialling {addr}")))
    }

    async fn dial_address(&self, addr: &Address) -> Result<BoxFlow<'static>, Error> {
        match addr {
            Address::Tcp { .. } => {
                let rt = usable(self.runtime, "tcp://")?;
                let host_port = addr.host_port().unwrap_or_default();
                within(self.limit(rt), rt.connect_tcp(host_port)).await
            }
            Address::Tls { host, .. } => self.dial_tls(addr, host).await,
            Address::Unix(path) => {
                let rt = usable(self.runtime, "unix:")?;
                #[cfg(unix)]
                {
                    within(self.limit(rt), rt.connect_unix(path)).await
                }
                #[cfg(not(unix))]
                {
                    let _ = (rt, path);
                    Err(unsupported("Unix domain sockets exist only on Unix".to_owned()))
                }
            }
            Address::Quic { host, port } => self.dial_quic(host, *port).await,
            Address::Mem(name) => {
                #[cfg(feature = "mem")]
                {
                    Ok(Box::pin(mem::connect(name)?))
                }
                #[cfg(not(feature = "mem"))]
                {
                    let _ = name;
                    Err(mem_unsupported())
                }
            }
        }
    }

    #[cfg(feature = "tls")]
    async fn dial_tls(&self, addr: &Address, host: &str) -> Result<BoxFlow<'static>, Error> {
        let rt = usable(self.runtime, "tls://")?;
        let connector = match &self.connector {
            Some(connector) => connector.clone(),
            None => native_roots_connector()?,
        };
        let name = flow_tls::server_name(host)?;
        let host_port = addr.host_port().unwrap_or_default();
        within(self.limit(rt), async move {
            let tcp = rt.connect_tcp(host_port).await?;
            let tls: BoxFlow<'static> = Box::pin(connector.connect(name, tcp).await?);
            Ok(tls)
        })
        .await
    }

    #[cfg(not(feature = "tls"))]
    async fn dial_tls(&self, _addr: &Address, _host: &str) -> Result<BoxFlow<'static>, Error> {
        Err(tls_unsupported())
    }

    #[cfg(feature = "quic")]
    async fn dial_quic(&self, host: &str, port: u16) -> Result<BoxFlow<'static>, Error> {
        quic_runtime(self.runtime)?;
        let connector = match &self.connector {
            Some(connector) => connector.clone(),
            None => native_roots_connector()?,
        };
        let limit = self
            .connect_timeout
            .map(|timeout| (flow_tokio::TokioTimer::shared(), timeout));
        within(limit, quic::dial(&connector, host, port)).await
    }

    #[cfg(not(feature = "quic"))]
    async fn dial_quic(&self, _host: &str, _port: u16) -> Result<BoxFlow<'static>, Error> {
        Err(quic_unsupported())
    }

    fn limit(&self, rt: Rt) -> Option<(Arc<dyn Timer>, Duration)> {
        self.connect_timeout.map(|timeout| (rt.timer(), timeout))
    }

    /// Listens on `addr`: binds a TCP socket (port 0 picks a free port), a
    /// TCP socket whose connections are TLS (with the
    /// server configuration of `tls_acceptor`), a QUIC endpoint (with it
    /// too; see [QUIC](self#quic)), a Unix socket (the
    /// path must not exist), or takes a `mem:` name for this process.
    ///
    /// # Errors
    ///
    /// Every error names the address: `listening on tcp://127.0.0.1:80:
    /// binding 127.0.0.1:80: Permission denied (os error 13)`.
    ///
    /// - [`ErrorKind::InvalidData`] and [`ErrorKind::Unsupported`] as for
    ///   [`dial`](Dialer::dial); `tls://` or `quic://` without a server configuration
    ///   is [`ErrorKind::Other`] (its I/O kind `InvalidInput`).
    /// - The socket's error: the address is in use or not local, the
    ///   socket file exists already, permission denied. A `mem:` name that
    ///   another listener holds is in use too ([`ErrorKind::Other`], I/O
    ///   kind `AddrInUse`).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the attempt and closes whatever it had
    /// bound.
    pub async fn listen(&self, addr: impl IntoAddress) -> Result<Listener, Error> {
        let addr = parsed(addr)?;
        self.listen_address(&addr)
            .await
            .map_err(|err| err.context(format!("listening on {addr}")))
    }

    async fn listen_address(&self, addr: &Address) -> Result<Listener, Error> {
        match addr {
            Address::Tcp { .. } => {
                let rt = usable(self.runtime, "tcp://")?;
                let (inner, local) = rt.bind_tcp(addr.host_port().unwrap_or_default()).await?;
                Ok(Listener::new(
                    inner,
                    Address::Tcp {
                        host: local.ip().to_string(),
                        port: local.port(),
                    },
                ))
            }
            Address::Tls { .. } => self.listen_tls(addr).await,
            Address::Unix(path) => {
                let rt = usable(self.runtime, "unix:")?;
                #[cfg(unix)]
                {
                    Ok(Listener::new(rt.bind_unix(path)?, addr.clone()))
                }
                #[cfg(not(unix))]
                {
                    let _ = (rt, path);
                    Err(unsupported("Unix domain sockets exist only on Unix".to_owned()))
                }
            }
            Address::Quic { host, port } => self.listen_quic(host, *port).await,
            Address::Mem(name) => {
                #[cfg(feature = "mem")]
                {
                    Ok(Listener::new(Inner::Mem(mem::MemListener::bind(name)?), addr.clone()))
                }
                #[cfg(not(feature = "mem"))]
                {
                    let _ = name;
                    Err(mem_unsupported())
                }
            }
        }
    }

    #[cfg(feature = "tls")]
    async fn listen_tls(&self, addr: &Address) -> Result<Listener, Error> {
        let rt = usable(self.runtime, "tls://")?;
        let Some(acceptor) = self.acceptor.clone() else {
            return Err(no_server_configuration());
        };
        let (inner, local) = rt.bind_tcp(addr.host_port().unwrap_or_default()).await?;
        let mut listener = Listener::new(
            inner,
            Address::Tls {
                host: local.ip().to_string(),
                port: local.port(),
            },
        );
        listener.tls = Some(acceptor);
        Ok(listener)
    }

    #[cfg(feature = "quic")]
    async fn listen_quic(&self, host: &str, port: u16) -> Result<Listener, Error> {
        quic_runtime(self.runtime)?;
        let Some(acceptor) = &self.acceptor else {
            return Err(no_server_configuration());
        };
        let (listener, local) = quic::QuicListener::bind(acceptor, host, port).await?;
        Ok(Listener::new(
            Inner::Quic(listener),
            Address::Quic {
                host: local.ip().to_string(),
                port: local.port(),
            },
        ))
    }

    #[cfg(not(feature = "quic"))]
    async fn listen_quic(&self, _host: &str, _port: u16) -> Result<Listener, Error> {
        Err(quic_unsupported())
    }

    #[cfg(not(feature = "tls"))]
    async fn listen_tls(&self, _addr: &Address) -> Result<Listener, Error> {
        Err(tls_unsupported())
    }
}

/// The address, or the [`ErrorKind::InvalidData`] error for a string that
/// is not one.
fn parsed(addr: impl IntoAddress) -> Result<Address, Error> {
    addr.into_address()
        .map_err(|err| Error::with_source(ErrorKind::InvalidData, err))
}

/// Listening on `tls://` or `quic://` without a server configuration.
#[cfg(feature = "tls")]
fn no_server_configuration() -> Error {
    Error::with_source(
        ErrorKind::Other,
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "no TLS server configuration: give one with Dialer::tls_acceptor or Dialer::tls_server_config",
        ),
    )
}

/// QUIC runs on tokio: a runtime asked for must be tokio.
#[cfg(feature = "quic")]
fn quic_runtime(choice: Option<Runtime>) -> Result<(), Error> {
    match choice {
        None | Some(Runtime::Tokio) => Ok(()),
        Some(other) => Err(unsupported(format!(
            "quic:// runs on tokio (quinn's tokio runtime), not on {other}: use Runtime::Tokio or no runtime"
        ))),
    }
}

#[cfg(not(feature = "quic"))]
fn quic_unsupported() -> Error {
    unsupported("quic:// needs QUIC: enable the quic feature of anyflow".to_owned())
}

#[cfg(not(feature = "tls"))]
fn tls_unsupported() -> Error {
    unsupported("tls:// needs TLS: enable the tls feature of anyflow".to_owned())
}

#[cfg(not(feature = "mem"))]
fn mem_unsupported() -> Error {
    unsupported("mem: needs the in-memory backend: enable the mem feature of anyflow".to_owned())
}

/// A client with the platform's trust roots, loaded once per process.
#[cfg(feature = "tls")]
fn native_roots_connector() -> Result<flow_tls::TlsConnector, Error> {
    static CONNECTOR: std::sync::OnceLock<flow_tls::TlsConnector> = std::sync::OnceLock::new();
    if let Some(connector) = CONNECTOR.get() {
        return Ok(connector.clone());
    }
    let connector = flow_tls::TlsConnector::builder().native_roots()?.build()?;
    Ok(CONNECTOR.get_or_init(|| connector).clone())
}

/// Who connected to a [`Listener`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Peer {
    /// The TCP address of the client (of a `tcp://` or `tls://` listener).
    Tcp(SocketAddr),
    /// The path the client is bound to: usually `None`, as clients are
    /// unnamed.
    Unix(Option<PathBuf>),
    /// A client in this process, of a `mem:` listener.
    Mem,
    /// The UDP address of the QUIC client whose stream this is (of a
    /// `quic://` listener).
    Quic(SocketAddr),
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            Peer::Unix(Some(path)) => write!(f, "{}", path.display()),
            Peer::Unix(None) => f.write_str("an unnamed Unix socket"),
            Peer::Mem => f.write_str("an in-process client"),
            Peer::Quic(addr) => write!(f, "{addr} (QUIC)"),
        }
    }
}

/// What a listener listens with.
#[derive(Debug)]
enum Inner {
    #[cfg(feature = "tokio")]
    TokioTcp(flow_tokio::TcpListener),
    #[cfg(all(feature = "tokio", unix))]
    TokioUnix(flow_tokio::UnixListener),
    #[cfg(feature = "smol")]
    SmolTcp(flow_smol::TcpListener),
    #[cfg(all(feature = "smol", unix))]
    SmolUnix(flow_smol::UnixListener),
    #[cfg(feature = "async-std")]
    AsyncStdTcp(flow_async_std::TcpListener),
    #[cfg(all(feature = "async-std", unix))]
    AsyncStdUnix(flow_async_std::UnixListener),
    #[cfg(feature = "mem")]
    Mem(mem::MemListener),
    #[cfg(feature = "quic")]
    Quic(quic::QuicListener),
}

/// A listener of any transport: [`listen`] or [`Dialer::listen`]. Dropping
/// it stops listening (a Unix socket's file stays, as with the runtimes'
/// own listeners; a `mem:` name is free again).
#[derive(Debug)]
pub struct Listener {
    inner: Inner,
    local: Address,
    #[cfg(feature = "tls")]
    tls: Option<flow_tls::TlsAcceptor>,
}

impl Listener {
    fn new(inner: Inner, local: Address) -> Self {
        Listener {
            inner,
            local,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// What it listens on, as an address to dial: for `tcp://` and
    /// `tls://`, the IP address and port bound (the real port when port 0
    /// was asked for).
    pub fn local_addr(&self) -> &Address {
        &self.local
    }

    /// Waits for the next connection and returns the flow and who it is
    /// from. For `quic://`, the next stream: each bidirectional stream a
    /// client opens (and writes to) is one flow, whatever its connection
    /// (see [QUIC](self#quic)).
    ///
    /// A `tls://` listener returns the connection at once: its TLS
    /// handshake runs when the flow is first used (read, write, flush,
    /// shutdown or close), bounded by the acceptor's handshake deadline
    /// (10 s by default; see `TlsAcceptor::handshake_timeout`). A client
    /// that connects and stays silent holds only its own connection, not
    /// the accept loop; a failed handshake is the error of that first
    /// operation, naming the client and the listener ("accepting TLS from
    /// 127.0.0.1:50412 on tls://127.0.0.1:7443: ..."), and of every later
    /// one.
    /// To complete the handshake before anything else, `flush` the flow:
    /// with nothing queued, that is all it does. (A client's
    /// [`dial`](Dialer::dial) of a `tls://` address returns only once the
    /// handshake is done, so it waits for the server to use its flow.)
    ///
    /// # Errors
    ///
    /// Accepting failed (too many open files...). A `quic://` listener
    /// fails only once its endpoint is gone ([`ErrorKind::Closed`]); a
    /// client whose handshake fails is that client's error, not the
    /// listener's.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection is taken only when the future completes.
    pub async fn accept(&self) -> Result<(BoxFlow<'static>, Peer), Error> {
        let (flow, peer) = self.accept_plain().await?;
        #[cfg(feature = "tls")]
        if let Some(acceptor) = &self.tls {
            let what = format!("accepting TLS from {peer} on {}", self.local);
            let tls = tls_server::ServerFlow::new(acceptor.accept(flow), what);
            return Ok((Box::pin(tls), peer));
        }
        Ok((flow, peer))
    }

    async fn accept_plain(&self) -> Result<(BoxFlow<'static>, Peer), Error> {
        match &self.inner {
            #[cfg(feature = "tokio")]
            Inner::TokioTcp(listener) => {
                let (flow, peer) = listener.accept().await?;
                Ok((Box::pin(flow), Peer::Tcp(peer)))
            }
            #[cfg(all(feature = "tokio", unix))]
            Inner::TokioUnix(listener) => {
                let (flow, peer) = listener.accept().await?;
                Ok((Box::pin(flow), Peer::Unix(peer)))
            }
            #[cfg(feature = "smol")]
            Inner::SmolTcp(listener) => {
                let (flow, peer) = listener.accept().await?;
                Ok((Box::pin(flow), Peer::Tcp(peer)))
            }
            #[cfg(all(feature = "smol", unix))]
            Inner::SmolUnix(listener) => {
                let (flow, peer) = listener.accept().await?;
                Ok((Box::pin(flow), Peer::Unix(peer)))
            }
            #[cfg(feature = "async-std")]
            Inner::AsyncStdTcp(listener) => {
                let (flow, peer) = listener.accept().await?;
                Ok((Box::pin(flow), Peer::Tcp(peer)))
            }
            #[cfg(all(feature = "async-std", unix))]
            Inner::AsyncStdUnix(listener) => {
                let (flow, peer) = listener.accept().await?;
                Ok((Box::pin(flow), Peer::Unix(peer)))
            }
            #[cfg(feature = "mem")]
            Inner::Mem(listener) => Ok((Box::pin(listener.accept().await), Peer::Mem)),
            #[cfg(feature = "quic")]
            Inner::Quic(listener) => {
                let (flow, peer) = listener.accept().await?;
                Ok((flow, Peer::Quic(peer)))
            }
        }
    }
}
