//! Helpers for end-to-end tests on the real kernel: emulated pods (real cgroup v2
//! directories with real processes inside), workloads that make known syscalls, and the
//! project's binaries.

pub mod binaries;
pub mod cgroup;
pub mod cluster;
pub mod loopdev;
pub mod pods;
pub mod tracer;
pub mod workload;
