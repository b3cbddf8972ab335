//! Combinators and adapters for flows, after MirageOS's
//! `Mirage_flow_combinators` and `mirage-channel`.
//!
//! - [`copy`] moves everything from one flow to another, handing each buffer
//!   read straight to the writer (no copy), and returns [`CopyStats`]; a
//!   failure says which side failed ([`CopyError`]).
//! - [`proxy`] copies both ways at once between two flows, propagates
//!   half-close (end of file on one side shuts down writing on the other),
//!   and returns both directions' statistics. With
//!   [`half_close_timeout`](ProxyFuture::half_close_timeout), a proxy that
//!   one side half-closed ends once the other has been idle that long.
//!   With the `splice` feature, [`splice`](ProxyFuture::splice) moves the
//!   bytes between two plain sockets inside the kernel (Linux `splice(2)`).
//! - [`BufFlow`] is a buffered reader and writer over any flow: exact reads,
//!   lines with a maximum length, delimiters, and buffered writes that go out
//!   together at the flow's `flush`.
//! - [`Metered`] counts bytes and operations in each direction, readable
//!   while the flow is in use ([`Meter`]); with the `tracing` feature it also
//!   emits `tracing` events.
//! - With the `tokio` and `futures-io` features: [`FlowIo`] makes any flow a
//!   tokio or futures-io `AsyncRead + AsyncWrite`, and [`from_tokio`] /
//!   [`from_futures_io`] make any such stream a flow that keeps the whole
//!   contract (through [`flow_socket::StreamFlow`]).
//! - With the `hyper` feature, [`FlowIo`] is also hyper's `rt::Read +
//!   rt::Write`: hyper's client and server connections over any flow, on any
//!   runtime (HTTP/2 over flow-tls with ALPN included).
//! - With the `hyper-client` feature, [`hyper::Connector`] is a connector for
//!   hyper-util's legacy `Client` made from a function that dials a flow for
//!   a URI; a flow whose ALPN chose `h2` is spoken to in HTTP/2.
//!
//! # Features
//!
//! | feature | what |
//! |---|---|
//! | `tokio` | [`FlowIo`] as tokio's `AsyncRead + AsyncWrite`; `from_tokio` |
//! | `futures-io` | [`FlowIo`] as futures-io's; `from_futures_io` |
//! | `hyper` | [`FlowIo`] as hyper's `rt::Read + rt::Write` |
//! | `hyper-client` | `hyper` and [`hyper::Connector`] (hyper-util's client) |
//! | `splice` | the kernel relay for [`copy`] and [`proxy`] between sockets (Linux) |
//! | `tracing` | [`Metered`] emits `tracing` events |
//!
//! ```
//! use flow_api::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! futures_executor::block_on(async {
//!     let (mut client, proxy_a) = flow_mem::pair();
//!     let (proxy_b, mut server) = flow_mem::pair();
//!     let proxying = flow_util::proxy(proxy_a, proxy_b);
//!     let talking = async {
//!         client.write("ping").await?;
//!         client.shutdown(Shutdown::Write).await?;
//!         assert_eq!(server.read().await?, Chunk::Data(Bytes::from("ping")));
//!         // The client's end of file went through the proxy.
//!         assert_eq!(server.read().await?, Chunk::Eof);
//!         server.write("pong").await?;
//!         server.shutdown(Shutdown::Write).await?;
//!         assert_eq!(client.read().await?, Chunk::Data(Bytes::from("pong")));
//!         assert_eq!(client.read().await?, Chunk::Eof);
//!         Ok::<_, flow_api::Error>(())
//!     };
//!     let (stats, talked) = futures_util::join!(proxying, talking);
//!     talked?;
//!     let stats = stats?;
//!     assert_eq!(stats.a_to_b.bytes_written, 4);
//!     assert_eq!(stats.b_to_a.bytes_written, 4);
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Cancel safety
//!
//! | operation | cancel-safe? |
//! |---|---|
//! | [`copy`], [`proxy`] | no: a buffer read but not yet handed to the writer is lost (with `splice`, what its pipe holds, up to 1 MiB each way), and so are the statistics |
//! | [`BufFlow`] reads ([`read_exact`](BufFlow::read_exact), [`read_line`](BufFlow::read_line), [`read_until`](BufFlow::read_until), [`read_some`](BufFlow::read_some)) | yes: what was read stays in the buffer for the next call |
//! | [`BufFlow`]'s `flush`, `shutdown` and `close` (the flow's) | yes: calling again resumes |
//! | [`Metered`], [`FlowIo`], streams as flows, [`BufFlow`] through the flow traits | as the wrapped flow or stream |
//! | `hyper::Connecting` (a connect of the client's) | dropping it abandons the dial |

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod buf_flow;
mod copy;
#[cfg(feature = "hyper-client")]
pub mod hyper;
#[cfg(any(feature = "tokio", feature = "futures-io", feature = "hyper"))]
mod io;
mod meter;
#[cfg(any(feature = "tokio", feature = "futures-io"))]
mod stream;

pub use crate::buf_flow::{BufFlow, BufFlowError};
pub use crate::copy::{
    CopyError, CopyFuture, CopyStats, Direction, ProxyError, ProxyFuture, ProxyStats, Side, copy, proxy,
};
#[cfg(any(feature = "tokio", feature = "futures-io", feature = "hyper"))]
pub use crate::io::FlowIo;
pub use crate::meter::{Meter, MeterSnapshot, Metered};
#[cfg(feature = "futures-io")]
pub use crate::stream::{FuturesIoStream, FuturesIoStreamFlow, from_futures_io};
#[cfg(feature = "tokio")]
pub use crate::stream::{TokioStream, TokioStreamFlow, from_tokio};
