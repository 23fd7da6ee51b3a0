//! `tcp-life`: one event per TCP connection of a target that closes: endpoints, how
//! long it lived, bytes each way, and the state it closed from.

use ebpf_common::tcp::{LifeEvent, TCP_SYN_SENT};
use serde_json::json;
use tracer_protocol::EventFilter;

use super::{
    events::{self, EventProbe, Fields},
    kernel_filter, tcp,
};
use crate::{failure::Failure, targets::ResolvedTargets};

const NAME: &str = "tcp-life";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcp-life"));

pub fn attach(wanted: &EventFilter, targets: &ResolvedTargets) -> Result<EventProbe, Failure> {
    let wanted = kernel_filter(wanted);
    tcp::attach_set_state(
        NAME,
        OBJECT,
        "tcp_life_set_state",
        Some(("LIFE_FILTER", &wanted)),
        targets,
        decode,
    )
}

fn decode(bytes: &[u8]) -> Option<Fields> {
    let event: LifeEvent = events::read(bytes)?;
    let mut fields = Fields::new();
    tcp::insert_flow(&mut fields, &event.flow);
    let direction = match event.first_state {
        0 => "unknown",
        TCP_SYN_SENT => "outbound",
        _ => "inbound",
    };
    fields.insert("direction".into(), json!(direction));
    if event.start_ns == 0 {
        // Open before the trace began: say so rather than guess.
        fields.insert("duration_ns".into(), json!("unknown"));
    } else {
        fields.insert(
            "duration_ns".into(),
            json!(event.header.time_ns.saturating_sub(event.start_ns)),
        );
    }
    if event.bytes_acked != u64::MAX {
        fields.insert("tx_bytes".into(), json!(event.bytes_acked));
    }
    if event.bytes_received != u64::MAX {
        fields.insert("rx_bytes".into(), json!(event.bytes_received));
    }
    fields.insert(
        "close_state".into(),
        json!(tcp::state_name(event.close_state)),
    );
    Some(fields)
}
