//! `tcp-life`: one event per TCP connection of a target that closes: endpoints, how
//! long it lived, bytes each way, and the state it closed from.

use aya::EbpfLoader;
use ebpf_common::tcp::{LifeEvent, TCP_SYN_SENT};
use serde_json::json;

use super::{
    attach_tracepoint,
    events::{self, EventProbe, Fields},
    load,
    tcp::{self, Globals},
};
use crate::{failure::Failure, targets::ResolvedTargets, tracefs::Format};

const NAME: &str = "tcp-life";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcp-life"));

pub fn attach(targets: &ResolvedTargets) -> Result<EventProbe, Failure> {
    let set_state = Format::load("sock", "inet_sock_set_state")?;
    let flow = tcp::flow_offsets(&set_state)?;
    let offsets = [
        ("SET_STATE_SKADDR_OFFSET", set_state.offset("skaddr", 8)?),
        (
            "SET_STATE_OLDSTATE_OFFSET",
            set_state.offset("oldstate", 4)?,
        ),
        (
            "SET_STATE_NEWSTATE_OFFSET",
            set_state.offset("newstate", 4)?,
        ),
        (
            "SET_STATE_PROTOCOL_OFFSET",
            set_state.offset("protocol", 2)?,
        ),
    ];
    let globals = Globals::new(NAME, targets)?;
    let mut loader = EbpfLoader::new();
    globals.apply(&mut loader);
    loader.override_global("SET_STATE_FLOW", &flow, true);
    for (name, offset) in &offsets {
        loader.override_global(name, offset, true);
    }
    let mut ebpf = load(loader, OBJECT, NAME, targets)?;
    attach_tracepoint(
        &mut ebpf,
        "tcp_life_set_state",
        "sock",
        "inet_sock_set_state",
    )?;
    EventProbe::new(ebpf, NAME, decode)
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
