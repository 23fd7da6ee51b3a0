//! What histogram probes share on the user side: log2 rows into `hist` records, keyed
//! rows read from a per-CPU hash of bucket counters (`ebpf_common::rows`), `lost`
//! records, and writing only what changed between snapshots.

use std::collections::{BTreeMap, HashMap};

use aya::maps::{MapData, PerCpuArray, PerCpuHashMap};
use ebpf_common::{
    hist::{BUCKETS, bucket_bounds},
    rows::BucketKey,
};
use tracer_protocol::{Bucket, Record};

use super::owners::Key;
use crate::failure::Failure;

/// A count per log2 bucket.
pub type Row = [u64; BUCKETS as usize];

/// A row with nothing in it.
pub const EMPTY: Row = [0; BUCKETS as usize];

/// The non-empty buckets of a row.
pub fn buckets(row: &Row) -> Vec<Bucket> {
    (0..BUCKETS)
        .zip(row)
        .filter(|(_, count)| **count > 0)
        .map(|(bucket, count)| {
            let (low, high) = bucket_bounds(bucket);
            Bucket {
                low,
                high,
                count: *count,
            }
        })
        .collect()
}

/// Adds `from` into `into`, bucket by bucket.
pub fn add(into: &mut Row, from: &Row) {
    for (total, count) in into.iter_mut().zip(from) {
        *total = total.wrapping_add(*count);
    }
}

/// Every row of a map of bucket counters, summed over CPUs, by (cgroup, row).
pub fn read_counters(
    map: &PerCpuHashMap<MapData, BucketKey, u64>,
) -> Result<BTreeMap<(u64, u64), Row>, Failure> {
    let mut rows: BTreeMap<(u64, u64), Row> = BTreeMap::new();
    for entry in map.iter() {
        let (key, per_cpu) =
            entry.map_err(|err| Failure::from_kernel("reading a histogram", &err))?;
        let count = per_cpu
            .iter()
            .fold(0u64, |total, value| total.wrapping_add(*value));
        let row = rows.entry((key.cgroup, key.row)).or_insert(EMPTY);
        if let Some(slot) = row.get_mut(key.bucket as usize) {
            *slot = slot.wrapping_add(count);
        }
    }
    Ok(rows)
}

/// The sum over CPUs of one per-CPU counter.
pub fn sum(map: &PerCpuArray<MapData, u64>, index: u32) -> Result<u64, Failure> {
    let values = map
        .get(&index, 0)
        .map_err(|err| Failure::from_kernel("reading a counter", &err))?;
    Ok(values.iter().fold(0u64, |total, v| total.wrapping_add(*v)))
}

/// The sum over CPUs of every per-CPU row of an array.
pub fn sum_rows(map: &PerCpuArray<MapData, Row>, index: u32) -> Result<Row, Failure> {
    let per_cpu = map
        .get(&index, 0)
        .map_err(|err| Failure::from_kernel("reading a histogram", &err))?;
    let mut total = EMPTY;
    for row in per_cpu.iter() {
        add(&mut total, row);
    }
    Ok(total)
}

/// Writes one probe's histograms and loss counter, each only when it changed (or on the
/// complete snapshot).
pub struct Snapshots {
    probe: &'static str,
    name: &'static str,
    unit: &'static str,
    written: HashMap<Key, u64>,
    lost_written: Option<u64>,
}

impl Snapshots {
    pub fn new(probe: &'static str, name: &'static str, unit: &'static str) -> Self {
        Snapshots {
            probe,
            name,
            unit,
            written: HashMap::new(),
            lost_written: None,
        }
    }

    /// `hist` records for `rows`; with `complete` every row, and an empty row under the
    /// empty key when there is none, so the result says "traced, nothing seen".
    pub fn write(&mut self, mut rows: BTreeMap<Key, Row>, complete: bool, out: &mut Vec<Record>) {
        if complete && rows.is_empty() {
            rows.insert(Key::new(), EMPTY);
        }
        for (key, row) in rows {
            let count = row.iter().fold(0u64, |total, c| total.wrapping_add(*c));
            if count == 0 && !complete {
                continue;
            }
            if !complete && self.written.get(&key) == Some(&count) {
                continue;
            }
            out.push(Record::Hist {
                probe: self.probe.to_owned(),
                name: self.name.to_owned(),
                key: key.clone(),
                unit: self.unit.to_owned(),
                buckets: buckets(&row),
            });
            self.written.insert(key, count);
        }
    }

    /// The cumulative `lost` record, when it changed or `complete` asks for it.
    pub fn lost(&mut self, lost: u64, complete: bool, out: &mut Vec<Record>) {
        if complete || self.lost_written != Some(lost) {
            out.push(Record::Lost {
                probe: self.probe.to_owned(),
                count: lost,
            });
            self.lost_written = Some(lost);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_changed_rows_only_and_an_empty_one_at_the_end() {
        let mut snapshots = Snapshots::new("p", "latency", "ns");
        let mut row = [0; BUCKETS as usize];
        row[3] = 2;
        let key = Key::from([("pod".to_owned(), "a".to_owned())]);
        let mut out = Vec::new();
        snapshots.write(BTreeMap::from([(key.clone(), row)]), false, &mut out);
        snapshots.write(BTreeMap::from([(key.clone(), row)]), false, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        let Record::Hist { buckets, .. } = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(
            buckets,
            &[Bucket {
                low: 4,
                high: 8,
                count: 2
            }]
        );

        let mut out = Vec::new();
        Snapshots::new("p", "latency", "ns").write(BTreeMap::new(), true, &mut out);
        assert!(
            matches!(&out[..], [Record::Hist { key, buckets, .. }] if key.is_empty() && buckets.is_empty()),
            "{out:?}"
        );
    }
}
