//! The scripting of `kubectl ebpf run`: rhai scripts that handle the events of built-in
//! probes on each node and aggregate them into maps that merge across nodes.
//!
//! One engine definition ([`engine`]) serves both sides: tracer-job runs scripts with
//! it ([`Script`]) and the plugin checks them with it before creating anything. Nothing
//! here touches the kernel, so the plugin builds everywhere.

mod caller;
mod calls;
pub mod diagnostic;
pub mod engine;
pub mod event;
mod fault;
pub mod maps;
pub mod runner;
pub mod sources;

#[cfg(test)]
mod fuzz;

pub use diagnostic::Diagnostic;
pub use runner::Script;
