//! Result rows, goals, the printed table and the JSON file.

use std::fmt::Write as _;

/// A target a row is judged against (reported, never asserted).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Goal {
    None,
    /// value ÷ baseline ≥ x
    RatioAtLeast(f64),
    /// value ÷ baseline ≤ x
    RatioAtMost(f64),
    /// value − baseline ≤ x (same unit)
    DiffAtMost(f64),
    /// value ≤ x
    ValueAtMost(f64),
}

/// How far the ratios of a row's pairs spread beyond which a row is not
/// judged against its goal: (max − min) ÷ median.
pub(crate) const MAX_SPREAD: f64 = 0.10;

/// The ratios of a row measured in alternating pairs.
#[derive(Clone, Debug)]
pub(crate) struct Spread {
    pub(crate) pairs: usize,
    pub(crate) median: f64,
    pub(crate) lo: f64,
    pub(crate) hi: f64,
}

impl Spread {
    /// The spread of `ratios` (one per pair).
    pub(crate) fn of(ratios: &[f64]) -> Spread {
        let mut sorted = ratios.to_vec();
        sorted.sort_by(f64::total_cmp);
        Spread {
            pairs: sorted.len(),
            median: median(&sorted),
            lo: sorted.first().copied().unwrap_or(f64::NAN),
            hi: sorted.last().copied().unwrap_or(f64::NAN),
        }
    }

    /// Whether the pairs agree well enough to judge the goal.
    pub(crate) fn narrow(&self) -> bool {
        self.hi - self.lo <= MAX_SPREAD * self.median
    }
}

/// The median of sorted values (the mean of the middle two for an even
/// count).
pub(crate) fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// One measured comparison.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) metric: String,
    pub(crate) unit: String,
    pub(crate) value_name: String,
    pub(crate) value: f64,
    pub(crate) baseline_name: String,
    pub(crate) baseline_value: f64,
    pub(crate) goal: Goal,
    /// Set when the row comes from alternating pairs: the value and the
    /// baseline are then medians, and the ratio the median of the pairs'.
    pub(crate) spread: Option<Spread>,
}

impl Row {
    pub(crate) fn ratio(&self) -> f64 {
        match &self.spread {
            Some(spread) => spread.median,
            None => self.value / self.baseline_value,
        }
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::None => String::from("-"),
            Goal::RatioAtLeast(x) => format!("ratio >= {x}"),
            Goal::RatioAtMost(x) => format!("ratio <= {x}"),
            Goal::DiffAtMost(x) => format!("diff <= {x} {}", self.unit),
            Goal::ValueAtMost(x) => format!("value <= {x} {}", self.unit),
        }
    }

    fn met(&self) -> Option<bool> {
        let ok = match self.goal {
            Goal::None => return None,
            Goal::RatioAtLeast(x) => self.ratio() >= x,
            Goal::RatioAtMost(x) => self.ratio() <= x,
            Goal::DiffAtMost(x) => self.value - self.baseline_value <= x,
            Goal::ValueAtMost(x) => self.value <= x,
        };
        let judgeable = self.spread.as_ref().is_none_or(Spread::narrow);
        if self.value.is_finite() && self.baseline_value.is_finite() && judgeable {
            Some(ok)
        } else {
            None
        }
    }
}

fn num(v: f64) -> String {
    if !v.is_finite() {
        String::from("n/a")
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The rows as a Markdown table (the one [`table_from_json`] prints).
pub(crate) fn table(rows: &[Row]) -> String {
    table_from_json(&json(rows))
}

/// The Markdown table of a JSON document [`json`] wrote: what the README
/// shows, regenerated from one run's file (`rstream-bench table FILE`).
pub(crate) fn table_from_json(doc: &serde_json::Value) -> String {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let number = |v: &serde_json::Value| v.as_f64().map_or_else(|| "n/a".to_owned(), num);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | metric | value | baseline | ratio | goal | met |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for row in doc["scenarios"].as_array().into_iter().flatten() {
        let ratio = match row["pairs"].as_u64() {
            Some(pairs) => format!(
                "{} ({}-{}, {pairs} pairs)",
                number(&row["ratio"]),
                number(&row["ratio_min"]),
                number(&row["ratio_max"])
            ),
            None => number(&row["ratio"]),
        };
        let met = if row["spread_narrow"] == false && row["goal"] != "-" {
            "spread too wide to judge"
        } else {
            match row["goal_met"].as_bool() {
                None => "",
                Some(true) => "yes",
                Some(false) => "no",
            }
        };
        let _ = writeln!(
            out,
            "| {} | {} ({}) | {}: {} | {}: {} | {} | {} | {} |",
            text(&row["name"]),
            text(&row["metric"]),
            text(&row["unit"]),
            text(&row["value_name"]),
            number(&row["value"]),
            text(&row["baseline_name"]),
            number(&row["baseline_value"]),
            ratio,
            text(&row["goal"]),
            met
        );
    }
    out
}

fn finite(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::json!(v)
    } else {
        serde_json::Value::Null
    }
}

/// The rows as the JSON document `{"scenarios": [...]}`.
pub(crate) fn json(rows: &[Row]) -> serde_json::Value {
    let scenarios: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "metric": r.metric,
                "unit": r.unit,
                "value_name": r.value_name,
                "value": finite(r.value),
                "baseline_name": r.baseline_name,
                "baseline_value": finite(r.baseline_value),
                "ratio": finite(r.ratio()),
                "goal": r.goal_text(),
                "goal_met": r.met(),
                "pairs": r.spread.as_ref().map(|s| s.pairs),
                "ratio_min": r.spread.as_ref().map(|s| finite(s.lo)),
                "ratio_max": r.spread.as_ref().map(|s| finite(s.hi)),
                "spread_narrow": r.spread.as_ref().map(Spread::narrow),
            })
        })
        .collect();
    serde_json::json!({ "scenarios": scenarios })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(goal: Goal, ratios: &[f64]) -> Row {
        Row {
            name: "keepalive".into(),
            metric: "throughput".into(),
            unit: "req/s".into(),
            value_name: "tunnel".into(),
            value: 900.0,
            baseline_name: "direct TLS".into(),
            baseline_value: 1000.0,
            goal,
            spread: Some(Spread::of(ratios)),
        }
    }

    #[test]
    fn medians_and_spreads() {
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
        assert!(median(&[]).is_nan());
        let spread = Spread::of(&[0.97, 0.90, 0.93]);
        assert_eq!(
            (spread.pairs, spread.median, spread.lo, spread.hi),
            (3, 0.93, 0.90, 0.97)
        );
        assert!(spread.narrow());
        assert!(!Spread::of(&[0.7, 0.9, 1.0]).narrow());
    }

    #[test]
    fn a_paired_row_is_judged_on_its_median_ratio_unless_too_wide() {
        // The value and baseline medians give 0.90; the pairs' median is
        // what counts.
        let narrow = row(Goal::RatioAtLeast(0.95), &[0.96, 0.97, 0.99]);
        assert_eq!(narrow.ratio(), 0.97);
        assert_eq!(narrow.met(), Some(true));
        let wide = row(Goal::RatioAtLeast(0.95), &[0.80, 0.97, 1.05]);
        assert_eq!(wide.met(), None);
        let text = table(&[narrow, wide]);
        assert!(text.contains("0.97 (0.96-0.99, 3 pairs)"), "{text}");
        assert!(text.contains("spread too wide to judge"), "{text}");
        let doc = json(&[row(Goal::RatioAtMost(1.05), &[1.0, 1.01, 1.02])]);
        let first = &doc["scenarios"][0];
        assert_eq!(first["pairs"], 3);
        assert_eq!(first["ratio_min"], 1.0);
        assert_eq!(first["spread_narrow"], true);
        assert_eq!(first["goal_met"], true);
    }
}
