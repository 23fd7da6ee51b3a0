//! End-to-end tests on the real kernel. They load real eBPF programs and so run as root;
//! a probe that does not attach fails its test.

mod block_latency;
mod cluster;
mod completion;
mod containers;
mod cpu_time;
mod exec;
mod exit;
mod netns;
mod oom_kill;
mod open;
mod packet_drop;
mod per_pod;
mod plugin;
mod profile;
mod rbac;
mod runq_latency;
mod scripts;
mod signal;
mod syscall_count;
mod syscall_latency;
mod tcp;
mod tcp_connect;
mod tcp_life;
mod tcp_reset;
mod tcp_retransmit;
mod terminal;
