//! A relay between two TCP connections: client → proxy → server over
//! loopback, the same bytes each way at once, through four paths run in
//! turn: no proxy at all (the direct limit), tokio's
//! `copy_bidirectional`, flow-util's `proxy` through user space, and
//! `proxy(..).splice()` in the kernel. The client and the server are plain
//! blocking sockets on threads of their own, the same for every path; the
//! proxy runs on a current-thread tokio runtime on its own thread, whose
//! CPU time (user and system, `CLOCK_THREAD_CPUTIME_ID`: what
//! `getrusage(RUSAGE_THREAD)` reports, to the nanosecond) is the proxy's
//! CPU cost.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::Scale;
use crate::rows::{MIB, interleave_blocking};
use crate::stats::{Table, Unit};

/// Which path the bytes take between the client and the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Direct,
    CopyBidirectional,
    FlowProxy,
    FlowSplice,
}

/// One run: the wall time until both ends had everything, and the proxy
/// thread's CPU time.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    wall: Duration,
    cpu: Duration,
}

/// The relay rows, `--only relay`.
pub(crate) fn rows(scale: &Scale, table: &mut Table) {
    if !cfg!(target_os = "linux") {
        eprintln!("flow-bench: the relay rows need Linux (splice); left out");
        return;
    }
    let each_way = scale.bytes(1024 * MIB, 128 * MIB);
    let run = |path| move || relay(path, each_way);
    let (direct, copy_bi, user, splice) = (
        run(Path::Direct),
        run(Path::CopyBidirectional),
        run(Path::FlowProxy),
        run(Path::FlowSplice),
    );
    let mut samples = interleave_blocking(scale, &[&direct, &copy_bi, &user, &splice]).into_iter();
    let (Some(direct), Some(copy_bi), Some(user), Some(splice)) =
        (samples.next(), samples.next(), samples.next(), samples.next())
    else {
        unreachable!("four sides give four sample sets")
    };
    let wall = |s: &[Outcome]| s.iter().map(|o| o.wall).collect::<Vec<_>>();
    let cpu = |s: &[Outcome]| s.iter().map(|o| o.cpu).collect::<Vec<_>>();
    // Both directions' bytes pass the proxy.
    let moved = 2 * each_way;
    let what = format!("relay, {} MiB each way", each_way / MIB);
    table.compare(
        &format!("{what}: throughput"),
        "proxy().splice()",
        &wall(&splice),
        "copy_bidirectional",
        &wall(&copy_bi),
        Unit::Throughput(moved),
        Some(1.5),
    );
    table.compare(
        &format!("{what}: proxy CPU per GiB"),
        "proxy().splice()",
        &cpu(&splice),
        "copy_bidirectional",
        &cpu(&copy_bi),
        Unit::CpuPerGib(moved),
        Some(2.0),
    );
    table.compare(
        &format!("{what}: against no proxy"),
        "proxy().splice()",
        &wall(&splice),
        "direct",
        &wall(&direct),
        Unit::Throughput(moved),
        Some(0.8),
    );
    table.compare(
        &format!("{what}: user-space throughput"),
        "proxy()",
        &wall(&user),
        "copy_bidirectional",
        &wall(&copy_bi),
        Unit::Throughput(moved),
        Some(1.0),
    );
    table.compare(
        &format!("{what}: user-space proxy CPU per GiB"),
        "proxy()",
        &cpu(&user),
        "copy_bidirectional",
        &cpu(&copy_bi),
        Unit::CpuPerGib(moved),
        Some(1.0),
    );
}

/// Moves `each_way` bytes each way between a client and a server along
/// `path`.
fn relay(path: Path, each_way: u64) -> Outcome {
    let server_listener = TcpListener::bind("127.0.0.1:0").expect("bind the server");
    let server_addr = server_listener.local_addr().expect("the server's address");
    let server = thread::spawn(move || {
        let (stream, _) = server_listener.accept().expect("accept at the server");
        endpoint(stream, each_way);
    });
    let (target, proxy) = if path == Path::Direct {
        (server_addr, None)
    } else {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        (
            addr,
            Some(thread::spawn(move || run_proxy(path, listener, server_addr))),
        )
    };
    let started = Instant::now();
    let client = TcpStream::connect(target).expect("connect the client");
    endpoint(client, each_way);
    server.join().expect("the server thread");
    let cpu = proxy.map_or(Duration::ZERO, |p| p.join().expect("the proxy thread"));
    Outcome {
        wall: started.elapsed(),
        cpu,
    }
}

/// Sends `bytes` (then shuts down writing) while reading until the peer's
/// end of file, which must come after exactly `bytes`.
fn endpoint(stream: TcpStream, bytes: u64) {
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let mut writer = stream.try_clone().expect("clone the socket");
    let sending = thread::spawn(move || {
        let chunk = vec![0x5au8; 256 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            writer.write_all(&chunk[..n]).expect("send");
            left -= n as u64;
        }
        writer.shutdown(Shutdown::Write).expect("shut down writing");
    });
    let mut reader = stream;
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    loop {
        match reader.read(&mut buf).expect("receive") {
            0 => break,
            n => got += n as u64,
        }
    }
    assert_eq!(got, bytes, "the relay lost or added bytes");
    sending.join().expect("the sending thread");
}

/// The proxy: accepts one connection on `listener`, connects to `server`
/// and relays along `path` until both directions are done; returns the
/// CPU time of this thread from the accept to the end.
fn run_proxy(path: Path, listener: TcpListener, server: SocketAddr) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("start tokio");
    runtime.block_on(async move {
        listener.set_nonblocking(true).expect("non-blocking listener");
        let listener = tokio::net::TcpListener::from_std(listener).expect("register the listener");
        if path == Path::CopyBidirectional {
            let (mut a, _) = listener.accept().await.expect("accept at the proxy");
            let mut b = tokio::net::TcpStream::connect(server).await.expect("connect upstream");
            for stream in [&a, &b] {
                stream.set_nodelay(true).expect("TCP_NODELAY");
            }
            let started = thread_cpu();
            let (up, down) = tokio::io::copy_bidirectional(&mut a, &mut b)
                .await
                .expect("copy_bidirectional");
            assert_eq!(up, down, "uneven relay");
            return thread_cpu() - started;
        }
        // The flows set TCP_NODELAY themselves.
        let listener = flow_tokio::TcpListener::from_listener(listener);
        let (a, _) = listener.accept().await.expect("accept at the proxy");
        let b = flow_tokio::TcpFlow::connect(server).await.expect("connect upstream");
        let started = thread_cpu();
        let relay = flow_util::proxy(a, b);
        let relay = if path == Path::FlowSplice {
            relay.splice()
        } else {
            relay
        };
        let stats = relay.await.expect("flow proxy");
        let cpu = thread_cpu() - started;
        let spliced = stats.a_to_b.spliced + stats.b_to_a.spliced;
        let expected = match path {
            Path::FlowSplice => stats.a_to_b.bytes_written + stats.b_to_a.bytes_written,
            _ => 0,
        };
        assert_eq!(spliced, expected, "{path:?} took the wrong path: {stats:?}");
        cpu
    })
}

/// This thread's CPU time so far, user and system.
fn thread_cpu() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}
