//! End-to-end tests on the real kernel. They load real eBPF programs and so run as root;
//! a probe that does not attach fails its test.

mod cluster;
mod containers;
mod exec;
mod exit;
mod netns;
mod oom_kill;
mod open;
mod plugin;
mod signal;
mod syscall_latency;
mod tcp;
mod tcp_connect;
mod tcp_life;
mod tcp_reset;
mod tcp_retransmit;
