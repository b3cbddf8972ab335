//! The loopback limit for reference, when iperf3 is installed.

use crate::Scale;
use crate::stats::{Row, Table};

/// iperf3's single stream against the tokio bulk row's flow side.
pub(crate) fn row(scale: &Scale, table: &mut Table) {
    let Some(iperf) = iperf3_throughput(if scale.quick { 1 } else { 5 }) else {
        eprintln!("flow-bench: iperf3 is not installed; the loopback reference row is left out");
        return;
    };
    // Our single-stream figure: the bulk row's flow side.
    let ours = table
        .rows
        .iter()
        .find(|r| r.what.starts_with("tokio TCP bulk"))
        .map(|r| r.ours_value);
    if let Some(ours) = ours {
        table.rows.push(Row {
            what: "single-stream TCP vs the loopback limit".into(),
            ours: "flow-tokio".into(),
            ours_value: ours,
            baseline: "iperf3".into(),
            baseline_value: iperf,
            unit: "MiB/s",
            ratio: ours / iperf,
            spread: None,
            target: Some(0.8),
        });
    }
}

fn iperf3_throughput(seconds: u32) -> Option<f64> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port()
        .to_string();
    let mut server = std::process::Command::new("iperf3")
        .args(["-s", "-1", "-B", "127.0.0.1", "-p", &port])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    // The server needs a moment to listen: retry the client, bounded.
    let mut result = None;
    for _ in 0..50 {
        let output = std::process::Command::new("iperf3")
            .args(["-c", "127.0.0.1", "-p", &port, "-t", &seconds.to_string(), "-f", "m"])
            .output()
            .ok()?;
        if output.status.success() {
            result = String::from_utf8_lossy(&output.stdout)
                .lines()
                .find(|l| l.contains("receiver"))
                .and_then(|l| {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    let at = words.iter().position(|w| *w == "Mbits/sec")?;
                    words.get(at.checked_sub(1)?)?.parse::<f64>().ok()
                })
                .map(|mbits| mbits * 1e6 / 8.0 / (1024.0 * 1024.0));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = server.kill();
    let _ = server.wait();
    result
}
