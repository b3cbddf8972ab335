#![forbid(unsafe_code)]
//! QUIC bidirectional streams as flows, on [quinn] with rustls (*ring*).
//!
//! Each bidirectional stream of a QUIC connection is a [`QuicFlow`]: reads
//! return quinn's own chunks, writes hand the buffers to quinn, and the
//! contract's half-close, close, and abort map onto QUIC's `finish`,
//! `stop` and `reset`:
//!
//! | flow | QUIC |
//! |---|---|
//! | `read` | `read_chunk`: owned `Bytes`, no copy; `finish` is end of file, `reset` is [`ErrorKind::Reset`](flow_api::ErrorKind::Reset) |
//! | `write`, `writev` | `write_chunks`: owned buffers handed over |
//! | `shutdown(Write)` | flush, then `finish` |
//! | `shutdown(Read)` | `stop` with [`SHUTDOWN_READ_CODE`]: the peer's writes fail with `WriteError::Closed` |
//! | `close` | flush, `finish`, read and discard until the peer's `finish`, under [`DEFAULT_CLOSE_TIMEOUT`] |
//! | [`QuicFlow::abort`] | `reset` and `stop` with [`ABORT_CODE`]: the peer's reads and writes see [`ErrorKind::Reset`](flow_api::ErrorKind::Reset) |
//! | drop without close | `finish` (what was flushed is delivered, the connection lingering until it is) and `stop` with [`ABORT_CODE`]: the peer reads end of file, its writes see [`ErrorKind::Reset`](flow_api::ErrorKind::Reset); [`QuicFlow::set_reset_on_drop`] makes it an abort |
//!
//! ```no_run
//! use flow_api::prelude::*;
//! use flow_quic::{QuicEndpoint, client_config};
//!
//! # async fn run() -> Result<(), flow_api::Error> {
//! let tls = flow_tls::TlsConnector::builder().native_roots()?.alpn_protocols(["echo"]).build()?;
//! let any = std::net::SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0));
//! let endpoint = QuicEndpoint::client(any, client_config(&tls)?)?;
//! let server = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 4433));
//! let connection = endpoint.connect(server, "localhost").await?;
//! let mut flow = connection.open().await?; // one stream; open more on the same connection
//! flow.write("hello").await?;
//! flow.shutdown(Shutdown::Write).await?; // FIN: `finish`
//! while let Chunk::Data(reply) = flow.read().await? {
//!     println!("{} bytes", reply.len());
//! }
//! flow.close().await?;
//! endpoint.wait_idle().await;
//! # Ok(()) }
//! ```
//!
//! # Runtimes
//!
//! quinn drives its endpoints on a runtime: feature `tokio` (default) for
//! tokio, `smol` for async-io (smol and async-std). The flows themselves
//! need no runtime: they can be polled from any executor.
//!
//! # Lazy streams
//!
//! QUIC opens a stream when its first frame is sent: the peer's
//! [`QuicConnection::accept`] returns a stream once its opener wrote to it
//! (flushed) or shut its writing down, not at [`QuicConnection::open`].
//!
//! # Cancel safety
//!
//! Every flow operation is cancel-safe as the contract says (see
//! [`QuicFlow`]); the async functions of endpoints and connections say
//! their own.

#![warn(missing_docs, unreachable_pub)]

mod conn;
mod error;
mod flow;

use std::time::Duration;

pub use quinn;
pub use quinn::VarInt;

pub use crate::conn::{
    QuicConnection, QuicEndpoint, client_config, client_config_from_rustls, server_config, server_config_from_rustls,
};
pub use crate::flow::QuicFlow;

/// The application error code of `shutdown(Read)`: the stream's receiving
/// side is stopped with it, and a peer that sees its writes stopped with
/// it reports [`WriteError::Closed`](flow_api::WriteError::Closed), the
/// contract's refusal of a write to a closed flow.
pub const SHUTDOWN_READ_CODE: VarInt = VarInt::from_u32(0x4601);

/// The application error code of an abort: [`QuicFlow::abort`] and a close
/// that gave up at its deadline reset the stream and stop its reading with
/// it, and a flow dropped without close stops its reading with it. The peer's reads and writes fail
/// with [`ErrorKind::Reset`](flow_api::ErrorKind::Reset)(flow_api::ErrorKind::Reset), naming the code.
pub const ABORT_CODE: VarInt = VarInt::from_u32(0x4602);

/// The application error code with which [`QuicConnection::close`] and
/// [`QuicEndpoint::close`] close connections: no error.
pub const CONNECTION_CLOSE_CODE: VarInt = VarInt::from_u32(0);

/// How long a close waits for the peer to finish the stream by default
/// (the same as the socket flows' linger deadline).
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
