//! The headline figures each benchmark adds to the suite's summary
//! (docs/benchmarks-summary.md): one JSON line per figure, ours beside the reference it
//! is measured against and the target for it.

use std::io::Write;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figure {
    /// The benchmark program that measured it.
    pub benchmark: String,
    pub figure: String,
    pub unit: String,
    pub ours: f64,
    /// What ours is compared with (`bpftrace`, `floor`), when anything.
    #[serde(default)]
    pub reference_name: Option<String>,
    #[serde(default)]
    pub reference: Option<f64>,
    /// The target, as words (`≤ 0.5× bpftrace`).
    pub target: String,
    /// Whether the target is met; `None` when it is not a pass/fail figure.
    #[serde(default)]
    pub met: Option<bool>,
}

impl Figure {
    pub fn new(benchmark: &str, figure: &str, unit: &str, ours: f64, target: &str) -> Figure {
        Figure {
            benchmark: benchmark.to_owned(),
            figure: figure.to_owned(),
            unit: unit.to_owned(),
            ours,
            reference_name: None,
            reference: None,
            target: target.to_owned(),
            met: None,
        }
    }

    pub fn against(mut self, name: &str, reference: f64) -> Figure {
        self.reference_name = Some(name.to_owned());
        self.reference = Some(reference);
        self
    }

    pub fn met(mut self, met: bool) -> Figure {
        self.met = Some(met);
        self
    }

    /// Ours ÷ the reference.
    pub fn ratio(&self) -> Option<f64> {
        self.reference
            .filter(|reference| *reference != 0.0 && reference.is_finite())
            .map(|reference| self.ours / reference)
    }
}

/// Appends `figures` to the summary file `path` (JSON lines), when one was asked for.
pub fn append(path: Option<&str>, figures: &[Figure]) {
    let Some(path) = path else {
        return;
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|err| panic!("open {path}: {err}"));
    for figure in figures {
        let line = serde_json::to_string(figure).expect("a figure serializes");
        writeln!(file, "{line}").unwrap_or_else(|err| panic!("write {path}: {err}"));
    }
}
