//! Runs the `quic_echo` example, which `cargo test` builds beside the tests.

#[test]
fn quic_echo_example_echoes() {
    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("current_exe: {err}"));
    let example = exe
        .parent()
        .and_then(std::path::Path::parent)
        .map(|dir| {
            dir.join("examples")
                .join(format!("quic_echo{}", std::env::consts::EXE_SUFFIX))
        })
        .unwrap_or_else(|| panic!("no target directory above {}", exe.display()));
    let out = std::process::Command::new(&example)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {} (built by `cargo test`): {err}", example.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "quic_echo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("echoed: hello over QUIC"), "{stdout}");
}
