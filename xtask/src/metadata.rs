//! The workspace as `cargo metadata` describes it.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// What kind of dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Normal,
    Dev,
    Build,
}

/// A dependency of a workspace package.
#[derive(Debug, Clone)]
pub(crate) struct Dep {
    pub(crate) name: String,
    /// The version requirement; `*` when the manifest gives none.
    pub(crate) req: String,
    pub(crate) kind: Kind,
    /// Set for path dependencies: the workspace's own crates.
    pub(crate) path: Option<PathBuf>,
}

/// A workspace package.
#[derive(Debug, Clone)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) dir: PathBuf,
    pub(crate) publish: bool,
    pub(crate) description: Option<String>,
    pub(crate) license: Option<String>,
    pub(crate) repository: Option<String>,
    pub(crate) readme: Option<String>,
    pub(crate) keywords: Vec<String>,
    pub(crate) deps: Vec<Dep>,
}

impl Package {
    /// The workspace's own crates this one depends on, dev-dependencies left out.
    pub(crate) fn internal_deps(&self) -> impl Iterator<Item = &Dep> {
        self.deps.iter().filter(|d| d.path.is_some() && d.kind != Kind::Dev)
    }
}

fn string(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
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
    let json: Value = serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata: bad JSON: {e}"))?;
    let packages = json
        .get("packages")
        .and_then(Value::as_array)
        .ok_or("cargo metadata: no packages")?;
    let mut out = Vec::new();
    for p in packages {
        let manifest = PathBuf::from(string(p, "manifest_path").ok_or("cargo metadata: no manifest_path")?);
        let deps = p
            .get("dependencies")
            .and_then(Value::as_array)
            .map(|deps| {
                deps.iter()
                    .map(|d| Dep {
                        name: string(d, "name").unwrap_or_default(),
                        req: string(d, "req").unwrap_or_else(|| "*".into()),
                        kind: match d.get("kind").and_then(Value::as_str) {
                            Some("dev") => Kind::Dev,
                            Some("build") => Kind::Build,
                            _ => Kind::Normal,
                        },
                        path: string(d, "path").map(PathBuf::from),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Package {
            name: string(p, "name").ok_or("cargo metadata: package without a name")?,
            version: string(p, "version").unwrap_or_default(),
            dir: manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
            // `publish: []` (from `publish = false`) means nowhere.
            publish: !matches!(p.get("publish"), Some(Value::Array(registries)) if registries.is_empty()),
            description: string(p, "description"),
            license: string(p, "license"),
            repository: string(p, "repository"),
            readme: string(p, "readme"),
            keywords: p
                .get("keywords")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default(),
            deps,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The publishable packages in publish order: every crate after the crates
/// it depends on (dev-dependencies ignored), ties broken by name.
pub(crate) fn publish_order(packages: &[Package]) -> Result<Vec<String>, String> {
    let publishable: Vec<&Package> = packages.iter().filter(|p| p.publish).collect();
    let names: Vec<&str> = publishable.iter().map(|p| p.name.as_str()).collect();
    let mut order: Vec<String> = Vec::new();
    while order.len() < publishable.len() {
        let ready = publishable.iter().filter(|p| !order.contains(&p.name)).find(|p| {
            p.internal_deps()
                .all(|d| !names.contains(&d.name.as_str()) || order.contains(&d.name))
        });
        match ready {
            Some(p) => order.push(p.name.clone()),
            None => {
                let left: Vec<&str> = names
                    .iter()
                    .copied()
                    .filter(|n| !order.iter().any(|o| o == n))
                    .collect();
                return Err(format!("dependency cycle among {}", left.join(", ")));
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, deps: &[(&str, Kind)], publish: bool) -> Package {
        Package {
            name: name.into(),
            version: "0.1.0".into(),
            dir: PathBuf::new(),
            publish,
            description: None,
            license: None,
            repository: None,
            readme: None,
            keywords: Vec::new(),
            deps: deps
                .iter()
                .map(|(d, kind)| Dep {
                    name: (*d).into(),
                    req: "^0.1.0".into(),
                    kind: *kind,
                    path: Some(PathBuf::from(d)),
                })
                .collect(),
        }
    }

    #[test]
    fn order_follows_dependencies_and_ignores_dev_dependencies() {
        let packages = [
            package("facade", &[("b", Kind::Normal), ("api", Kind::Normal)], true),
            package("b", &[("api", Kind::Normal), ("suite", Kind::Dev)], true),
            package("suite", &[("api", Kind::Normal), ("b", Kind::Normal)], true),
            package("api", &[("b", Kind::Dev)], true),
            package("tests", &[("facade", Kind::Normal)], false),
        ];
        assert_eq!(
            publish_order(&packages).unwrap_or_default(),
            ["api", "b", "facade", "suite"]
        );
    }

    #[test]
    fn a_cycle_is_an_error() {
        let packages = [
            package("a", &[("b", Kind::Normal)], true),
            package("b", &[("a", Kind::Normal)], true),
        ];
        assert!(publish_order(&packages).is_err());
    }
}
