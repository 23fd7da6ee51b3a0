//! The contract between the plugin and `tracer-job`: the trace spec the tracer reads, and
//! the NDJSON records it writes to stdout, one per line.
//!
//! No aya and nothing Linux-only here: the plugin builds on macOS.

pub mod decode;
pub mod names;
pub mod record;
pub mod spec;
pub mod syscalls;

#[cfg(test)]
mod fuzz;

pub use decode::{Decoded, decode_line};
pub use record::{
    Bucket, ErrorCode, LoadedProgram, ProgramOwner, ProgramStats, Record, StatOp, TargetState,
};
pub use spec::{
    ContainerTarget, EventFilter, ProbeSpec, QosClass, ScriptSpec, SpecError, Targets, TraceSpec,
    TracepointCount, UprobeFunction,
};

/// Version of both the spec and the record stream. A tracer refuses a spec of another
/// version; the plugin checks the version in `hello`.
pub const SCHEMA_VERSION: u32 = 1;

/// Longest line a record may take: container runtimes split longer log lines.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
