//! WebSocket over flows with tokio-tungstenite: an echo server and a
//! client, each over any flow (TCP from `flow-tokio` here; TLS from
//! `flow-tls` stacks the same way), seen as tokio I/O through
//! [`flow_util::FlowIo`]. tokio-tungstenite brings no TLS and no sockets of
//! its own: only the WebSocket protocol.
//!
//! ```sh
//! cargo run -p flow-util --features tokio --example websocket_echo -- serve 127.0.0.1:9001
//! # With no arguments: serves on a free port, talks to itself, prints what it saw.
//! cargo run -p flow-util --features tokio --example websocket_echo
//! ```

use flow_api::{ErrorKind, Flow};
use flow_tokio::{TcpFlow, TcpListener};
use flow_util::FlowIo;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Echoes every message on `ws` (text as text, binary as binary) until the
/// client closes; returns the close frame it sent. A text message
/// `close CODE REASON` makes the server close with that code and reason
/// instead (then the frame returned is the client's reply).
pub(crate) async fn echo<F>(mut ws: WebSocketStream<FlowIo<F>>) -> Result<Option<CloseFrame>, BoxError>
where
    F: Flow + Unpin,
{
    let mut seen = None;
    while let Some(message) = ws.next().await {
        match message? {
            Message::Text(text) if text.starts_with("close ") => {
                let mut words = text.splitn(3, ' ').skip(1);
                let code: u16 = words.next().unwrap_or("1000").parse()?;
                let reason = words.next().unwrap_or("").to_owned();
                ws.close(Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                }))
                .await?;
            }
            Message::Close(frame) => seen = frame,
            message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message).await?,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
    finish(ws).await?;
    Ok(seen)
}

/// After the close handshake: closes the flow underneath (the server's
/// end goes first, RFC 6455 §7.1.1; the client then sees end of file).
pub(crate) async fn finish<F: Flow + Unpin>(mut ws: WebSocketStream<FlowIo<F>>) -> Result<(), flow_api::Error> {
    match ws.get_mut().close_flow().await {
        // The peer may drop its socket as soon as the handshake is done.
        Err(err) if err.kind() != ErrorKind::Reset => Err(err),
        _ => Ok(()),
    }
}

/// Accepts `connections` WebSocket connections one after the other on
/// `listener`, echoing on each; returns the close frame each client sent.
pub(crate) async fn serve(listener: &TcpListener, connections: usize) -> Result<Vec<Option<CloseFrame>>, BoxError> {
    let mut frames = Vec::new();
    for _ in 0..connections {
        let (tcp, _peer) = listener.accept().await?;
        let ws = tokio_tungstenite::accept_async(FlowIo::new(tcp)).await?;
        frames.push(echo(ws).await?);
    }
    Ok(frames)
}

/// Opens a WebSocket to `url` over `flow`.
pub(crate) async fn connect<F>(url: &str, flow: F) -> Result<WebSocketStream<FlowIo<F>>, BoxError>
where
    F: Flow + Unpin,
{
    let (ws, _response) = tokio_tungstenite::client_async(url, FlowIo::new(flow)).await?;
    Ok(ws)
}

/// Sends `message` and returns the next data message received.
pub(crate) async fn round_trip<F: Flow + Unpin>(
    ws: &mut WebSocketStream<FlowIo<F>>,
    message: Message,
) -> Result<Message, BoxError> {
    ws.send(message).await?;
    loop {
        match ws.next().await {
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_) | Message::Close(_)))) => return Ok(message),
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err.into()),
            None => return Err("the connection ended before the echo".into()),
        }
    }
}

/// Closes `ws` with `code` and `reason`, waits for the server's reply and
/// its end of the connection; returns the reply's close frame.
pub(crate) async fn close<F: Flow + Unpin>(
    mut ws: WebSocketStream<FlowIo<F>>,
    code: u16,
    reason: &str,
) -> Result<Option<CloseFrame>, BoxError> {
    ws.close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_owned().into(),
    }))
    .await?;
    let reply = wait_for_close(&mut ws).await?;
    finish(ws).await?;
    Ok(reply)
}

/// Reads until the peer's close frame and the end of the stream; returns the frame.
pub(crate) async fn wait_for_close<F: Flow + Unpin>(
    ws: &mut WebSocketStream<FlowIo<F>>,
) -> Result<Option<CloseFrame>, BoxError> {
    let mut seen = None;
    while let Some(message) = ws.next().await {
        match message? {
            Message::Close(frame) => seen = frame,
            Message::Text(_) | Message::Binary(_) => return Err("a data message after the close".into()),
            _ => {}
        }
    }
    Ok(seen)
}

#[allow(dead_code)] // The tests include this file for the functions above.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [command, addr] = args.as_slice() {
        if command != "serve" {
            return Err("usage: websocket_echo [serve ADDR]".into());
        }
        let listener = TcpListener::bind(addr.as_str()).await?;
        println!("listening on ws://{}", listener.local_addr()?);
        loop {
            for frame in serve(&listener, 1).await? {
                println!("client closed: {frame:?}");
            }
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let talking = async {
        let tcp = TcpFlow::connect(addr).await?;
        let mut ws = connect(&format!("ws://{addr}/"), tcp).await?;
        let echoed = round_trip(&mut ws, Message::text("hello over a flow")).await?;
        println!("echoed: {echoed}");
        let reply = close(ws, 1000, "done").await?;
        Ok::<_, BoxError>(reply)
    };
    let (served, reply) = tokio::join!(serve(&listener, 1), talking);
    println!("server saw: {:?}", served?);
    println!("client saw: {:?}", reply?);
    Ok(())
}
