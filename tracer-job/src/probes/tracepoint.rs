//! `tracepoint`: the generic source of scripts. One program per tracepoint the script
//! names copies raw records with its index; here each record's fields are decoded by
//! name from that tracepoint's tracefs format.

use std::{
    collections::{BTreeMap, HashMap},
    os::fd::RawFd,
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuHashMap},
};
use ebpf_common::tracepoint::{
    COUNT_BY_KEY, CountKey, FIELD_BYTES, FIELD_DATA_LOC, FIELD_REL_LOC, FIELD_TEXT,
    KEY_FIELD_BYTES, KeyField, MAX_SOURCES, RawEvent, SEND_EVENTS, SourceConfig,
};
use serde_json::{Value, json};
use tracer_protocol::{ErrorCode, ProbeSpec, Record, TracepointCount, spec::split_tracepoint};

use super::{
    Probe, attach_tracepoint,
    events::{EventStream, Fields},
    filter::FilterGlobals,
    load, maps,
};
use crate::{
    failure::Failure,
    targets::ResolvedTargets,
    tracefs::{Field, Format},
};

const NAME: &str = "tracepoint";

/// Kernel counts are the script's maps: their records carry its probe name.
const SCRIPT_PROBE: &str = "script";

/// The ring buffer's size for this source (a power of two, in bytes).
const RING_BYTES: u32 = 16 << 20;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracepoint"));

/// The source: events of some tracepoints, counts of others (or of the same) by key.
pub struct Tracepoints {
    events: EventStream,
    /// By program index: each attached tracepoint's format.
    formats: Vec<Format>,
    /// By program index: the map and the key fields of a tracepoint counted in the
    /// kernel.
    counted: Vec<Option<Counted>>,
    counts: PerCpuHashMap<MapData, CountKey, u64>,
    written: HashMap<CountKey, u64>,
    /// Holds the programs and their links; dropping it detaches them.
    ebpf: Ebpf,
}

/// A tracepoint counted in the kernel: the script's map, and its key's fields.
struct Counted {
    name: String,
    fields: Vec<Field>,
}

/// Attaches one program to each tracepoint whose events are sent (`tracepoints`) or
/// counted (`counts`), `category:name` each.
pub fn attach(
    tracepoints: &[String],
    counts: &[TracepointCount],
    targets: &ResolvedTargets,
) -> Result<Tracepoints, Failure> {
    let attached = ProbeSpec::attached_tracepoints(tracepoints, counts);
    let mut names = Vec::with_capacity(attached.len());
    let mut formats = Vec::with_capacity(attached.len());
    let mut counted = Vec::with_capacity(attached.len());
    let mut configs = [SourceConfig::default(); MAX_SOURCES];
    for (index, tracepoint) in attached.iter().enumerate() {
        let (category, name) = split_tracepoint(tracepoint).ok_or_else(|| {
            Failure::new(
                ErrorCode::InvalidSpec,
                format!("`{tracepoint}` is not a tracepoint name"),
                "name it category:name, as /sys/kernel/tracing/events/CATEGORY/NAME",
            )
        })?;
        let format = Format::load(category, name)?;
        let config = configs.get_mut(index).ok_or_else(|| {
            Failure::new(
                ErrorCode::InvalidSpec,
                format!("more than {MAX_SOURCES} tracepoints"),
                "split the question over two traces",
            )
        })?;
        if tracepoints.iter().any(|t| t == tracepoint) {
            config.flags |= SEND_EVENTS;
        }
        let count = counts.iter().find(|count| count.tracepoint == *tracepoint);
        counted.push(match count {
            Some(count) => Some(key_fields(&format, count, config)?),
            None => None,
        });
        formats.push(format);
        names.push((category, name));
    }
    let filter = FilterGlobals::new(targets);
    let mut loader = EbpfLoader::new();
    filter.apply(&mut loader);
    loader.override_global("SOURCE_CONFIG", &configs, true);
    // Raw records are large: room for about 30,000 in flight instead of 1,900.
    loader.map_max_entries("EVENTS", RING_BYTES);
    let mut ebpf = load(loader, OBJECT, NAME, targets)?;
    // Program `tracepoint_N` serves the Nth tracepoint; the spec allows no more
    // than there are programs.
    for (index, (category, name)) in names.iter().enumerate() {
        attach_tracepoint(&mut ebpf, &format!("tracepoint_{index}"), category, name)?;
    }
    Ok(Tracepoints {
        events: EventStream::take(&mut ebpf, NAME)?,
        formats,
        counted,
        counts: maps::take(&mut ebpf, "COUNTS")?,
        written: HashMap::new(),
        ebpf,
    })
}

/// Sets `config` to count by `count`'s fields, found in `format`.
fn key_fields(
    format: &Format,
    count: &TracepointCount,
    config: &mut SourceConfig,
) -> Result<Counted, Failure> {
    let mut fields = Vec::with_capacity(count.fields.len());
    for (slot, name) in count.fields.iter().enumerate() {
        let field = format
            .fields
            .iter()
            .find(|field| field.name == *name && !field.name.starts_with("common_"))
            .ok_or_else(|| {
                let names = format
                    .fields
                    .iter()
                    .map(|field| field.name.as_str())
                    .filter(|name| !name.starts_with("common_"));
                Failure::new(
                    ErrorCode::InvalidSpec,
                    format!("tracepoint {} has no field `{name}`", format.tracepoint),
                    format!("its fields: {}", names.collect::<Vec<_>>().join(", ")),
                )
            })?;
        let Some(key) = config.key.get_mut(slot) else {
            break;
        };
        let declaration = field.declaration.as_str();
        *key = KeyField {
            offset: field.offset,
            size: field.size,
            kind: if declaration.starts_with("__data_loc") {
                FIELD_DATA_LOC
            } else if declaration.starts_with("__rel_loc") {
                FIELD_REL_LOC
            } else if is_text(declaration) {
                FIELD_TEXT
            } else {
                FIELD_BYTES
            },
        };
        fields.push(field.clone());
    }
    config.flags |= COUNT_BY_KEY;
    config.fields = fields.len() as u32;
    Ok(Counted {
        name: count.name.clone(),
        fields,
    })
}

/// Whether a declaration is a character array (`char comm[16]`).
fn is_text(declaration: &str) -> bool {
    declaration.find('[').is_some_and(|open| {
        let element = declaration[..open].trim();
        let element = element.rsplit_once(' ').map_or(element, |(ty, _)| ty);
        element.ends_with("char") || element == "u8" || element == "__u8"
    })
}

impl Probe for Tracepoints {
    fn name(&self) -> &'static str {
        NAME
    }

    fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        for entry in self.counts.iter() {
            let (key, per_cpu) =
                entry.map_err(|err| Failure::from_kernel("reading the kernel counts", &err))?;
            let value = per_cpu.iter().fold(0u64, |sum, v| sum.wrapping_add(*v));
            if !complete && self.written.get(&key) == Some(&value) {
                continue;
            }
            let Some(Some(counted)) = self.counted.get(key.index as usize) else {
                continue;
            };
            out.push(Record::Count {
                probe: SCRIPT_PROBE.to_owned(),
                name: counted.name.clone(),
                key: count_key(counted, &key),
                value,
            });
            self.written.insert(key, value);
        }
        self.events.lost_record(complete, out)
    }

    fn event_fd(&mut self) -> Option<RawFd> {
        Some(self.events.fd())
    }

    fn drain_events(&mut self, out: &mut Vec<Record>) -> bool {
        let formats = &self.formats;
        self.events.drain(out, |bytes| decode(formats, bytes))
    }

    fn end(&mut self) {
        self.events.end();
    }
}

/// A count's key columns: each field's value as the events write it, as text.
fn count_key(counted: &Counted, key: &CountKey) -> BTreeMap<String, String> {
    counted
        .fields
        .iter()
        .zip(key.bytes.as_chunks::<KEY_FIELD_BYTES>().0)
        .map(|(field, bytes)| {
            // The field's bytes where the format puts them, so it decodes as in events.
            let start = field.offset as usize;
            let mut data = vec![0; start + field.size as usize];
            let kept = (field.size as usize).min(KEY_FIELD_BYTES);
            data[start..start + kept].copy_from_slice(&bytes[..kept]);
            let value = if is_string(field) {
                Some(json!(super::events::text(bytes)))
            } else {
                field_value(field, &data)
            };
            let text = match value {
                Some(Value::String(text)) => text,
                Some(other) => other.to_string(),
                None => String::new(),
            };
            (field.name.clone(), text)
        })
        .collect()
}

/// Whether a field is a string the key holds whole (up to its NUL), not in place.
fn is_string(field: &Field) -> bool {
    let declaration = field.declaration.as_str();
    declaration.starts_with("__data_loc")
        || declaration.starts_with("__rel_loc")
        || is_text(declaration)
}

/// The record's tracepoint and its fields by name (the `common_*` ones left out).
fn decode(formats: &[Format], bytes: &[u8]) -> Option<Fields> {
    let event: RawEvent = super::events::read(bytes)?;
    let format = formats.get(usize::try_from(event.index).ok()?)?;
    let data = &event.data;
    let mut fields = Fields::new();
    fields.insert("tracepoint".into(), json!(format.tracepoint));
    for field in &format.fields {
        if field.name.starts_with("common_") {
            continue;
        }
        if let Some(value) = field_value(field, data) {
            fields.insert(field.name.clone(), value);
        }
    }
    Some(fields)
}

/// One field's value: integers as numbers, character arrays and dynamic strings as text,
/// other arrays as arrays of numbers; `None` when the record was cut before it.
pub fn field_value(field: &Field, data: &[u8]) -> Option<Value> {
    let start = field.offset as usize;
    let bytes = data.get(start..start.checked_add(field.size as usize)?)?;
    let declaration = field.declaration.as_str();
    let dynamic = declaration.starts_with("__data_loc") || declaration.starts_with("__rel_loc");
    if dynamic && bytes.len() == 4 {
        // Offset in the low 16 bits, length in the high; __rel_loc counts from the
        // end of the field.
        let loc = u32::from_ne_bytes(bytes.try_into().ok()?);
        let mut offset = (loc & 0xffff) as usize;
        if declaration.starts_with("__rel_loc") {
            offset += start + bytes.len();
        }
        let len = (loc >> 16) as usize;
        let end = offset.saturating_add(len).min(data.len());
        let text = data.get(offset..end).unwrap_or_default();
        return Some(json!(super::events::text(text)));
    }
    if is_text(declaration) {
        return Some(json!(super::events::text(bytes)));
    }
    if let Some(open) = declaration.find('[') {
        let count = declaration[open + 1..]
            .split(']')
            .next()
            .and_then(|n| n.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)?;
        let width = bytes.len() / count;
        return Some(Value::Array(
            bytes
                .chunks_exact(width.max(1))
                .map(|chunk| integer(chunk, field.signed))
                .collect(),
        ));
    }
    Some(integer(bytes, field.signed))
}

/// A little or big endian (native) integer of 1, 2, 4 or 8 bytes; other widths as 0.
fn integer(bytes: &[u8], signed: bool) -> Value {
    let value: i128 = match bytes.len() {
        1 if signed => i128::from(bytes[0] as i8),
        1 => i128::from(bytes[0]),
        2 => {
            let raw = [bytes[0], bytes[1]];
            if signed {
                i128::from(i16::from_ne_bytes(raw))
            } else {
                i128::from(u16::from_ne_bytes(raw))
            }
        }
        4 => {
            let raw = [bytes[0], bytes[1], bytes[2], bytes[3]];
            if signed {
                i128::from(i32::from_ne_bytes(raw))
            } else {
                i128::from(u32::from_ne_bytes(raw))
            }
        }
        8 => {
            let raw: [u8; 8] = bytes.try_into().unwrap_or_default();
            if signed {
                i128::from(i64::from_ne_bytes(raw))
            } else {
                i128::from(u64::from_ne_bytes(raw))
            }
        }
        _ => 0,
    };
    // Scripts take i64; an unsigned value past it (a pointer) wraps, as C would print it.
    json!(value as i64)
}

#[cfg(test)]
mod tests {
    use ebpf_common::tracepoint::RAW_LEN;

    use super::*;

    const FORK: &str = "name: sched_process_fork
ID: 318
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] parent_comm;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t parent_pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:unsigned long args[2];\toffset:16;\tsize:16;\tsigned:0;
\tfield:char comm[8];\toffset:32;\tsize:8;\tsigned:0;
";

    #[test]
    fn decodes_integers_strings_and_arrays_by_name() {
        let format = Format::parse("sched:sched_process_fork", FORK);
        let head = size_of::<RawEvent>() - RAW_LEN;
        let mut record = vec![0u8; size_of::<RawEvent>()];
        // Program 1: the second tracepoint.
        record[head - 8] = 1;
        let data = &mut record[head..];
        // "bash" at offset 48, 5 bytes with its NUL.
        data[8..12].copy_from_slice(&((5u32 << 16) | 48).to_ne_bytes());
        data[12..16].copy_from_slice(&(-7i32).to_ne_bytes());
        data[16..24].copy_from_slice(&3u64.to_ne_bytes());
        data[24..32].copy_from_slice(&u64::MAX.to_ne_bytes());
        data[32..36].copy_from_slice(b"app\0");
        data[48..53].copy_from_slice(b"bash\0");
        let formats = vec![Format::parse("sched:sched_switch", ""), format];
        let fields = decode(&formats, &record).expect("decoded");
        assert_eq!(
            Value::Object(fields),
            json!({
                "tracepoint": "sched:sched_process_fork",
                "parent_comm": "bash",
                "parent_pid": -7,
                "args": [3, -1],
                "comm": "app",
            })
        );
        // A record of a program with no tracepoint, or cut short, is not decoded.
        record[head - 8] = 2;
        assert!(decode(&formats, &record).is_none());
        assert!(decode(&formats, &record[..head + 1]).is_none());
    }

    #[test]
    fn a_kernel_key_reads_back_as_the_events_write_fields() {
        let format = Format::parse("sched:sched_process_fork", FORK);
        let mut config = SourceConfig::default();
        let count = TracepointCount {
            name: "forks".into(),
            tracepoint: format.tracepoint.clone(),
            fields: vec!["parent_comm".into(), "parent_pid".into(), "comm".into()],
        };
        let counted = key_fields(&format, &count, &mut config).expect("known fields");
        assert_eq!(config.flags, COUNT_BY_KEY);
        assert_eq!(config.fields, 3);
        assert_eq!(
            config.key[..3],
            [
                KeyField {
                    offset: 8,
                    size: 4,
                    kind: FIELD_DATA_LOC
                },
                KeyField {
                    offset: 12,
                    size: 4,
                    kind: FIELD_BYTES
                },
                KeyField {
                    offset: 32,
                    size: 8,
                    kind: FIELD_TEXT
                },
            ]
        );
        // What the program writes: each field in its own slot, strings without their NUL.
        let mut key = CountKey {
            index: 0,
            _pad: 0,
            bytes: [0; ebpf_common::tracepoint::MAX_KEY_FIELDS * KEY_FIELD_BYTES],
        };
        key.bytes[..4].copy_from_slice(b"bash");
        key.bytes[KEY_FIELD_BYTES..KEY_FIELD_BYTES + 4].copy_from_slice(&(-7i32).to_ne_bytes());
        key.bytes[2 * KEY_FIELD_BYTES..2 * KEY_FIELD_BYTES + 3].copy_from_slice(b"app");
        assert_eq!(
            count_key(&counted, &key),
            BTreeMap::from([
                ("parent_comm".to_owned(), "bash".to_owned()),
                ("parent_pid".to_owned(), "-7".to_owned()),
                ("comm".to_owned(), "app".to_owned()),
            ])
        );
        let missing = TracepointCount {
            fields: vec!["parent_pidd".into()],
            ..count
        };
        let Err(err) = key_fields(&format, &missing, &mut config) else {
            panic!("no such field");
        };
        assert!(
            err.message.contains("has no field `parent_pidd`"),
            "{}",
            err.message
        );
        assert!(err.hint.contains("parent_pid"), "{}", err.hint);
    }
}
