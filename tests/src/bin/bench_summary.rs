//! The suite's summary: every headline figure the benchmarks of one run wrote with
//! `--summary`, in one markdown table of ratios (ours ÷ reference) against the targets.
//!
//! `bench-summary --out docs/benchmarks-summary.md FILE...` (the JSON-lines files the
//! benchmarks appended to); `tests/bench.sh` runs every benchmark, then this.

use std::fmt::Write as _;

use e2e::summary::Figure;

fn main() {
    let mut out_file = None;
    let mut inputs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out_file = Some(args.next().expect("--out FILE")),
            path => inputs.push(path.to_owned()),
        }
    }
    let mut figures = Vec::new();
    for path in &inputs {
        let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("read {path}: {err}"));
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let figure: Figure =
                serde_json::from_str(line).unwrap_or_else(|err| panic!("{path}: {err}: {line}"));
            figures.push(figure);
        }
    }
    let report = report(&figures);
    print!("{report}");
    if let Some(path) = out_file {
        std::fs::write(&path, &report).unwrap_or_else(|err| panic!("write {path}: {err}"));
    }
}

fn report(figures: &[Figure]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "# Benchmark summary\n\n\
Written by `bench-summary` from the figures every benchmark of one run of \
`tests/bench.sh` recorded (each a median of interleaved rounds; how each measures: \
[benchmarks.md](benchmarks.md), the full reports beside it). Ratio is ours ÷ the \
reference. Machine: {} CPUs ({}), kernel {}.\n\n\
| benchmark | figure | ours | reference | ratio | target | met |\n\
|---|---|---:|---:|---:|---|---|\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
    );
    for figure in figures {
        let reference = match (&figure.reference_name, figure.reference) {
            (Some(name), Some(value)) => format!("{} {} ({name})", number(value), figure.unit),
            _ => "-".to_owned(),
        };
        let ratio = figure
            .ratio()
            .map_or("-".to_owned(), |ratio| format!("**{ratio:.2}×**"));
        let met = match figure.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} {} | {reference} | {ratio} | {} | {met} |",
            figure.benchmark,
            figure.figure,
            number(figure.ours),
            figure.unit,
            figure.target
        );
    }
    let missed: Vec<&Figure> = figures.iter().filter(|f| f.met == Some(false)).collect();
    if missed.is_empty() {
        out.push_str("\nEvery target with a pass mark was met in this run.\n");
    } else {
        out.push_str(
            "\nMissed in this run (what limits each is in the benchmark's own report):\n\n",
        );
        for figure in missed {
            let _ = writeln!(
                out,
                "- {} ({}): {} {}, target {}.",
                figure.figure,
                figure.benchmark,
                number(figure.ours),
                figure.unit,
                figure.target
            );
        }
    }
    out
}

/// A figure readably: no decimals when large, two when small.
fn number(value: f64) -> String {
    if !value.is_finite() {
        "n/a".to_owned()
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or_else(
            || "unknown CPU".to_owned(),
            |(_, name)| name.trim().to_owned(),
        )
}
