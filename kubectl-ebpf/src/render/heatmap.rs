//! Latency heatmaps: time across, log2 buckets up, shading by count, in the terminal with
//! Unicode blocks and a legend, or as an SVG document.
//!
//! ```text
//! syscall-latency (ns): heatmap, one column per 1s
//! [2K, 4K)         |  ░░ ░       |
//! [1K, 2K)         |▒▓███▓▒▒▓▓▒░ |
//! [512, 1K)        |▓█████▓▓███▓░|
//!                   0s        10s
//! ░ 1-3  ▒ 4-15  ▓ 16-63  █ 64-240 per bucket per column
//! ```

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::{self, Write},
};

use tracer_protocol::Bucket;

use super::hist::label;
use crate::{heatmap::Heatmap, merge::Histogram, units::format_ns};

const LABEL_WIDTH: usize = 16;
/// Shades for counts of increasing size; a blank is an empty cell.
const SHADES: [char; 4] = ['░', '▒', '▓', '█'];
/// Time labels under the axis, at most this often (in columns).
const TICK_EVERY: usize = 10;

/// A heatmap's cells: columns merged `merge` at a time, buckets as rows.
struct Grid {
    /// Rows, lowest bucket first: (low, high) and a count per column.
    rows: Vec<((u64, u64), Vec<u64>)>,
    columns: usize,
    /// Milliseconds each column stands for.
    column_ms: u64,
    max: u64,
}

impl Grid {
    fn new(heatmap: &Heatmap, max_columns: usize) -> Grid {
        let merge = heatmap.columns.len().div_ceil(max_columns.max(1)).max(1);
        let columns = heatmap.columns.len().div_ceil(merge);
        let mut cells: BTreeMap<(u64, u64), Vec<u64>> = BTreeMap::new();
        for (index, column) in heatmap.columns.iter().enumerate() {
            for bucket in column {
                cells
                    .entry((bucket.low, bucket.high))
                    .or_insert_with(|| vec![0; columns])[index / merge] += bucket.count;
            }
        }
        let mut rows: Vec<((u64, u64), Vec<u64>)> = cells.into_iter().collect();
        fill_gaps(&mut rows, columns);
        let max = rows
            .iter()
            .flat_map(|(_, counts)| counts.iter().copied())
            .max()
            .unwrap_or(0);
        Grid {
            rows,
            columns,
            column_ms: heatmap.interval_ms.saturating_mul(merge as u64),
            max,
        }
    }
}

/// Adds the empty log2 rows between non-empty ones, so the axis reads evenly.
fn fill_gaps(rows: &mut Vec<((u64, u64), Vec<u64>)>, columns: usize) {
    let mut filled: Vec<((u64, u64), Vec<u64>)> = Vec::with_capacity(rows.len());
    for (bucket, counts) in rows.drain(..) {
        while let Some(&((_, high), _)) = filled.last() {
            if high >= bucket.0 || high == 0 {
                break;
            }
            let next = (high, high.saturating_mul(2));
            filled.push((next, vec![0; columns]));
        }
        filled.push((bucket, counts));
    }
    *rows = filled;
}

/// Lower bound of each shade: shade `k` holds counts from `bounds[k]` to `bounds[k + 1]`
/// (exclusive), spread evenly on a log scale up to the largest count.
fn bounds(max: u64) -> [u64; 5] {
    let mut bounds = [1; 5];
    for (k, bound) in bounds.iter_mut().enumerate().skip(1) {
        let raised = ((max as f64) + 1.0).powf(k as f64 / 4.0).ceil() as u64;
        *bound = raised.max(1);
    }
    bounds[4] = max + 1;
    for k in 1..5 {
        bounds[k] = bounds[k].max(bounds[k - 1]);
    }
    bounds
}

/// The shade index (1 to 4) of a non-zero count; 0 for an empty cell.
fn shade(count: u64, bounds: &[u64; 5]) -> usize {
    if count == 0 {
        return 0;
    }
    (1..=4).find(|&k| count < bounds[k]).unwrap_or(4)
}

fn title(heatmap: &Heatmap) -> String {
    let as_histogram = Histogram {
        probe: heatmap.probe.clone(),
        name: heatmap.name.clone(),
        key: heatmap.key.clone(),
        unit: heatmap.unit.clone(),
        count: 0,
        p50: None,
        p90: None,
        p99: None,
        slowest: None,
        buckets: Vec::new(),
    };
    super::hist::title(&as_histogram)
}

fn bucket_label(low: u64, high: u64) -> String {
    label(&Bucket {
        low,
        high,
        count: 0,
    })
}

/// Draws `heatmap` in at most `width` terminal columns.
pub fn write(heatmap: &Heatmap, width: usize, out: &mut impl Write) -> io::Result<()> {
    let grid = Grid::new(heatmap, width.saturating_sub(LABEL_WIDTH + 2).max(10));
    writeln!(
        out,
        "{}: heatmap, one column per {}",
        title(heatmap),
        format_duration_ms(grid.column_ms)
    )?;
    if grid.max == 0 {
        return writeln!(out, "(no samples)");
    }
    let bounds = bounds(grid.max);
    for ((low, high), counts) in grid.rows.iter().rev() {
        let cells: String = counts
            .iter()
            .map(|&count| match shade(count, &bounds) {
                0 => ' ',
                k => SHADES[k - 1],
            })
            .collect();
        writeln!(out, "{:<LABEL_WIDTH$}|{cells}|", bucket_label(*low, *high))?;
    }
    let mut axis = " ".repeat(LABEL_WIDTH + 1);
    let mut column = 0;
    while column < grid.columns {
        let tick = format_duration_ms(column as u64 * grid.column_ms);
        axis.push_str(&format!("{tick:<TICK_EVERY$}"));
        column += TICK_EVERY.max(tick.chars().count() + 1);
    }
    writeln!(out, "{}", axis.trim_end())?;
    let mut legend = String::new();
    for k in 1..=4 {
        if bounds[k - 1] < bounds[k] {
            let _ = write!(
                legend,
                "{} {}-{}  ",
                SHADES[k - 1],
                bounds[k - 1],
                bounds[k] - 1
            );
        }
    }
    writeln!(out, "{}per bucket per column", legend)
}

/// One SVG document with every heatmap, one above the other.
pub fn write_svg(heatmaps: &[Heatmap], out: &mut impl Write) -> io::Result<()> {
    const CELL_W: usize = 8;
    const CELL_H: usize = 14;
    const LEFT: usize = 110;
    const MAX_COLUMNS: usize = 600;
    let grids: Vec<Grid> = heatmaps.iter().map(|h| Grid::new(h, MAX_COLUMNS)).collect();
    let width = LEFT + 20 + grids.iter().map(|g| g.columns).max().unwrap_or(0) * CELL_W;
    let height: usize = grids
        .iter()
        .map(|g| 60 + g.rows.len().max(1) * CELL_H)
        .sum::<usize>()
        + 10;
    writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">"#
    )?;
    let mut top = 10;
    for (heatmap, grid) in heatmaps.iter().zip(&grids) {
        writeln!(
            out,
            r#"<text x="4" y="{}">{}: one column per {}</text>"#,
            top + 12,
            escape(&title(heatmap)),
            format_duration_ms(grid.column_ms)
        )?;
        top += 20;
        let bounds = bounds(grid.max);
        for (row, ((low, high), counts)) in grid.rows.iter().rev().enumerate() {
            let y = top + row * CELL_H;
            writeln!(
                out,
                r#"<text x="4" y="{}">{}</text>"#,
                y + CELL_H - 3,
                escape(&bucket_label(*low, *high))
            )?;
            for (column, &count) in counts.iter().enumerate() {
                let level = shade(count, &bounds);
                if level == 0 {
                    continue;
                }
                // Darker for more: one of four steps of blue.
                let lightness = 85 - 15 * level;
                writeln!(
                    out,
                    r#"<rect x="{}" y="{y}" width="{CELL_W}" height="{CELL_H}" fill="hsl(210,80%,{lightness}%)"><title>{} {}: {count}</title></rect>"#,
                    LEFT + column * CELL_W,
                    format_duration_ms(column as u64 * grid.column_ms),
                    escape(&bucket_label(*low, *high)),
                )?;
            }
        }
        top += grid.rows.len().max(1) * CELL_H + 40;
    }
    writeln!(out, "</svg>")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `0s`, `10s`, `1.50s`, `500ms`: a time offset.
fn format_duration_ms(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_owned();
    }
    format_ns(ms as f64 * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Key;

    fn heatmap(columns: Vec<Vec<(u64, u64, u64)>>) -> Heatmap {
        Heatmap {
            probe: "syscall-latency".to_owned(),
            name: "latency".to_owned(),
            key: Key::new(),
            unit: "ns".to_owned(),
            interval_ms: 1000,
            columns: columns
                .into_iter()
                .map(|column| {
                    column
                        .into_iter()
                        .map(|(low, high, count)| Bucket { low, high, count })
                        .collect()
                })
                .collect(),
        }
    }

    fn draw(heatmap: &Heatmap, width: usize) -> String {
        let mut out = Vec::new();
        write(heatmap, width, &mut out).unwrap_or_default();
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn rows_are_buckets_highest_first_columns_are_intervals() {
        let map = heatmap(vec![
            vec![(512, 1024, 100)],
            vec![(512, 1024, 3), (2048, 4096, 1)],
            vec![],
        ]);
        let text = draw(&map, 80);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "syscall-latency (ns): heatmap, one column per 1s");
        // The empty [1K, 2K) row is filled in between.
        assert_eq!(lines[1], "[2K, 4K)        | ░ |");
        assert_eq!(lines[2], "[1K, 2K)        |   |");
        assert_eq!(lines[3], "[512, 1K)       |█░ |");
        assert!(lines[4].trim_start().starts_with("0s"), "{text}");
        assert!(lines[5].contains("█ ") && lines[5].ends_with("per bucket per column"));
    }

    #[test]
    fn too_many_intervals_are_merged_to_fit_the_width() {
        let map = heatmap((0..100).map(|_| vec![(1, 2, 1)]).collect());
        let text = draw(&map, 16 + 2 + 25);
        assert!(
            text.starts_with("syscall-latency (ns): heatmap, one column per 4s"),
            "{text}"
        );
        let row = text.lines().nth(1).unwrap_or_default();
        assert_eq!(row.chars().filter(|c| *c == '█').count(), 25, "{row}");
    }

    #[test]
    fn shades_spread_on_a_log_scale() {
        let spread = bounds(255);
        assert_eq!(spread, [1, 4, 16, 64, 256]);
        assert_eq!(shade(1, &spread), 1);
        assert_eq!(shade(15, &spread), 2);
        assert_eq!(shade(255, &spread), 4);
        assert_eq!(bounds(1), [1, 2, 2, 2, 2]);
    }

    #[test]
    fn svg_is_one_document_with_a_cell_per_non_empty_count() {
        let map = heatmap(vec![vec![(512, 1024, 5)], vec![(512, 1024, 1)]]);
        let mut out = Vec::new();
        write_svg(&[map], &mut out).unwrap_or_default();
        let svg = String::from_utf8(out).unwrap_or_default();
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect ").count(), 2);
        assert!(svg.contains("[512, 1K): 5"));
    }
}
