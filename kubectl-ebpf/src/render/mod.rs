//! Printing a merged result: bpftrace-style histograms and a summary table, or JSON/YAML.

pub mod counts;
pub mod cpu_time;
pub mod events;
pub mod heatmap;
pub mod hist;
pub mod ndjson;
pub mod overhead;
pub mod profile;
pub mod programs;
pub mod red;
pub mod script;
pub mod side_by_side;
pub mod summary;

use std::{
    io::{self, Write},
    sync::atomic::{AtomicBool, Ordering},
};

use comfy_table::{ContentArrangement, Row, Table, presets::NOTHING};

use crate::{
    catalogue::{self, Kind},
    cli::OutputFormat,
    merge::TraceResult,
};

/// `--no-headers`: tables print their rows without the line of column names.
static NO_HEADERS: AtomicBool = AtomicBool::new(false);

/// `--sort COLUMN`: tables of counts in that key column's order instead of largest first.
static SORT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `--side-by-side`: histograms split by pod or node drawn next to each other.
static SIDE_BY_SIDE: AtomicBool = AtomicBool::new(false);

pub fn set_side_by_side(on: bool) {
    SIDE_BY_SIDE.store(on, Ordering::Relaxed);
}

fn side_by_side() -> bool {
    SIDE_BY_SIDE.load(Ordering::Relaxed)
}

pub fn set_sort(column: &str) {
    let _ = SORT.set(column.to_owned());
}

pub fn sort_column() -> Option<&'static str> {
    SORT.get().map(String::as_str)
}

pub fn set_no_headers(no_headers: bool) {
    NO_HEADERS.store(no_headers, Ordering::Relaxed);
}

pub fn headers_shown() -> bool {
    !NO_HEADERS.load(Ordering::Relaxed)
}

/// A borderless table, with `header` as its first line unless `--no-headers` was given.
/// On a terminal it fits the terminal's width, long cells wrapping inside their column
/// rather than the terminal wrapping whole lines; piped, lines are as long as they need.
pub fn table(header: impl Into<Row>) -> Table {
    let mut table = Table::new();
    table.load_style(NOTHING);
    if let Some((_, columns)) = crate::terminal::size() {
        table.set_width(u16::try_from(columns).unwrap_or(u16::MAX));
        table.set_content_arrangement(ContentArrangement::Dynamic);
    }
    if headers_shown() {
        table.set_header(header);
    }
    table
}

/// Prints `result`; `top` bounds the rows of each table of counts (0 for all).
pub fn render(
    result: &TraceResult,
    format: OutputFormat,
    top: usize,
    out: &mut impl Write,
) -> io::Result<()> {
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, result)?;
            writeln!(out)
        }
        OutputFormat::Yaml => write_yaml(result, out),
        OutputFormat::Svg => heatmap::write_svg(&result.heatmaps, out),
        OutputFormat::Ndjson => ndjson::write_final(result, out),
        OutputFormat::Table | OutputFormat::Wide => {
            // Events were printed as they arrived.
            if result.histograms.is_empty() && result.counts.is_empty() {
                let counts = catalogue::find(&result.probe).is_some_and(|p| p.kind == Kind::Counts);
                if counts {
                    return writeln!(out, "Nothing was counted.");
                }
                return events::write_total(result, out);
            }
            if result.probe == red::PROBE {
                return red::write(result, top, out);
            }
            if side_by_side() {
                for group in side_by_side::groups(&result.histograms) {
                    match group.as_slice() {
                        [one] => hist::write(one, out)?,
                        many => side_by_side::write(many, crate::terminal::width(), out)?,
                    }
                    writeln!(out)?;
                }
            } else {
                for histogram in &result.histograms {
                    hist::write(histogram, out)?;
                    writeln!(out)?;
                }
            }
            for map in &result.heatmaps {
                heatmap::write(map, crate::terminal::width(), out)?;
                writeln!(out)?;
            }
            if !result.histograms.is_empty() {
                summary::write(result, out)?;
            }
            if result.probe == cpu_time::PROBE {
                cpu_time::write(result, top, out)
            } else {
                counts::write(&result.counts, top, out)
            }
        }
    }
}

/// Key columns in the order people read them: where (node, pod), who (process), then
/// what the probe split by; anything else after, by name.
pub fn key_columns<'a>(names: impl IntoIterator<Item = &'a String>) -> Vec<&'a String> {
    const ORDER: [&str; 18] = [
        "node",
        "namespace",
        "pod",
        "pod_uid",
        "container",
        "cgroup",
        "pid",
        "comm",
        "syscall",
        "error",
        "device",
        "op",
        "src",
        "dst",
        "state",
        "side",
        "method",
        "route",
    ];
    let rank = |name: &str| {
        ORDER
            .iter()
            .position(|known| *known == name)
            .unwrap_or(ORDER.len())
    };
    let mut names: Vec<&String> = names.into_iter().collect();
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    names.dedup();
    names
}

/// Any serializable document as YAML.
pub fn write_yaml(value: &impl serde::Serialize, out: &mut impl Write) -> io::Result<()> {
    let text = serde_saphyr::to_string(value).map_err(io::Error::other)?;
    out.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Merger;

    fn table(probe: &str, top: usize) -> String {
        let result = Merger::new().result(probe, 1000);
        let mut out = Vec::new();
        render(&result, OutputFormat::Table, top, &mut out).expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn an_empty_trace_says_what_was_not_seen() {
        assert_eq!(table("syscall-count", 20), "Nothing was counted.\n");
        assert_eq!(table("exec", 20), "No event was recorded.\n");
    }

    #[test]
    fn key_columns_read_where_who_what() {
        let names: Vec<String> = ["op", "zeta", "pod", "node", "device", "namespace"]
            .map(String::from)
            .to_vec();
        let ordered: Vec<&str> = key_columns(&names)
            .into_iter()
            .map(String::as_str)
            .collect();
        assert_eq!(
            ordered,
            ["node", "namespace", "pod", "device", "op", "zeta"]
        );
    }
}
