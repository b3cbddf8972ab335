//! The metering wrapper: counts each way, shared while the flow is in use.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::within;
use flow_api::prelude::*;
use flow_mem::{FaultConfig, Faulty};
use flow_util::Metered;
use futures_executor::block_on;

#[test]
fn counts_bytes_and_operations_each_way_while_in_use() {
    block_on(within("meter", async {
        let (a, mut b) = flow_mem::pair();
        let mut a = Metered::with_label(a, "a");
        let meter = a.meter();
        let observer = meter.clone();
        assert_eq!(meter.snapshot(), flow_util::MeterSnapshot::default());
        a.write("hello").await.unwrap();
        a.writev([Bytes::from("ab"), Bytes::new(), Bytes::from("cde")])
            .await
            .unwrap();
        // Read from another thread while the flow is still in use.
        let seen = std::thread::spawn(move || observer.snapshot()).join().unwrap();
        assert_eq!(seen.bytes_written, 10);
        assert_eq!(seen.writes, 3, "empty buffers are not counted");
        assert_eq!(seen.flushes, 2);
        b.write("xyz").await.unwrap();
        assert_eq!(a.read().await.unwrap(), Chunk::Data(Bytes::from("xyz")));
        b.shutdown(Shutdown::Write).await.unwrap();
        assert_eq!(a.read().await.unwrap(), Chunk::Eof);
        let counts = meter.snapshot();
        assert_eq!((counts.bytes_read, counts.reads), (3, 1), "end of file is not a read");
        assert_eq!(meter.bytes_read(), 3);
        assert_eq!(meter.bytes_written(), 10);
        a.close().await.unwrap();
        drop(a);
        // The handle outlives the flow.
        assert_eq!(meter.snapshot().bytes_written, 10);
    }));
}

#[test]
fn counts_errors() {
    block_on(within("meter", async {
        let (a, mut b) = flow_mem::pair();
        let a = Faulty::new(
            a,
            FaultConfig::new(1)
                .pending_percent(0)
                .fail_read_after(2, ErrorKind::Reset),
        );
        let mut a = Metered::new(a);
        b.write("abcd").await.unwrap();
        let mut got = 0;
        let err = loop {
            match a.read().await {
                Ok(Chunk::Data(d)) => got += d.len(),
                Ok(Chunk::Eof) => panic!("end of file instead of the injected error"),
                Err(err) => break err,
            }
        };
        assert_eq!(err.kind(), ErrorKind::Reset);
        assert_eq!(got, 2);
        a.shutdown(Shutdown::Write).await.unwrap();
        assert!(a.write("x").await.unwrap_err().is_closed());
        let counts = a.meter().snapshot();
        assert_eq!(counts.read_errors, 1);
        assert_eq!(counts.write_errors, 1);
        assert_eq!(counts.bytes_read, 2);
        assert_eq!(counts.bytes_written, 0);
    }));
}

#[test]
fn metered_flows_report_a_proxy_each_way() {
    block_on(within("meter", async {
        let (mut client, a) = flow_mem::pair();
        let (b, mut server) = flow_mem::pair();
        let (a, b) = (Metered::with_label(a, "downstream"), Metered::with_label(b, "upstream"));
        let (ma, mb) = (a.meter(), b.meter());
        let (stats, ()) = futures_util::join!(flow_util::proxy(a, b), async {
            client.write(vec![1u8; 1000]).await.unwrap();
            client.shutdown(Shutdown::Write).await.unwrap();
            assert_eq!(common::read_all(&mut server).await.unwrap().len(), 1000);
            server.write(vec![2u8; 300]).await.unwrap();
            server.shutdown(Shutdown::Write).await.unwrap();
            assert_eq!(common::read_all(&mut client).await.unwrap().len(), 300);
        });
        let stats = stats.unwrap();
        assert_eq!(ma.snapshot().bytes_read, stats.a_to_b.bytes_read);
        assert_eq!(mb.snapshot().bytes_written, 1000);
        assert_eq!(mb.snapshot().bytes_read, 300);
        assert_eq!(ma.snapshot().bytes_written, 300);
    }));
}
