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
}

impl Row {
    pub(crate) fn ratio(&self) -> f64 {
        self.value / self.baseline_value
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
        if self.value.is_finite() && self.baseline_value.is_finite() {
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

/// The rows as a Markdown table.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | metric | value | baseline | ratio | goal | met |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for row in rows {
        let met = match row.met() {
            None => "",
            Some(true) => "yes",
            Some(false) => "no",
        };
        let _ = writeln!(
            out,
            "| {} | {} ({}) | {}: {} | {}: {} | {} | {} | {} |",
            row.name,
            row.metric,
            row.unit,
            row.value_name,
            num(row.value),
            row.baseline_name,
            num(row.baseline_value),
            num(row.ratio()),
            row.goal_text(),
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
            })
        })
        .collect();
    serde_json::json!({ "scenarios": scenarios })
}
