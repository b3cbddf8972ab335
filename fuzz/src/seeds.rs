//! Writes the seed corpora under `fuzz/corpus/TARGET/`: a handful of
//! inputs per target, made by hand (engine, buf_flow, mem_model) or
//! captured from flow-tls itself (a ClientHello for `tls_server`, a
//! server's first flight for `tls_client`). Run it with
//! `cargo test --manifest-path fuzz/Cargo.toml --lib -- --ignored write_seed_corpora`.

use std::path::Path;

use bytes::Bytes;
use flow_mem::Scripted;

use crate::{Driver, tls};

fn write(target: &str, name: &str, input: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    if let Err(err) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join(name), input)) {
        panic!("cannot write the seed {target}/{name}: {err}");
    }
}

/// What flow-tls's client sends first with configuration `variant`.
fn client_hello(variant: u8) -> Vec<u8> {
    let (peer, recorder) = Scripted::new(Vec::<Bytes>::new());
    let Ok(name) = flow_tls::server_name("localhost") else {
        panic!("localhost is a server name");
    };
    let _ = Driver::default().run(tls::connector(variant).connect(name, peer));
    recorder.written()
}

/// What flow-tls's server answers to `hello` with configuration `variant`.
fn server_flight(variant: u8, hello: Vec<u8>) -> Vec<u8> {
    let (peer, recorder) = Scripted::new([hello]);
    let _ = Driver::default().run(tls::acceptor(variant).accept(peer));
    recorder.written()
}

fn with_header(header: &[u8], body: &[u8]) -> Vec<u8> {
    [header, body].concat()
}

#[test]
#[ignore = "writes the seed corpora into the source tree"]
fn write_seed_corpora() {
    // TLS: flags (configuration, faults), fault seed, 4 chunk sizes, bytes.
    for variant in 0..4u8 {
        let hello = client_hello(variant);
        assert!(!hello.is_empty(), "the client sent no hello");
        let flight = server_flight(variant, hello.clone());
        assert!(!flight.is_empty(), "the server sent nothing");
        write(
            "tls_server",
            &format!("hello-{variant}"),
            &with_header(&[variant, 0, 255, 255, 255, 255], &hello),
        );
        write(
            "tls_client",
            &format!("flight-{variant}"),
            &with_header(&[variant, 0, 255, 255, 255, 255], &flight),
        );
        if variant == 0 {
            let split = [4 | variant, 7, 4, 0, 100, 255];
            write("tls_server", "hello-split-faulty", &with_header(&split, &hello));
            write("tls_client", "flight-split-faulty", &with_header(&split, &flight));
        }
    }
    write(
        "tls_client",
        "garbage",
        &with_header(&[0, 0, 2, 2, 2, 2], b"\x16\x03\x03\x00\x02\x02\x28"),
    );

    // buf_flow: flags, fault seed, 4 chunk sizes, number of operations,
    // 3 bytes each (code, a, b), then the data.
    let text = b"HELO there\r\nsecond line\nrecord;next;\0binary\r\n\r\nno end";
    let ops: &[[u8; 3]] = &[
        [0, 64, 0],
        [0, 5, 0],
        [1, 16, 1],
        [1, 16, 1],
        [2, 3, 0],
        [3, 4, 0],
        [4, 0, 0],
        [0, 64, 0],
    ];
    let ops: Vec<u8> = ops.iter().flatten().copied().collect();
    let buf = |flags: u8, sizes: [u8; 4], ops: &[u8]| {
        let mut input = vec![flags, 3];
        input.extend_from_slice(&sizes);
        input.push((ops.len() / 3) as u8);
        input.extend_from_slice(ops);
        input.extend_from_slice(text);
        input
    };
    write("buf_flow", "lines-whole", &buf(0, [255; 4], &ops));
    write("buf_flow", "lines-bytewise", &buf(0, [0; 4], &ops));
    write("buf_flow", "lines-faulty", &buf(1 | (3 << 1), [2, 0, 9, 255], &ops));
    let writes: &[[u8; 3]] = &[
        [5, 10, 0],
        [6, 3, 0],
        [7, 200, 2],
        [9, 0, 0],
        [5, 255, 3],
        [8, 0, 0],
        [0, 2, 0],
    ];
    let writes: Vec<u8> = writes.iter().flatten().copied().collect();
    write("buf_flow", "writes", &buf(0, [3, 0, 7, 1], &writes));

    // engine: flags, number of operation bytes, operations, behaviours
    // (kind | argument << 3: 0-3 data or a short count, 4 pending,
    // 5 interrupted, 6 an error, 7 end of file or a zero-length write).
    let engine = |flags: u8, ops: &[u8], behaviour: &[u8]| {
        let mut input = vec![flags, ops.len() as u8];
        input.extend_from_slice(ops);
        input.extend_from_slice(behaviour);
        input
    };
    let behaviour = [2 << 3, 4, 9 << 3, 5, 1 << 3, 4, 31 << 3, 0, 20 << 3, 4, 3 << 3];
    // write(0x45) read read_once feed(0x80) writev(3 x) flush read shutdown(Write) read close
    let ops = [2, 0x45, 0, 1, 3, 0x80, 4, 3, 0x10, 0x20, 0x30, 6, 0, 9, 0, 11];
    write("engine", "mixed", &engine(0, &ops, &behaviour));
    write("engine", "mixed-unix", &engine(1, &ops, &behaviour));
    // shutdown(Read) while the stream sends, then writes, then close.
    write(
        "engine",
        "discard",
        &engine(0, &[8, 2, 0x90, 12, 11], &[31 << 3, 31 << 3, 4, 31 << 3, 7]),
    );
    // A write error, then writes that must keep failing.
    write(
        "engine",
        "write-error",
        &engine(0, &[2, 0x30, 2, 0x30, 6, 5, 9], &[1 << 3, 6, 4, 0, 7]),
    );
    // Backpressure: feeds past the high-water mark while the stream is slow.
    write(
        "engine",
        "backpressure",
        &engine(
            0,
            &[3, 0xf0, 3, 0xf0, 3, 0xf0, 12, 3, 0xf0, 6],
            &[4, 1 << 3, 4, 2 << 3, 4, 31 << 3],
        ),
    );

    // mem_model: flags (faults, capacity), 8 seed bytes, then steps: a
    // byte for the side (bit 0) and action (the rest: 0-39 poll, 40-46
    // cancel, 47-54 yield, 55-99 start an operation, whose byte follows).
    let (a_start, b_start, a_poll, b_poll) = (55 << 1, (55 << 1) | 1, 0, 1);
    let steps = [
        a_start, 30, 0x45, // a.write
        b_start, 0, // b.read
        b_poll, a_poll, b_start, 0, // b.read
        a_start, 45, 0x90, // a.feed
        a_start, 75, // a.shutdown(Write)
        b_start, 0, b_poll, b_poll, // b.read
        b_start, 55, 3, 0x20, 0, 0x40, // b.writev
        a_start, 0, a_poll, // a.read
        a_start, 84, b_start, 84, a_poll, b_poll, // both close
    ];
    let model = |flags: u8, seed: u8| {
        let mut input = vec![flags, seed, 0, 0, 0, 0, 0, 0, 0];
        input.extend_from_slice(&steps);
        input
    };
    write("mem_model", "half-close", &model(0, 1));
    write("mem_model", "half-close-faulty", &model(1, 2));
    write("mem_model", "half-close-tiny-buffer", &model(1 << 1, 3));
    let abort = [
        a_start, 30, 0xa0, a_start, 95, b_start, 0, b_poll, b_start, 0, b_start, 84,
    ];
    let mut input = vec![1 | (4 << 1), 4, 0, 0, 0, 0, 0, 0, 0];
    input.extend_from_slice(&abort);
    write("mem_model", "drop-with-data", &input);
}
