//! Per-clause outcomes and reports, as text, Markdown and JSON.

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::Clause;

/// How one clause went for one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The backend keeps the clause.
    Passed,
    /// The backend breaks the clause; the message says how (and the seed).
    Failed(String),
    /// The clause does not apply; the reason names the missing capability.
    NotApplicable(String),
}

impl Outcome {
    /// Whether this is a failure.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }

    /// `passed`, `FAILED` or `n/a`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "FAILED",
            Outcome::NotApplicable(_) => "n/a",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed => f.write_str("passed"),
            Outcome::Failed(why) => write!(f, "FAILED: {why}"),
            Outcome::NotApplicable(why) => write!(f, "not applicable: {why}"),
        }
    }
}

/// One clause's result in a [`Report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The clause.
    pub clause: Clause,
    /// How it went.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// The suite's results for one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The backend's name, as given to [`Runner::new`](crate::Runner::new).
    pub backend: String,
    /// One entry per clause run, in clause order.
    pub entries: Vec<Entry>,
}

impl Report {
    /// Whether no clause failed.
    pub fn is_success(&self) -> bool {
        !self.entries.iter().any(|e| e.outcome.is_failure())
    }

    /// The entries that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.outcome.is_failure())
    }

    /// The outcome of `clause`, if it ran.
    pub fn outcome(&self, clause: Clause) -> Option<&Outcome> {
        self.entries.iter().find(|e| e.clause == clause).map(|e| &e.outcome)
    }

    /// A Markdown table, one row per clause.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "### {}\n\n| # | clause | outcome | time | detail |\n|---|---|---|---|---|\n",
            self.backend
        );
        for e in &self.entries {
            let detail = match &e.outcome {
                Outcome::Passed => String::new(),
                Outcome::Failed(why) | Outcome::NotApplicable(why) => why.replace('|', "\\|").replace('\n', " "),
            };
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {:.2?} | {} |",
                e.clause.number(),
                e.clause.test_name(),
                e.outcome.label(),
                e.elapsed,
                detail
            );
        }
        out
    }

    /// A JSON object: `{"backend": ..., "entries": [{"clause": 1, "name": ..., "outcome": ..., "detail": ..., "millis": ...}]}`.
    pub fn to_json(&self) -> String {
        let mut out = format!("{{\"backend\":{},\"entries\":[", json_string(&self.backend));
        for (i, e) in self.entries.iter().enumerate() {
            let detail = match &e.outcome {
                Outcome::Passed => String::new(),
                Outcome::Failed(why) | Outcome::NotApplicable(why) => why.clone(),
            };
            let _ = write!(
                out,
                "{}{{\"clause\":{},\"name\":{},\"outcome\":{},\"detail\":{},\"millis\":{}}}",
                if i == 0 { "" } else { "," },
                e.clause.number(),
                json_string(e.clause.test_name()),
                json_string(e.outcome.label()),
                json_string(&detail),
                e.elapsed.as_millis()
            );
        }
        out.push_str("]}");
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.backend)?;
        for e in &self.entries {
            writeln!(
                f,
                "  {:>2} {:<40} {:>8.2?}  {}",
                e.clause.number(),
                e.clause.test_name(),
                e.elapsed,
                e.outcome
            )?;
        }
        Ok(())
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes_and_markdown_rows() {
        let report = Report {
            backend: "b\"x".into(),
            entries: vec![
                Entry {
                    clause: Clause::ReadNeverEmpty,
                    outcome: Outcome::Passed,
                    elapsed: Duration::from_millis(3),
                },
                Entry {
                    clause: Clause::WritevConcatenates,
                    outcome: Outcome::Failed("a|b\nc".into()),
                    elapsed: Duration::from_millis(4),
                },
            ],
        };
        assert_eq!(
            report.to_json(),
            "{\"backend\":\"b\\\"x\",\"entries\":[{\"clause\":1,\"name\":\"c01_read_never_empty\",\"outcome\":\"passed\",\"detail\":\"\",\"millis\":3},{\"clause\":8,\"name\":\"c08_writev_concatenates\",\"outcome\":\"FAILED\",\"detail\":\"a|b\\nc\",\"millis\":4}]}"
        );
        let md = report.to_markdown();
        assert!(md.contains("| 8 | `c08_writev_concatenates` | FAILED | "), "{md}");
        assert!(md.contains("a\\|b c"), "{md}");
        assert!(!report.is_success());
        assert_eq!(report.failures().count(), 1);
    }
}
