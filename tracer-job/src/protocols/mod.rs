//! Application protocols, parsed on the node from captured socket payloads.

pub mod http;
