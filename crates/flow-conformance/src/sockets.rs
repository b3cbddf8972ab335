//! Helpers for the tests of socket backends: pair factories over loopback
//! TCP and Unix sockets, the checks that only real sockets show, and a
//! temporary directory. A backend of the common shape (`TcpListener::bind`,
//! `TcpFlow::connect`, `UnixListener::bind`, `UnixFlow::connect`, `pair`,
//! and the socket options of the workspace's backends) gets them with one
//! macro call each, so that its tests need no other crate.
//!
//! ```ignore
//! flow_conformance::socket_factories!(TokioTcp, TokioUnix, flow_tokio);
//! flow_conformance::suite! { factory: TokioTcp::default(), block_on: tokio_block_on }
//! flow_conformance::socket_tests!(flow_tokio, tokio_block_on);
//! ```

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use flow_api::{Bytes, Chunk, Error, FlowRead, FlowWrite, WriteError};

/// A fresh directory under the system's temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Makes the directory's path (the directory itself is made on first use).
    pub fn new(prefix: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        TempDir(std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )))
    }

    /// A path inside the directory, creating the directory.
    ///
    /// # Errors
    ///
    /// The directory cannot be created.
    pub fn path(&self, name: &str) -> Result<PathBuf, Error> {
        std::fs::create_dir_all(&self.0)?;
        Ok(self.0.join(name))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `future` under `block_on`, failing if it takes longer than 20 s.
///
/// # Panics
///
/// When the future hangs.
pub async fn within_limit<F: std::future::Future>(future: F) -> F::Output {
    match crate::timer::timeout(std::time::Duration::from_secs(20), future).await {
        Some(output) => output,
        None => panic!("the test hung for 20 s"),
    }
}

/// A flow made of a read half and a write half (of an owned split), so that
/// the suite can run over split halves. Its close does what a program
/// holding the halves apart does: it keeps reading (and dropping what
/// arrives) while the write half closes, since that close completes only
/// once the read half has seen the remote's end.
#[derive(Debug)]
pub struct Joined<R, W> {
    read: R,
    write: W,
    read_over: bool,
    closing: bool,
}

impl<R, W> Joined<R, W> {
    /// Joins the two halves.
    pub fn new(read: R, write: W) -> Self {
        Joined {
            read,
            write,
            read_over: false,
            closing: false,
        }
    }
}

impl<R: FlowRead + Unpin, W: Unpin> FlowRead for Joined<R, W> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Chunk, Error>> {
        if self.closing {
            // As a whole flow: once close started, what arrives is its to discard.
            return Poll::Ready(Ok(Chunk::Eof));
        }
        Pin::new(&mut self.read).poll_read(cx)
    }

    fn poll_shutdown_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.read).poll_shutdown_read(cx)
    }
}

impl<R: FlowRead + Unpin, W: FlowWrite + Unpin> FlowWrite for Joined<R, W> {
    fn poll_write_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        Pin::new(&mut self.write).poll_write_ready(cx)
    }

    fn start_write(mut self: Pin<&mut Self>, buf: Bytes) -> Result<(), WriteError> {
        Pin::new(&mut self.write).start_write(buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        Pin::new(&mut self.write).poll_flush(cx)
    }

    fn poll_shutdown_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.write).poll_shutdown_write(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.closing = true;
        while !this.read_over {
            match Pin::new(&mut this.read).poll_read(cx) {
                Poll::Ready(Ok(Chunk::Data(_))) => {}
                Poll::Ready(_) => this.read_over = true,
                Poll::Pending => break,
            }
        }
        Pin::new(&mut this.write).poll_close(cx)
    }
}

/// Connects a `$client` flow to a `$server` listener, bound on first use in
/// `$listener` (a `OnceLock`), and accepts it: `(client, server)`. For the
/// factory macros; `?` returns from the enclosing `connect`.
#[doc(hidden)]
#[macro_export]
macro_rules! __tcp_connect {
    ($listener:expr, $client:ident, $server:ident) => {{
        let cell = $listener;
        if cell.get().is_none() {
            let _ = cell.set($server::TcpListener::bind("127.0.0.1:0").await?);
        }
        let listener = cell.get().ok_or($crate::flow_api::ErrorKind::Other)?;
        let addr = listener.local_addr()?;
        let (client, (server, _)) =
            $crate::__private::futures_util::future::try_join($client::TcpFlow::connect(addr), listener.accept())
                .await?;
        (client, server)
    }};
}

/// Defines a pair factory over loopback TCP whose ends are each split with
/// `into_split` and [joined](Joined) again: the suite over owned halves.
#[macro_export]
macro_rules! split_factory {
    ($name:ident, $krate:ident) => {
        #[doc = concat!("`", stringify!($krate), "` over loopback TCP, each end split into owned halves.")]
        #[derive(Debug, Default)]
        pub struct $name {
            listener: ::std::sync::OnceLock<$krate::TcpListener>,
        }

        impl $crate::Factory for $name {
            type Client = $crate::sockets::Joined<$krate::TcpReadHalf, $krate::TcpWriteHalf>;
            type Server = $crate::sockets::Joined<$krate::TcpReadHalf, $krate::TcpWriteHalf>;

            async fn connect(&self) -> Result<(Self::Client, Self::Server), $crate::flow_api::Error> {
                let (client, server) = $crate::__tcp_connect!(&self.listener, $krate, $krate);
                let (client_read, client_write) = client.into_split()?;
                let (server_read, server_write) = server.into_split()?;
                Ok((
                    $crate::sockets::Joined::new(client_read, client_write),
                    $crate::sockets::Joined::new(server_read, server_write),
                ))
            }

            fn capabilities(&self) -> $crate::Capabilities {
                $crate::Capabilities::new()
            }
        }
    };
}

/// Defines pair factories over loopback TCP and a Unix socket for a backend
/// crate whose API has the common shape (`TcpListener::bind(addr).await`,
/// `TcpFlow::connect(addr).await`, `listener.accept().await`,
/// `UnixListener::bind(path)`, `UnixFlow::connect(path).await`).
#[macro_export]
macro_rules! socket_factories {
    ($tcp:ident, $unix:ident, $krate:ident) => {
        #[doc = concat!("`", stringify!($krate), "` over loopback TCP, through one listener per factory.")]
        #[derive(Debug, Default)]
        pub struct $tcp {
            listener: ::std::sync::OnceLock<$krate::TcpListener>,
        }

        impl $crate::Factory for $tcp {
            type Client = $krate::TcpFlow;
            type Server = $krate::TcpFlow;

            async fn connect(&self) -> Result<(Self::Client, Self::Server), $crate::flow_api::Error> {
                let (client, server) = $crate::__tcp_connect!(&self.listener, $krate, $krate);
                Ok((client, server))
            }

            fn capabilities(&self) -> $crate::Capabilities {
                $crate::Capabilities::new()
            }
        }

        #[doc = concat!("`", stringify!($krate), "` over a Unix socket in a fresh temporary directory.")]
        #[derive(Debug)]
        pub struct $unix {
            dir: $crate::sockets::TempDir,
            listener: ::std::sync::OnceLock<$krate::UnixListener>,
        }

        impl Default for $unix {
            fn default() -> Self {
                $unix {
                    dir: $crate::sockets::TempDir::new(stringify!($krate)),
                    listener: ::std::sync::OnceLock::new(),
                }
            }
        }

        impl $crate::Factory for $unix {
            type Client = $krate::UnixFlow;
            type Server = $krate::UnixFlow;

            async fn connect(&self) -> Result<(Self::Client, Self::Server), $crate::flow_api::Error> {
                let path = self.dir.path("socket")?;
                if self.listener.get().is_none() {
                    let _ = self.listener.set($krate::UnixListener::bind(&path)?);
                }
                let listener = self.listener.get().ok_or($crate::flow_api::ErrorKind::Other)?;
                let (client, (server, _)) = $crate::__private::futures_util::future::try_join(
                    $krate::UnixFlow::connect(&path),
                    listener.accept(),
                )
                .await?;
                Ok((client, server))
            }

            fn capabilities(&self) -> $crate::Capabilities {
                $crate::Capabilities::new()
            }
        }
    };
}

/// Defines a factory whose client comes from one backend crate and whose
/// server comes from another, over loopback TCP.
#[macro_export]
macro_rules! cross_factory {
    ($name:ident, $client:ident, $server:ident) => {
        #[doc = concat!("A `", stringify!($client), "` client against a `", stringify!($server), "` server.")]
        #[derive(Debug, Default)]
        pub struct $name {
            listener: ::std::sync::OnceLock<$server::TcpListener>,
        }

        impl $crate::Factory for $name {
            type Client = $client::TcpFlow;
            type Server = $server::TcpFlow;

            async fn connect(&self) -> Result<(Self::Client, Self::Server), $crate::flow_api::Error> {
                let (client, server) = $crate::__tcp_connect!(&self.listener, $client, $server);
                Ok((client, server))
            }

            fn capabilities(&self) -> $crate::Capabilities {
                $crate::Capabilities::new()
            }
        }
    };
}

/// A listener and a connected pair through it, for [`socket_tests!`]:
/// `(listener, client, server, client's address)`.
#[doc(hidden)]
#[macro_export]
macro_rules! __tcp_pair {
    ($krate:ident) => {{
        let listener = $krate::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, (server, peer)) = $crate::__private::futures_util::future::try_join(
            $krate::TcpFlow::connect(listener.local_addr().unwrap()),
            listener.accept(),
        )
        .await
        .unwrap();
        (listener, client, server, peer)
    }};
}

/// What only real sockets show, for a backend crate of the common shape:
/// a FIN that a plain socket sees, resets, refusals, options, the close
/// deadline. Expands to `#[test]` functions run with `block_on`.
#[macro_export]
macro_rules! socket_tests {
    ($krate:ident, $block_on:path) => {
        use ::std::io::{Read as _, Write as _};
        use ::std::time::Duration;
        use $crate::flow_api::prelude::*;

        /// The peer is a plain blocking std socket in a thread: it sees end
        /// of file only if the flow sent a real FIN, and answers after that.
        #[test]
        fn shutdown_write_sends_a_fin_that_a_plain_socket_sees() {
            let listener = ::std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = ::std::thread::spawn(move || {
                let (mut socket, _) = listener.accept().unwrap();
                socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut request = Vec::new();
                // read_to_end returns only at end of file: the FIN.
                socket.read_to_end(&mut request).unwrap();
                socket.write_all(b"reply after your FIN").unwrap();
                request
            });
            $block_on($crate::sockets::within_limit(async {
                let mut flow = $krate::TcpFlow::connect(addr).await.unwrap();
                flow.write("request").await.unwrap();
                flow.shutdown(Shutdown::Write).await.unwrap();
                let mut reply = Vec::new();
                while let Chunk::Data(data) = flow.read().await.unwrap() {
                    reply.extend_from_slice(&data);
                }
                assert_eq!(reply, b"reply after your FIN");
            }));
            assert_eq!(peer.join().unwrap(), b"request");
        }

        #[test]
        fn a_reset_peer_gives_the_reset_kind_on_read_and_write() {
            $block_on($crate::sockets::within_limit(async {
                let (_listener, mut client, server, _) = $crate::__tcp_pair!($krate);
                // SO_LINGER 0: dropping the socket aborts the connection with a RST.
                server.set_linger(Some(Duration::ZERO)).unwrap();
                drop(server);
                let err = loop {
                    match client.read().await {
                        Err(err) => break err,
                        Ok(Chunk::Eof) => panic!("a reset must not look like a clean end of file"),
                        Ok(Chunk::Data(_)) => continue,
                    }
                };
                assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
                let err = client.write("after reset").await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
            }));
        }

        #[test]
        fn writes_alone_learn_of_a_reset() {
            $block_on($crate::sockets::within_limit(async {
                let (_listener, mut client, server, _) = $crate::__tcp_pair!($krate);
                server.set_linger(Some(Duration::ZERO)).unwrap();
                drop(server);
                let mut failure = None;
                for _ in 0..1000 {
                    if let Err(err) = client.write(vec![1u8; 1024]).await {
                        failure = Some(err);
                        break;
                    }
                }
                let err = failure.expect("writes to a reset connection kept succeeding");
                assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
            }));
        }

        #[test]
        fn connecting_to_a_closed_port_is_refused() {
            let addr = {
                let listener = ::std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                listener.local_addr().unwrap()
            };
            $block_on($crate::sockets::within_limit(async {
                let err = $krate::TcpFlow::connect(addr).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Refused, "{err}");
                assert_eq!(
                    ::std::io::Error::from(err).kind(),
                    ::std::io::ErrorKind::ConnectionRefused
                );
            }));
        }

        #[test]
        fn socket_options_and_addresses() {
            $block_on($crate::sockets::within_limit(async {
                let (listener, client, server, peer) = $crate::__tcp_pair!($krate);
                assert!(client.nodelay().unwrap(), "TCP_NODELAY is on by default");
                client.set_nodelay(false).unwrap();
                assert!(!client.nodelay().unwrap());
                client.set_ttl(33).unwrap();
                client.set_keepalive(Some(Duration::from_secs(60))).unwrap();
                client.set_keepalive(None).unwrap();
                assert_eq!(client.local_addr().unwrap(), peer);
                assert_eq!(server.peer_addr().unwrap(), peer);
                assert_eq!(client.peer_addr().unwrap(), listener.local_addr().unwrap());
            }));
        }

        #[test]
        fn close_gives_up_at_its_deadline_when_the_peer_never_closes() {
            $block_on($crate::sockets::within_limit(async {
                let (_listener, mut client, mut server, _) = $crate::__tcp_pair!($krate);
                client.set_close_timeout(Some(Duration::from_millis(100)));
                let err = client.close().await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
                // The peer learnt the end of writes, and the flow is closed now.
                assert_eq!(server.read().await.unwrap(), Chunk::Eof);
                assert!(client.write("x").await.unwrap_err().is_closed());
                assert_eq!(client.read().await.unwrap(), Chunk::Eof);
                client.close().await.unwrap();
            }));
        }

        #[test]
        fn unix_pairs_half_close() {
            $block_on($crate::sockets::within_limit(async {
                let (mut a, mut b) = $krate::UnixFlow::pair().unwrap();
                a.write("over unix").await.unwrap();
                a.shutdown(Shutdown::Write).await.unwrap();
                assert_eq!(b.read().await.unwrap(), Chunk::Data(Bytes::from("over unix")));
                assert_eq!(b.read().await.unwrap(), Chunk::Eof);
                b.write("reply").await.unwrap();
                assert_eq!(a.read().await.unwrap(), Chunk::Data(Bytes::from("reply")));
            }));
        }
    };
}

/// What giving a socket flow away shows, for a backend crate whose flows
/// have `into_inner` (returning [`flow_api::IntoInnerError`]) and
/// `into_split` (owned halves named `TcpReadHalf` and `TcpWriteHalf`).
/// Expands to `#[test]` functions run with `block_on`; use it beside
/// [`socket_tests!`](crate::socket_tests), which brings the imports.
#[macro_export]
macro_rules! ownership_tests {
    ($krate:ident, $block_on:path) => {
        #[test]
        fn into_inner_gives_the_socket_back_only_when_nothing_would_be_lost() {
            $block_on($crate::sockets::within_limit(async {
                let (_listener, mut client, mut server, _) = $crate::__tcp_pair!($krate);
                client.feed("queued, not sent").await.unwrap();
                let err = client.into_inner().unwrap_err();
                assert_eq!((err.unsent(), err.unread()), (16, 0), "{err}");
                assert!(err.to_string().contains("16 bytes are not sent yet"), "{err}");
                let mut client = err.into_flow();
                client.flush().await.unwrap();
                assert_eq!(
                    server.read().await.unwrap(),
                    Chunk::Data(Bytes::from("queued, not sent"))
                );
                let socket = client.into_inner().unwrap();
                drop(socket);
                // The socket was given back, not closed by the flow: dropping it ends the stream.
                assert_eq!(server.read().await.unwrap(), Chunk::Eof);
            }));
        }

        /// The halves move data both ways at once, 1 MiB each way, with the
        /// peer writing and reading at once too: halves that waited for
        /// each other would deadlock on full socket buffers.
        #[test]
        fn owned_halves_read_and_write_at_once() {
            $block_on($crate::sockets::within_limit(async {
                let (_listener, client, server, _) = $crate::__tcp_pair!($krate);
                let (mut client_read, mut client_write) = client.into_split().unwrap();
                let (mut server_read, mut server_write) = server.into_split().unwrap();
                assert!(client_read.is_pair_of(&client_write) && !client_read.is_pair_of(&server_write));
                let data = $crate::__private::pattern(1 << 20);
                let send = |mut half: $krate::TcpWriteHalf, data: Bytes| async move {
                    for piece in data.chunks(16 * 1024) {
                        half.write(Bytes::copy_from_slice(piece)).await.unwrap();
                    }
                    half.shutdown_write().await.unwrap();
                    half
                };
                let receive = |mut half: $krate::TcpReadHalf| async move {
                    let mut got = Vec::new();
                    while let Chunk::Data(bytes) = half.read().await.unwrap() {
                        got.extend_from_slice(&bytes);
                    }
                    got
                };
                let (_, _, got_by_server, got_by_client) = $crate::__private::futures_util::future::join4(
                    send(client_write, data.clone()),
                    send(server_write, data.clone()),
                    receive(server_read),
                    receive(client_read),
                )
                .await;
                assert!(
                    got_by_server == data && got_by_client == data,
                    "the halves lost or reordered bytes"
                );
            }));
        }

        /// The write half's close waits for the read half to see the
        /// remote's end; without a read half it drains by itself.
        #[test]
        fn the_write_half_closes_once_the_read_half_saw_the_end() {
            $block_on($crate::sockets::within_limit(async {
                let (_listener, client, mut server, _) = $crate::__tcp_pair!($krate);
                let (mut read, mut write) = client.into_split().unwrap();
                write.write("request").await.unwrap();
                let closing = async {
                    write.close().await.unwrap();
                    assert!(write.write("late").await.unwrap_err().is_closed());
                };
                let reading = async {
                    let mut got = Vec::new();
                    while let Chunk::Data(bytes) = read.read().await.unwrap() {
                        got.extend_from_slice(&bytes);
                    }
                    got
                };
                let serving = async {
                    assert_eq!(server.read().await.unwrap(), Chunk::Data(Bytes::from("request")));
                    assert_eq!(server.read().await.unwrap(), Chunk::Eof);
                    server.write("reply after your end").await.unwrap();
                    server.close().await.unwrap();
                };
                let ((), got, ()) = $crate::__private::futures_util::future::join3(closing, reading, serving).await;
                assert_eq!(got, b"reply after your end");

                let (_listener, client, mut server, _) = $crate::__tcp_pair!($krate);
                let (read, mut write) = client.into_split().unwrap();
                drop(read);
                let serving = async {
                    assert_eq!(server.read().await.unwrap(), Chunk::Eof);
                    server.write("dropped by the write half").await.unwrap();
                    server.close().await.unwrap();
                };
                let (closed, ()) = $crate::__private::futures_util::future::join(write.close(), serving).await;
                closed.unwrap();
            }));
        }

        /// The socket is released once both halves are gone, not before.
        #[test]
        fn the_socket_closes_when_both_halves_are_dropped() {
            $block_on($crate::sockets::within_limit(async {
                let (_listener, client, mut server, _) = $crate::__tcp_pair!($krate);
                let (read, mut write) = client.into_split().unwrap();
                drop(read);
                write.write("still open").await.unwrap();
                assert_eq!(
                    server.read().await.unwrap(),
                    Chunk::Data(Bytes::from("still open"))
                );
                drop(write);
                assert_eq!(server.read().await.unwrap(), Chunk::Eof);
            }));
        }

        #[test]
        fn the_write_half_close_gives_up_at_its_deadline() {
            $block_on($crate::sockets::within_limit(async {
                let (_listener, mut client, mut server, _) = $crate::__tcp_pair!($krate);
                client.set_close_timeout(Some(Duration::from_millis(100)));
                let (mut read, mut write) = client.into_split().unwrap();
                // The peer never closes, and the read half is alive but idle.
                let err = write.close().await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
                assert_eq!(server.read().await.unwrap(), Chunk::Eof);
                // Both directions were shut down: the read half ends too.
                assert_eq!(read.read().await.unwrap(), Chunk::Eof);
            }));
        }
    };
}

/// A compile-time check, for a backend crate of the common shape whose
/// flows are `Send`: its flows, their halves, its listeners and the futures
/// of connect, bind and accept are `Send`, and its listeners `Sync`
/// (flow-socket's `Runtime` does not ask for it, so nothing else would).
#[macro_export]
macro_rules! send_checks {
    ($krate:ident) => {
        /// The flows, their halves, listeners and the futures of connect, bind and
        /// accept stay `Send` on this runtime, now that flow-socket's `Runtime`
        /// asks for no `Send` (a compile-time check; nothing runs).
        #[allow(dead_code, clippy::let_underscore_future)]
        fn sockets_and_their_futures_are_send(
            addr: std::net::SocketAddr,
            listener: &$krate::TcpListener,
            unix: &$krate::UnixListener,
        ) {
            fn assert_send<T: Send>(_: T) {}
            fn assert_sync<T: Sync>() {}
            assert_send($krate::TcpFlow::connect(addr));
            assert_send($krate::TcpFlow::connect("localhost:80"));
            assert_send($krate::TcpListener::bind(addr));
            assert_send(listener.accept());
            assert_send($krate::UnixFlow::connect("/tmp/x.sock"));
            assert_send(unix.accept());
            assert_sync::<$krate::TcpListener>();
            assert_sync::<$krate::UnixListener>();
            assert_send(None::<$krate::TcpFlow>);
            assert_send(None::<$krate::UnixFlow>);
            assert_send(None::<$krate::TcpReadHalf>);
            assert_send(None::<$krate::TcpWriteHalf>);
            assert_send(None::<$krate::UnixReadHalf>);
            assert_send(None::<$krate::UnixWriteHalf>);
        }
    };
}
