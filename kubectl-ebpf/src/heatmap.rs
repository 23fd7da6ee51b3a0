//! Histograms over time, for `--heatmap`: each node sends cumulative snapshots every
//! interval, so the difference between two of a node's snapshots is what that interval
//! added. Differences are placed in the column of the interval they close, counted from
//! when the node attached, and summed over nodes.

use std::collections::BTreeMap;

use serde::Serialize;
use tracer_protocol::{Bucket, Record};

use crate::merge::Key;

/// One histogram's buckets per interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Heatmap {
    pub probe: String,
    pub name: String,
    pub key: Key,
    pub unit: String,
    pub interval_ms: u64,
    /// One per interval from the node's attach, each the non-empty buckets that interval
    /// added, ascending.
    pub columns: Vec<Vec<Bucket>>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct HistId {
    probe: String,
    name: String,
    key: Key,
}

type Counts = BTreeMap<(u64, u64), u64>;

#[derive(Debug)]
pub struct Timeline {
    interval_ms: u64,
    per_node: bool,
    /// When each node attached, in ms since the trace started.
    attached_ms: BTreeMap<String, u64>,
    /// Each node's last cumulative counts per histogram.
    last: BTreeMap<(String, HistId), Counts>,
    /// Counts added per histogram, per column.
    columns: BTreeMap<HistId, (String, BTreeMap<usize, Counts>)>,
}

impl Timeline {
    pub fn new(interval_ms: u64, per_node: bool) -> Self {
        Timeline {
            interval_ms: interval_ms.max(1),
            per_node,
            attached_ms: BTreeMap::new(),
            last: BTreeMap::new(),
            columns: BTreeMap::new(),
        }
    }

    /// Takes in one record of `node`'s stream that arrived `now_ms` after the start.
    pub fn record(&mut self, node: &str, record: &Record, now_ms: u64) {
        match record {
            Record::Attached { .. } => {
                self.attached_ms.insert(node.to_owned(), now_ms);
            }
            Record::Hist {
                probe,
                name,
                key,
                unit,
                buckets,
            } => {
                let mut key = key.clone();
                if self.per_node {
                    key.insert("node".to_owned(), node.to_owned());
                }
                let id = HistId {
                    probe: probe.clone(),
                    name: name.clone(),
                    key,
                };
                let now: Counts = buckets.iter().map(|b| ((b.low, b.high), b.count)).collect();
                let before = self
                    .last
                    .insert((node.to_owned(), id.clone()), now.clone())
                    .unwrap_or_default();
                let column = self.column(node, now_ms);
                let (_, columns) = self
                    .columns
                    .entry(id)
                    .or_insert_with(|| (unit.clone(), BTreeMap::new()));
                let added = columns.entry(column).or_default();
                for (bucket, count) in now {
                    // Cumulative counts only grow; a smaller one (a restarted tracer) is
                    // taken as new.
                    let before = before.get(&bucket).copied().unwrap_or(0);
                    let delta = if count >= before {
                        count - before
                    } else {
                        count
                    };
                    if delta > 0 {
                        *added.entry(bucket).or_default() += delta;
                    }
                }
            }
            _ => {}
        }
    }

    /// The interval a snapshot arriving at `now_ms` closes: snapshots are written every
    /// interval from the attach, so the nearest multiple, minus the first.
    fn column(&self, node: &str, now_ms: u64) -> usize {
        let since = now_ms.saturating_sub(self.attached_ms.get(node).copied().unwrap_or(0));
        let closes = (since + self.interval_ms / 2) / self.interval_ms;
        usize::try_from(closes.saturating_sub(1)).unwrap_or(usize::MAX)
    }

    /// Every histogram's columns, from the first interval to the last that added anything.
    pub fn heatmaps(&self) -> Vec<Heatmap> {
        self.columns
            .iter()
            .map(|(id, (unit, columns))| {
                let last = columns
                    .iter()
                    .filter(|(_, counts)| !counts.is_empty())
                    .map(|(column, _)| column + 1)
                    .max()
                    .unwrap_or(0);
                let columns = (0..last)
                    .map(|column| {
                        columns
                            .get(&column)
                            .map(|counts| {
                                counts
                                    .iter()
                                    .map(|(&(low, high), &count)| Bucket { low, high, count })
                                    .collect()
                            })
                            .unwrap_or_default()
                    })
                    .collect();
                Heatmap {
                    probe: id.probe.clone(),
                    name: id.name.clone(),
                    key: id.key.clone(),
                    unit: unit.clone(),
                    interval_ms: self.interval_ms,
                    columns,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(buckets: &[(u64, u64, u64)]) -> Record {
        Record::Hist {
            probe: "syscall-latency".to_owned(),
            name: "latency".to_owned(),
            key: Key::new(),
            unit: "ns".to_owned(),
            buckets: buckets
                .iter()
                .map(|&(low, high, count)| Bucket { low, high, count })
                .collect(),
        }
    }

    fn attached() -> Record {
        Record::Attached {
            probes: vec!["syscall-latency".to_owned()],
            ms: 10,
        }
    }

    fn counts(column: &[Bucket]) -> Vec<(u64, u64)> {
        column.iter().map(|b| (b.low, b.count)).collect()
    }

    #[test]
    fn each_interval_gets_what_it_added_summed_over_nodes() {
        let mut timeline = Timeline::new(1000, false);
        timeline.record("a", &attached(), 100);
        timeline.record("b", &attached(), 400);
        // Node a's snapshots at 1.1 s and 2.1 s (a bit late), node b's at 1.4 s and 2.4 s.
        timeline.record("a", &hist(&[(512, 1024, 5)]), 1_130);
        timeline.record("b", &hist(&[(512, 1024, 1), (1024, 2048, 2)]), 1_390);
        timeline.record("a", &hist(&[(512, 1024, 7)]), 2_100);
        timeline.record("b", &hist(&[(512, 1024, 1), (1024, 2048, 6)]), 2_420);
        let heatmaps = timeline.heatmaps();
        assert_eq!(heatmaps.len(), 1);
        let columns = &heatmaps[0].columns;
        assert_eq!(columns.len(), 2);
        assert_eq!(counts(&columns[0]), [(512, 6), (1024, 2)]);
        assert_eq!(counts(&columns[1]), [(512, 2), (1024, 4)]);
        assert_eq!(heatmaps[0].interval_ms, 1000);
    }

    #[test]
    fn quiet_intervals_stay_as_empty_columns_and_nodes_apart_with_per_node() {
        let mut timeline = Timeline::new(500, true);
        timeline.record("a", &attached(), 0);
        timeline.record("a", &hist(&[(8, 16, 1)]), 500);
        // Unchanged histograms are not sent again; the next change comes at 2 s.
        timeline.record("a", &hist(&[(8, 16, 4)]), 2_000);
        let heatmaps = timeline.heatmaps();
        assert_eq!(heatmaps[0].key.get("node").map(String::as_str), Some("a"));
        let columns = &heatmaps[0].columns;
        assert_eq!(columns.len(), 4);
        assert_eq!(counts(&columns[0]), [(8, 1)]);
        assert!(columns[1].is_empty() && columns[2].is_empty());
        assert_eq!(counts(&columns[3]), [(8, 3)]);
    }
}
