//! The summary table under the histograms: one row per histogram with count, estimated
//! percentiles and the slowest bucket.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment, Table, presets::NOTHING};

use crate::{
    merge::{Histogram, TraceResult},
    units::format_value,
};

pub fn write(result: &TraceResult, out: &mut impl Write) -> io::Result<()> {
    if result.histograms.is_empty() {
        return writeln!(out, "No histogram was recorded.");
    }
    writeln!(out, "{}", table(&result.histograms))
}

fn table(histograms: &[Histogram]) -> Table {
    let key_names: Vec<String> = histograms
        .first()
        .map(|h| h.key.keys().map(|k| k.to_uppercase()).collect())
        .unwrap_or_default();
    let mut table = Table::new();
    table.load_style(NOTHING);
    let mut header: Vec<String> = key_names.clone();
    header.extend(["COUNT", "P50", "P90", "P99", "SLOWEST"].map(String::from));
    table.set_header(header);
    for histogram in histograms {
        let estimate = |value: Option<u64>| {
            value.map_or_else(
                || "-".to_owned(),
                |v| format!("~{}", format_value(v as f64, &histogram.unit)),
            )
        };
        let slowest = histogram.slowest.map_or_else(
            || "-".to_owned(),
            |bucket| {
                let high = if bucket.high == u64::MAX {
                    "...".to_owned()
                } else {
                    format_value(bucket.high as f64, &histogram.unit)
                };
                format!(
                    "{}-{high}",
                    format_value(bucket.low as f64, &histogram.unit)
                )
            },
        );
        let mut row: Vec<Cell> = histogram.key.values().map(Cell::new).collect();
        row.push(Cell::new(histogram.count).set_alignment(CellAlignment::Right));
        for value in [histogram.p50, histogram.p90, histogram.p99] {
            row.push(Cell::new(estimate(value)).set_alignment(CellAlignment::Right));
        }
        row.push(Cell::new(slowest).set_alignment(CellAlignment::Right));
        table.add_row(row);
    }
    table
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tracer_protocol::Bucket;

    use super::*;

    #[test]
    fn one_row_per_histogram_with_estimates() {
        let histogram = Histogram::new(
            "syscall-latency".into(),
            "latency".into(),
            BTreeMap::from([("syscall".into(), "read".into())]),
            "ns".into(),
            vec![Bucket {
                low: 1024,
                high: 2048,
                count: 100,
            }],
        );
        let text = table(&[histogram]).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains("SYSCALL") && lines[0].contains("P99"),
            "{text}"
        );
        assert!(
            lines[1].contains("read") && lines[1].contains("100"),
            "{text}"
        );
        assert!(lines[1].contains("~1.54µs"), "{text}");
        assert!(lines[1].contains("1.02µs-2.05µs"), "{text}");
    }
}
