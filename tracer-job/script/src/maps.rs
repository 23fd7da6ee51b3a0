//! A script's named maps: keyed aggregates that become cumulative records.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ebpf_common::hist::{BUCKETS, bucket_bounds, bucket_of};
use rhai::Dynamic;
use tracer_protocol::{Bucket, Record, StatOp};

/// The `probe` of every record a script's maps produce.
pub const PROBE: &str = "script";

/// Most keys one map holds on a node; new keys beyond are dropped and counted.
pub const MAX_KEYS: usize = 10_000;

/// Most maps one script may fill.
pub const MAX_MAPS: usize = 64;

/// Longest key value; longer ones are cut (records must stay well under 16 KiB).
pub const MAX_KEY_BYTES: usize = 1024;

/// Most columns of a key.
pub const MAX_KEY_COLUMNS: usize = 8;

/// A key's columns by name, as records carry them.
pub type Key = BTreeMap<String, String>;

/// A key as a map stores it: every column name and value prefixed by its length in
/// bytes (`3:pod5:api-1`), in one string. An existing key is found by encoding into a
/// reused buffer, with no allocation; records take the columns apart again.
type EncodedKey = Box<str>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Count,
    Stat(StatOp),
    Hist,
    /// Linear buckets `step` wide from `min` to `max`, with one below and one above.
    Lhist {
        min: u64,
        max: u64,
        step: u64,
    },
}

/// Most buckets of a linear histogram, besides the two for values out of range.
pub const MAX_LHIST_BUCKETS: u64 = 1000;

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Count => "count",
            Kind::Stat(op) => op.as_str(),
            Kind::Hist => "hist",
            Kind::Lhist { .. } => "lhist",
        }
    }
}

#[derive(Clone, Debug)]
enum Value {
    Count(u64),
    Stat {
        value: f64,
        count: u64,
    },
    Hist(Box<[u64; BUCKETS as usize]>),
    /// Below `min`, then each step, then from `max` up.
    Lhist(Vec<u64>),
}

#[derive(Debug)]
struct Entry {
    value: Value,
    changed: bool,
}

#[derive(Debug)]
struct Map {
    kind: Kind,
    unit: String,
    entries: HashMap<EncodedKey, Entry>,
    /// Values whose key did not fit.
    dropped: u64,
}

/// Why an update was refused, and what to do: for the script's author.
#[derive(Debug, PartialEq)]
pub struct Refused(pub String, pub &'static str);

#[derive(Debug, Default)]
pub struct Maps {
    maps: BTreeMap<String, Map>,
    /// Maps the kernel fills (`count_in_kernel`), which scripts cannot add to.
    in_kernel: BTreeSet<String>,
    /// Reused to encode keys, and their values, without allocating.
    key: String,
    text: String,
}

impl Maps {
    /// Adds `value` into map `name` under `key` (what the script passed, see [`encode`]),
    /// creating the map as `kind`.
    pub fn update(
        &mut self,
        name: &str,
        kind: Kind,
        unit: &str,
        key: &Dynamic,
        value: f64,
    ) -> Result<(), Refused> {
        if self.in_kernel.contains(name) {
            return Err(Refused(
                format!(
                    "map `{name}` is counted in the kernel (count_in_kernel); a script cannot add to it"
                ),
                "use another name for the script's own map",
            ));
        }
        encode(key, &mut self.key, &mut self.text)?;
        let key = self.key.as_str();
        if !self.maps.contains_key(name) {
            if self.maps.len() >= MAX_MAPS {
                return Err(Refused(
                    format!(
                        "too many maps: a script may fill {MAX_MAPS}; `{name}` would be one more"
                    ),
                    "keep related values in one map under a longer key",
                ));
            }
            self.maps.insert(
                name.to_owned(),
                Map {
                    kind,
                    unit: unit.to_owned(),
                    entries: HashMap::new(),
                    dropped: 0,
                },
            );
        }
        let Some(map) = self.maps.get_mut(name) else {
            return Ok(());
        };
        if map.kind != kind {
            return Err(Refused(
                format!(
                    "map `{name}` holds {}; it cannot also take {}",
                    map.kind.name(),
                    kind.name()
                ),
                "use another name for another kind of map",
            ));
        }
        let entries = map.entries.len();
        let entry = match map.entries.get_mut(key) {
            Some(entry) => entry,
            None if entries >= MAX_KEYS => {
                map.dropped += 1;
                return Ok(());
            }
            None => map.entries.entry(key.into()).or_insert(Entry {
                value: match kind {
                    Kind::Count => Value::Count(0),
                    Kind::Stat(StatOp::Min) => Value::Stat {
                        value: f64::INFINITY,
                        count: 0,
                    },
                    Kind::Stat(StatOp::Max) => Value::Stat {
                        value: f64::NEG_INFINITY,
                        count: 0,
                    },
                    Kind::Stat(_) => Value::Stat {
                        value: 0.0,
                        count: 0,
                    },
                    Kind::Hist => Value::Hist(Box::new([0; BUCKETS as usize])),
                    Kind::Lhist { min, max, step } => {
                        Value::Lhist(vec![0; ((max - min).div_ceil(step) + 2) as usize])
                    }
                },
                changed: true,
            }),
        };
        entry.changed = true;
        match (&mut entry.value, kind) {
            (Value::Count(count), _) => *count = count.saturating_add(value.max(0.0) as u64),
            (Value::Stat { value: v, count }, Kind::Stat(op)) => {
                *count += 1;
                match op {
                    StatOp::Sum | StatOp::Avg => *v += value,
                    StatOp::Min => *v = v.min(value),
                    StatOp::Max => *v = v.max(value),
                }
            }
            (Value::Hist(buckets), _) => {
                let bucket = bucket_of(value.max(0.0) as u64) as usize;
                if let Some(slot) = buckets.get_mut(bucket) {
                    *slot += 1;
                }
            }
            (Value::Lhist(buckets), Kind::Lhist { min, max, step }) => {
                let value = value.max(0.0) as u64;
                let slot = if value < min {
                    0
                } else if value >= max {
                    buckets.len() - 1
                } else {
                    ((value - min) / step) as usize + 1
                };
                if let Some(slot) = buckets.get_mut(slot) {
                    *slot += 1;
                }
            }
            (Value::Stat { .. } | Value::Lhist(_), _) => {}
        }
        Ok(())
    }

    /// Keeps `name` for a map the kernel fills.
    pub fn reserve_for_kernel(&mut self, name: &str) {
        self.in_kernel.insert(name.to_owned());
    }

    /// Maps whose new keys were dropped, with how many values were lost.
    pub fn dropped(&self) -> impl Iterator<Item = (&str, u64)> {
        self.maps
            .iter()
            .filter(|(_, map)| map.dropped > 0)
            .map(|(name, map)| (name.as_str(), map.dropped))
    }

    /// Cumulative records of every entry that changed since the last call (of every
    /// entry with `complete`).
    pub fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) {
        for (name, map) in &mut self.maps {
            let mut changed: Vec<(Key, &mut Entry)> = map
                .entries
                .iter_mut()
                .filter(|(_, entry)| complete || entry.changed)
                .map(|(key, entry)| (decode(key), entry))
                .collect();
            changed.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, entry) in changed {
                entry.changed = false;
                out.push(match (&entry.value, map.kind) {
                    (Value::Count(value), _) => Record::Count {
                        probe: PROBE.to_owned(),
                        name: name.clone(),
                        key,
                        value: *value,
                    },
                    (Value::Stat { value, count }, Kind::Stat(op)) => Record::Stat {
                        probe: PROBE.to_owned(),
                        name: name.clone(),
                        key,
                        op,
                        value: *value,
                        count: *count,
                    },
                    (Value::Hist(buckets), _) => Record::Hist {
                        probe: PROBE.to_owned(),
                        name: name.clone(),
                        key,
                        unit: map.unit.clone(),
                        buckets: (0..BUCKETS)
                            .zip(buckets.iter())
                            .filter(|(_, count)| **count > 0)
                            .map(|(bucket, count)| {
                                let (low, high) = bucket_bounds(bucket);
                                Bucket {
                                    low,
                                    high,
                                    count: *count,
                                }
                            })
                            .collect(),
                    },
                    (Value::Lhist(buckets), Kind::Lhist { min, max, step }) => Record::Hist {
                        probe: PROBE.to_owned(),
                        name: name.clone(),
                        key,
                        unit: map.unit.clone(),
                        buckets: lhist_buckets(buckets, min, max, step),
                    },
                    (Value::Stat { .. } | Value::Lhist(_), _) => continue,
                });
            }
        }
    }
}

/// The non-empty buckets of a linear histogram with their bounds: `[0, min)` below,
/// `[max, u64::MAX)` above.
fn lhist_buckets(counts: &[u64], min: u64, max: u64, step: u64) -> Vec<Bucket> {
    let last = counts.len().saturating_sub(1);
    counts
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .map(|(slot, count)| {
            let (low, high) = if slot == 0 {
                (0, min)
            } else if slot == last {
                (max, u64::MAX)
            } else {
                let low = min + (slot as u64 - 1) * step;
                (low, (low + step).min(max))
            };
            Bucket {
                low,
                high,
                count: *count,
            }
        })
        .collect()
}

/// The columns of a key given as an array; one more than allowed, to refuse it.
const ARRAY_COLUMNS: [&str; MAX_KEY_COLUMNS + 1] = [
    "key1", "key2", "key3", "key4", "key5", "key6", "key7", "key8", "key9",
];

/// Encodes into `key` what the script passed as a key: a map of named columns (in
/// name order), an array (`key1`, `key2`, ...) or one value (`key`). `text` is scratch.
fn encode(value: &Dynamic, key: &mut String, text: &mut String) -> Result<(), Refused> {
    key.clear();
    let mut column = |name: &str, value: &Dynamic| {
        text.clear();
        push_text(value, text);
        push_counted(key, name);
        push_counted(key, text);
    };
    let columns = if let Some(map) = value.read_lock::<rhai::Map>() {
        for (name, value) in map.iter() {
            column(name, value);
        }
        map.len()
    } else if let Some(array) = value.read_lock::<rhai::Array>() {
        for (name, value) in ARRAY_COLUMNS.iter().zip(array.iter()) {
            column(name, value);
        }
        array.len()
    } else {
        column("key", value);
        1
    };
    if columns > MAX_KEY_COLUMNS {
        return Err(Refused(
            format!("a key has {columns} columns; the limit is {MAX_KEY_COLUMNS}"),
            "",
        ));
    }
    Ok(())
}

/// Appends `text`, prefixed by its length: `5:api-1`. The digits are pushed by hand: this
/// runs for every column of every update, where `write!` cost as much as the rest of it.
fn push_counted(key: &mut String, text: &str) {
    let len = text.len();
    let mut divisor = 1;
    while len / divisor >= 10 {
        divisor *= 10;
    }
    while divisor > 0 {
        key.push(char::from(b'0' + (len / divisor % 10) as u8));
        divisor /= 10;
    }
    key.push(':');
    key.push_str(text);
}

/// The columns of an encoded key.
fn decode(mut key: &str) -> Key {
    let mut columns = Key::new();
    let mut next = || {
        let (len, rest) = key.split_once(':')?;
        let len: usize = len.parse().ok()?;
        let text = rest.get(..len)?;
        key = &rest[len..];
        Some(text.to_owned())
    };
    while let (Some(name), Some(value)) = (next(), next()) {
        columns.insert(name, value);
    }
    columns
}

/// A value as a key column or a row cell: strings as they are, `()` as empty.
pub fn text(value: &Dynamic) -> String {
    let mut text = String::new();
    push_text(value, &mut text);
    text
}

/// Appends [`text`] of `value` to `out`, cut at [`MAX_KEY_BYTES`].
fn push_text(value: &Dynamic, out: &mut String) {
    use std::fmt::Write;
    let start = out.len();
    if value.is_unit() {
        return;
    } else if let Some(string) = value.read_lock::<rhai::ImmutableString>() {
        out.push_str(&string);
    } else {
        let _ = write!(out, "{value}");
    }
    if out.len() - start > MAX_KEY_BYTES {
        let mut end = start + MAX_KEY_BYTES - 3;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("...");
    }
}

/// Cuts `text` to at most `max` bytes, on a character boundary, marking the cut.
pub fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("...");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(column: &str, value: &str) -> Dynamic {
        let map: rhai::Map = [(column.into(), Dynamic::from(value.to_owned()))]
            .into_iter()
            .collect();
        Dynamic::from_map(map)
    }

    fn key(value: &Dynamic) -> Result<Key, Refused> {
        let (mut key, mut text) = (String::new(), String::new());
        encode(value, &mut key, &mut text)?;
        Ok(decode(&key))
    }

    #[test]
    fn aggregates_merge_as_documented() {
        let mut maps = Maps::default();
        for v in [5.0, 1.0, 9.0] {
            for op in [StatOp::Sum, StatOp::Min, StatOp::Max, StatOp::Avg] {
                maps.update(op.as_str(), Kind::Stat(op), "", &one("k", "a"), v)
                    .expect("fits");
            }
            maps.update("n", Kind::Count, "", &one("k", "a"), 1.0)
                .expect("fits");
            maps.update("h", Kind::Hist, "ns", &one("k", "a"), v)
                .expect("fits");
        }
        let mut out = Vec::new();
        maps.snapshot(false, &mut out);
        let stat = |op: StatOp| {
            out.iter()
                .find_map(|record| match record {
                    Record::Stat {
                        op: o,
                        value,
                        count,
                        ..
                    } if *o == op => Some((*value, *count)),
                    _ => None,
                })
                .expect("a stat")
        };
        assert_eq!(stat(StatOp::Sum), (15.0, 3));
        assert_eq!(stat(StatOp::Avg), (15.0, 3));
        assert_eq!(stat(StatOp::Min), (1.0, 3));
        assert_eq!(stat(StatOp::Max), (9.0, 3));
        assert!(
            out.iter()
                .any(|r| matches!(r, Record::Count { value: 3, .. }))
        );
        let hist = out
            .iter()
            .find_map(|r| match r {
                Record::Hist { buckets, unit, .. } => Some((buckets.clone(), unit.clone())),
                _ => None,
            })
            .expect("a hist");
        assert_eq!(hist.1, "ns");
        assert_eq!(
            hist.0,
            [
                Bucket {
                    low: 1,
                    high: 2,
                    count: 1
                },
                Bucket {
                    low: 4,
                    high: 8,
                    count: 1
                },
                Bucket {
                    low: 8,
                    high: 16,
                    count: 1
                },
            ]
        );
        // Nothing changed: nothing to write, unless complete.
        let mut again = Vec::new();
        maps.snapshot(false, &mut again);
        assert!(again.is_empty());
        maps.snapshot(true, &mut again);
        assert_eq!(again.len(), out.len());
    }

    #[test]
    fn a_map_keeps_its_kind_and_its_size() {
        let mut maps = Maps::default();
        maps.update("m", Kind::Count, "", &Dynamic::UNIT, 1.0)
            .expect("fits");
        let err = maps
            .update("m", Kind::Hist, "", &Dynamic::UNIT, 1.0)
            .expect_err("kind");
        assert!(err.0.contains("holds count"), "{err:?}");
        for i in 0..MAX_KEYS + 5 {
            maps.update("big", Kind::Count, "", &one("k", &i.to_string()), 1.0)
                .expect("never refused, only dropped");
        }
        assert_eq!(maps.dropped().collect::<Vec<_>>(), [("big", 5)]);
    }

    #[test]
    fn keys_take_named_columns_arrays_or_one_value() {
        let map: rhai::Map = [
            ("pod".into(), Dynamic::from("api")),
            ("n".into(), Dynamic::from(3_i64)),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            key(&Dynamic::from_map(map)).expect("key"),
            [
                ("n".to_owned(), "3".to_owned()),
                ("pod".to_owned(), "api".to_owned())
            ]
            .into()
        );
        let array: rhai::Array = vec![Dynamic::from("a"), Dynamic::UNIT];
        assert_eq!(
            key(&Dynamic::from_array(array)).expect("key"),
            [
                ("key1".to_owned(), "a".to_owned()),
                ("key2".to_owned(), String::new())
            ]
            .into()
        );
        // Values that look like the encoding come back as they were.
        let tricky: rhai::Map = [
            ("a".into(), Dynamic::from("3:b:c")),
            ("b".into(), Dynamic::from("")),
            ("c".into(), Dynamic::from("é:1")),
            ("d".into(), Dynamic::from("0123456789".repeat(100))),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            key(&Dynamic::from_map(tricky)).expect("key"),
            [
                ("a".to_owned(), "3:b:c".to_owned()),
                ("b".to_owned(), String::new()),
                ("c".to_owned(), "é:1".to_owned()),
                ("d".to_owned(), "0123456789".repeat(100))
            ]
            .into()
        );
        let wide: rhai::Array = (0..=MAX_KEY_COLUMNS as i64).map(Dynamic::from).collect();
        assert!(key(&Dynamic::from_array(wide)).is_err());
        let mut long = text(&Dynamic::from("é".repeat(MAX_KEY_BYTES)));
        assert!(long.len() <= MAX_KEY_BYTES && long.ends_with("..."));
        cut(&mut long, 10);
        assert!(long.len() <= 10);
    }
}
