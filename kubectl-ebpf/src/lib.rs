//! kubectl-ebpf: cluster-wide, ad-hoc eBPF tracing. The plugin never touches the kernel:
//! it builds trace specs, starts tracers, merges their record streams and renders them.

pub mod availability;
pub mod catalogue;
pub mod cli;
pub mod cluster;
pub mod color;
pub mod complete;
pub mod completions;
pub mod examples;
pub mod exit;
pub mod heatmap;
pub mod interrupt;
pub mod launch;
pub mod merge;
pub mod probe_list;
pub mod progress;
pub mod rbac;
pub mod render;
pub mod request;
pub mod scripts;
pub mod session;
pub mod terminal;
pub mod units;
pub mod version;
