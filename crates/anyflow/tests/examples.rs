//! Runs the examples' own code: each runtime's echo server against its
//! client, under a time limit so that a hang fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Each example includes the shared echo module, as it must when built alone.
#![allow(clippy::duplicate_mod)]

/// Runs one echo example's server and client against each other on a free
/// port, under `block_on`, and checks the echo.
#[allow(unused_macros)] // Unused when no runtime feature is on.
macro_rules! echo_test {
    ($test:ident, $example:ident, $block_on:path) => {
        #[test]
        fn $test() {
            // Large enough to need many reads and writes each way.
            let message: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            let (served, echo) = $block_on(async {
                let listener = $example::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let both = futures_util::future::join($example::serve_one(&listener), $example::client(addr, &message));
                flow_conformance::timer::timeout(std::time::Duration::from_secs(20), both)
                    .await
                    .expect("the echo hung for 20 s")
            });
            assert_eq!(served.unwrap(), message.len() as u64);
            assert_eq!(echo.unwrap(), message);
        }
    };
}

#[cfg(feature = "tokio")]
#[path = "../examples/tokio_echo.rs"]
mod tokio_echo;

#[cfg(feature = "tokio")]
echo_test!(tokio_echo_server_and_client, tokio_echo, tokio_block_on);

#[cfg(feature = "tokio")]
fn tokio_block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

#[cfg(feature = "smol")]
#[path = "../examples/smol_echo.rs"]
mod smol_echo;

#[cfg(feature = "smol")]
echo_test!(smol_echo_server_and_client, smol_echo, smol::block_on);

#[cfg(feature = "async-std")]
#[path = "../examples/async_std_echo.rs"]
mod async_std_echo;

#[cfg(feature = "async-std")]
echo_test!(
    async_std_echo_server_and_client,
    async_std_echo,
    async_std::task::block_on
);

#[cfg(all(feature = "compio", target_os = "linux"))]
#[path = "../examples/compio_echo.rs"]
mod compio_echo;

#[cfg(all(feature = "compio", target_os = "linux"))]
echo_test!(compio_echo_server_and_client, compio_echo, compio_echo::block_on);

#[cfg(feature = "mem")]
#[test]
fn mem_pairs_through_the_facade() {
    use anyflow::prelude::*;
    futures_executor::block_on(async {
        let (mut a, mut b) = anyflow::mem::pair();
        a.write("through the facade").await.unwrap();
        a.shutdown(Shutdown::Write).await.unwrap();
        assert_eq!(b.read().await.unwrap(), Chunk::Data(Bytes::from("through the facade")));
        assert_eq!(b.read().await.unwrap(), Chunk::Eof);
    });
}

#[cfg(feature = "tokio")]
#[path = "../examples/dial.rs"]
mod dial_example;

/// The `dial` example's server and client against each other over each
/// transport compiled in, by address.
#[cfg(feature = "tokio")]
#[test]
fn dial_example_server_and_client() {
    let message: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let dir = flow_conformance::sockets::TempDir::new("anyflow-dial-example");
    let mut addrs = vec!["tcp://127.0.0.1:0".to_owned()];
    if cfg!(unix) {
        addrs.push(format!("unix:{}", dir.path("echo.sock").unwrap().display()));
    }
    if cfg!(feature = "mem") {
        addrs.push("mem:dial-example".to_owned());
    }
    for addr in addrs {
        let (served, echo) = tokio_block_on(async {
            let listener = anyflow::dial::listen(&addr).await.unwrap();
            let local = listener.local_addr().to_string();
            let both = futures_util::future::join(
                dial_example::serve_one(&listener),
                dial_example::client(&local, &message),
            );
            flow_conformance::timer::timeout(std::time::Duration::from_secs(20), both)
                .await
                .expect("the echo hung for 20 s")
        });
        assert_eq!(served.unwrap(), message.len() as u64, "{addr}");
        assert_eq!(echo.unwrap(), message, "{addr}");
    }
}
