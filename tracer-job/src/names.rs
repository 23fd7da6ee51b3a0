//! Names people know for the numbers the kernel reports; shared with scripts and the
//! plugin, so they live with the protocol.

pub use tracer_protocol::names::{errno, signal};
