//! `cargo xtask release <major|minor|patch|X.Y.Z> [--execute] [--no-publish] [--no-verify] [--branch NAME]`
//!
//! A dry run by default: it checks everything and prints the plan, changing
//! nothing in the repository. `--execute` bumps the version, dates the
//! changelog, commits, tags and publishes with `cargo publish --workspace`,
//! which orders the crates, dependencies first; crates already on crates.io
//! at the new version are left out, so that a release that stopped half-way
//! resumes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use lexopt::{Arg, Parser, ValueExt};
use semver::Version;
use toml_edit::{DocumentMut, Item};

use crate::metadata::{self, Package};
use crate::{cargo, tidy};

/// How to get from the current version to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bump {
    Major,
    Minor,
    Patch,
    To(Version),
}

/// `cargo xtask release`'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    bump: Bump,
    execute: bool,
    publish: bool,
    verify: bool,
    branch: String,
}

const USAGE: &str =
    "usage: cargo xtask release <major|minor|patch|X.Y.Z> [--execute] [--no-publish] [--no-verify] [--branch NAME]";

/// Parses the arguments after `cargo xtask release`.
pub(crate) fn parse(args: &mut Parser) -> Result<Options, String> {
    let mut bump = None;
    let mut options = Options {
        bump: Bump::Patch,
        execute: false,
        publish: true,
        verify: true,
        branch: "main".into(),
    };
    while let Some(arg) = crate::next(args, "release")? {
        match arg {
            Arg::Long("execute") => options.execute = true,
            Arg::Long("no-publish") => options.publish = false,
            Arg::Long("no-verify") => options.verify = false,
            Arg::Long("branch") => options.branch = crate::value(args, "--branch", "a name")?,
            Arg::Value(value) if bump.is_none() => {
                let value = value.string().map_err(|e| e.to_string())?;
                bump =
                    Some(match value.as_str() {
                        "major" => Bump::Major,
                        "minor" => Bump::Minor,
                        "patch" => Bump::Patch,
                        exact => Bump::To(Version::parse(exact).map_err(|e| {
                            format!("{exact:?} is neither major, minor, patch nor a version X.Y.Z ({e})")
                        })?),
                    });
            }
            other => return Err(crate::unexpected("release", &other)),
        }
    }
    options.bump = bump.ok_or(USAGE)?;
    Ok(options)
}

fn next_version(current: &Version, bump: &Bump) -> Result<Version, String> {
    let next = match bump {
        Bump::Major => Version::new(current.major + 1, 0, 0),
        Bump::Minor => Version::new(current.major, current.minor + 1, 0),
        Bump::Patch => Version::new(current.major, current.minor, current.patch + 1),
        Bump::To(exact) => exact.clone(),
    };
    if next <= *current {
        return Err(format!(
            "the new version {next} must be greater than the current {current}"
        ));
    }
    Ok(next)
}

fn git(root: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .map_err(|e| format!("git {}: cannot run: {e}", args.join(" ")))?;
    if !output.status.success() {
        return Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn say(step: &str, what: &str) {
    println!("[{step}] {what}");
}

/// The version in `[workspace.package]` of the root manifest.
fn workspace_version(manifest: &DocumentMut) -> Result<Version, String> {
    let version = manifest
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("version"))
        .and_then(Item::as_str)
        .ok_or("Cargo.toml: no version in [workspace.package]")?;
    Version::parse(version).map_err(|e| format!("Cargo.toml: [workspace.package] version {version:?}: {e}"))
}

/// Sets the workspace version and the version of every internal (path)
/// dependency in `[workspace.dependencies]`; the rest of the manifest, its
/// comments and layout included, stays as it is.
fn bump_manifest(mut manifest: DocumentMut, to: &Version) -> Result<String, String> {
    let to = to.to_string();
    let workspace = manifest
        .get_mut("workspace")
        .and_then(Item::as_table_like_mut)
        .ok_or("Cargo.toml: no [workspace]")?;
    let version = workspace
        .get_mut("package")
        .and_then(|p| p.get_mut("version"))
        .ok_or("Cargo.toml: no version in [workspace.package]")?;
    set_keeping_layout(version, &to)?;
    if let Some(deps) = workspace.get_mut("dependencies").and_then(Item::as_table_like_mut) {
        for (name, dep) in deps.iter_mut() {
            let Some(dep) = dep.as_table_like_mut().filter(|d| d.contains_key("path")) else {
                continue;
            };
            if let Some(version) = dep.get_mut("version") {
                set_keeping_layout(version, &to)
                    .map_err(|e| format!("[workspace.dependencies] {}: {e}", name.get()))?;
            }
        }
    }
    Ok(manifest.to_string())
}

/// Replaces the string in `item`, keeping the spaces and comments around it.
fn set_keeping_layout(item: &mut Item, to: &str) -> Result<(), String> {
    let value = item.as_value_mut().ok_or("the version is not a string")?;
    let decor = value.decor().clone();
    *value = to.into();
    *value.decor_mut() = decor;
    Ok(())
}

/// Renames `## Unreleased` to the version and date, with a fresh empty
/// `## Unreleased` above it. Fails when there is nothing under it.
fn date_changelog(changelog: &str, version: &Version, date: &str) -> Result<String, String> {
    let start = changelog
        .find("\n## Unreleased")
        .ok_or("CHANGELOG.md: no `## Unreleased` section")?;
    let body_start = changelog[start + 1..]
        .find('\n')
        .map_or(changelog.len(), |i| start + 1 + i);
    let body_end = changelog[body_start..]
        .find("\n## ")
        .map_or(changelog.len(), |i| body_start + i);
    if changelog[body_start..body_end].trim().is_empty() {
        return Err("CHANGELOG.md: `## Unreleased` is empty; say what this release changes".into());
    }
    Ok(format!(
        "{}\n## Unreleased\n\n## {version} - {date}{}",
        &changelog[..start],
        &changelog[body_start..]
    ))
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

fn run_cargo(root: &Path, step: &str, args: &[&str]) -> Result<(), String> {
    say(step, &format!("cargo {}", args.join(" ")));
    let status = cargo(root)
        .args(args)
        .status()
        .map_err(|e| format!("{step}: cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step}: `cargo {}` failed ({status})", args.join(" ")))
    }
}

fn tidy_step(packages: &[Package]) -> Result<(), String> {
    let problems = tidy::check(packages);
    if problems.is_empty() {
        say("tidy", "workspace conventions hold");
        Ok(())
    } else {
        Err(format!("tidy: {}", problems.join("\n  ")))
    }
}

/// `cargo publish --workspace` with `extra` arguments: cargo packages (and
/// verifies) every publishable crate, then uploads them, dependencies first.
fn publish_workspace(root: &Path, step: &str, extra: &[&str]) -> Result<(), String> {
    let mut args = vec!["publish", "--workspace"];
    args.extend(extra);
    run_cargo(root, step, &args)
}

/// The dry run of `cargo publish --workspace`, its output passed through;
/// returns the crates in the order cargo would upload them.
fn publish_dry_run(root: &Path, options: &Options) -> Result<Vec<String>, String> {
    let mut args = vec!["publish", "--workspace"];
    args.extend(dry_run_args(options));
    say("publish --dry-run", &format!("cargo {}", args.join(" ")));
    let mut child = cargo(root)
        .args(&args)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("publish --dry-run: cannot run cargo: {e}"))?;
    let mut order = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            order.extend(uploading(&line).map(str::to_owned));
        }
    }
    let status = child.wait().map_err(|e| format!("publish --dry-run: cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "publish --dry-run: `cargo {}` failed ({status})",
            args.join(" ")
        ));
    }
    Ok(order)
}

/// The crate of cargo's `   Uploading NAME vX.Y.Z (PATH)` line.
fn uploading(line: &str) -> Option<&str> {
    line.trim_start().strip_prefix("Uploading ")?.split_whitespace().next()
}

/// The arguments of the dry run: everything but the upload.
fn dry_run_args(options: &Options) -> Vec<&'static str> {
    let mut args = vec!["--dry-run"];
    if !options.verify {
        args.push("--no-verify");
    }
    if options.execute {
        // The bumped manifests are not committed yet.
        args.push("--allow-dirty");
    }
    args
}

/// The arguments that leave out the crates in `done` (on crates.io already:
/// a release that stopped half-way resumes).
fn exclude_args(done: &[&str]) -> Vec<String> {
    done.iter()
        .flat_map(|name| ["--exclude".to_owned(), (*name).to_owned()])
        .collect()
}

fn already_published(root: &Path, name: &str, version: &Version) -> bool {
    cargo(root)
        .args(["info", "--quiet", &format!("{name}@{version}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `cargo xtask release`.
pub(crate) fn release(root: &Path, options: &Options) -> Result<(), String> {
    let manifest_path = root.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path).map_err(|e| format!("Cargo.toml: {e}"))?;
    let document: DocumentMut = manifest.parse().map_err(|e| format!("Cargo.toml: {e}"))?;
    let current = workspace_version(&document)?;
    let next = next_version(&current, &options.bump)?;
    let tag = format!("v{next}");
    say(
        "plan",
        &format!(
            "release {current} -> {next}{}",
            if options.execute {
                ""
            } else {
                " (dry run: nothing will change)"
            }
        ),
    );

    // Preflight.
    let dirty = git(root, &["status", "--porcelain"])?;
    if !dirty.is_empty() {
        return Err(format!("preflight: the working tree is not clean:\n{dirty}"));
    }
    let branch = git(root, &["rev-parse", "--abbrev-ref", "HEAD"])?;
    if branch != options.branch {
        return Err(format!(
            "preflight: on branch {branch:?}, releases are made from {:?}",
            options.branch
        ));
    }
    if git(root, &["rev-parse", "-q", "--verify", &format!("refs/tags/{tag}")]).is_ok() {
        return Err(format!("preflight: tag {tag} exists already"));
    }
    say("preflight", &format!("clean tree on {branch}, tag {tag} is free"));

    let changelog_path = root.join("CHANGELOG.md");
    let changelog = std::fs::read_to_string(&changelog_path).map_err(|e| format!("CHANGELOG.md: {e}"))?;
    let date = today();
    let dated = date_changelog(&changelog, &next, &date)?;
    say("changelog", &format!("`## Unreleased` becomes `## {next} - {date}`"));

    let packages = metadata::workspace(root)?;
    tidy_step(&packages)?;
    let publishable: Vec<&str> = packages.iter().filter(|p| p.publish).map(|p| p.name.as_str()).collect();
    say(
        "crates",
        &format!("{} to publish: {}", publishable.len(), publishable.join(", ")),
    );

    let bumped = bump_manifest(document, &next)?;
    if options.execute {
        std::fs::write(&manifest_path, &bumped).map_err(|e| format!("bump: Cargo.toml: {e}"))?;
        std::fs::write(&changelog_path, &dated).map_err(|e| format!("changelog: CHANGELOG.md: {e}"))?;
        say(
            "bump",
            &format!("Cargo.toml: workspace version and internal dependencies now {next}"),
        );
        // Refreshes Cargo.lock for the new versions, and checks the bump.
        let packages = metadata::workspace(root)?;
        if let Some(stale) = packages.iter().find(|p| p.publish && p.version != next.to_string()) {
            return Err(format!("bump: {} is still at {}", stale.name, stale.version));
        }
        tidy_step(&packages)?;
    } else {
        let changed = bumped.lines().zip(manifest.lines()).filter(|(a, b)| a != b).count();
        say("bump", &format!("would change {changed} lines of Cargo.toml to {next}"));
    }

    // Packages and verifies every crate, as the upload will.
    let order = publish_dry_run(root, options)?;
    if order.is_empty() {
        say(
            "order",
            "cargo printed no `Uploading` lines; see its output above for the order",
        );
    } else {
        say(
            "order",
            "publish order (cargo's: dependencies first, dev-dependencies ignored):",
        );
        for (i, name) in order.iter().enumerate() {
            println!("    {}. {name}", i + 1);
        }
    }

    if !options.execute {
        say(
            "done",
            &format!("dry run complete; run again with --execute to release {next}"),
        );
        return Ok(());
    }
    git(root, &["commit", "--quiet", "-am", &format!("Release {tag}")])?;
    git(root, &["tag", "-a", &tag, "-m", &format!("Release {tag}")])?;
    say("git", &format!("committed and tagged {tag}"));
    if options.publish {
        let done: Vec<&str> = publishable
            .iter()
            .copied()
            .filter(|name| already_published(root, name, &next))
            .collect();
        for name in &done {
            say("publish", &format!("{name} {next} is on crates.io already, left out"));
        }
        if done.len() == publishable.len() {
            say("publish", &format!("every crate is on crates.io at {next} already"));
        } else {
            let exclude = exclude_args(&done);
            let exclude: Vec<&str> = exclude.iter().map(String::as_str).collect();
            publish_workspace(root, "publish", &exclude)?;
        }
    } else {
        say("publish", "skipped (--no-publish)");
    }
    say("left to do", &format!("git push origin {} {tag}", options.branch));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap_or_else(|_| Version::new(0, 0, 0))
    }

    fn parsed(args: &[&str]) -> Result<Options, String> {
        parse(&mut Parser::from_args(args))
    }

    #[test]
    fn versions_bump() {
        let current = v("1.2.3");
        assert_eq!(next_version(&current, &Bump::Patch), Ok(v("1.2.4")));
        assert_eq!(next_version(&current, &Bump::Minor), Ok(v("1.3.0")));
        assert_eq!(next_version(&current, &Bump::Major), Ok(v("2.0.0")));
        assert_eq!(next_version(&current, &Bump::To(v("1.5.0"))), Ok(v("1.5.0")));
        assert_eq!(next_version(&current, &Bump::To(v("2.0.0-rc.1"))), Ok(v("2.0.0-rc.1")));
        assert!(next_version(&current, &Bump::To(v("1.2.3"))).is_err());
        assert!(next_version(&current, &Bump::To(v("1.2.3-rc.1"))).is_err());
        assert_eq!(next_version(&v("0.2.0-rc.1"), &Bump::To(v("0.2.0"))), Ok(v("0.2.0")));
    }

    #[test]
    fn options_parse() {
        let options = parsed(&["minor", "--execute", "--no-verify", "--branch", "release"]);
        assert_eq!(
            options,
            Ok(Options {
                bump: Bump::Minor,
                execute: true,
                publish: true,
                verify: false,
                branch: "release".into(),
            })
        );
        assert_eq!(
            parsed(&["--branch=x", "0.3.0"]).map(|o| (o.bump, o.branch)),
            Ok((Bump::To(v("0.3.0")), "x".into()))
        );
        assert_eq!(parsed(&["patch", "--no-publish"]).map(|o| o.publish), Ok(false));
        assert_eq!(parsed(&[]), Err(USAGE.to_owned()));
        let errors = [
            (&["patch", "--x"][..], "unknown option --x for `cargo xtask release`"),
            (
                &["patch", "minor"][..],
                "unexpected argument \"minor\" for `cargo xtask release`",
            ),
            (&["patch", "--branch"][..], "--branch needs a name"),
            (
                &["1.2"][..],
                "\"1.2\" is neither major, minor, patch nor a version X.Y.Z",
            ),
        ];
        for (args, error) in errors {
            let got = parsed(args).err().unwrap_or_default();
            assert!(got.starts_with(error), "{args:?}: {got}");
        }
    }

    #[test]
    fn changelog_is_dated_and_reopened() {
        let text = "# Changelog\n\n## Unreleased\n\n- a change\n\n## 0.1.0 - 2026-01-01\n\n- old\n";
        let dated = date_changelog(text, &v("0.2.0"), "2026-11-25").unwrap_or_default();
        assert_eq!(
            dated,
            "# Changelog\n\n## Unreleased\n\n## 0.2.0 - 2026-11-25\n\n- a change\n\n## 0.1.0 - 2026-01-01\n\n- old\n"
        );
        assert!(date_changelog("# Changelog\n\n## Unreleased\n\n## 0.1.0\n- x\n", &v("0.2.0"), "d").is_err());
    }

    /// A manifest in the style of the root one, with the corners a line-based
    /// edit gets wrong: comments, odd spacing, a table-style dependency, an
    /// external crate at the same version, a `version` key elsewhere.
    const MANIFEST: &str = r#"[workspace]
members = ["a"]

[workspace.package]
# The version of every crate.
version   =  "0.1.0"   # bumped by cargo xtask release
edition = "2024"

[workspace.dependencies]
# Internal crates.
flow-api = { path = "crates/flow-api", version = "0.1.0" }
flow-mem = {version="0.1.0",path="crates/flow-mem"}  # tight
flow-dev = { path = "crates/flow-dev" }
bytes = "0.1.0"
tokio = { version = "0.1.0", default-features = false }

[workspace.dependencies.flow-tls]
path = "crates/flow-tls"
version = "0.1.0" # a table of its own

[package]
version = "0.1.0"
"#;

    #[test]
    fn only_the_workspace_version_and_internal_dependencies_are_bumped() -> Result<(), String> {
        let document: DocumentMut = MANIFEST.parse().map_err(|e| format!("{e}"))?;
        assert_eq!(workspace_version(&document), Ok(v("0.1.0")));
        let bumped = bump_manifest(document, &v("0.2.0"))?;
        let changed: Vec<(&str, &str)> = MANIFEST.lines().zip(bumped.lines()).filter(|(a, b)| a != b).collect();
        assert_eq!(
            changed,
            [
                (
                    r#"version   =  "0.1.0"   # bumped by cargo xtask release"#,
                    r#"version   =  "0.2.0"   # bumped by cargo xtask release"#
                ),
                (
                    r#"flow-api = { path = "crates/flow-api", version = "0.1.0" }"#,
                    r#"flow-api = { path = "crates/flow-api", version = "0.2.0" }"#
                ),
                (
                    r#"flow-mem = {version="0.1.0",path="crates/flow-mem"}  # tight"#,
                    r#"flow-mem = {version="0.2.0",path="crates/flow-mem"}  # tight"#
                ),
                (
                    r#"version = "0.1.0" # a table of its own"#,
                    r#"version = "0.2.0" # a table of its own"#
                ),
            ]
        );
        assert_eq!(bumped.len(), MANIFEST.len(), "same bytes but the versions");
        Ok(())
    }

    #[test]
    fn the_real_manifest_bumps_cleanly() -> Result<(), String> {
        let manifest = include_str!("../../Cargo.toml");
        let document: DocumentMut = manifest.parse().map_err(|e| format!("{e}"))?;
        let current = workspace_version(&document)?;
        let next = next_version(&current, &Bump::Major)?;
        let bumped = bump_manifest(document, &next)?;
        let changed = manifest.lines().zip(bumped.lines()).filter(|(a, b)| a != b).count();
        let internal = manifest.lines().filter(|l| l.contains("path = \"crates/")).count();
        assert_eq!(
            changed,
            internal + 1,
            "the workspace version and each internal dependency"
        );
        assert_eq!(manifest.lines().count(), bumped.lines().count());
        Ok(())
    }

    #[test]
    fn dates_are_iso() {
        let date = today();
        assert_eq!(date.len(), 10, "{date}");
        assert_eq!((&date[4..5], &date[7..8]), ("-", "-"), "{date}");
        assert!(date.as_str() >= "2024-01-01", "{date}");
    }

    #[test]
    fn publishing_resumes_without_the_crates_already_published() {
        assert_eq!(
            exclude_args(&["flow-api", "flow-mem"]),
            ["--exclude", "flow-api", "--exclude", "flow-mem"]
        );
        assert!(exclude_args(&[]).is_empty());
        let options = parsed(&["patch", "--no-verify"]).unwrap_or_else(|_| unreachable!());
        assert_eq!(dry_run_args(&options), ["--dry-run", "--no-verify"]);
        let line = "   Uploading flow-api v0.1.0 (/work/crates/flow-api)";
        assert_eq!(uploading(line), Some("flow-api"));
        assert_eq!(uploading("   Packaging flow-api v0.1.0 (/work/crates/flow-api)"), None);
    }
}
