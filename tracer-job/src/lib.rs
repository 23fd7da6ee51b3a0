//! `tracer-job`: runs on a node (or this machine), loads the precompiled eBPF probes a
//! trace spec names, filters in the kernel to the spec's targets, and writes NDJSON
//! records to stdout until the deadline or SIGINT/SIGTERM.

pub mod bpf_command;
pub mod btf;
pub mod containers;
pub mod emit;
pub mod failure;
pub mod host;
pub mod in_root;
pub mod inventory;
pub mod kernel_names;
pub mod names;
pub mod overhead;
pub mod power;
pub mod probes;
pub mod protocols;
pub mod run;
pub mod sampling;
pub mod signals;
pub mod symbols;
pub use tracer_protocol::syscalls;
pub mod targets;
pub mod tracefs;

/// The allocator tracer-job runs with, for its benchmarks to run with too. A busy tracer
/// allocates and frees a handful of small blocks per event; the static musl build's own
/// allocator made that the largest cost of a script's handler (1.6x the time), and
/// glibc's is slower than this one at it as well.
pub use mimalloc::MiMalloc as Allocator;
