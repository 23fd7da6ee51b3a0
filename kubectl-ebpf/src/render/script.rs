//! A script's merged maps as tables and histograms: counts as `trace` shows them (each
//! map at most its `top(NAME, n)` rows), then sums, averages, minima and maxima. Lines
//! and rows were printed as they came.

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use comfy_table::{Cell, CellAlignment, Table};

use super::{counts, hist, key_columns};
use crate::merge::{Count, Stat, TraceResult};

pub fn write(
    result: &TraceResult,
    tops: &BTreeMap<String, usize>,
    top: usize,
    out: &mut impl Write,
) -> io::Result<()> {
    if result.histograms.is_empty() && result.counts.is_empty() && result.stats.is_empty() {
        if result.printed.is_empty() {
            writeln!(out, "The script recorded nothing.")?;
        }
        return Ok(());
    }
    for histogram in &result.histograms {
        hist::write(histogram, out)?;
        writeln!(out)?;
    }
    let mut by_name: BTreeMap<&str, Vec<Count>> = BTreeMap::new();
    for count in &result.counts {
        by_name.entry(&count.name).or_default().push(count.clone());
    }
    for (name, group) in by_name {
        counts::write(&group, tops.get(name).copied().unwrap_or(top), out)?;
    }
    let mut stats: BTreeMap<&str, Vec<&Stat>> = BTreeMap::new();
    for stat in &result.stats {
        stats.entry(&stat.name).or_default().push(stat);
    }
    for (name, rows) in stats {
        writeln!(out, "{name}:")?;
        writeln!(out, "{}", stat_table(&rows))?;
    }
    Ok(())
}

fn stat_table(rows: &[&Stat]) -> Table {
    let key_names = key_columns(rows.iter().flat_map(|stat| stat.key.keys()));
    let op = rows.first().map_or("value", |stat| stat.op.as_str());
    let mut header: Vec<String> = key_names.iter().map(|name| name.to_uppercase()).collect();
    header.push(op.to_uppercase());
    header.push("VALUES".to_owned());
    let mut table = super::table(header);
    for stat in rows {
        let mut cells: Vec<Cell> = key_names
            .iter()
            .map(|name| Cell::new(stat.key.get(*name).map_or("-", String::as_str)))
            .collect();
        cells.push(Cell::new(number(stat.value)).set_alignment(CellAlignment::Right));
        cells.push(Cell::new(stat.count).set_alignment(CellAlignment::Right));
        table.add_row(cells);
    }
    table
}

/// Whole numbers without a fraction, others with two decimals.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use tracer_protocol::decode_line;

    use super::*;
    use crate::merge::Merger;

    #[test]
    fn counts_obey_their_top_and_stats_get_a_table() {
        let mut merger = Merger::new();
        for (path, value) in [("/a", 5), ("/b", 3), ("/c", 1)] {
            merger.apply(
                "n",
                decode_line(&format!(
                    r#"{{"type":"count","probe":"script","name":"opens","key":{{"path":"{path}"}},"value":{value}}}"#
                )),
            );
        }
        merger.apply(
            "n",
            decode_line(
                r#"{"type":"stat","probe":"script","name":"latency","key":{"pod":"api"},"op":"avg","value":30,"count":4}"#,
            ),
        );
        let result = merger.result("script", 1);
        let mut out = Vec::new();
        write(&result, &[("opens".to_owned(), 2)].into(), 20, &mut out).expect("writes");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("script opens (top 2 of 3 rows):"), "{text}");
        assert!(text.contains("/b") && !text.contains("/c"), "{text}");
        assert!(text.contains("latency:") && text.contains("AVG"), "{text}");
        assert!(text.contains("7.50"), "{text}");
    }
}
