//! Log2 histograms drawn exactly as bpftrace draws them, so people who know one can read
//! the other:
//!
//! ```text
//! [512, 1K)           1234 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
//! [1K, 2K)            4577 |@@@@@@@@                                            |
//! ```

use std::io::{self, Write};

use tracer_protocol::Bucket;

use crate::{
    color::{self, Style},
    merge::Histogram,
    units::power_label,
};

const BAR_WIDTH: u64 = 52;
const LABEL_WIDTH: usize = 16;
const COUNT_WIDTH: usize = 8;

pub fn write(histogram: &Histogram, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}:", title(histogram))?;
    let max = histogram.buckets.iter().map(|b| b.count).max().unwrap_or(0);
    if max == 0 {
        return writeln!(out, "(no samples)");
    }
    for bucket in with_gaps(&histogram.buckets) {
        let bar = (bucket.count * BAR_WIDTH / max) as usize;
        writeln!(
            out,
            "{:<LABEL_WIDTH$}{:>COUNT_WIDTH$} |{}{}|",
            label(&bucket),
            bucket.count,
            color::paint(&"@".repeat(bar), Style::Bar, color::stdout()),
            " ".repeat(BAR_WIDTH as usize - bar)
        )?;
    }
    Ok(())
}

/// `syscall-latency (ns) syscall=read`
pub fn title(histogram: &Histogram) -> String {
    let mut title = format!("{} ({})", histogram.probe, histogram.unit);
    for (name, value) in &histogram.key {
        title.push_str(&format!(" {name}={value}"));
    }
    title
}

/// bpftrace's labels: `[0]`, `[1]`, then `[2, 4)`, `[512, 1K)`.
pub fn label(bucket: &Bucket) -> String {
    match (bucket.low, bucket.high) {
        (low, high) if high == low + 1 => format!("[{low}]"),
        (low, u64::MAX) => format!("[{}, ...)", power_label(low)),
        (low, high) => format!("[{}, {})", power_label(low), power_label(high)),
    }
}

/// The buckets from the first to the last non-empty one, with the empty ones between
/// filled in so the shape reads right: doubling for log2 histograms, one step at a time
/// for linear ones (a script's `lhist`).
pub fn with_gaps(buckets: &[Bucket]) -> Vec<Bucket> {
    let step = linear_step(buckets);
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for bucket in buckets {
        while let Some(last) = out.last().copied() {
            if last.high >= bucket.low || last.high == u64::MAX {
                break;
            }
            let high = match step {
                Some(step) => last.high.saturating_add(step).min(bucket.low),
                None if last.high == 0 => 1,
                None => last.high.saturating_mul(2),
            };
            out.push(Bucket {
                low: last.high,
                high,
                count: 0,
            });
        }
        out.push(*bucket);
    }
    out
}

/// The width of a linear histogram's buckets, or `None` for a log2 one. Log2 buckets
/// (`[0, 1)`, `[1, 2)`, `[2, 4)`, ...) each end at twice their start; linear ones
/// share one width, apart from those below and above the range.
fn linear_step(buckets: &[Bucket]) -> Option<u64> {
    let inner: Vec<&Bucket> = buckets
        .iter()
        .filter(|b| b.low > 0 && b.high != u64::MAX)
        .collect();
    let doubling = inner.iter().all(|b| b.high == b.low.saturating_mul(2));
    let widths: Vec<u64> = inner.iter().map(|b| b.high - b.low).collect();
    let shared = widths.len() >= 2 && widths.windows(2).any(|w| w[0] == w[1]);
    if doubling && !shared {
        return None;
    }
    // The most common width: the last in-range bucket may be cut short at the maximum.
    let mut best = None;
    let mut best_count = 0;
    for width in &widths {
        let count = widths.iter().filter(|w| *w == width).count();
        if count > best_count {
            (best, best_count) = (Some(*width), count);
        }
    }
    best.filter(|step| *step > 0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn histogram(buckets: Vec<Bucket>) -> Histogram {
        Histogram::new(
            "syscall-latency".into(),
            "latency".into(),
            BTreeMap::new(),
            "ns".into(),
            buckets,
        )
    }

    fn render(h: &Histogram) -> String {
        let mut out = Vec::new();
        write(h, &mut out).expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn draws_like_bpftrace() {
        let h = histogram(vec![
            Bucket {
                low: 512,
                high: 1024,
                count: 4577,
            },
            Bucket {
                low: 2048,
                high: 4096,
                count: 1234,
            },
        ]);
        let text = render(&h);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "syscall-latency (ns):");
        assert_eq!(
            lines[1],
            "[512, 1K)           4577 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|"
        );
        assert_eq!(
            lines[2],
            "[1K, 2K)               0 |                                                    |"
        );
        assert_eq!(
            lines[3],
            "[2K, 4K)            1234 |@@@@@@@@@@@@@@                                      |"
        );
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn labels_small_and_open_buckets() {
        assert_eq!(
            label(&Bucket {
                low: 0,
                high: 1,
                count: 1
            }),
            "[0]"
        );
        assert_eq!(
            label(&Bucket {
                low: 1,
                high: 2,
                count: 1
            }),
            "[1]"
        );
        assert_eq!(
            label(&Bucket {
                low: 2,
                high: 4,
                count: 1
            }),
            "[2, 4)"
        );
        assert_eq!(
            label(&Bucket {
                low: 1 << 62,
                high: u64::MAX,
                count: 1
            }),
            "[4E, ...)"
        );
    }

    #[test]
    fn fills_gaps_from_zero() {
        let h = histogram(vec![
            Bucket {
                low: 0,
                high: 1,
                count: 1,
            },
            Bucket {
                low: 4,
                high: 8,
                count: 1,
            },
        ]);
        let labels: Vec<String> = with_gaps(&h.buckets).iter().map(label).collect();
        assert_eq!(labels, ["[0]", "[1]", "[2, 4)", "[4, 8)"]);
    }

    #[test]
    fn says_when_empty() {
        assert!(render(&histogram(vec![])).contains("(no samples)"));
    }

    #[test]
    fn fills_linear_gaps_one_step_at_a_time() {
        let bucket = |low, high, count| Bucket { low, high, count };
        let filled = with_gaps(&[
            bucket(0, 10, 1),
            bucket(10, 30, 3),
            bucket(70, 90, 1),
            bucket(90, 100, 1),
            bucket(100, u64::MAX, 2),
        ]);
        let bounds: Vec<(u64, u64)> = filled.iter().map(|b| (b.low, b.high)).collect();
        assert_eq!(
            bounds,
            [
                (0, 10),
                (10, 30),
                (30, 50),
                (50, 70),
                (70, 90),
                (90, 100),
                (100, u64::MAX)
            ]
        );
        // Log2 buckets still double.
        let filled = with_gaps(&[bucket(1, 2, 1), bucket(8, 16, 1)]);
        let bounds: Vec<(u64, u64)> = filled.iter().map(|b| (b.low, b.high)).collect();
        assert_eq!(bounds, [(1, 2), (2, 4), (4, 8), (8, 16)]);
    }
}
