//! WebSocket over flows (tokio-tungstenite through `FlowIo`) against the
//! Python `websockets` library, both ways: our client to its server, its
//! client to our server. Text and binary messages are echoed (one seeded
//! random payload of 300 KiB), and the close handshake runs both ways; each
//! side checks what it saw, the Python peer by printing it for the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Peer;
use flow_tokio::{TcpFlow, TcpListener};
use tokio_tungstenite::tungstenite::Message;

#[path = "../examples/websocket_echo.rs"]
#[allow(dead_code)]
mod websocket_echo;

const PAYLOAD: usize = 300 * 1024;

fn limited<F: std::future::Future>(what: &str, future: F) -> F::Output {
    common::tokio_block_on(common::within(what, future))
}

#[test]
fn our_client_against_the_python_server() {
    let seed = common::seed();
    let payload = common::random_bytes(seed, PAYLOAD);
    limited("our client and websockets' server", async {
        let mut server = Peer::spawn("ws_peer.py", &["server"]);
        let port = server.port().await;
        let url = format!("ws://127.0.0.1:{port}/");

        // Echoes, then we close: the server sees our code and reason.
        let tcp = TcpFlow::connect(format!("127.0.0.1:{port}")).await.unwrap();
        let mut ws = websocket_echo::connect(&url, tcp).await.unwrap();
        let text = websocket_echo::round_trip(&mut ws, Message::text("hello from rust"))
            .await
            .unwrap();
        assert_eq!(text, Message::text("hello from rust"));
        let binary = websocket_echo::round_trip(&mut ws, Message::binary(payload.clone()))
            .await
            .unwrap();
        assert!(
            binary == Message::binary(payload.clone()),
            "the echoed payload differs (seed {seed}: rerun with FLOW_UTIL_SEED={seed})"
        );
        let reply = websocket_echo::close(ws, 1000, "rust is done").await.unwrap();
        let reply = reply.expect("the server did not answer our close");
        assert_eq!(u16::from(reply.code), 1000);
        assert_eq!(server.line().await, "closed code=1000 reason=rust is done by=client");

        // The server closes: we see its code and reason.
        let tcp = TcpFlow::connect(format!("127.0.0.1:{port}")).await.unwrap();
        let mut ws = websocket_echo::connect(&url, tcp).await.unwrap();
        let seen = websocket_echo::round_trip(&mut ws, Message::text("close 4001 python says bye"))
            .await
            .unwrap();
        let Message::Close(Some(frame)) = seen else {
            panic!("expected the server's close frame, got {seen:?}")
        };
        assert_eq!(u16::from(frame.code), 4001);
        assert_eq!(frame.reason.as_str(), "python says bye");
        assert!(websocket_echo::wait_for_close(&mut ws).await.unwrap().is_none());
        websocket_echo::finish(ws).await.unwrap();
        assert_eq!(server.line().await, "closed code=4001 reason=python says bye by=server");
        assert_eq!(server.finish().await, Vec::<String>::new());
    });
}

#[test]
fn the_python_client_against_our_server() {
    let seed = common::seed();
    limited("websockets' client and our server", async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let client = Peer::spawn("ws_peer.py", &["client", &url, &seed.to_string(), &PAYLOAD.to_string()]);
        let frames = websocket_echo::serve(&listener, 2).await.unwrap();
        let lines = client.finish().await;
        assert_eq!(
            lines,
            [
                "echo text ok".to_owned(),
                format!("echo binary ok {PAYLOAD}"),
                "closed code=1001 reason=rust going away by=server".to_owned(),
            ],
            "seed {seed}: rerun with FLOW_UTIL_SEED={seed}"
        );
        // The client closed the first connection: we saw its code and reason.
        let first = frames[0].as_ref().expect("no close frame from the client");
        assert_eq!(u16::from(first.code), 4000);
        assert_eq!(first.reason.as_str(), "python is done");
        // We closed the second: what we saw is the client's reply.
        let second = frames[1].as_ref().expect("the client did not answer our close");
        assert_eq!(u16::from(second.code), 1001);
    });
}
