//! `packet-drop`: packets the kernel dropped (tracepoint skb:kfree_skb), counted by
//! reason, protocol and the kernel function that dropped them, and one event per drop
//! with its flow.
//!
//! Drops mostly happen in softirq, where the current task is whoever was interrupted; so
//! the probe ties a drop to a target by the cgroup of the packet's socket, else by the
//! network namespace of its device, against the targets' namespaces (see `netns`).

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Mutex, OnceLock},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap as KernelHashMap, MapData, PerCpuHashMap},
};
use ebpf_common::{
    flow::{FAMILY_IPV4, FAMILY_IPV6, Flow},
    packet_drop::{BY_NETNS, BY_SOCKET, DropEvent, DropKey, MAX_TARGET_NETNS},
};
use serde_json::json;
use tracer_protocol::{ErrorCode, EventFilter, Record};

use super::{
    Probe, attach_tracepoint,
    events::{self, Decoder, EventStream, Fields},
    filter::FilterGlobals,
    kernel_filter, load, maps, netns, sock, task,
};
use crate::{
    btf::Btf, failure::Failure, kernel_names::KernelNames, targets::ResolvedTargets,
    tracefs::Format,
};

const NAME: &str = "packet-drop";

/// The name of the count records.
const COUNT_NAME: &str = "drops";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/packet-drop"));

/// `enum skb_drop_reason` values to names without the `SKB_DROP_REASON_` prefix; set once
/// from the kernel's BTF when the probe attaches (the decoder is a plain function).
static REASONS: OnceLock<HashMap<u32, String>> = OnceLock::new();

/// Drop locations already named, and how to name more.
static LOCATIONS: Mutex<Option<Locations>> = Mutex::new(None);

struct Locations {
    names: HashMap<u64, String>,
    /// The kernel's own lookup, loaded on the first location; `None` when this kernel
    /// will not run it, and each new location reads /proc/kallsyms (about 0.1 s).
    kernel: Option<KernelNames>,
}

/// Distinct locations looked up; later ones show as addresses. The kernel has a few
/// dozen places that drop.
const MAX_LOCATIONS: usize = 1_024;

/// A symbol further than this below an address is not the function holding it.
const MAX_FUNCTION_BYTES: u64 = 1 << 20;

pub struct PacketDrop {
    events: EventStream,
    counts: PerCpuHashMap<MapData, DropKey, u64>,
    /// Values last written per key, to skip unchanged rows between snapshots.
    written: BTreeMap<BTreeMap<String, String>, u64>,
    /// Holds the programs and their links; dropping it detaches them.
    ebpf: Ebpf,
}

/// Offsets into `sk_buff`, `net_device` and `net`, from the kernel's BTF.
#[derive(Debug, Default)]
struct SkbOffsets {
    sk: u32,
    dev: u32,
    head: u32,
    network_header: u32,
    transport_header: u32,
    dev_net: u32,
    net_inum: u32,
}

impl SkbOffsets {
    fn from_btf(btf: &Btf) -> Self {
        let offset = |owner: &str, path: &[&str]| btf.member(owner, path).map_or(0, |m| m.offset);
        let mut netns = [
            offset("sk_buff", &["dev"]),
            offset("net_device", &["nd_net", "net"]),
            offset("net", &["ns", "inum"]),
        ];
        if netns.contains(&0) {
            netns = [0; 3];
        }
        let [dev, dev_net, net_inum] = netns;
        SkbOffsets {
            sk: offset("sk_buff", &["sk"]),
            dev,
            head: offset("sk_buff", &["head"]),
            network_header: offset("sk_buff", &["network_header"]),
            transport_header: offset("sk_buff", &["transport_header"]),
            dev_net,
            net_inum,
        }
    }

    fn apply<'a>(&'a self, loader: &mut EbpfLoader<'a>) {
        loader
            .override_global("SKB_SK_OFFSET", &self.sk, true)
            .override_global("SKB_DEV_OFFSET", &self.dev, true)
            .override_global("SKB_HEAD_OFFSET", &self.head, true)
            .override_global("SKB_NETWORK_HEADER_OFFSET", &self.network_header, true)
            .override_global("SKB_TRANSPORT_HEADER_OFFSET", &self.transport_header, true)
            .override_global("DEV_NET_OFFSET", &self.dev_net, true)
            .override_global("NET_INUM_OFFSET", &self.net_inum, true);
    }
}

impl PacketDrop {
    pub fn attach(wanted: &EventFilter, targets: &ResolvedTargets) -> Result<Self, Failure> {
        let format = Format::load("skb", "kfree_skb")?;
        // `rx_sk` came in Linux 6.11; 0 tells the probe it is absent.
        let rx_sk = match format.field("rx_sk") {
            Ok(_) => format.offset("rx_sk", 8)?,
            Err(_) => 0,
        };
        let offsets = [
            ("SKBADDR_OFFSET", format.offset("skbaddr", 8)?),
            ("LOCATION_OFFSET", format.offset("location", 8)?),
            ("PROTOCOL_OFFSET", format.offset("protocol", 2)?),
            ("REASON_OFFSET", format.offset("reason", 4)?),
            ("RX_SK_OFFSET", rx_sk),
        ];
        let btf = Btf::from_sys_fs().ok();
        let filtered = !targets.pids.is_empty() || !targets.cgroup_ids.is_empty();
        if btf.is_none() && filtered {
            return Err(Failure::new(
                ErrorCode::KernelUnsupported,
                "packet-drop needs the kernel's BTF (/sys/kernel/btf/vmlinux) to tie drops to pods",
                "trace the whole node instead (no target), or use a kernel built with CONFIG_DEBUG_INFO_BTF",
            ));
        }
        let reasons = btf.as_ref().map(drop_reasons).unwrap_or_default();
        let not_dropped_yet = reason_value(&reasons, "NOT_DROPPED_YET", 0);
        let consumed = reason_value(&reasons, "CONSUMED", 1);
        let _ = REASONS.set(reasons);
        let skb = btf.as_ref().map(SkbOffsets::from_btf).unwrap_or_default();
        let task = task::Offsets::from_kernel();
        let sock = sock::Offsets::from_kernel();
        let filter = FilterGlobals::new(targets);
        let target_netns = netns::of_targets(targets, MAX_TARGET_NETNS as usize);

        let mut loader = EbpfLoader::new();
        filter.apply(&mut loader);
        task.apply(&mut loader);
        sock.apply(&mut loader);
        skb.apply(&mut loader);
        for (name, offset) in &offsets {
            loader.override_global(name, offset, true);
        }
        loader
            .override_global("REASON_NOT_DROPPED_YET", &not_dropped_yet, true)
            .override_global("REASON_CONSUMED", &consumed, true);
        let wanted = kernel_filter(wanted);
        loader.override_global("DROP_FILTER", &wanted, true);
        let mut ebpf = load(loader, OBJECT, NAME, targets)?;
        {
            let mut map: KernelHashMap<&mut MapData, u32, u64> =
                maps::typed(&mut ebpf, "TARGET_NETNS")?;
            for (inode, cgroup) in &target_netns {
                map.insert(inode, cgroup, 0).map_err(|err| {
                    Failure::from_kernel("adding a target network namespace", &err)
                })?;
            }
        }
        attach_tracepoint(&mut ebpf, "packet_drop_kfree_skb", "skb", "kfree_skb")?;
        Ok(PacketDrop {
            events: EventStream::take(&mut ebpf, NAME)?,
            counts: maps::take(&mut ebpf, "DROP_COUNTS")?,
            written: BTreeMap::new(),
            ebpf,
        })
    }

    /// The kernel's counts, summed over CPUs and over kernel keys that name the same
    /// row (two places in one function).
    fn rows(&self) -> Result<BTreeMap<BTreeMap<String, String>, u64>, Failure> {
        let mut rows: BTreeMap<BTreeMap<String, String>, u64> = BTreeMap::new();
        for item in self.counts.iter() {
            let (key, values) =
                item.map_err(|err| Failure::from_kernel("reading the drop counts", &err))?;
            let total = values.iter().fold(0u64, |sum, v| sum.wrapping_add(*v));
            let row = BTreeMap::from([
                ("reason".to_owned(), reason_name(key.reason)),
                (
                    "protocol".to_owned(),
                    protocol_name(key.ethertype, key.family, key.ip_proto),
                ),
                ("location".to_owned(), location_name(key.location)),
            ]);
            let sum = rows.entry(row).or_default();
            *sum = sum.wrapping_add(total);
        }
        Ok(rows)
    }
}

impl Probe for PacketDrop {
    fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        for (key, value) in self.rows()? {
            if !complete && self.written.get(&key) == Some(&value) {
                continue;
            }
            self.written.insert(key.clone(), value);
            out.push(Record::Count {
                probe: NAME.to_owned(),
                name: COUNT_NAME.to_owned(),
                key,
                value,
            });
        }
        self.events.lost_record(complete, out)
    }

    fn events(&mut self) -> Option<(&mut EventStream, Decoder)> {
        Some((&mut self.events, decode))
    }
}

fn decode(bytes: &[u8]) -> Option<Fields> {
    let event: DropEvent = events::read(bytes)?;
    let mut fields = Fields::new();
    fields.insert("reason".into(), json!(reason_name(event.reason)));
    fields.insert(
        "protocol".into(),
        json!(protocol_name(
            event.ethertype,
            event.flow.family,
            event.flow.ip_proto
        )),
    );
    if let Some((src, dst)) = addresses(&event.flow) {
        fields.insert("src".into(), json!(src));
        fields.insert("dst".into(), json!(dst));
    }
    fields.insert("location".into(), json!(location_name(event.location)));
    if event.netns != 0 {
        fields.insert("netns".into(), json!(event.netns));
    }
    let by = match event.by {
        BY_SOCKET => Some("socket"),
        BY_NETNS => Some("netns"),
        _ => None,
    };
    if let Some(by) = by {
        fields.insert("by".into(), json!(by));
    }
    Some(fields)
}

/// Source and destination as `addr:port` (`[v6]:port`), or bare addresses when the
/// protocol has no ports; `None` when the IP header was not read.
fn addresses(flow: &Flow) -> Option<(String, String)> {
    let address = |bytes: &[u8; 16]| -> Option<IpAddr> {
        match flow.family {
            FAMILY_IPV4 => Some(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).into()),
            FAMILY_IPV6 => Some(Ipv6Addr::from(*bytes).into()),
            _ => None,
        }
    };
    let src = address(&flow.saddr)?;
    let dst = address(&flow.daddr)?;
    if flow.has_ports == 0 {
        return Some((src.to_string(), dst.to_string()));
    }
    Some((
        SocketAddr::new(src, flow.sport).to_string(),
        SocketAddr::new(dst, flow.dport).to_string(),
    ))
}

/// The kernel's drop reasons by value, named without their `SKB_DROP_REASON_` prefix
/// (`SKB_CONSUMED` and `SKB_NOT_DROPPED_YET` without `SKB_`).
fn drop_reasons(btf: &Btf) -> HashMap<u32, String> {
    btf.enum_values("skb_drop_reason")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, value)| {
            let value = u32::try_from(value).ok()?;
            let short = name
                .strip_prefix("SKB_DROP_REASON_")
                .or_else(|| name.strip_prefix("SKB_"))
                .unwrap_or(&name);
            Some((value, short.to_owned()))
        })
        .collect()
}

fn reason_value(reasons: &HashMap<u32, String>, name: &str, default: u32) -> u32 {
    reasons
        .iter()
        .find(|(_, known)| *known == name)
        .map_or(default, |(value, _)| *value)
}

fn reason_name(reason: u32) -> String {
    REASONS
        .get()
        .and_then(|reasons| reasons.get(&reason))
        .cloned()
        .unwrap_or_else(|| {
            // Subsystems (mac80211, openvswitch, ...) keep their own reasons in the high
            // 16 bits, outside this enum.
            let subsystem = reason >> 16;
            if subsystem == 0 {
                format!("reason {reason}")
            } else {
                format!("subsystem {subsystem} reason {}", reason & 0xffff)
            }
        })
}

/// The transport protocol when the IP header was read, else the link-layer one.
fn protocol_name(ethertype: u16, family: u8, ip_proto: u8) -> String {
    if family == FAMILY_IPV4 || family == FAMILY_IPV6 {
        return match ip_proto {
            1 => "ICMP".to_owned(),
            2 => "IGMP".to_owned(),
            6 => "TCP".to_owned(),
            17 => "UDP".to_owned(),
            47 => "GRE".to_owned(),
            50 => "ESP".to_owned(),
            58 => "ICMPv6".to_owned(),
            132 => "SCTP".to_owned(),
            other => format!("IP proto {other}"),
        };
    }
    match ethertype {
        0x0800 => "IPv4".to_owned(),
        0x86dd => "IPv6".to_owned(),
        0x0806 => "ARP".to_owned(),
        0x8100 => "VLAN".to_owned(),
        0x88cc => "LLDP".to_owned(),
        0 => "none".to_owned(),
        other => format!("0x{other:04x}"),
    }
}

/// The kernel function at `address` with its module in brackets, looked up once per
/// address: by the kernel, or in /proc/kallsyms when it cannot.
fn location_name(address: u64) -> String {
    let unknown = || format!("0x{address:x}");
    let Ok(mut locations) = LOCATIONS.lock() else {
        return unknown();
    };
    let locations = locations.get_or_insert_with(|| Locations {
        names: HashMap::new(),
        kernel: KernelNames::load(),
    });
    if let Some(name) = locations.names.get(&address) {
        return name.clone();
    }
    if locations.names.len() >= MAX_LOCATIONS {
        return unknown();
    }
    let by_kernel = locations
        .kernel
        .as_mut()
        .and_then(|kernel| kernel.name(&[address]));
    let name = match by_kernel {
        Some(mut names) => names.pop().flatten(),
        None => {
            // Not loaded, or failed now: kallsyms from here on.
            locations.kernel = None;
            std::fs::read_to_string("/proc/kallsyms")
                .ok()
                .and_then(|text| function_at(&text, address))
        }
    }
    .unwrap_or_else(unknown);
    locations.names.insert(address, name.clone());
    name
}

/// The text symbol holding `address` in a /proc/kallsyms listing (`ADDR TYPE NAME
/// [MODULE]`), with its module in brackets; `None` when addresses are hidden (all zero
/// without CAP_SYSLOG) or none is close below.
fn function_at(kallsyms: &str, address: u64) -> Option<String> {
    let mut best: Option<(u64, &str, Option<&str>)> = None;
    for line in kallsyms.lines() {
        let mut parts = line.split_whitespace();
        let (Some(start), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if !matches!(kind, "t" | "T") {
            continue;
        }
        let Ok(start) = u64::from_str_radix(start, 16) else {
            continue;
        };
        if start == 0 || start > address || best.is_some_and(|(best, _, _)| best >= start) {
            continue;
        }
        best = Some((start, name, parts.next()));
    }
    let (start, name, module) = best?;
    if address - start > MAX_FUNCTION_BYTES {
        return None;
    }
    Some(match module {
        Some(module) => format!("{name} {module}"),
        None => name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff81a00000 T nf_hook_slow
ffffffff81a00200 t nf_hook_slow_list
ffffffff81b00000 D some_data
ffffffffc0a01000 t nft_do_chain\t[nf_tables]
";

    #[test]
    fn finds_the_function_below_an_address() {
        assert_eq!(
            function_at(KALLSYMS, 0xffffffff81a0009f).as_deref(),
            Some("nf_hook_slow")
        );
        assert_eq!(
            function_at(KALLSYMS, 0xffffffff81a00200).as_deref(),
            Some("nf_hook_slow_list")
        );
        assert_eq!(
            function_at(KALLSYMS, 0xffffffffc0a01010).as_deref(),
            Some("nft_do_chain [nf_tables]")
        );
        assert_eq!(function_at(KALLSYMS, 0x1000), None);
        let hidden = "0000000000000000 T _stext\n0000000000000000 T nf_hook_slow\n";
        assert_eq!(function_at(hidden, 0xffffffff81a0009f), None);
    }

    #[test]
    fn names_protocols_by_transport_then_link_layer() {
        assert_eq!(protocol_name(0x0800, FAMILY_IPV4, 17), "UDP");
        assert_eq!(protocol_name(0x86dd, FAMILY_IPV6, 6), "TCP");
        assert_eq!(protocol_name(0x86dd, FAMILY_IPV6, 58), "ICMPv6");
        assert_eq!(protocol_name(0x0806, 0, 0), "ARP");
        assert_eq!(protocol_name(0x88b5, 0, 0), "0x88b5");
    }

    #[test]
    fn reads_the_running_kernels_drop_reasons() {
        let btf = Btf::from_sys_fs().expect("this kernel has BTF");
        let reasons = drop_reasons(&btf);
        assert_eq!(reason_value(&reasons, "NO_SOCKET", 0), 3, "{reasons:?}");
        assert_eq!(reason_value(&reasons, "CONSUMED", 0), 1);
        assert!(reasons.values().any(|name| name == "NETFILTER_DROP"));
        let skb = SkbOffsets::from_btf(&btf);
        assert!(
            skb.dev != 0 && skb.dev_net != 0 && skb.net_inum != 0,
            "{skb:?}"
        );
        assert!(skb.head != 0 && skb.network_header != 0 && skb.transport_header != 0);
    }

    #[test]
    fn flows_show_ports_only_when_known() {
        let mut flow = Flow {
            sport: 40000,
            dport: 8081,
            ip_proto: 17,
            family: FAMILY_IPV4,
            has_ports: 1,
            ..Flow::default()
        };
        flow.saddr[..4].copy_from_slice(&[10, 200, 1, 1]);
        flow.daddr[..4].copy_from_slice(&[10, 200, 1, 2]);
        assert_eq!(
            addresses(&flow),
            Some(("10.200.1.1:40000".to_owned(), "10.200.1.2:8081".to_owned()))
        );
        flow.has_ports = 0;
        assert_eq!(
            addresses(&flow),
            Some(("10.200.1.1".to_owned(), "10.200.1.2".to_owned()))
        );
        flow.family = FAMILY_IPV6;
        flow.saddr = Ipv6Addr::new(0xfd00, 0x200, 1, 0, 0, 0, 0, 1).octets();
        flow.daddr = Ipv6Addr::new(0xfd00, 0x200, 1, 0, 0, 0, 0, 2).octets();
        flow.has_ports = 1;
        assert_eq!(
            addresses(&flow),
            Some((
                "[fd00:200:1::1]:40000".to_owned(),
                "[fd00:200:1::2]:8081".to_owned()
            ))
        );
        flow.family = 0;
        assert_eq!(addresses(&flow), None);
    }
}
