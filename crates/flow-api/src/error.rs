//! Errors: [`Error`] for reads and flow operations, [`WriteError`] for writes,
//! and the [`ErrorKind`] that programs branch on.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::io;

/// What went wrong, in a form a program can branch on.
///
/// Every flow error carries one. It maps to and from [`std::io::ErrorKind`]
/// (see [`ErrorKind::from_io`] and [`ErrorKind::to_io`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The flow (or the direction used) is closed.
    Closed,
    /// The peer aborted the connection (a TCP reset, or an in-memory peer
    /// dropped without closing).
    Reset,
    /// The peer refused the connection.
    Refused,
    /// An operation or a deadline timed out.
    TimedOut,
    /// The TLS layer failed (handshake, certificate, alert, bad record).
    Tls,
    /// The bytes received are not valid for the protocol in use.
    InvalidData,
    /// The stream ended before the peer finished it properly (for example,
    /// TLS without `close_notify`). Not a clean end of file.
    Truncated,
    /// The operation is not supported by this flow.
    Unsupported,
    /// Anything else; the source error tells more.
    Other,
}

impl ErrorKind {
    /// A short, human-readable description, as the seed's `pp_error` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Closed => "flow is closed",
            ErrorKind::Reset => "connection reset by peer",
            ErrorKind::Refused => "connection refused",
            ErrorKind::TimedOut => "operation timed out",
            ErrorKind::Tls => "TLS error",
            ErrorKind::InvalidData => "invalid data",
            ErrorKind::Truncated => "flow truncated: end of file before the peer finished the stream",
            ErrorKind::Unsupported => "operation not supported by this flow",
            ErrorKind::Other => "flow error",
        }
    }

    /// The flow kind for an I/O error kind.
    pub fn from_io(kind: io::ErrorKind) -> Self {
        match kind {
            io::ErrorKind::BrokenPipe | io::ErrorKind::NotConnected => ErrorKind::Closed,
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => ErrorKind::Reset,
            io::ErrorKind::ConnectionRefused => ErrorKind::Refused,
            io::ErrorKind::TimedOut => ErrorKind::TimedOut,
            io::ErrorKind::InvalidData => ErrorKind::InvalidData,
            io::ErrorKind::UnexpectedEof => ErrorKind::Truncated,
            io::ErrorKind::Unsupported => ErrorKind::Unsupported,
            _ => ErrorKind::Other,
        }
    }

    /// The I/O error kind closest to this flow kind.
    pub fn to_io(self) -> io::ErrorKind {
        match self {
            ErrorKind::Closed => io::ErrorKind::BrokenPipe,
            ErrorKind::Reset => io::ErrorKind::ConnectionReset,
            ErrorKind::Refused => io::ErrorKind::ConnectionRefused,
            ErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ErrorKind::Tls | ErrorKind::InvalidData => io::ErrorKind::InvalidData,
            ErrorKind::Truncated => io::ErrorKind::UnexpectedEof,
            ErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ErrorKind::Other => io::ErrorKind::Other,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<io::ErrorKind> for ErrorKind {
    fn from(kind: io::ErrorKind) -> Self {
        ErrorKind::from_io(kind)
    }
}

impl From<ErrorKind> for io::ErrorKind {
    fn from(kind: ErrorKind) -> Self {
        kind.to_io()
    }
}

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An error from a read or a flow operation (shutdown, close, connect...):
/// the seed's `error`.
///
/// It has a [kind](Error::kind), context layers that say what was being
/// done, and an optional [source](std::error::Error::source). Display prints
/// the layers, outermost first, then what went wrong:
/// `reading the response: connection reset by peer`. For the kinds whose
/// description says little by itself ([`ErrorKind::Tls`],
/// [`ErrorKind::InvalidData`], [`ErrorKind::Other`]), what went wrong is the
/// source's own message (`connecting to /run/x.sock: No such file or
/// directory (os error 2)`), and [`source`](std::error::Error::source) then
/// returns the source's source, as `std::io::Error` does: an error reporter
/// that walks the chain prints each message once.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    /// Innermost first.
    context: Vec<Cow<'static, str>>,
    source: Option<BoxError>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for layer in self.context.iter().rev() {
            write!(f, "{layer}: ")?;
        }
        match self.shown_source() {
            Some(source) => write!(f, "{source}"),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self.shown_source() {
            // Displayed already: the chain goes on below it.
            Some(shown) => shown.source(),
            None => self.source.as_deref().map(|source| source as &(dyn StdError + 'static)),
        }
    }
}

impl Error {
    /// An error of this kind, with neither context nor source.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            context: Vec::new(),
            source: None,
        }
    }

    /// An error of this kind caused by `source`, which [`source()`](std::error::Error::source) returns.
    pub fn with_source(kind: ErrorKind, source: impl Into<BoxError>) -> Self {
        Error {
            kind,
            context: Vec::new(),
            source: Some(source.into()),
        }
    }

    /// Adds a context layer: what was being done when this failed. It is
    /// printed before the layers added so far (`connecting to 127.0.0.1:9`,
    /// then `fetching the index` gives `fetching the index: connecting to
    /// 127.0.0.1:9: connection refused`).
    #[must_use]
    pub fn context(mut self, context: impl Into<Cow<'static, str>>) -> Self {
        self.context.push(context.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The error that caused this one, if any: whether
    /// [`Display`](fmt::Display) prints it (kinds `Tls`, `InvalidData`,
    /// `Other`) or [`source`](std::error::Error::source) returns it. Downcast
    /// it to reach the typed cause (a `rustls::Error`, an `io::Error`).
    pub fn get_ref(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// The outermost context layer, if any.
    pub fn context_message(&self) -> Option<&str> {
        self.context.last().map(AsRef::as_ref)
    }

    /// The context layers, outermost first.
    pub fn contexts(&self) -> impl Iterator<Item = &str> {
        self.context.iter().rev().map(AsRef::as_ref)
    }

    /// The source, when Display prints it in place of the kind.
    fn shown_source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        match self.kind {
            ErrorKind::Tls | ErrorKind::InvalidData | ErrorKind::Other => self.source.as_deref(),
            _ => None,
        }
    }

    fn io_source_kind(&self) -> Option<io::ErrorKind> {
        self.source
            .as_ref()
            .and_then(|s| s.downcast_ref::<io::Error>())
            .map(io::Error::kind)
    }

    /// The I/O error kind this error maps to. For [`ErrorKind::Other`] with an
    /// I/O error as source, the source's kind is kept.
    pub fn io_kind(&self) -> io::ErrorKind {
        if self.kind == ErrorKind::Other {
            if let Some(kind) = self.io_source_kind() {
                return kind;
            }
        }
        self.kind.to_io()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl From<io::Error> for Error {
    /// Keeps the kind and the source: an `io::Error` made from a flow error
    /// gives back that very error.
    fn from(err: io::Error) -> Self {
        let kind = ErrorKind::from_io(err.kind());
        if err
            .get_ref()
            .is_some_and(|inner| inner.is::<Error>() || inner.is::<WriteError>())
        {
            if let Some(inner) = err.into_inner() {
                return match inner.downcast::<Error>() {
                    Ok(flow) => *flow,
                    Err(other) => match other.downcast::<WriteError>() {
                        Ok(write) => Error::from(*write),
                        Err(other) => Error::with_source(kind, other),
                    },
                };
            }
            return Error::new(kind);
        }
        Error::with_source(kind, err)
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        io::Error::new(err.io_kind(), err)
    }
}

/// An error from a write: the seed's `write_error`.
///
/// [`WriteError::Closed`] is its own case, distinct from every other failure:
/// the flow (or its write direction) is closed, so the data could not be
/// written. Everything else is a [`WriteError::Flow`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The flow is closed for writing: after `shutdown(Write)`, after `close`,
    /// or because the peer has gone in a way the backend reports as closed.
    #[error("attempted to write to a closed flow")]
    Closed,
    /// Any other failure.
    #[error(transparent)]
    Flow(Error),
}

impl WriteError {
    /// What went wrong; [`ErrorKind::Closed`] for [`WriteError::Closed`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            WriteError::Closed => ErrorKind::Closed,
            WriteError::Flow(err) => err.kind(),
        }
    }

    /// Whether this is [`WriteError::Closed`].
    pub fn is_closed(&self) -> bool {
        matches!(self, WriteError::Closed)
    }
}

impl From<Error> for WriteError {
    /// An error of kind [`ErrorKind::Closed`] becomes [`WriteError::Closed`],
    /// so the closed case has exactly one shape.
    fn from(err: Error) -> Self {
        if err.kind() == ErrorKind::Closed {
            WriteError::Closed
        } else {
            WriteError::Flow(err)
        }
    }
}

impl From<WriteError> for Error {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Closed => Error::new(ErrorKind::Closed).context("attempted to write to a closed flow"),
            WriteError::Flow(err) => err,
        }
    }
}

impl From<ErrorKind> for WriteError {
    fn from(kind: ErrorKind) -> Self {
        WriteError::from(Error::new(kind))
    }
}

impl From<io::Error> for WriteError {
    fn from(err: io::Error) -> Self {
        WriteError::from(Error::from(err))
    }
}

impl From<WriteError> for io::Error {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Closed => io::Error::new(io::ErrorKind::BrokenPipe, WriteError::Closed),
            WriteError::Flow(err) => err.into(),
        }
    }
}
