//! Workspace conventions that keep the crates publishable.

use std::path::Path;

use crate::metadata::{Kind, Package};

/// Checks the conventions; returns every violation, one line each.
pub(crate) fn check(packages: &[Package]) -> Vec<String> {
    let mut problems = Vec::new();
    let unpublished: Vec<&str> = packages
        .iter()
        .filter(|p| !p.publish)
        .map(|p| p.name.as_str())
        .collect();
    for p in packages {
        for dep in p.deps.iter().filter(|d| d.path.is_some()) {
            match dep.kind {
                Kind::Dev if dep.req != "*" => problems.push(format!(
                    "{}: internal dev-dependency {} carries a version ({}); give it a path only, so that publishing does not need it",
                    p.name, dep.name, dep.req
                )),
                Kind::Normal | Kind::Build if dep.req == "*" => problems.push(format!(
                    "{}: internal dependency {} has no version; published crates need one",
                    p.name, dep.name
                )),
                _ => {}
            }
            if p.publish && dep.kind != Kind::Dev && unpublished.contains(&dep.name.as_str()) {
                problems.push(format!(
                    "{}: published, but depends on {}, which is not (publish = false)",
                    p.name, dep.name
                ));
            }
        }
        if !p.publish {
            continue;
        }
        let missing: Vec<&str> = [
            ("description", p.description.is_none()),
            ("license", p.license.is_none()),
            ("repository", p.repository.is_none()),
            ("readme", p.readme.is_none()),
            ("keywords", p.keywords.is_empty()),
        ]
        .iter()
        .filter(|(_, missing)| *missing)
        .map(|(field, _)| *field)
        .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{}: a published crate needs {} (or say `publish = false`)",
                p.name,
                missing.join(", ")
            ));
        }
        if let Some(readme) = &p.readme {
            if !p.dir.join(readme).is_file() && !Path::new(readme).is_file() {
                problems.push(format!("{}: readme {readme} does not exist", p.name));
            }
        }
    }
    problems
}
