//! `tcp-reset`: one event per TCP reset a target sent or received: the flow, the
//! direction, the socket's state, and for a sent reset the kernel's reason.

use std::{collections::HashMap, sync::OnceLock};

use aya::EbpfLoader;
use ebpf_common::tcp::ResetEvent;
use serde_json::json;
use tracer_protocol::EventFilter;

use super::{
    attach_tracepoint,
    events::{self, EventProbe, Fields},
    kernel_filter, load,
    tcp::{self, Globals},
};
use crate::{btf::Btf, failure::Failure, targets::ResolvedTargets, tracefs::Format};

const NAME: &str = "tcp-reset";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcp-reset"));

/// `enum sk_rst_reason` by value, prefix stripped; it grows between kernels, so it is
/// read from the running one's BTF.
static REASONS: OnceLock<HashMap<u32, String>> = OnceLock::new();

pub fn attach(wanted: &EventFilter, targets: &ResolvedTargets) -> Result<EventProbe, Failure> {
    let send = Format::load("tcp", "tcp_send_reset")?;
    let receive = Format::load("tcp", "tcp_receive_reset")?;
    let receive_flow = tcp::flow_offsets(&receive)?;
    let offsets = [
        ("SEND_SKADDR_OFFSET", send.offset("skaddr", 8)?),
        ("SEND_STATE_OFFSET", send.offset("state", 4)?),
        ("SEND_REASON_OFFSET", send.offset("reason", 4)?),
        ("SEND_SADDR_OFFSET", send.offset("saddr", 28)?),
        ("SEND_DADDR_OFFSET", send.offset("daddr", 28)?),
        ("RECEIVE_SKADDR_OFFSET", receive.offset("skaddr", 8)?),
    ];
    REASONS.get_or_init(reasons);
    let globals = Globals::new(NAME, targets)?;
    let mut loader = EbpfLoader::new();
    globals.apply(&mut loader);
    loader.override_global("RECEIVE_FLOW", &receive_flow, true);
    let wanted = kernel_filter(wanted);
    loader.override_global("RESET_FILTER", &wanted, true);
    for (name, offset) in &offsets {
        loader.override_global(name, offset, true);
    }
    let mut ebpf = load(loader, OBJECT, NAME, targets)?;
    attach_tracepoint(&mut ebpf, "tcp_reset_send", "tcp", "tcp_send_reset")?;
    attach_tracepoint(&mut ebpf, "tcp_reset_receive", "tcp", "tcp_receive_reset")?;
    EventProbe::new(ebpf, NAME, decode)
}

fn reasons() -> HashMap<u32, String> {
    Btf::from_sys_fs()
        .and_then(|btf| btf.enum_values("sk_rst_reason"))
        .map(|values| {
            values
                .into_iter()
                .filter_map(|(name, value)| {
                    let name = name.strip_prefix("SK_RST_REASON_").unwrap_or(&name);
                    Some((u32::try_from(value).ok()?, name.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn reason_name(reason: u32) -> String {
    REASONS
        .get()
        .and_then(|names| names.get(&reason))
        .cloned()
        .unwrap_or_else(|| format!("reason {reason}"))
}

fn decode(bytes: &[u8]) -> Option<Fields> {
    let event: ResetEvent = events::read(bytes)?;
    let mut fields = Fields::new();
    let sent = event.sent != 0;
    fields.insert(
        "direction".into(),
        json!(if sent { "sent" } else { "received" }),
    );
    tcp::insert_flow(&mut fields, &event.flow);
    if event.state != 0 {
        fields.insert("state".into(), json!(tcp::state_name(event.state)));
    }
    if sent {
        fields.insert("reason".into(), json!(reason_name(event.reason)));
    }
    if event.has_socket == 0 {
        fields.insert("socket".into(), json!("none"));
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reset_reasons_from_the_kernel() {
        let names = reasons();
        assert_eq!(names.get(&1).map(String::as_str), Some("NO_SOCKET"));
        assert_eq!(names.get(&14).map(String::as_str), Some("TCP_STATE"));
    }
}
