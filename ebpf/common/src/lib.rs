//! Memory layouts and constants shared by the eBPF programs and the tracer.
//!
//! Everything here must compile for `bpfel-unknown-none`: no_std, no allocation, and
//! `#[repr(C)]` for anything that crosses a map.
#![no_std]

pub mod block_latency;
pub mod cpu_time;
pub mod event;
pub mod event_filter;
pub mod exec;
pub mod exit;
pub mod filter;
pub mod flow;
pub mod hist;
pub mod kernel_symbols;
pub mod oom_kill;
pub mod open;
pub mod packet_drop;
pub mod payload;
pub mod profile;
pub mod rows;
pub mod runq_latency;
pub mod signal;
pub mod syscall_count;
pub mod syscall_latency;
pub mod tcp;
pub mod tracepoint;
pub mod uprobe;
