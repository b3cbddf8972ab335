//! `cargo xtask release <major|minor|patch|X.Y.Z> [--execute] [--no-publish] [--no-verify] [--branch NAME]`
//!
//! A dry run by default: it checks everything and prints the plan, changing
//! nothing in the repository. `--execute` bumps the version, dates the
//! changelog, commits, tags and publishes in dependency order.

use std::fmt;
use std::path::Path;
use std::process::Command;

use crate::metadata::{self, Package};
use crate::{cargo, tidy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Version(u64, u64, u64);

impl Version {
    fn parse(text: &str) -> Result<Version, String> {
        let parts: Vec<&str> = text.split('.').collect();
        match parts.as_slice() {
            [a, b, c] => Ok(Version(num(a, text)?, num(b, text)?, num(c, text)?)),
            _ => Err(format!("{text:?} is not a version of the form X.Y.Z")),
        }
    }
}

fn num(part: &str, whole: &str) -> Result<u64, String> {
    part.parse()
        .map_err(|_| format!("{whole:?} is not a version of the form X.Y.Z"))
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

struct Options {
    bump: String,
    execute: bool,
    publish: bool,
    verify: bool,
    branch: String,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        bump: String::new(),
        execute: false,
        publish: true,
        verify: true,
        branch: "main".into(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--execute" => options.execute = true,
            "--no-publish" => options.publish = false,
            "--no-verify" => options.verify = false,
            "--branch" => options.branch = args.next().ok_or("--branch needs a name")?.clone(),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            bump if options.bump.is_empty() => options.bump = bump.to_owned(),
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    if options.bump.is_empty() {
        return Err("usage: cargo xtask release <major|minor|patch|X.Y.Z> [--execute] [--no-publish] [--no-verify] [--branch NAME]".into());
    }
    Ok(options)
}

fn next_version(current: Version, bump: &str) -> Result<Version, String> {
    let Version(major, minor, patch) = current;
    let next = match bump {
        "major" => Version(major + 1, 0, 0),
        "minor" => Version(major, minor + 1, 0),
        "patch" => Version(major, minor, patch + 1),
        exact => Version::parse(exact)?,
    };
    if next <= current {
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
fn workspace_version(manifest: &str) -> Result<Version, String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("version = ") {
                return Version::parse(value.trim_matches('"'));
            }
        }
    }
    Err("Cargo.toml: no version in [workspace.package]".into())
}

/// Sets the workspace version and the version of every internal (path)
/// dependency in `[workspace.dependencies]`.
fn bump_manifest(manifest: &str, from: Version, to: Version) -> String {
    let mut section = String::new();
    let mut out = String::with_capacity(manifest.len());
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_owned();
        }
        let is_internal_dep = section == "[workspace.dependencies]" && trimmed.contains("path =");
        let is_version = section == "[workspace.package]" && trimmed.starts_with("version = ");
        if is_internal_dep || is_version {
            out.push_str(&line.replace(&format!("\"{from}\""), &format!("\"{to}\"")));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Renames `## Unreleased` to the version and date, with a fresh empty
/// `## Unreleased` above it. Fails when there is nothing under it.
fn date_changelog(changelog: &str, version: Version, date: &str) -> Result<String, String> {
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
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
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

fn package_step(root: &Path, order: &[String], options: &Options) -> Result<(), String> {
    let mut args: Vec<&str> = vec!["package", "--quiet"];
    for name in order {
        args.extend(["-p", name.as_str()]);
    }
    if !options.verify {
        args.push("--no-verify");
    }
    if options.execute {
        // The bumped manifests are not committed yet.
        args.push("--allow-dirty");
    }
    run_cargo(root, "package", &args)?;
    let mut dry: Vec<&str> = vec!["publish", "--quiet", "--workspace", "--dry-run"];
    if !options.verify {
        dry.push("--no-verify");
    }
    if options.execute {
        dry.push("--allow-dirty");
    }
    run_cargo(root, "publish --dry-run", &dry)
}

fn already_published(root: &Path, name: &str, version: Version) -> bool {
    cargo(root)
        .args(["info", "--quiet", &format!("{name}@{version}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `cargo xtask release`.
pub(crate) fn release(root: &Path, args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let manifest_path = root.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path).map_err(|e| format!("Cargo.toml: {e}"))?;
    let current = workspace_version(&manifest)?;
    let next = next_version(current, &options.bump)?;
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
    let dated = date_changelog(&changelog, next, &today())?;
    say(
        "changelog",
        &format!("`## Unreleased` becomes `## {next} - {}`", today()),
    );

    let packages = metadata::workspace(root)?;
    tidy_step(&packages)?;
    let order = metadata::publish_order(&packages)?;
    say("order", "publish order (dependencies first, dev-dependencies ignored):");
    for (i, name) in order.iter().enumerate() {
        println!("    {}. {name}", i + 1);
    }

    let bumped = bump_manifest(&manifest, current, next);
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

    package_step(root, &order, &options)?;

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
        for name in &order {
            if already_published(root, name, next) {
                say("publish", &format!("{name} {next} is on crates.io already, skipped"));
                continue;
            }
            run_cargo(root, &format!("publish {name}"), &["publish", "--quiet", "-p", name])?;
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

    #[test]
    fn versions_bump() {
        let v = Version(1, 2, 3);
        assert_eq!(next_version(v, "patch"), Ok(Version(1, 2, 4)));
        assert_eq!(next_version(v, "minor"), Ok(Version(1, 3, 0)));
        assert_eq!(next_version(v, "major"), Ok(Version(2, 0, 0)));
        assert_eq!(next_version(v, "1.5.0"), Ok(Version(1, 5, 0)));
        assert!(next_version(v, "1.2.3").is_err());
        assert!(next_version(v, "1.2").is_err());
    }

    #[test]
    fn changelog_is_dated_and_reopened() {
        let text = "# Changelog\n\n## Unreleased\n\n- a change\n\n## 0.1.0 - 2026-01-01\n\n- old\n";
        let dated = date_changelog(text, Version(0, 2, 0), "2026-11-25").unwrap_or_default();
        assert_eq!(
            dated,
            "# Changelog\n\n## Unreleased\n\n## 0.2.0 - 2026-11-25\n\n- a change\n\n## 0.1.0 - 2026-01-01\n\n- old\n"
        );
        assert!(date_changelog("# Changelog\n\n## Unreleased\n\n## 0.1.0\n- x\n", Version(0, 2, 0), "d").is_err());
    }

    #[test]
    fn only_the_workspace_version_and_internal_dependencies_are_bumped() {
        let manifest = "[workspace.package]\nversion = \"0.1.0\"\n\n[workspace.dependencies]\nflow-api = { path = \"crates/flow-api\", version = \"0.1.0\" }\nbytes = \"0.1.0\"\n";
        let bumped = bump_manifest(manifest, Version(0, 1, 0), Version(0, 1, 1));
        assert_eq!(
            bumped,
            "[workspace.package]\nversion = \"0.1.1\"\n\n[workspace.dependencies]\nflow-api = { path = \"crates/flow-api\", version = \"0.1.1\" }\nbytes = \"0.1.0\"\n"
        );
    }

    #[test]
    fn dates_are_civil() {
        let date = today();
        assert_eq!(date.len(), 10);
        assert!(date.as_str() >= "2024-01-01", "{date}");
    }
}
