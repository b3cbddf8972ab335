//! quinn's errors as flow errors: the kind a program branches on, a context
//! that names what failed and where, and quinn's error as the source.

use flow_api::{Error, ErrorKind, WriteError};
use quinn::{ConnectionError, ReadError, VarInt};

use crate::{ABORT_CODE, SHUTDOWN_READ_CODE};

/// Whether a transport error code is a TLS alert (RFC 9001 §4.8: `0x0100`
/// to `0x01ff`).
fn is_crypto(code: quinn::TransportErrorCode) -> bool {
    (0x100..0x200).contains(&u64::from(code))
}

/// The kind of a connection-level failure.
pub(crate) fn connection_kind(err: &ConnectionError) -> ErrorKind {
    match err {
        ConnectionError::TimedOut => ErrorKind::TimedOut,
        ConnectionError::LocallyClosed => ErrorKind::Closed,
        ConnectionError::ApplicationClosed(_) | ConnectionError::Reset => ErrorKind::Reset,
        ConnectionError::ConnectionClosed(close) if is_crypto(close.error_code) => ErrorKind::Tls,
        ConnectionError::ConnectionClosed(_) => ErrorKind::Reset,
        ConnectionError::TransportError(err) if is_crypto(err.code) => ErrorKind::Tls,
        ConnectionError::TransportError(_) => ErrorKind::InvalidData,
        ConnectionError::VersionMismatch => ErrorKind::Refused,
        ConnectionError::CidsExhausted => ErrorKind::Other,
    }
}

/// A connection-level failure, with quinn's error as the source.
pub(crate) fn connection_error(err: ConnectionError) -> Error {
    let kind = connection_kind(&err);
    let cause = match &err {
        ConnectionError::LocallyClosed => "the connection was closed locally".to_owned(),
        ConnectionError::TimedOut => "the connection timed out (idle timeout)".to_owned(),
        other => format!("connection lost: {other}"),
    };
    Error::with_source(kind, err).context(cause)
}

/// Where a stream error happened: "stream 4 (client, peer 127.0.0.1:4433)".
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pub(crate) id: quinn::StreamId,
    pub(crate) peer: std::net::SocketAddr,
    pub(crate) side: quinn::Side,
}

impl Place {
    fn describe(&self, doing: &str) -> String {
        let side = match self.side {
            quinn::Side::Client => "client",
            quinn::Side::Server => "server",
        };
        format!("{doing} QUIC stream {} ({side} side, peer {})", self.id, self.peer)
    }

    /// A read failure. `None`: the stream is over for reading (stopped or
    /// read to its end), which reads see as end of file.
    pub(crate) fn read_error(&self, err: ReadError) -> Option<Error> {
        let doing = self.describe("reading");
        Some(match err {
            ReadError::Reset(code) => Error::with_source(ErrorKind::Reset, err)
                .context(format!("the peer reset the stream with code {}", code_name(code)))
                .context(doing),
            ReadError::ConnectionLost(conn) => connection_error(conn).context(doing),
            ReadError::ClosedStream => return None,
            ReadError::ZeroRttRejected => Error::with_source(ErrorKind::Reset, err).context(doing),
            // Reads are ordered; quinn reports this for unordered reads only.
            other @ ReadError::IllegalOrderedRead => Error::with_source(ErrorKind::Other, other).context(doing),
        })
    }

    /// A write failure. A peer that shut its reading down
    /// ([`SHUTDOWN_READ_CODE`]) refuses writes as a closed flow does; any
    /// other stop is the peer aborting, a reset.
    pub(crate) fn write_error(&self, err: quinn::WriteError) -> WriteError {
        let doing = self.describe("writing to");
        match err {
            quinn::WriteError::Stopped(code) if code == SHUTDOWN_READ_CODE => WriteError::Closed,
            quinn::WriteError::Stopped(code) => WriteError::Flow(
                Error::with_source(ErrorKind::Reset, err)
                    .context(format!("the peer stopped reading with code {}", code_name(code)))
                    .context(doing),
            ),
            quinn::WriteError::ClosedStream => WriteError::Closed,
            quinn::WriteError::ConnectionLost(conn) => match connection_kind(&conn) {
                // The local close of the connection: the one shape of a closed write.
                ErrorKind::Closed => WriteError::Closed,
                _ => WriteError::Flow(connection_error(conn).context(doing)),
            },
            quinn::WriteError::ZeroRttRejected => {
                WriteError::Flow(Error::with_source(ErrorKind::Reset, err).context(doing))
            }
        }
    }

    /// The close deadline passed.
    pub(crate) fn close_timed_out(&self, after: std::time::Duration) -> Error {
        Error::new(ErrorKind::TimedOut)
            .context(format!("the peer did not finish the stream within {after:?}"))
            .context(self.describe("closing"))
    }
}

/// A code as the peer sent it, named when it is one of ours.
fn code_name(code: VarInt) -> String {
    if code == ABORT_CODE {
        format!("{code} (ABORT_CODE: the peer's flow was aborted or dropped without close)")
    } else if code == SHUTDOWN_READ_CODE {
        format!("{code} (SHUTDOWN_READ_CODE)")
    } else {
        code.to_string()
    }
}
