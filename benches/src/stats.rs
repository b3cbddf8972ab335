//! Medians, ratios and the results table.

use std::fmt::Write as _;
use std::time::Duration;

/// The median of some durations.
pub(crate) fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// The `quantile` (0.0 to 1.0) of some durations, by nearest rank: the
/// smallest sample that at least that share of the samples do not exceed
/// (0.99 of 1,000 samples is the 990th smallest). Reorders `samples`; zero
/// when there are none.
pub(crate) fn percentile(samples: &mut [Duration], quantile: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let rank = (quantile.clamp(0.0, 1.0) * samples.len() as f64).ceil() as usize;
    let index = rank.clamp(1, samples.len()) - 1;
    *samples.select_nth_unstable(index).1
}

/// How a row's measurement reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unit {
    /// Bytes moved: shown as MiB/s; higher is better.
    Throughput(u64),
    /// Operations done: shown as operations per second; higher is better.
    Rate(u64),
    /// Operations done: shown as microseconds each; lower is better.
    Latency(u64),
    /// Bytes moved, for a CPU time: shown as CPU seconds per GiB; lower
    /// is better.
    CpuPerGib(u64),
}

/// One comparison: ours against a baseline.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) what: String,
    pub(crate) ours: String,
    pub(crate) ours_value: f64,
    pub(crate) baseline: String,
    pub(crate) baseline_value: f64,
    pub(crate) unit: &'static str,
    /// ours / baseline, oriented so that above 1.0 means we are better.
    pub(crate) ratio: f64,
    /// The lowest and highest ratio of one round (ours against the baseline
    /// run right before it), when the row has rounds.
    pub(crate) spread: Option<(f64, f64)>,
    pub(crate) target: Option<f64>,
}

/// The rows measured so far, in order.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub(crate) rows: Vec<Row>,
}

fn value(unit: Unit, d: Duration) -> f64 {
    let secs = d.as_secs_f64().max(1e-9);
    match unit {
        Unit::Throughput(bytes) => bytes as f64 / secs / (1024.0 * 1024.0),
        Unit::Rate(ops) => ops as f64 / secs,
        Unit::Latency(ops) => secs * 1e6 / ops.max(1) as f64,
        Unit::CpuPerGib(bytes) => secs / (bytes.max(1) as f64 / (1024.0 * 1024.0 * 1024.0)),
    }
}

/// The lowest and highest per-round ratio of two sides' samples, paired by
/// round. Every unit's ratio is the baseline's duration over ours.
fn spread(ours: &[Duration], baseline: &[Duration]) -> Option<(f64, f64)> {
    let ratios = ours
        .iter()
        .zip(baseline)
        .map(|(o, b)| b.as_secs_f64() / o.as_secs_f64().max(1e-9));
    ratios.fold(None, |range, r| match range {
        None => Some((r, r)),
        Some((lo, hi)) => Some((f64::min(lo, r), f64::max(hi, r))),
    })
}

impl Table {
    /// Records a comparison from the two sides' samples, one per round in
    /// the same order: the medians, their ratio, and the range of the
    /// per-round ratios.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn compare(
        &mut self,
        what: &str,
        ours: &str,
        ours_samples: &[Duration],
        baseline: &str,
        base_samples: &[Duration],
        unit: Unit,
        target: Option<f64>,
    ) {
        let (ours_d, base_d) = (median(ours_samples.to_vec()), median(base_samples.to_vec()));
        let (ov, bv) = (value(unit, ours_d), value(unit, base_d));
        let (ratio, unit_name) = match unit {
            Unit::Throughput(_) => (ov / bv, "MiB/s"),
            Unit::Rate(_) => (ov / bv, "ops/s"),
            Unit::Latency(_) => (bv / ov, "µs"),
            Unit::CpuPerGib(_) => (bv / ov, "CPU s/GiB"),
        };
        self.rows.push(Row {
            what: what.into(),
            ours: ours.into(),
            ours_value: ov,
            baseline: baseline.into(),
            baseline_value: bv,
            unit: unit_name,
            ratio,
            spread: spread(ours_samples, base_samples),
            target,
        });
    }

    /// Records a comparison of two direct measurements (lower is better).
    pub(crate) fn compare_values(
        &mut self,
        what: &str,
        ours: &str,
        ov: f64,
        baseline: &str,
        bv: f64,
        unit: &'static str,
    ) {
        self.rows.push(Row {
            what: what.into(),
            ours: ours.into(),
            ours_value: ov,
            baseline: baseline.into(),
            baseline_value: bv,
            unit,
            ratio: bv / ov.max(1e-9),
            spread: None,
            target: None,
        });
    }

    /// Whether a row met its target: `met` when the median ratio reaches
    /// it, `MISSED` only when every round fell short (the spread lies
    /// wholly below it), and `within noise` between the two: the next run
    /// may read either way.
    fn verdict(row: &Row) -> &'static str {
        match (row.target, row.spread) {
            (None, _) => "",
            (Some(t), _) if row.ratio >= t => "met",
            (Some(t), Some((_, hi))) if hi >= t => "within noise",
            (Some(_), _) => "MISSED",
        }
    }

    /// A row's ratio, with the range of its rounds: `0.94x (0.90-0.97)`.
    fn ratio(row: &Row) -> String {
        match row.spread {
            Some((lo, hi)) => format!("{:.2}x ({lo:.2}-{hi:.2})", row.ratio),
            None => format!("{:.2}x", row.ratio),
        }
    }

    /// The table as aligned plain text, for the terminal.
    pub(crate) fn to_text(&self) -> String {
        let names: Vec<String> = self
            .rows
            .iter()
            .map(|r| format!("{} ({} vs {})", r.what, r.ours, r.baseline))
            .collect();
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0).max(9);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$} {:>14} {:>14} {:>6}  {:>18}  target",
            "benchmark", "ours", "baseline", "unit", "ratio"
        );
        for (r, name) in self.rows.iter().zip(&names) {
            let _ = writeln!(
                out,
                "{:<width$} {:>14.2} {:>14.2} {:>6}  {:>18}  {}",
                name,
                r.ours_value,
                r.baseline_value,
                r.unit,
                Self::ratio(r),
                r.target
                    .map(|t| format!(">= {t}x {}", Self::verdict(r)))
                    .unwrap_or_default()
            );
        }
        out
    }

    /// The table in Markdown, for docs/performance.md.
    pub(crate) fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| benchmark | ours | value | baseline | value | unit | ratio (>1: ours better; range of the rounds) | target |\n|---|---|---:|---|---:|---|---:|---|\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {} | {:.2} | {} | {} | {} |",
                r.what,
                r.ours,
                r.ours_value,
                r.baseline,
                r.baseline_value,
                r.unit,
                Self::ratio(r),
                r.target
                    .map(|t| format!(">= {t}x: {}", Self::verdict(r)))
                    .unwrap_or_default()
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn row(ratio: f64, spread: Option<(f64, f64)>, target: Option<f64>) -> Row {
        Row {
            what: "row".into(),
            ours: "ours".into(),
            ours_value: ratio,
            baseline: "baseline".into(),
            baseline_value: 1.0,
            unit: "ops/s",
            ratio,
            spread,
            target,
        }
    }

    #[test]
    fn a_target_is_missed_only_when_every_round_fell_short() {
        assert_eq!(Table::verdict(&row(1.02, Some((0.9, 1.1)), Some(1.0))), "met");
        assert_eq!(Table::verdict(&row(0.97, Some((0.9, 1.03)), Some(1.0))), "within noise");
        assert_eq!(Table::verdict(&row(0.97, Some((0.9, 1.0)), Some(1.0))), "within noise");
        assert_eq!(Table::verdict(&row(0.97, Some((0.9, 0.99)), Some(1.0))), "MISSED");
        // A single measurement has no spread to excuse it.
        assert_eq!(Table::verdict(&row(0.97, None, Some(1.0))), "MISSED");
        assert_eq!(Table::verdict(&row(0.5, Some((0.4, 0.6)), None)), "");
    }

    #[test]
    fn the_spread_pairs_rounds_and_orients_ratios() {
        // Durations: ours 10 and 20 ms against 20 and 10 ms.
        let spread = spread(&[ms(10), ms(20)], &[ms(20), ms(10)]);
        assert_eq!(spread, Some((0.5, 2.0)));
        assert_eq!(super::spread(&[], &[]), None);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        // 1..=1000 ms, shuffled by a fixed stride so the order is not sorted.
        let mut samples: Vec<Duration> = (0..1000u64).map(|i| ms((i * 379) % 1000 + 1)).collect();
        assert_eq!(percentile(&mut samples, 0.99), ms(990));
        assert_eq!(percentile(&mut samples, 0.5), ms(500));
        assert_eq!(percentile(&mut samples, 1.0), ms(1000));
        assert_eq!(percentile(&mut samples, 0.0), ms(1));
        // 0.99 of 10 samples is the 10th: one slow trip in ten is the p99.
        let mut ten: Vec<Duration> = (1..=10).map(ms).collect();
        ten.swap(0, 9);
        assert_eq!(percentile(&mut ten, 0.99), ms(10));
        assert_eq!(percentile(&mut ten, 0.9), ms(9));
        assert_eq!(percentile(&mut [ms(7)], 0.99), ms(7));
        assert_eq!(percentile(&mut [], 0.99), Duration::ZERO);
    }
}
