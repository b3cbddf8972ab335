//! TLS over any flow, with rustls.
//!
//! One TLS implementation for every transport: [`TlsConnector::connect`] and
//! [`TlsAcceptor::accept`] run the handshake over any [`Flow`](flow_api::Flow)
//! (TCP on tokio, smol or async-std, an in-memory pair, another TLS flow...)
//! and give a [`TlsFlow`], which is a flow itself. rustls is driven through
//! its buffer API, so no runtime is needed: the crate depends on none.
//!
//! - Crypto comes from rustls's *ring* provider, passed explicitly
//!   ([`provider`]); no process-wide default provider is installed or needed.
//!   Without the `ring` feature, the builders use the process-default
//!   provider you install, and fail with
//!   [`ErrorKind::Unsupported`](flow_api::ErrorKind::Unsupported) if there
//!   is none.
//! - Certificates and keys load from PEM ([`certs_from_pem`],
//!   [`private_key_from_pem`], and file variants); clients trust the
//!   platform's roots ([`ClientBuilder::native_roots`]) or roots you give.
//! - SNI, ALPN, client certificates (mutual TLS), and after the handshake:
//!   the negotiated ALPN protocol, version, cipher suite and the peer's
//!   certificates ([`TlsFlow`]).
//! - A handshake deadline, by default: [`DEFAULT_HANDSHAKE_TIMEOUT`]
//!   (10 s) on a timer thread, so that it holds on any executor; set your
//!   own with the runtime's timer ([`TlsConnector::handshake_timeout`]).
//!   A stalled peer fails with
//!   [`ErrorKind::TimedOut`](flow_api::ErrorKind::TimedOut).
//! - Close is bounded by the underlying flow's close deadline (see
//!   [`TlsFlow`]); an end of file without `close_notify` fails reads and
//!   later writes with [`ErrorKind::Truncated`](flow_api::ErrorKind::Truncated).
//!
//! # Features
//!
//! - `ring` (default): rustls's *ring* crypto provider.
//! - `tls12` (default): TLS 1.2, besides TLS 1.3.
//! - `logging` (default): rustls's logging through the `log` crate.
//!
//! # Errors
//!
//! Handshake failures (a certificate for another host, untrusted or
//! expired; an alert; bytes that are not TLS) are
//! [`ErrorKind::Tls`](flow_api::ErrorKind::Tls): they display the rustls
//! error's message after what was being done, and
//! [`get_ref`](flow_api::Error::get_ref) gives the `rustls::Error` itself. An end of file from the peer without `close_notify` is
//! [`ErrorKind::Truncated`](flow_api::ErrorKind::Truncated), never a clean
//! end of file: see [`TlsFlow`].
//!
//! ```
//! use flow_api::prelude::*;
//! use flow_tls::{TlsAcceptor, TlsConnector};
//!
//! /// A TLS round trip over any pair of connected flows.
//! async fn round_trip<C, S>(
//!     connector: &TlsConnector,
//!     acceptor: &TlsAcceptor,
//!     client: C,
//!     server: S,
//! ) -> Result<(), flow_api::Error>
//! where
//!     C: Flow + Unpin,
//!     S: Flow + Unpin,
//! {
//!     let name = flow_tls::server_name("localhost")?;
//!     let (mut client, mut server) =
//!         futures_util::future::try_join(connector.connect(name, client), acceptor.accept(server)).await?;
//!     client.write("ping").await?;
//!     client.shutdown(Shutdown::Write).await?;
//!     assert_eq!(server.read().await?, Chunk::Data(Bytes::from("ping")));
//!     assert_eq!(server.read().await?, Chunk::Eof);
//!     Ok(())
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod config;
mod flow;
mod sync;
mod wakers;

pub use rustls;
pub use rustls::pki_types;

pub use crate::config::{
    ClientBuilder, ServerBuilder, TlsAcceptor, TlsConnector, certs_from_pem, certs_from_pem_file, native_roots,
    private_key_from_pem, private_key_from_pem_file, provider, server_name,
};
pub use crate::flow::{DEFAULT_HANDSHAKE_TIMEOUT, Handshake, TlsFlow};
