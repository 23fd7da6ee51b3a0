//! The `http-red` table: rate, errors and duration per pod, side, method and route,
//! busiest first, from the merged `requests` and `errors` counts and `latency`
//! histograms:
//!
//! ```text
//! http-red: rate, errors and duration per route (top 2 of 6 rows):
//! NAMESPACE  POD         CONTAINER  SIDE    METHOD  ROUTE         REQUESTS  RATE/S  ERRORS  ERROR%  P50      P90     P99
//! shop       checkout-1  app        server  GET     /users/{id}       1204    40.1       3    0.2%  ~65.5µs  ~131µs  ~262µs
//! shop       checkout-2  app        server  POST    /orders            310    10.3      12    3.9%  ~4.2ms   ~8.4ms  ~16.8ms
//! ```
//!
//! Errors are 5xx responses and requests never answered. Percentiles are interpolated
//! inside log2 buckets, hence the `~`. The latency histograms of the busiest
//! `HISTOGRAMS` rows follow the table (all of them are in `-o json`).

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use comfy_table::{Cell, CellAlignment};

use super::key_columns;
use crate::{
    merge::{Histogram, Key, TraceResult},
    units::format_ns,
};

pub const PROBE: &str = "http-red";

/// Rows whose latency histogram is drawn under the table.
const HISTOGRAMS: usize = 3;

#[derive(Default)]
struct Line<'a> {
    requests: u64,
    errors: u64,
    latency: Option<&'a Histogram>,
}

pub fn write(result: &TraceResult, top: usize, out: &mut impl Write) -> io::Result<()> {
    let mut lines: BTreeMap<&Key, Line> = BTreeMap::new();
    for count in &result.counts {
        let line = lines.entry(&count.key).or_default();
        match count.name.as_str() {
            "requests" => line.requests += count.value,
            "errors" => line.errors += count.value,
            _ => {}
        }
    }
    for histogram in &result.histograms {
        lines.entry(&histogram.key).or_default().latency = Some(histogram);
    }
    let mut lines: Vec<(&Key, Line)> = lines
        .into_iter()
        .filter(|(_, line)| line.requests > 0)
        .collect();
    if lines.is_empty() {
        return writeln!(out, "No HTTP/1.x request was seen.");
    }
    lines.sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then(a.0.cmp(b.0)));
    let shown = if top == 0 {
        lines.len()
    } else {
        top.min(lines.len())
    };
    if shown < lines.len() {
        writeln!(
            out,
            "{PROBE}: rate, errors and duration per route (top {shown} of {} rows):",
            lines.len()
        )?;
    } else {
        writeln!(out, "{PROBE}: rate, errors and duration per route:")?;
    }
    let seconds = result.duration_ms as f64 / 1000.0;
    let key_names = key_columns(lines.iter().flat_map(|(key, _)| key.keys()));
    let mut header: Vec<String> = key_names.iter().map(|name| name.to_uppercase()).collect();
    header.extend(
        [
            "REQUESTS", "RATE/S", "ERRORS", "ERROR%", "P50", "P90", "P99",
        ]
        .map(str::to_owned),
    );
    let mut table = super::table(header);
    for (key, line) in &lines[..shown] {
        let mut row: Vec<Cell> = key_names
            .iter()
            .map(|name| Cell::new(key.get(*name).map_or("-", String::as_str)))
            .collect();
        let rate = if seconds > 0.0 {
            format!("{:.1}", line.requests as f64 / seconds)
        } else {
            "-".to_owned()
        };
        let share = format!("{:.1}%", line.errors as f64 * 100.0 / line.requests as f64);
        let percentile = |value: Option<u64>| {
            value.map_or("-".to_owned(), |ns| format!("~{}", format_ns(ns as f64)))
        };
        let latency = line.latency;
        row.extend(
            [
                line.requests.to_string(),
                rate,
                line.errors.to_string(),
                share,
                percentile(latency.and_then(|h| h.p50)),
                percentile(latency.and_then(|h| h.p90)),
                percentile(latency.and_then(|h| h.p99)),
            ]
            .map(|text| Cell::new(text).set_alignment(CellAlignment::Right)),
        );
        table.add_row(row);
    }
    writeln!(out, "{table}")?;
    for (_, line) in lines.iter().take(HISTOGRAMS.min(shown)) {
        if let Some(histogram) = line.latency {
            writeln!(out)?;
            super::hist::write(histogram, out)?;
        }
    }
    Ok(())
}
