//! Helpers for end-to-end tests on the real kernel: emulated pods (real cgroup v2
//! directories with real processes inside), network namespaces joined by veth pairs,
//! workloads that make known syscalls or connections, and the project's binaries.

pub mod binaries;
pub mod cgroup;
pub mod cluster;
pub mod events;
pub mod interrupt;
pub mod loopdev;
pub mod net_workload;
pub mod netns;
pub mod plugin_run;
pub mod pods;
pub mod schema;
pub mod stats;
pub mod summary;
pub mod tracer;
pub mod trials;
pub mod workload;
