//! A `tls://` listener's flows: accepted at once, with the TLS handshake
//! run by the flow's first use, so that a client that connects and says
//! nothing holds only its own connection, never the accept loop.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flow_api::{BoxFlow, Bytes, Chunk, Error, ErrorKind, FlowRead, FlowWrite, WriteError};
use flow_tls::{Handshake, TlsFlow};

enum State {
    Handshaking(Handshake<BoxFlow<'static>>),
    Ready(TlsFlow<BoxFlow<'static>>),
    /// The handshake failed: every operation says so (the first one got
    /// the error itself, with its source).
    Failed(ErrorKind, String),
}

/// A server-side TLS flow whose handshake completes on the first poll of
/// any of its operations.
pub(super) struct ServerFlow {
    state: State,
    /// "accepting TLS from PEER on ADDRESS", for a failed handshake.
    what: String,
}

impl ServerFlow {
    pub(super) fn new(handshake: Handshake<BoxFlow<'static>>, what: String) -> Self {
        ServerFlow {
            state: State::Handshaking(handshake),
            what,
        }
    }

    /// The TLS flow, once the handshake is done.
    fn poll_tls(&mut self, cx: &mut Context<'_>) -> Poll<Result<&mut TlsFlow<BoxFlow<'static>>, Error>> {
        if let State::Handshaking(handshake) = &mut self.state {
            match ready!(Pin::new(handshake).poll(cx)) {
                Ok(tls) => self.state = State::Ready(tls),
                Err(err) => {
                    let err = err.context(self.what.clone());
                    self.state = State::Failed(err.kind(), err.to_string());
                    return Poll::Ready(Err(err));
                }
            }
        }
        match &mut self.state {
            State::Ready(tls) => Poll::Ready(Ok(tls)),
            State::Failed(kind, message) => Poll::Ready(Err(Error::new(*kind).context(message.clone()))),
            State::Handshaking(_) => Poll::Pending,
        }
    }
}

impl FlowRead for ServerFlow {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        let tls = ready!(self.get_mut().poll_tls(cx))?;
        Pin::new(tls).poll_read(cx)
    }

    fn poll_shutdown_read(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let tls = ready!(self.get_mut().poll_tls(cx))?;
        Pin::new(tls).poll_shutdown_read(cx)
    }
}

impl FlowWrite for ServerFlow {
    fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let tls = ready!(self.get_mut().poll_tls(cx))?;
        Pin::new(tls).poll_write_ready(cx)
    }

    fn start_write(self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        let this = self.get_mut();
        match &mut this.state {
            State::Ready(tls) => Pin::new(tls).start_write(buf),
            State::Failed(kind, message) => Err(Error::new(*kind).context(message.clone()).into()),
            // The contract asks for `poll_write_ready` first, which
            // completes the handshake.
            State::Handshaking(_) => Err(Error::new(ErrorKind::Other)
                .context(format!(
                    "{}: a write before the flow was ready (poll_write_ready first)",
                    this.what
                ))
                .into()),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        let tls = ready!(self.get_mut().poll_tls(cx))?;
        Pin::new(tls).poll_flush(cx)
    }

    fn poll_shutdown_write(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let tls = ready!(self.get_mut().poll_tls(cx))?;
        Pin::new(tls).poll_shutdown_write(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let tls = ready!(self.get_mut().poll_tls(cx))?;
        Pin::new(tls).poll_close(cx)
    }
}
