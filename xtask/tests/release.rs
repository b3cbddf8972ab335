//! `cargo xtask release` end to end, on scratch git copies of this
//! repository: the dry run changes nothing, an execute run without
//! publishing bumps, dates, commits and tags, and preflight refuses what it
//! must.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A scratch copy of the repository's files (tracked and new), committed
/// on `main` in a fresh git repository; removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-release-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        let files = git(&repo, &["ls-files", "--cached", "--others", "--exclude-standard"]);
        for file in files.lines() {
            let from = repo.join(file);
            if !from.is_file() {
                continue; // deleted in the working tree
            }
            let to = dir.join(file);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
        }
        git(&dir, &["init", "--quiet", "-b", "main"]);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "--quiet", "-m", "scratch copy"]);
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.0.join(file)).unwrap()
    }

    fn release(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .current_dir(&self.0)
            .arg("release")
            .args(args)
            // A target directory of its own: packaging must not touch the real one.
            .env("CARGO_TARGET_DIR", self.0.join("target"))
            .output()
            .unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=xtask test",
            "-c",
            "user.email=xtask@example.invalid",
            "-c",
            "tag.gpgSign=false",
            "-c",
            "commit.gpgSign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The publish order as printed: the lines `    N. name`.
fn printed_order(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| {
            let (n, name) = line.trim().split_once(". ")?;
            n.parse::<u32>().ok().map(|_| name.to_owned())
        })
        .collect()
}

fn assert_before(order: &[String], first: &str, then: &str) {
    let at = |name: &str| {
        order
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("{name} not in {order:?}"))
    };
    assert!(
        at(first) < at(then),
        "{first} must be published before {then}: {order:?}"
    );
}

#[test]
fn the_dry_run_prints_the_plan_in_dependency_order_and_changes_nothing() {
    let scratch = Scratch::new();
    let manifest = scratch.read("Cargo.toml");
    let changelog = scratch.read("CHANGELOG.md");
    let output = scratch.release(&["patch", "--no-verify"]);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    let order = printed_order(&out);
    assert_before(&order, "flow-api", "flow-mem");
    assert_before(&order, "flow-mem", "flow-conformance");
    assert_before(&order, "flow-api", "flow-tokio");
    assert_before(&order, "flow-tokio", "anyflow");
    assert_before(&order, "flow-mem", "anyflow");
    assert!(
        !order.iter().any(|n| n == "xtask" || n == "flow-tests"),
        "unpublished crates in {order:?}"
    );
    assert!(out.contains("dry run"), "{out}");
    assert_eq!(scratch.read("Cargo.toml"), manifest);
    assert_eq!(scratch.read("CHANGELOG.md"), changelog);
    assert_eq!(git(scratch.path(), &["status", "--porcelain"]), "");
    assert_eq!(git(scratch.path(), &["tag", "--list"]), "");
}

#[test]
fn execute_without_publishing_bumps_dates_commits_and_tags() {
    let scratch = Scratch::new();
    let output = scratch.release(&["minor", "--execute", "--no-publish", "--no-verify"]);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    let manifest = scratch.read("Cargo.toml");
    assert!(
        manifest.contains("[workspace.package]\nversion = \"0.2.0\""),
        "{manifest}"
    );
    assert!(
        manifest.contains("flow-api = { path = \"crates/flow-api\", version = \"0.2.0\" }"),
        "{manifest}"
    );
    assert!(
        !manifest.contains("version = \"0.1.0\" }"),
        "an internal dependency kept the old version:\n{manifest}"
    );
    let changelog = scratch.read("CHANGELOG.md");
    assert!(changelog.contains("## Unreleased\n\n## 0.2.0 - "), "{changelog}");
    assert!(
        scratch
            .read("Cargo.lock")
            .contains("name = \"flow-api\"\nversion = \"0.2.0\"")
    );
    assert_eq!(
        git(scratch.path(), &["cat-file", "-t", "v0.2.0"]),
        "tag",
        "the tag must be annotated"
    );
    assert_eq!(git(scratch.path(), &["log", "-1", "--format=%s"]), "Release v0.2.0");
    assert_eq!(
        git(scratch.path(), &["status", "--porcelain"]),
        "",
        "everything is committed"
    );
    assert!(out.contains("git push origin main v0.2.0"), "{out}");
    assert!(out.contains("skipped (--no-publish)"), "{out}");

    // Releasing the same version again is refused: the tag exists.
    git(scratch.path(), &["reset", "--quiet", "--hard", "HEAD~1"]);
    let again = scratch.release(&["0.2.0", "--no-verify"]);
    assert!(!again.status.success());
    assert!(text(&again).contains("tag v0.2.0 exists already"), "{}", text(&again));
}

#[test]
fn preflight_refuses_a_dirty_tree_another_branch_and_an_empty_changelog() {
    let scratch = Scratch::new();
    std::fs::write(scratch.path().join("stray.txt"), "x").unwrap();
    let dirty = scratch.release(&["patch"]);
    assert!(!dirty.status.success());
    assert!(
        text(&dirty).contains("preflight: the working tree is not clean"),
        "{}",
        text(&dirty)
    );
    std::fs::remove_file(scratch.path().join("stray.txt")).unwrap();

    git(scratch.path(), &["checkout", "--quiet", "-b", "feature"]);
    let branch = scratch.release(&["patch"]);
    assert!(
        text(&branch).contains("releases are made from \"main\""),
        "{}",
        text(&branch)
    );
    git(scratch.path(), &["checkout", "--quiet", "main"]);

    let changelog = scratch.read("CHANGELOG.md");
    let start = changelog.find("## Unreleased").unwrap();
    let emptied = format!(
        "{}## Unreleased\n\n## 0.0.1 - 2020-01-01\n\n- old\n",
        &changelog[..start]
    );
    std::fs::write(scratch.path().join("CHANGELOG.md"), emptied).unwrap();
    git(scratch.path(), &["commit", "--quiet", "-am", "empty changelog"]);
    let empty = scratch.release(&["patch", "--execute", "--no-publish"]);
    assert!(!empty.status.success());
    assert!(text(&empty).contains("`## Unreleased` is empty"), "{}", text(&empty));
    assert_eq!(git(scratch.path(), &["tag", "--list"]), "", "nothing was tagged");
}

#[test]
fn tidy_failures_stop_the_release_and_name_the_crate() {
    let scratch = Scratch::new();
    let path = scratch.path().join("crates/flow-mem/Cargo.toml");
    let manifest = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, manifest.replace("keywords = ", "# keywords = ")).unwrap();
    git(scratch.path(), &["commit", "--quiet", "-am", "drop keywords"]);
    let output = scratch.release(&["patch"]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("flow-mem: a published crate needs keywords"),
        "{}",
        text(&output)
    );
}

/// `cargo xtask ci --only STEP` on a scratch copy.
fn ci_step(scratch: &Scratch, step: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(scratch.path())
        .args(["ci", "--only", step])
        // Shared between these tests, so that only the first run builds.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("ci-steps"),
        )
        .output()
        .unwrap()
}

#[test]
fn ci_fails_on_a_format_difference() {
    let scratch = Scratch::new();
    assert!(
        ci_step(&scratch, "fmt").status.success(),
        "{}",
        text(&ci_step(&scratch, "fmt"))
    );
    let path = scratch.path().join("crates/flow-api/src/error.rs");
    let source = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, source.replace("pub enum ErrorKind {", "pub enum ErrorKind   {")).unwrap();
    let output = ci_step(&scratch, "fmt");
    assert!(!output.status.success());
    assert!(text(&output).contains("cargo fmt --check: failed"), "{}", text(&output));
}

#[test]
fn ci_fails_on_a_lint() {
    let scratch = Scratch::new();
    let path = scratch.path().join("crates/flow-api/src/lib.rs");
    let source = std::fs::read_to_string(&path).unwrap();
    let lint = "\n/// Says whether it is empty.\npub fn has_nothing(v: &[u8]) -> bool {\n    v.len() == 0\n}\n";
    std::fs::write(&path, source + lint).unwrap();
    let output = ci_step(&scratch, "clippy");
    assert!(!output.status.success());
    // Clippy lints the workspace's path dependencies too: the first package
    // checked that depends on flow-api fails, naming the lint.
    assert!(text(&output).contains("cargo clippy -p"), "{}", text(&output));
    assert!(text(&output).contains("len_zero"), "{}", text(&output));
}

#[test]
fn ci_fails_on_a_license_outside_the_allowlist() {
    let scratch = Scratch::new();
    let path = scratch.path().join("deny.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    // Our own crates are MIT OR Apache-2.0: allowing neither must fail.
    std::fs::write(
        &path,
        config
            .replace("    \"MIT\",\n", "")
            .replace("    \"Apache-2.0\",\n", ""),
    )
    .unwrap();
    let output = ci_step(&scratch, "deny");
    assert!(!output.status.success());
    assert!(
        text(&output).contains("licenses FAILED") || text(&output).contains("rejected"),
        "{}",
        text(&output)
    );
}

#[test]
fn ci_fails_on_a_tidy_rule() {
    let scratch = Scratch::new();
    let path = scratch.path().join("crates/flow-tokio/Cargo.toml");
    let manifest = std::fs::read_to_string(&path).unwrap();
    let versioned = "flow-conformance = { path = \"../flow-conformance\", version = \"0.1.0\" }";
    std::fs::write(
        &path,
        manifest.replace("flow-conformance = { path = \"../flow-conformance\" }", versioned),
    )
    .unwrap();
    let output = ci_step(&scratch, "tidy");
    assert!(!output.status.success());
    assert!(
        text(&output).contains("flow-tokio: internal dev-dependency flow-conformance carries a version"),
        "{}",
        text(&output)
    );
}
