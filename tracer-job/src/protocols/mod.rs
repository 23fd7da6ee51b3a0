//! Application protocols, parsed on the node from captured socket payloads.

pub mod dns;
pub mod http;
