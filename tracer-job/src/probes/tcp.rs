//! What the `tcp-*` probes share on the user side (`ebpf/probes/src/tcp.rs`): where the
//! tracepoints keep a flow, where a socket keeps its TCP fields, and flows and states
//! written for people.

use std::net::{Ipv4Addr, Ipv6Addr};

use aya::EbpfLoader;
use ebpf_common::{
    event_filter::EventFilter as KernelFilter,
    tcp::{AF_INET, AF_INET6, Flow, FlowOffsets},
};
use serde_json::json;
use tracer_protocol::ErrorCode;

use super::{
    attach_tracepoint,
    events::{Decoder, EventProbe, Fields},
    filter::FilterGlobals,
    load, sock, task,
};
use crate::{btf::Btf, failure::Failure, targets::ResolvedTargets, tracefs::Format};

/// Where a sock/tcp tracepoint keeps its flow.
pub fn flow_offsets(format: &Format) -> Result<FlowOffsets, Failure> {
    Ok(FlowOffsets {
        sport: format.offset("sport", 2)?,
        dport: format.offset("dport", 2)?,
        family: format.offset("family", 2)?,
        saddr: format.offset("saddr", 4)?,
        daddr: format.offset("daddr", 4)?,
        saddr_v6: format.offset("saddr_v6", 16)?,
        daddr_v6: format.offset("daddr_v6", 16)?,
    })
}

/// Loads an event probe whose one program, `program`, follows `sock:inet_sock_set_state`
/// (tcp-connect and tcp-life), with the record's offsets and the shared globals set.
pub fn attach_set_state(
    name: &'static str,
    object: &[u8],
    program: &str,
    filter: Option<(&str, &KernelFilter)>,
    targets: &ResolvedTargets,
    decode: Decoder,
) -> Result<EventProbe, Failure> {
    let set_state = Format::load("sock", "inet_sock_set_state")?;
    let flow = flow_offsets(&set_state)?;
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
    let globals = Globals::new(name, targets)?;
    let mut loader = EbpfLoader::new();
    globals.apply(&mut loader);
    loader.override_global("SET_STATE_FLOW", &flow, true);
    if let Some((global, filter)) = filter {
        loader.override_global(global, filter, true);
    }
    for (global, offset) in &offsets {
        loader.override_global(global, offset, true);
    }
    let mut ebpf = load(loader, object, name, targets)?;
    attach_tracepoint(&mut ebpf, program, "sock", "inet_sock_set_state")?;
    EventProbe::new(ebpf, name, decode)
}

/// Offsets of the TCP fields the probes read from a socket; zero when unknown, and the
/// probe then leaves the field out.
#[derive(Debug, Default)]
pub struct SockFields {
    err: u32,
    bytes_acked: u32,
    bytes_received: u32,
}

impl SockFields {
    pub fn from_kernel() -> Self {
        let Ok(btf) = Btf::from_sys_fs() else {
            return SockFields::default();
        };
        let offset = |owner: &str, path: &[&str]| btf.member(owner, path).map_or(0, |m| m.offset);
        SockFields {
            err: offset("sock", &["sk_err"]),
            bytes_acked: offset("tcp_sock", &["bytes_acked"]),
            bytes_received: offset("tcp_sock", &["bytes_received"]),
        }
    }

    pub fn apply<'a>(&'a self, loader: &mut EbpfLoader<'a>) {
        loader
            .override_global("SOCK_ERR_OFFSET", &self.err, true)
            .override_global("TCP_BYTES_ACKED_OFFSET", &self.bytes_acked, true)
            .override_global("TCP_BYTES_RECEIVED_OFFSET", &self.bytes_received, true);
    }
}

/// The globals every `tcp-*` probe sets before loading: the target filter, the way to a
/// socket's cgroup id (`sock` to the cgroup, `task` from there to its id), and the
/// socket's TCP fields.
pub struct Globals {
    filter: FilterGlobals,
    sock: sock::Offsets,
    task: task::Offsets,
    fields: SockFields,
}

impl Globals {
    /// Fails when targets are cgroups but this kernel's BTF does not say where a socket
    /// keeps its cgroup: the probe could then only show nothing.
    pub fn new(probe: &str, targets: &ResolvedTargets) -> Result<Self, Failure> {
        let sock = sock::Offsets::from_kernel();
        let task = task::Offsets::from_kernel();
        let knows_cgroup = sock.knows_cgroup() && task.knows_cgroup();
        if !knows_cgroup && !targets.cgroup_ids.is_empty() {
            return Err(Failure::new(
                ErrorCode::KernelUnsupported,
                format!(
                    "{probe} cannot tell which cgroup a socket belongs to on this kernel (no sock.sk_cgrp_data in its BTF)"
                ),
                "trace the whole node instead (no targets), or use a kernel with BTF",
            ));
        }
        Ok(Globals {
            filter: FilterGlobals::new(targets),
            sock,
            task,
            fields: SockFields::from_kernel(),
        })
    }

    pub fn apply<'a>(&'a self, loader: &mut EbpfLoader<'a>) {
        self.filter.apply(loader);
        self.task.apply(loader);
        self.sock.apply(loader);
        self.fields.apply(loader);
    }
}

/// `10.200.1.1:43210`, `[fd00::1]:80`; `?` when the family is unknown.
pub fn endpoint(family: u16, addr: &[u8; 16], port: u16) -> String {
    match family {
        AF_INET => format!(
            "{}:{port}",
            Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])
        ),
        AF_INET6 => format!("[{}]:{port}", Ipv6Addr::from(*addr)),
        _ => "?".to_owned(),
    }
}

/// Adds `src` (this host's end) and `dst` (the peer's).
pub fn insert_flow(fields: &mut Fields, flow: &Flow) {
    fields.insert(
        "src".into(),
        json!(endpoint(flow.family, &flow.saddr, flow.sport)),
    );
    fields.insert(
        "dst".into(),
        json!(endpoint(flow.family, &flow.daddr, flow.dport)),
    );
}

/// A TCP state as `ss` names it, from the kernel's numbering (user-visible ABI; the
/// tracepoints' print formats list the same, which a test checks on this kernel).
pub fn state_name(state: u32) -> String {
    let name = match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        13 => "BOUND_INACTIVE",
        other => return format!("state {other}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_endpoints_for_people() {
        let mut v4 = [0u8; 16];
        v4[..4].copy_from_slice(&[10, 200, 1, 1]);
        assert_eq!(endpoint(AF_INET, &v4, 43210), "10.200.1.1:43210");
        let v6 = "fd00::1".parse::<Ipv6Addr>().expect("address").octets();
        assert_eq!(endpoint(AF_INET6, &v6, 80), "[fd00::1]:80");
        assert_eq!(endpoint(0, &v6, 80), "?");
    }

    /// The names above against the numbers this kernel prints for its own tracepoint.
    #[test]
    fn state_names_match_the_kernels() {
        let root = crate::tracefs::tracefs_root().expect("tracefs");
        let text = std::fs::read_to_string(root.join("events/sock/inet_sock_set_state/format"))
            .expect("format");
        let mut checked = 0;
        for entry in text.split('{').skip(1) {
            let Some((number, name)) = entry.split_once(',') else {
                continue;
            };
            let (Ok(number), Some(name)) = (
                number.trim().parse::<u32>(),
                name.split('"').nth(1).and_then(|n| n.strip_prefix("TCP_")),
            ) else {
                continue;
            };
            assert_eq!(state_name(number), name);
            checked += 1;
        }
        assert!(
            checked >= 24,
            "both state lists of the print format: {checked}"
        );
        assert_eq!(state_name(99), "state 99");
    }

    #[test]
    fn finds_the_running_kernels_tcp_fields() {
        let fields = SockFields::from_kernel();
        assert!(fields.err != 0, "{fields:?}");
        assert!(
            fields.bytes_acked != 0 && fields.bytes_received != 0,
            "{fields:?}"
        );
        let set_state = Format::load("sock", "inet_sock_set_state").expect("tracepoint");
        let offsets = flow_offsets(&set_state).expect("flow fields");
        assert_eq!(offsets.family, 28);
        assert_eq!(offsets.daddr_v6, 56);
    }
}
