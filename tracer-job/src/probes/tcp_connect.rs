//! `tcp-connect`: one event per outbound TCP connect of a target: endpoints, the time
//! from SYN_SENT to the answer, and for a failure the state it died in and why.

use ebpf_common::tcp::{ConnectEvent, TCP_ESTABLISHED};
use serde_json::json;
use tracer_protocol::EventFilter;

use super::{
    events::{self, EventProbe, Fields},
    kernel_filter, tcp,
};
use crate::{failure::Failure, names, targets::ResolvedTargets};

const NAME: &str = "tcp-connect";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcp-connect"));

const ECONNREFUSED: i32 = 111;
const ETIMEDOUT: i32 = 110;

pub fn attach(filter: &EventFilter, targets: &ResolvedTargets) -> Result<EventProbe, Failure> {
    let filter = kernel_filter(filter);
    tcp::attach_set_state(
        NAME,
        OBJECT,
        "tcp_connect_set_state",
        Some(("CONNECT_FILTER", &filter)),
        targets,
        decode,
    )
}

/// What became of an attempt, in a word an SRE would use.
fn result(event: &ConnectEvent) -> String {
    if event.new_state == TCP_ESTABLISHED {
        return "connected".to_owned();
    }
    // Closed before a local port was bound: the SYN never left. inet_hash_connect found
    // no free port (EADDRNOTAVAIL to the application: ephemeral ports exhausted).
    if event.flow.sport == 0 && event.error == 0 {
        return "no local port".to_owned();
    }
    match event.error {
        ECONNREFUSED => "refused".to_owned(),
        ETIMEDOUT => "timed out".to_owned(),
        // Closed with no error: the application gave up (closed the socket) first.
        0 => "aborted".to_owned(),
        _ => "failed".to_owned(),
    }
}

fn decode(bytes: &[u8]) -> Option<Fields> {
    let event: ConnectEvent = events::read(bytes)?;
    let mut fields = Fields::new();
    tcp::insert_flow(&mut fields, &event.flow);
    fields.insert("latency_ns".into(), json!(event.latency_ns));
    fields.insert("result".into(), json!(result(&event)));
    if event.new_state != TCP_ESTABLISHED {
        fields.insert("state".into(), json!(tcp::state_name(event.old_state)));
        if event.error != 0 {
            fields.insert("error".into(), json!(names::errno(i64::from(event.error))));
        }
    }
    Some(fields)
}
