//! `--side-by-side`: the histograms `--per-pod` or `--per-node` split, drawn next to
//! each other on shared bucket rows and one scale, so replicas compare at a glance:
//!
//! ```text
//! syscall-latency (ns) syscall=read, side by side on one scale:
//!                  shop/checkout-1/app       shop/checkout-2/app
//! [512, 1K)          1234 |@@@@@@@@@@@@   |      456 |@@@@          |
//! [1K, 2K)            577 |@@@@@          |        0 |              |
//! ```

use std::io::{self, Write};

use tracer_protocol::Bucket;

use super::hist::{self, label};
use crate::{
    color::{self, Style},
    merge::{Histogram, Key},
};

/// The key fields that name whose histogram it is; the rest name what it measures.
const SPLIT_KEYS: &[&str] = &["node", "namespace", "pod", "pod_uid", "container", "cgroup"];

const LABEL_WIDTH: usize = 16;
const COUNT_WIDTH: usize = 8;
/// Narrowest bar worth drawing; fewer columns fit a row below it.
const MIN_BAR: usize = 10;

/// The histograms in groups that differ only in whose they are, in their first order.
pub fn groups(histograms: &[Histogram]) -> Vec<Vec<&Histogram>> {
    let mut groups: Vec<(Key, Vec<&Histogram>)> = Vec::new();
    for histogram in histograms {
        let measure = measure(histogram);
        match groups.iter_mut().find(|(key, members)| {
            *key == measure
                && members[0].probe == histogram.probe
                && members[0].name == histogram.name
                && members[0].unit == histogram.unit
        }) {
            Some((_, members)) => members.push(histogram),
            None => groups.push((measure, vec![histogram])),
        }
    }
    groups.into_iter().map(|(_, members)| members).collect()
}

/// The key without the fields that say whose it is.
fn measure(histogram: &Histogram) -> Key {
    histogram
        .key
        .iter()
        .filter(|(name, _)| !SPLIT_KEYS.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// `shop/checkout-1/app`, `node-1`, `node-1 shop/checkout-1/app`: whose histogram it is.
fn owner(histogram: &Histogram) -> String {
    let key = &histogram.key;
    let pod = ["namespace", "pod", "container"]
        .iter()
        .filter_map(|name| key.get(*name).map(String::as_str))
        .collect::<Vec<_>>()
        .join("/");
    let mut parts: Vec<&str> = Vec::new();
    if let Some(node) = key.get("node") {
        parts.push(node);
    }
    if !pod.is_empty() {
        parts.push(&pod);
    }
    for other in ["pod_uid", "cgroup"] {
        if let Some(value) = key.get(other) {
            parts.push(value);
        }
    }
    if parts.is_empty() {
        "(all)".to_owned()
    } else {
        parts.join(" ")
    }
}

/// Draws one group next to each other, as many per row of columns as `width` fits.
pub fn write(group: &[&Histogram], width: usize, out: &mut impl Write) -> io::Result<()> {
    let first = group[0];
    let measured = measure(first)
        .iter()
        .map(|(name, value)| format!(" {name}={value}"))
        .collect::<String>();
    writeln!(
        out,
        "{} ({}){measured}, side by side on one scale:",
        first.probe, first.unit
    )?;
    let per_column = |columns: usize| width.saturating_sub(LABEL_WIDTH) / columns.max(1);
    let mut columns = group.len();
    while columns > 1 && per_column(columns) < COUNT_WIDTH + 4 + MIN_BAR {
        columns -= 1;
    }
    let bar = per_column(columns)
        .saturating_sub(COUNT_WIDTH + 4)
        .max(MIN_BAR);
    let max = group
        .iter()
        .flat_map(|h| h.buckets.iter().map(|b| b.count))
        .max()
        .unwrap_or(0);
    let rows = shared_rows(group);
    for (index, chunk) in group.chunks(columns).enumerate() {
        if index > 0 {
            writeln!(out)?;
        }
        let mut titles = " ".repeat(LABEL_WIDTH);
        for histogram in chunk {
            let title: String = owner(histogram)
                .chars()
                .take(COUNT_WIDTH + bar + 3)
                .collect();
            titles.push_str(&format!(" {title:<w$}", w = COUNT_WIDTH + bar + 3));
        }
        writeln!(out, "{}", titles.trim_end())?;
        for row in &rows {
            let mut line = format!("{:<LABEL_WIDTH$}", label(row));
            for histogram in chunk {
                let count = histogram
                    .buckets
                    .iter()
                    .filter(|b| b.low >= row.low && b.high <= row.high)
                    .map(|b| b.count)
                    .sum::<u64>();
                let filled = if max == 0 {
                    0
                } else {
                    (count as u128 * bar as u128 / max as u128) as usize
                };
                let bars = color::paint(&"@".repeat(filled), Style::Bar, color::stdout());
                line.push_str(&format!(
                    " {count:>COUNT_WIDTH$} |{bars}{}|",
                    " ".repeat(bar - filled)
                ));
            }
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// The bucket rows of every histogram of the group, from the lowest to the highest,
/// gaps filled as a lone histogram's are.
fn shared_rows(group: &[&Histogram]) -> Vec<Bucket> {
    let mut all: Vec<Bucket> = group
        .iter()
        .flat_map(|h| h.buckets.iter())
        .map(|b| Bucket {
            low: b.low,
            high: b.high,
            count: 0,
        })
        .collect();
    all.sort_by_key(|b| (b.low, b.high));
    all.dedup_by_key(|b| (b.low, b.high));
    hist::with_gaps(&all)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn histogram(pod: &str, syscall: &str, buckets: &[(u64, u64, u64)]) -> Histogram {
        Histogram::new(
            "syscall-latency".into(),
            "latency".into(),
            BTreeMap::from([
                ("namespace".to_owned(), "shop".to_owned()),
                ("pod".to_owned(), pod.to_owned()),
                ("container".to_owned(), "app".to_owned()),
                ("syscall".to_owned(), syscall.to_owned()),
            ]),
            "ns".into(),
            buckets
                .iter()
                .map(|(low, high, count)| Bucket {
                    low: *low,
                    high: *high,
                    count: *count,
                })
                .collect(),
        )
    }

    #[test]
    fn replicas_of_one_measure_share_a_group() {
        let histograms = [
            histogram("a", "read", &[(512, 1024, 4)]),
            histogram("b", "read", &[(512, 1024, 2)]),
            histogram("a", "write", &[(512, 1024, 1)]),
        ];
        let groups = groups(&histograms);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].len(), 2);
        assert_eq!(owner(groups[0][1]), "shop/b/app");
    }

    #[test]
    fn columns_share_rows_and_one_scale() {
        let a = histogram("a", "read", &[(512, 1024, 40), (2048, 4096, 10)]);
        let b = histogram("b", "read", &[(1024, 2048, 20)]);
        let mut out = Vec::new();
        write(&[&a, &b], 100, &mut out).expect("writes");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "syscall-latency (ns) syscall=read, side by side on one scale:"
        );
        assert!(lines[1].contains("shop/a/app") && lines[1].contains("shop/b/app"));
        // Rows from 512 to 4K, the gap at [1K, 2K) filled for a.
        assert_eq!(lines.len(), 2 + 3, "{text}");
        assert!(lines[2].starts_with("[512, 1K)") && lines[4].starts_with("[2K, 4K)"));
        let bar = |line: &str, column: usize| {
            line.split('|')
                .nth(1 + column * 2)
                .unwrap_or_default()
                .matches('@')
                .count()
        };
        // 40 fills the bar; b's 20 fills half of the same scale.
        assert_eq!(bar(lines[3], 1) * 2, bar(lines[2], 0), "{text}");
        assert!(lines[3].contains("       0 |"), "a's empty row: {text}");
    }

    #[test]
    fn columns_that_do_not_fit_go_below() {
        let all: Vec<Histogram> = ["a", "b", "c", "d"]
            .iter()
            .map(|pod| histogram(pod, "read", &[(512, 1024, 1)]))
            .collect();
        let group: Vec<&Histogram> = all.iter().collect();
        let mut out = Vec::new();
        write(&group, 80, &mut out).expect("writes");
        let text = String::from_utf8(out).expect("utf-8");
        // 80 columns fit two of them a row.
        assert_eq!(text.matches("shop/").count(), 4, "{text}");
        assert_eq!(
            text.lines().filter(|l| l.contains("shop/")).count(),
            2,
            "{text}"
        );
        assert!(
            text.lines().all(|line| line.chars().count() <= 80),
            "{text}"
        );
    }
}
