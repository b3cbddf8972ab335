//! The whole suite with the two ends on different runtimes: a tokio client
//! against a smol server, a smol client against an async-std server, an
//! async-std client against a tokio server, and compio (completion-based
//! I/O) against smol both ways. async-io (under smol and async-std) drives
//! its sockets from its own thread, so tokio's runtime hosts the pairs that
//! involve tokio, and compio's those that involve compio. compio against
//! tokio needs two threads, one per runtime: that pair is the last test.

#![allow(clippy::expect_used)]

mod tokio_client_smol_server {
    flow_conformance::suite! {
        factory: flow_tests::TokioToSmol::default(),
        block_on: flow_tests::tokio_block_on,
    }
}

mod smol_client_async_std_server {
    flow_conformance::suite! {
        factory: flow_tests::SmolToAsyncStd::default(),
        block_on: smol::block_on,
    }
}

mod async_std_client_tokio_server {
    flow_conformance::suite! {
        factory: flow_tests::AsyncStdToTokio::default(),
        block_on: flow_tests::tokio_block_on,
    }
}

mod compio_client_smol_server {
    flow_conformance::suite! {
        factory: flow_tests::CompioToSmol::default(),
        block_on: flow_tests::compio_block_on,
    }
}

mod smol_client_compio_server {
    flow_conformance::suite! {
        factory: flow_tests::SmolToCompio::default(),
        block_on: flow_tests::compio_block_on,
    }
}

/// A compio server on its own thread and a tokio client on another: 4 MiB
/// echoed in both directions at once, a half-close each way, and a
/// graceful close on both ends.
#[test]
fn compio_and_tokio_on_two_threads() {
    use flow_api::prelude::*;
    const LEN: usize = 4 << 20;
    let data: Bytes = (0..LEN).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        flow_tests::compio_block_on(flow_tests::within_limit(async move {
            let listener = flow_compio::TcpListener::bind("127.0.0.1:0").await?;
            addr_tx.send(listener.local_addr()?).map_err(|_| ErrorKind::Other)?;
            let (mut flow, _) = listener.accept().await?;
            let mut echoed = 0;
            while let Chunk::Data(bytes) = flow.read().await? {
                echoed += bytes.len();
                flow.write(bytes).await?;
            }
            flow.close().await?;
            Ok::<usize, Error>(echoed)
        }))
    });
    let addr = addr_rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the compio server did not start");
    let sent = data.clone();
    let echo = flow_tests::tokio_block_on(flow_tests::within_limit(async move {
        let flow = flow_tokio::TcpFlow::connect(addr).await?;
        let (mut read, mut write) = flow.into_split()?;
        let writing = async {
            for piece in sent.chunks(64 * 1024) {
                write.write(Bytes::copy_from_slice(piece)).await?;
            }
            write.shutdown_write().await?;
            Ok::<_, Error>(write)
        };
        let reading = async {
            let mut echo = Vec::with_capacity(LEN);
            while let Chunk::Data(bytes) = read.read().await? {
                echo.extend_from_slice(&bytes);
            }
            Ok::<_, Error>(echo)
        };
        let (write, echo) = futures_util::future::try_join(writing, reading).await?;
        let mut write = write;
        write.close().await?;
        Ok::<Vec<u8>, Error>(echo)
    }));
    let echoed = server.join().expect("the compio server panicked");
    assert_eq!(echoed.expect("the compio server failed"), LEN);
    assert!(
        echo.expect("the tokio client failed") == data,
        "the echo differs from what was sent"
    );
}
