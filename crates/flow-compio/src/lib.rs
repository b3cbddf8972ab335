//! The compio backend of the flow contract: TCP and Unix socket flows on
//! completion-based I/O (io_uring on Linux).
//!
//! ```no_run
//! use flow_api::prelude::*;
//! use flow_compio::{TcpFlow, TcpListener};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! compio::runtime::Runtime::new()?.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let (mut client, (mut server, _peer)) = futures_util::future::try_join(
//!         TcpFlow::connect(listener.local_addr()?),
//!         listener.accept(),
//!     )
//!     .await?;
//!     client.write("ping").await?;
//!     client.shutdown(Shutdown::Write).await?; // a real FIN
//!     assert_eq!(server.read().await?, Chunk::Data(Bytes::from("ping")));
//!     assert_eq!(server.read().await?, Chunk::Eof);
//!     Ok::<_, flow_api::Error>(())
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! # What a completion-based socket changes
//!
//! On a readiness runtime (tokio, smol) a read asks "is there data?" and
//! copies it out; here the flow hands the kernel a buffer and the kernel
//! fills it later. So:
//!
//! - **No copies.** A read submits a `BytesMut` (64 KiB, reused once the
//!   slices handed out are dropped) and returns the filled part, frozen, as
//!   the chunk. A write submits the caller's `Bytes` themselves; buffers
//!   fed before one flush go out in one vectored submission (up to 1,024).
//! - **The flow owns its operations, not the caller's future.** The
//!   receive in flight, the send in flight and the accept in flight (in a
//!   listener) are stored in the flow. A `read()` future dropped while the
//!   kernel fills its buffer loses nothing: the next read picks up that
//!   result. A dropped `write`, `flush` or `close` leaves its send running;
//!   calling again resumes.
//! - **Dropping a flow with operations in flight** drops them, which
//!   cancels them with compio's driver; the driver keeps each buffer (and a
//!   reference to the socket) until the kernel reports the operation
//!   finished, then frees both, closing the socket. Nothing is freed while
//!   the kernel may still write to it, and nothing leaks, provided the
//!   runtime goes on running (as it does while any task runs on it).
//!
//! The flows and listeners are flow-socket's ([`flow_socket::TcpFlow`] and
//! the others, over [`Compio`]): one engine for every runtime, over
//! [`CompioStream`], the transport that keeps the operations in flight.
//! So they behave as on the other runtimes:
//! `shutdown(Write)` sends a real FIN once every byte was sent; a reset is
//! [`ErrorKind::Reset`](flow_api::ErrorKind::Reset) and a refused connection
//! [`ErrorKind::Refused`](flow_api::ErrorKind::Refused); after
//! `shutdown(Read)` reads return end of file and a TCP flow discards what the
//! peer still sends (a Unix socket's read direction is shut instead, so the
//! peer's writes fail); close flushes, sends the FIN, discards until the
//! peer's end of file, and gives up with
//! [`ErrorKind::TimedOut`](flow_api::ErrorKind::TimedOut) after its deadline
//! ([`DEFAULT_CLOSE_TIMEOUT`], [`TcpFlow::set_close_timeout`]), shutting both
//! directions down. Connect, bind and accept errors name the address or path.
//!
//! `into_split` comes with the shared types ([`TcpReadHalf`],
//! [`TcpWriteHalf`]), and the socket tests of the halves pass, but the
//! whole suite over split halves does not yet on compio (a model case of
//! clause 24 sees a reset): treat it as experimental here.
//!
//! # Threads
//!
//! compio runs one runtime per thread, and its sockets belong to it: the
//! flows and listeners are not `Send`, and their operations must be polled
//! on a thread running a compio runtime (`Runtime::block_on`, or a task it
//! spawned). Constructors called elsewhere fail with
//! [`ErrorKind::Unsupported`](flow_api::ErrorKind::Unsupported); polling a
//! flow's operations on a thread without a compio runtime panics, as
//! compio's own operations do. For the
//! same reason there is no `Timer` here: [`flow_api::Timer`] makes `Send`
//! sleeps and compio's are not. The close deadline uses compio's timer
//! directly; a TLS handshake deadline over these flows takes any `Timer`
//! whose sleeps need no particular runtime.
//!
//! # Cancel safety
//!
//! | operation | cancel-safe? |
//! |---|---|
//! | `read` | yes: the receive in flight stays with the flow, the next read returns its bytes |
//! | `write`, `feed`, `writev` | as the contract says: a buffer is taken whole or not at all; one taken is sent by the send in flight or the next flush |
//! | `flush`, `shutdown`, `close` | yes: calling again resumes |
//! | [`TcpListener::accept`], [`UnixListener::accept`] | yes: the accept in flight stays with the listener |
//! | [`TcpFlow::connect`], [`UnixFlow::connect`] | dropping abandons the attempt |

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod engine;
mod net;

pub use flow_socket::{DEFAULT_CLOSE_TIMEOUT, ToAddrs};

pub use crate::engine::{CompioStream, Socket};
pub use crate::net::{Compio, CompioListener, Listen};

/// A TCP connection as a flow, on compio.
///
/// Reads hand out the part of a kernel-filled buffer that was filled;
/// writes submit the buffers handed over themselves (vectored, up to 1,024
/// per submission). Not `Send`: compio runs one runtime per thread.
pub type TcpFlow = flow_socket::TcpFlow<Compio>;
/// Accepts TCP connections as flows, on compio; its accept in flight
/// belongs to it (see [`CompioListener`]).
pub type TcpListener = flow_socket::TcpListener<Compio>;
/// The read half of a [`TcpFlow`] split with [`into_split`](TcpFlow::into_split).
pub type TcpReadHalf = flow_socket::TcpReadHalf<Compio>;
/// The write half of a [`TcpFlow`] split with [`into_split`](TcpFlow::into_split).
pub type TcpWriteHalf = flow_socket::TcpWriteHalf<Compio>;
/// A Unix domain stream socket as a flow, on compio.
pub type UnixFlow = flow_socket::UnixFlow<Compio>;
/// Accepts Unix domain socket connections as flows, on compio.
pub type UnixListener = flow_socket::UnixListener<Compio>;
/// The read half of a [`UnixFlow`] split with [`into_split`](UnixFlow::into_split).
pub type UnixReadHalf = flow_socket::UnixReadHalf<Compio>;
/// The write half of a [`UnixFlow`] split with [`into_split`](UnixFlow::into_split).
pub type UnixWriteHalf = flow_socket::UnixWriteHalf<Compio>;
/// A connection a [`UnixListener`] accepted, with the path the peer is
/// bound to (usually `None`: clients are unnamed).
pub type Accepted = flow_socket::UnixAccepted<Compio>;
