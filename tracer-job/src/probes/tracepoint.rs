//! `tracepoint`: the generic source of scripts. One program per tracepoint the script
//! names copies raw records with its index; here each record's fields are decoded by
//! name from that tracepoint's tracefs format.

use aya::EbpfLoader;
use ebpf_common::tracepoint::RawEvent;
use serde_json::{Value, json};
use tracer_protocol::{ErrorCode, spec::split_tracepoint};

use super::{
    attach_tracepoint,
    events::{ContextProbe, Fields},
    filter::FilterGlobals,
    load,
};
use crate::{
    failure::Failure,
    targets::ResolvedTargets,
    tracefs::{Field, Format},
};

const NAME: &str = "tracepoint";

/// The ring buffer's size for this source (a power of two, in bytes).
const RING_BYTES: u32 = 16 << 20;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracepoint"));

pub type Tracepoints = ContextProbe<Vec<Format>>;

/// Attaches one program to each of `tracepoints` (`category:name`).
pub fn attach(tracepoints: &[String], targets: &ResolvedTargets) -> Result<Tracepoints, Failure> {
    let mut names = Vec::with_capacity(tracepoints.len());
    let mut formats = Vec::with_capacity(tracepoints.len());
    for tracepoint in tracepoints {
        let (category, name) = split_tracepoint(tracepoint).ok_or_else(|| {
            Failure::new(
                ErrorCode::InvalidSpec,
                format!("`{tracepoint}` is not a tracepoint name"),
                "name it category:name, as /sys/kernel/tracing/events/CATEGORY/NAME",
            )
        })?;
        formats.push(Format::load(category, name)?);
        names.push((category, name));
    }
    let filter = FilterGlobals::new(targets);
    let mut loader = EbpfLoader::new();
    filter.apply(&mut loader);
    // Raw records are large: room for about 30,000 in flight instead of 1,900.
    loader.map_max_entries("EVENTS", RING_BYTES);
    let mut ebpf = load(loader, OBJECT, NAME, targets)?;
    // Program `tracepoint_N` serves the Nth tracepoint; the spec allows no more
    // than there are programs.
    for (index, (category, name)) in names.iter().enumerate() {
        attach_tracepoint(&mut ebpf, &format!("tracepoint_{index}"), category, name)?;
    }
    ContextProbe::new(ebpf, NAME, formats, decode)
}

/// The record's tracepoint and its fields by name (the `common_*` ones left out).
#[expect(
    clippy::ptr_arg,
    reason = "a ContextProbe decoder takes its context as stored"
)]
fn decode(formats: &Vec<Format>, bytes: &[u8]) -> Option<Fields> {
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
    if let Some(open) = declaration.find('[') {
        let element = declaration[..open].trim();
        let element = element.rsplit_once(' ').map_or(element, |(ty, _)| ty);
        if element.ends_with("char") || element == "u8" || element == "__u8" {
            return Some(json!(super::events::text(bytes)));
        }
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
}
