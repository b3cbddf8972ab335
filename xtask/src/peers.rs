//! `cargo xtask peers`: the Python test peers (aioquic, websockets,
//! Hypercorn), pinned in `tests/peers/requirements.txt`, in a virtual
//! environment of their own under `target/peers/venv`.
//!
//! The test step of `cargo xtask ci` runs this first and hands the
//! environment's interpreter to the tests as `FLOW_PYTHON`; a newcomer who
//! runs `cargo test` by hand runs `cargo xtask peers` once and exports the
//! path it prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::step;

/// The pinned requirements, relative to the workspace root.
const REQUIREMENTS: &str = "tests/peers/requirements.txt";

/// The variable through which the tests find the interpreter.
pub(crate) const PYTHON_VAR: &str = "FLOW_PYTHON";

/// Makes `target/peers/venv` (once) and installs the pinned peers into it
/// when the requirements changed since the last install. Returns the
/// environment's interpreter.
pub(crate) fn ensure(root: &Path) -> Result<PathBuf, String> {
    let requirements = root.join(REQUIREMENTS);
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|err| format!("peers: cannot read {}: {err}", requirements.display()))?;
    let venv = root.join("target/peers/venv");
    let python = venv.join("bin/python");
    // What was installed last, so that an unchanged list costs nothing.
    let stamp = venv.join("installed-requirements.txt");
    if python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|done| done == wanted) {
        return Ok(python);
    }
    if !python.exists() {
        ensure_venv_module()?;
        let mut make = Command::new("python3");
        make.args(["-m", "venv"]).arg(&venv);
        step(&format!("python3 -m venv {}", venv.display()), make)?;
    }
    let mut install = Command::new(&python);
    install
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
        ])
        .arg(&requirements);
    step(
        &format!("pip install -r {REQUIREMENTS} (the Python test peers)"),
        install,
    )?;
    std::fs::write(&stamp, &wanted).map_err(|err| format!("peers: cannot write {}: {err}", stamp.display()))?;
    Ok(python)
}

/// Debian splits `venv` out of its Python; install it when it is missing.
fn ensure_venv_module() -> Result<(), String> {
    let present = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .map_err(|err| format!("peers: cannot run python3 (install Python 3.9 or newer): {err}"))?
        .status
        .success();
    if present {
        return Ok(());
    }
    crate::apt_install(&["python3-venv"])
}
