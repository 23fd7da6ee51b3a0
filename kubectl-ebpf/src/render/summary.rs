//! The summary table under the histograms: one row per histogram with count, estimated
//! percentiles and the slowest bucket.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment, Table};

use super::key_columns;
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
    // Rows may differ in their keys (a pod's rows beside a plain cgroup's).
    let key_names = key_columns(histograms.iter().flat_map(|h| h.key.keys()));
    let mut header: Vec<String> = key_names.iter().map(|k| k.to_uppercase()).collect();
    header.extend(["COUNT", "P50", "P90", "P99", "SLOWEST"].map(String::from));
    let mut table = super::table(header);
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
        let mut row: Vec<Cell> = key_names
            .iter()
            .map(|name| Cell::new(histogram.key.get(*name).map_or("-", String::as_str)))
            .collect();
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

    #[test]
    fn rows_with_different_keys_line_up() {
        let row = |key: &[(&str, &str)]| {
            Histogram::new(
                "runq-latency".into(),
                "latency".into(),
                key.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                "ns".into(),
                vec![Bucket {
                    low: 1024,
                    high: 2048,
                    count: 1,
                }],
            )
        };
        let text = table(&[
            row(&[
                ("namespace", "shop"),
                ("pod", "cart-1"),
                ("container", "app"),
            ]),
            row(&[("cgroup", "/system.slice/cron.service")]),
        ])
        .to_string();
        let lines: Vec<&str> = text.lines().collect();
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            &header[..4],
            ["NAMESPACE", "POD", "CONTAINER", "CGROUP"],
            "{text}"
        );
        let cells: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            &cells[..4],
            ["-", "-", "-", "/system.slice/cron.service"],
            "{text}"
        );
    }
}
