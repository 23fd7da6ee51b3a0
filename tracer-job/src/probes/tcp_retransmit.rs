//! `tcp-retransmit`: one event per TCP retransmit of a target's sockets (segments, and
//! SYN-ACKs of its listeners), and cumulative counts per flow and state kept in the
//! kernel, written as `count` records with each snapshot.

use std::collections::{BTreeMap, HashMap};

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuHashMap},
};
use ebpf_common::tcp::{RetransmitEvent, RetransmitKey};
use serde_json::json;
use tracer_protocol::{EventFilter, Record};

use super::{
    Probe, attach_tracepoint,
    events::{self, Decoder, EventStream, Fields},
    kernel_filter, load, maps,
    tcp::{self, Globals},
};
use crate::{failure::Failure, names, targets::ResolvedTargets, tracefs::Format};

const NAME: &str = "tcp-retransmit";
/// The counter's name in `count` records.
const COUNTER: &str = "retransmits";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcp-retransmit"));

pub struct TcpRetransmit {
    events: EventStream,
    counts: PerCpuHashMap<MapData, RetransmitKey, u64>,
    /// Values last written per flow, to skip unchanged ones between snapshots.
    written: HashMap<RetransmitKey, u64>,
    /// Holds the programs and their links; dropping it detaches them.
    ebpf: Ebpf,
}

impl TcpRetransmit {
    pub fn attach(wanted: &EventFilter, targets: &ResolvedTargets) -> Result<Self, Failure> {
        let skb = Format::load("tcp", "tcp_retransmit_skb")?;
        let synack = Format::load("tcp", "tcp_retransmit_synack")?;
        let skb_flow = tcp::flow_offsets(&skb)?;
        let synack_flow = tcp::flow_offsets(&synack)?;
        // Older kernels' tracepoint has no `err`; the probe then reports none.
        let skb_err = skb.offset("err", 4).unwrap_or(0);
        let offsets = [
            ("SKB_SKADDR_OFFSET", skb.offset("skaddr", 8)?),
            ("SKB_STATE_OFFSET", skb.offset("state", 4)?),
            ("SKB_ERR_OFFSET", skb_err),
            ("SYNACK_SKADDR_OFFSET", synack.offset("skaddr", 8)?),
        ];
        let globals = Globals::new(NAME, targets)?;
        let mut loader = EbpfLoader::new();
        globals.apply(&mut loader);
        loader
            .override_global("SKB_FLOW", &skb_flow, true)
            .override_global("SYNACK_FLOW", &synack_flow, true);
        let wanted = kernel_filter(wanted);
        loader.override_global("RETRANSMIT_FILTER", &wanted, true);
        for (name, offset) in &offsets {
            loader.override_global(name, offset, true);
        }
        let mut ebpf = load(loader, OBJECT, NAME, targets)?;
        attach_tracepoint(&mut ebpf, "tcp_retransmit_skb", "tcp", "tcp_retransmit_skb")?;
        attach_tracepoint(
            &mut ebpf,
            "tcp_retransmit_synack",
            "tcp",
            "tcp_retransmit_synack",
        )?;
        Ok(TcpRetransmit {
            events: EventStream::take(&mut ebpf, NAME)?,
            counts: maps::take(&mut ebpf, "COUNTS")?,
            written: HashMap::new(),
            ebpf,
        })
    }
}

impl Probe for TcpRetransmit {
    fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        for entry in self.counts.iter() {
            let (key, per_cpu) =
                entry.map_err(|err| Failure::from_kernel("reading the retransmit counts", &err))?;
            let value = per_cpu.iter().fold(0u64, |sum, v| sum.wrapping_add(*v));
            if !complete && self.written.get(&key) == Some(&value) {
                continue;
            }
            out.push(Record::Count {
                probe: NAME.to_owned(),
                name: COUNTER.to_owned(),
                key: count_key(&key),
                value,
            });
            self.written.insert(key, value);
        }
        self.events.lost_record(complete, out)
    }

    fn events(&mut self) -> Option<(&mut EventStream, Decoder)> {
        Some((&mut self.events, decode))
    }
}

/// A count's labels: the flow as the events write it, and the state.
fn count_key(key: &RetransmitKey) -> BTreeMap<String, String> {
    let flow = &key.flow;
    BTreeMap::from([
        (
            "src".to_owned(),
            tcp::endpoint(flow.family, &flow.saddr, flow.sport),
        ),
        (
            "dst".to_owned(),
            tcp::endpoint(flow.family, &flow.daddr, flow.dport),
        ),
        ("state".to_owned(), tcp::state_name(key.state)),
    ])
}

fn decode(bytes: &[u8]) -> Option<Fields> {
    let event: RetransmitEvent = events::read(bytes)?;
    let mut fields = Fields::new();
    tcp::insert_flow(&mut fields, &event.flow);
    fields.insert("state".into(), json!(tcp::state_name(event.state)));
    if event.err < 0 {
        // The retransmit did not leave this host (no route, for one).
        fields.insert("error".into(), json!(names::errno(-i64::from(event.err))));
    }
    Some(fields)
}
