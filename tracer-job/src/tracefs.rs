//! Tracepoint layouts from tracefs `format` files. Rust eBPF has no CO-RE, so probes
//! read tracepoint fields at the offsets this module finds, passed in as globals.

use std::path::{Path, PathBuf};

use tracer_protocol::ErrorCode;

use crate::failure::Failure;

/// Where tracefs is mounted, newest convention first.
const MOUNTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// One field of a tracepoint record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The C declaration, type and name (`__data_loc char[] filename`, `char comm[16]`).
    pub declaration: String,
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
}

/// The fields of one tracepoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    pub tracepoint: String,
    /// The tracepoint's id: what a record's `common_type` holds.
    pub id: Option<u32>,
    pub fields: Vec<Field>,
}

impl Format {
    /// Reads `category/name`'s format from the mounted tracefs.
    pub fn load(category: &str, name: &str) -> Result<Format, Failure> {
        let root = tracefs_root()?;
        Self::load_from(&root, category, name)
    }

    pub fn load_from(root: &Path, category: &str, name: &str) -> Result<Format, Failure> {
        let path = root.join("events").join(category).join(name).join("format");
        let text = std::fs::read_to_string(&path).map_err(|err| {
            Failure::new(
                ErrorCode::KernelUnsupported,
                format!("this kernel has no tracepoint {category}:{name} ({err})"),
                "the probe needs a newer kernel or one built with this tracepoint",
            )
        })?;
        Ok(Self::parse(&format!("{category}:{name}"), &text))
    }

    /// Parses the `field:TYPE NAME; offset:N; size:N; signed:N;` lines; others are ignored.
    pub fn parse(tracepoint: &str, text: &str) -> Format {
        let fields = text.lines().filter_map(parse_field).collect();
        let id = text
            .lines()
            .find_map(|line| line.strip_prefix("ID:"))
            .and_then(|id| id.trim().parse().ok());
        Format {
            tracepoint: tracepoint.to_owned(),
            id,
            fields,
        }
    }

    pub fn field(&self, name: &str) -> Result<&Field, Failure> {
        self.fields
            .iter()
            .find(|field| field.name == name)
            .ok_or_else(|| {
                Failure::new(
                    ErrorCode::KernelUnsupported,
                    format!("tracepoint {} has no field {name}", self.tracepoint),
                    "this kernel's tracepoint layout differs from what the probe knows",
                )
            })
    }

    /// The offset of a field the probe reads as `size` bytes; a size mismatch is refused
    /// rather than read wrong.
    pub fn offset(&self, name: &str, size: u32) -> Result<u32, Failure> {
        let field = self.field(name)?;
        if field.size != size {
            return Err(Failure::new(
                ErrorCode::KernelUnsupported,
                format!(
                    "tracepoint {} field {name} is {} bytes, not {size}",
                    self.tracepoint, field.size
                ),
                "this kernel's tracepoint layout differs from what the probe knows",
            ));
        }
        Ok(field.offset)
    }
}

/// Whether `category/name` exists on this kernel.
pub fn has_tracepoint(category: &str, name: &str) -> bool {
    tracefs_root().is_ok_and(|root| root.join("events").join(category).join(name).is_dir())
}

/// The mounted tracefs.
pub fn tracefs_root() -> Result<PathBuf, Failure> {
    MOUNTS
        .iter()
        .map(PathBuf::from)
        .find(|path| path.join("events").is_dir())
        .ok_or_else(|| {
            Failure::new(
                ErrorCode::KernelUnsupported,
                "tracefs is not mounted (looked in /sys/kernel/tracing and /sys/kernel/debug/tracing)",
                "mount it with `mount -t tracefs nodev /sys/kernel/tracing`, or mount the host's into the tracer",
            )
        })
}

fn parse_field(line: &str) -> Option<Field> {
    let mut declaration = None;
    let (mut offset, mut size, mut signed) = (None, None, false);
    for part in line.trim().split(';') {
        let part = part.trim();
        if let Some(value) = part.strip_prefix("field:") {
            declaration = Some(value);
        } else if let Some(value) = part.strip_prefix("offset:") {
            offset = value.parse().ok();
        } else if let Some(value) = part.strip_prefix("size:") {
            size = value.parse().ok();
        } else if let Some(value) = part.strip_prefix("signed:") {
            signed = value == "1";
        }
    }
    // The name is the declaration's last word, without any array suffix.
    let declaration = declaration?.trim();
    let name = declaration.split_whitespace().last()?;
    let name = name.split('[').next()?;
    Some(Field {
        name: name.to_owned(),
        declaration: declaration.to_owned(),
        offset: offset?,
        size: size?,
        signed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXEC: &str = "name: sched_process_exec
ID: 365
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:char comm[16];\toffset:16;\tsize:16;\tsigned:0;

print fmt: \"filename=%s pid=%d\", __get_str(filename), REC->pid
";

    #[test]
    fn reads_fields_with_offsets_and_sizes() {
        let format = Format::parse("sched:sched_process_exec", EXEC);
        assert_eq!(format.fields.len(), 5);
        assert_eq!(format.id, Some(365));
        assert_eq!(
            format.field("filename").expect("present").declaration,
            "__data_loc char[] filename"
        );
        assert_eq!(format.offset("filename", 4).expect("present"), 8);
        assert_eq!(format.offset("comm", 16).expect("present"), 16);
        assert!(format.field("pid").expect("present").signed);
    }

    #[test]
    fn refuses_missing_fields_and_wrong_sizes() {
        let format = Format::parse("sched:sched_process_exec", EXEC);
        let err = format.offset("nope", 4).expect_err("missing");
        assert!(err.message.contains("has no field nope"), "{}", err.message);
        let err = format.offset("pid", 8).expect_err("wrong size");
        assert!(err.message.contains("is 4 bytes"), "{}", err.message);
    }

    #[test]
    fn a_missing_tracepoint_is_a_kernel_limit() {
        let dir = std::env::temp_dir();
        let err = Format::load_from(&dir, "nope", "nope").expect_err("missing");
        assert_eq!(err.code, ErrorCode::KernelUnsupported);
    }
}
