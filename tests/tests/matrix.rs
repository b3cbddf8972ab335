//! The conformance matrix command: it passes on a good backend and exits
//! non-zero on a broken one, naming the backend and the clause.

use std::process::{Command, Output};

fn matrix(args: &[&str]) -> Output {
    let out = std::env::temp_dir().join(format!("flow-matrix-{}-{}", std::process::id(), args.join("_")));
    let output = Command::new(env!("CARGO_BIN_EXE_conformance-matrix"))
        .args(args)
        .arg("--out")
        .arg(&out)
        .output();
    let _ = std::fs::remove_dir_all(&out);
    match output {
        Ok(output) => output,
        Err(err) => panic!("cannot run the conformance matrix: {err}"),
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_conforming_backend_passes() {
    let output = matrix(&["--backend", "mem", "--clause", "1", "--clause", "8"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("keep every applicable clause"), "{text}");
}

#[test]
fn a_broken_backend_fails_and_the_failure_names_the_clause() {
    let output = matrix(&["--backend", "broken-reorders-writev", "--clause", "8", "--clause", "1"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("broken-reorders-writev / clause 8 c08_writev_concatenates: FAILED"),
        "the failure must name the backend and the clause: {text}"
    );
    // Clause 1 holds on that backend: only the broken clause is reported.
    assert!(!text.contains("clause 1 c01_read_never_empty"), "{text}");
}

#[test]
fn an_unknown_backend_is_a_usage_error() {
    let output = matrix(&["--backend", "carrier-pigeon"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown backend"));
}
