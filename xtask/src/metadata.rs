//! The workspace as `cargo metadata` describes it: the part tidy and release
//! read, deserialized straight into these structs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

/// What kind of dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Normal,
    Dev,
    Build,
}

impl<'de> Deserialize<'de> for Kind {
    /// `"dev"`, `"build"` or `null` (a normal dependency).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Kind, D::Error> {
        Ok(match Option::<String>::deserialize(deserializer)?.as_deref() {
            Some("dev") => Kind::Dev,
            Some("build") => Kind::Build,
            _ => Kind::Normal,
        })
    }
}

/// A dependency of a workspace package.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Dep {
    pub(crate) name: String,
    /// The version requirement; `*` when the manifest gives none.
    pub(crate) req: String,
    pub(crate) kind: Kind,
    /// Set for path dependencies: the workspace's own crates.
    pub(crate) path: Option<PathBuf>,
}

/// A workspace package.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) version: String,
    /// The directory of its manifest.
    #[serde(rename = "manifest_path", deserialize_with = "parent")]
    pub(crate) dir: PathBuf,
    #[serde(deserialize_with = "anywhere")]
    pub(crate) publish: bool,
    pub(crate) description: Option<String>,
    pub(crate) license: Option<String>,
    pub(crate) repository: Option<String>,
    pub(crate) readme: Option<String>,
    #[serde(default)]
    pub(crate) keywords: Vec<String>,
    #[serde(rename = "dependencies", default)]
    pub(crate) deps: Vec<Dep>,
}

fn parent<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
    let manifest = PathBuf::deserialize(deserializer)?;
    Ok(manifest.parent().map(Path::to_path_buf).unwrap_or_default())
}

/// `publish`: `null` means crates.io, `[]` (from `publish = false`) nowhere.
fn anywhere<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.is_none_or(|registries| !registries.is_empty()))
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

/// Reads the packages out of `cargo metadata`'s JSON, sorted by name.
fn packages(json: &[u8]) -> Result<Vec<Package>, String> {
    let mut packages = serde_json::from_slice::<Metadata>(json)
        .map_err(|e| format!("cargo metadata: unexpected JSON: {e}"))?
        .packages;
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(packages)
}

/// Reads the workspace at `root` through `cargo metadata`.
pub(crate) fn workspace(root: &Path) -> Result<Vec<Package>, String> {
    let output = crate::cargo(root)
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .output()
        .map_err(|e| format!("cargo metadata: cannot run: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    packages(&output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two packages as `cargo metadata --format-version 1` gives them, cut down
    /// (unknown fields are ignored).
    const JSON: &str = r#"{"packages": [
        {"name": "flow-tests", "version": "0.1.0", "manifest_path": "/w/tests/Cargo.toml",
         "publish": [], "description": "tests", "license": null, "repository": null,
         "readme": null, "keywords": [], "targets": [],
         "dependencies": [
            {"name": "flow-api", "req": "^0.1.0", "kind": null, "path": "/w/crates/flow-api"},
            {"name": "rcgen", "req": "^0.14", "kind": "dev", "optional": false},
            {"name": "cc", "req": "*", "kind": "build"}]},
        {"name": "flow-api", "version": "0.1.0", "manifest_path": "/w/crates/flow-api/Cargo.toml",
         "publish": null, "description": "the traits", "license": "MIT OR Apache-2.0",
         "repository": "https://example.org", "readme": "README.md", "keywords": ["io"],
         "dependencies": []}
    ], "workspace_root": "/w"}"#;

    #[test]
    fn cargo_metadata_is_read() -> Result<(), String> {
        let packages = packages(JSON.as_bytes())?;
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["flow-api", "flow-tests"]);
        let (api, tests) = (&packages[0], &packages[1]);
        assert!(api.publish);
        assert!(!tests.publish);
        assert_eq!(api.dir, Path::new("/w/crates/flow-api"));
        assert_eq!(api.readme.as_deref(), Some("README.md"));
        assert_eq!(api.keywords, ["io"]);
        assert_eq!(tests.license, None);
        let deps: Vec<(&str, &str, Kind, bool)> = tests
            .deps
            .iter()
            .map(|d| (d.name.as_str(), d.req.as_str(), d.kind, d.path.is_some()))
            .collect();
        assert_eq!(
            deps,
            [
                ("flow-api", "^0.1.0", Kind::Normal, true),
                ("rcgen", "^0.14", Kind::Dev, false),
                ("cc", "*", Kind::Build, false),
            ]
        );
        Ok(())
    }

    #[test]
    fn unexpected_json_is_an_error() {
        assert!(packages(b"{}").is_err());
        assert!(packages(br#"{"packages": [{"name": "x"}]}"#).is_err());
    }
}
