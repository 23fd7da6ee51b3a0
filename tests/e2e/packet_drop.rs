//! The `packet-drop` probe against drops made on purpose in a target pod's network
//! namespace (a closed UDP port, nft drop rules), with the same drops in a second,
//! untraced namespace pair at the same time.

use std::{collections::BTreeMap, net::SocketAddr, os::unix::fs::MetadataExt, time::Duration};

use e2e::{
    cgroup::TestCgroup,
    net_workload::NetWorkload,
    netns::{NetNs, NetPair},
    tracer::TracerRun,
};
use serde_json::{Map, Value, json};
use tracer_protocol::{ProbeSpec, Record, Targets, TraceSpec};

const PROBE: &str = "packet-drop";
/// The target pod's own listener, which keeps a process in its cgroup and namespace.
const POD_PORT: u16 = 8080;
/// Nothing listens here.
const CLOSED_PORT: u16 = 8081;
/// The nft rules drop UDP to these ports: on the way in, and on the way out.
const FILTERED_PORT: u16 = 8082;
const FILTERED_OUT_PORT: u16 = 8083;

fn spec(cgroup: &TestCgroup) -> TraceSpec {
    TraceSpec::new(
        vec![ProbeSpec::PacketDrop {
            filter: Default::default(),
        }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    )
}

/// A pod: a listener inside `cgroup` and `netns`, started before the trace so the
/// tracer learns the pod's network namespace from it.
fn start_pod(cgroup: &TestCgroup, netns: &NetNs) -> NetWorkload {
    let addr = netns.socket_v4(POD_PORT).to_string();
    let mut command = NetWorkload::command(netns, &["listen", &addr]);
    cgroup.enter(&mut command);
    NetWorkload::spawn(command)
}

fn netns_inode(netns: &NetNs) -> u64 {
    let path = format!("/run/netns/{}", netns.name());
    std::fs::metadata(&path)
        .unwrap_or_else(|err| panic!("{path}: {err}"))
        .ino()
}

/// Sends `count` datagrams from `from` (source port `from_port`) to `to`; returns the
/// workload's one line.
fn udp_send(from: &NetNs, to: SocketAddr, from_port: u16, count: u32) -> String {
    let workload = NetWorkload::start(
        from,
        &[
            "udp-send",
            &to.to_string(),
            "--count",
            &count.to_string(),
            "--from-port",
            &from_port.to_string(),
        ],
    );
    let (status, lines) = workload.wait();
    assert!(status.success(), "udp-send exited with {status}: {lines:?}");
    lines.join("\n")
}

fn nft(netns: &NetNs, rule: &str) {
    let output = netns
        .command("nft")
        .arg(rule)
        .output()
        .expect("run nft (nftables)");
    assert!(
        output.status.success(),
        "nft {rule:?} in {}: {}",
        netns.name(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

struct Drop<'a> {
    record: &'a Record,
    fields: &'a Map<String, Value>,
}

impl Drop<'_> {
    fn cgroup(&self) -> u64 {
        match self.record {
            Record::Event { cgroup, .. } => *cgroup,
            _ => unreachable!(),
        }
    }

    fn has_flow(&self, src: &str, dst: &str) -> bool {
        self.fields.get("src") == Some(&json!(src)) && self.fields.get("dst") == Some(&json!(dst))
    }

    fn key(&self) -> BTreeMap<String, String> {
        ["reason", "protocol", "location"]
            .into_iter()
            .map(|name| {
                let value = self.fields[name].as_str().unwrap_or_default().to_owned();
                (name.to_owned(), value)
            })
            .collect()
    }
}

fn drops(records: &[Record]) -> Vec<Drop<'_>> {
    records
        .iter()
        .filter_map(|record| match record {
            Record::Event { probe, fields, .. } if probe == PROBE => Some(Drop { record, fields }),
            _ => None,
        })
        .collect()
}

/// The last cumulative count of each key.
fn counts(records: &[Record]) -> BTreeMap<BTreeMap<String, String>, u64> {
    let mut counts = BTreeMap::new();
    for record in records {
        if let Record::Count {
            probe,
            name,
            key,
            value,
        } = record
            && probe == PROBE
        {
            assert_eq!(name, "drops");
            counts.insert(key.clone(), *value);
        }
    }
    counts
}

/// Every event is in the counts (the counts may hold more: drops whose event was lost),
/// and nothing was lost.
fn assert_counts_cover_events(records: &[Record]) {
    let counts = counts(records);
    let mut seen: BTreeMap<BTreeMap<String, String>, u64> = BTreeMap::new();
    for drop in drops(records) {
        *seen.entry(drop.key()).or_default() += 1;
    }
    for (key, events) in &seen {
        let counted = counts.get(key).copied().unwrap_or(0);
        assert!(
            counted >= *events,
            "{events} events but a count of {counted} for {key:?}: {counts:?}"
        );
    }
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Lost { probe, count: 0 } if probe == PROBE)),
        "the loss counter must be reported, and be 0: {records:?}"
    );
}

/// The kernel function that freed the packet, by name: nf_tables itself on recent
/// kernels (6.18 drops in `nft_do_chain`), the netfilter core on older ones.
fn assert_netfilter_location(drop: &Drop) {
    let location = &drop.fields["location"];
    assert!(
        location == &json!("nft_do_chain") || location == &json!("nf_hook_slow"),
        "a netfilter function, named by the kernel: {location}"
    );
}

fn stop(tracer: TracerRun) -> Vec<Record> {
    // Drops of the last datagrams may still be on their way through softirq.
    std::thread::sleep(Duration::from_millis(200));
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    records
}

#[test]
fn udp_to_a_closed_port_is_the_targets_no_socket_drop_and_other_pods_stay_out() {
    let pair = NetPair::new();
    let other = NetPair::new();
    let cgroup = TestCgroup::create("packet-drop");
    let _pod = start_pod(&cgroup, pair.b());
    let mut tracer = TracerRun::start(&spec(&cgroup));
    tracer.wait_attached();

    let families = [
        (
            pair.a().socket_v4(40101),
            pair.b().socket_v4(CLOSED_PORT),
            other.b().socket_v4(CLOSED_PORT),
            "UdpNoPorts",
        ),
        (
            pair.a().socket_v6(40102),
            pair.b().socket_v6(CLOSED_PORT),
            other.b().socket_v6(CLOSED_PORT),
            "Udp6NoPorts",
        ),
    ];
    for (src, dst, other_dst, no_ports) in &families {
        let before = pair.b().counters();
        let other_before = other.b().counters();
        // The untraced pair's drops happen while the target's do.
        assert_eq!(udp_send(other.a(), *other_dst, src.port(), 3), "sent 3");
        assert_eq!(udp_send(pair.a(), *dst, src.port(), 3), "sent 3");
        pair.b()
            .wait_counter(&before, no_ports, 3, Duration::from_secs(5));
        other
            .b()
            .wait_counter(&other_before, no_ports, 3, Duration::from_secs(5));
        let (src, dst) = (src.to_string(), dst.to_string());
        tracer.wait_for("the target's NO_SOCKET drop", |record| {
            matches!(record, Record::Event { fields, .. }
                if fields.get("src") == Some(&json!(src)) && fields.get("dst") == Some(&json!(dst)))
        });
    }
    let records = stop(tracer);
    let drops = drops(&records);

    for (src, dst, _, _) in &families {
        let (src, dst) = (src.to_string(), dst.to_string());
        let flow: Vec<&Drop> = drops.iter().filter(|d| d.has_flow(&src, &dst)).collect();
        assert_eq!(flow.len(), 3, "one event per datagram {src} -> {dst}");
        for drop in flow {
            assert_eq!(
                drop.fields["reason"],
                json!("NO_SOCKET"),
                "{:?}",
                drop.fields
            );
            assert_eq!(drop.fields["protocol"], json!("UDP"));
            assert_eq!(
                drop.fields["by"],
                json!("netns"),
                "no socket: tied to the pod by its namespace"
            );
            assert_eq!(drop.fields["netns"], json!(netns_inode(pair.b())));
            assert_eq!(drop.cgroup(), cgroup.id());
            let location = drop.fields["location"].as_str().expect("location");
            assert!(
                location.starts_with("__udp") && location.ends_with("_lib_rcv"),
                "UDP's receive path drops it: {location}"
            );
        }
    }
    let others: Vec<_> = drops
        .iter()
        .filter(|d| {
            let text = serde_json::to_string(d.fields).unwrap_or_default();
            text.contains(&other.b().ipv4().to_string())
                || text.contains(&other.b().ipv6().to_string())
        })
        .map(|d| d.fields)
        .collect();
    assert!(
        others.is_empty(),
        "an untraced pod's drops appear: {others:?}"
    );
    assert_counts_cover_events(&records);
    let key = BTreeMap::from([
        ("reason".to_owned(), "NO_SOCKET".to_owned()),
        ("protocol".to_owned(), "UDP".to_owned()),
        ("location".to_owned(), "__udp4_lib_rcv".to_owned()),
    ]);
    assert_eq!(
        counts(&records).get(&key),
        Some(&3),
        "the IPv4 datagrams are counted: {:?}",
        counts(&records)
    );
}

#[test]
fn nft_drop_rules_in_the_targets_namespace_are_netfilter_drops() {
    let pair = NetPair::new();
    let cgroup = TestCgroup::create("packet-drop-nft");
    let _pod = start_pod(&cgroup, pair.b());
    let table = "inet kubectl_ebpf_test";
    nft(pair.b(), &format!("add table {table}"));
    nft(
        pair.b(),
        &format!(
            "add chain {table} input {{ type filter hook input priority 0 ; policy accept ; }}"
        ),
    );
    nft(
        pair.b(),
        &format!(
            "add chain {table} output {{ type filter hook output priority 0 ; policy accept ; }}"
        ),
    );
    nft(
        pair.b(),
        &format!("add rule {table} input udp dport {FILTERED_PORT} drop"),
    );
    nft(
        pair.b(),
        &format!("add rule {table} output udp dport {FILTERED_OUT_PORT} drop"),
    );
    let mut tracer = TracerRun::start(&spec(&cgroup));
    tracer.wait_attached();

    // In: from the untraced side to the pod, dropped in the pod's namespace.
    let inbound = [
        (pair.a().socket_v4(40201), pair.b().socket_v4(FILTERED_PORT)),
        (pair.a().socket_v6(40202), pair.b().socket_v6(FILTERED_PORT)),
    ];
    for (src, dst) in &inbound {
        assert_eq!(udp_send(pair.a(), *dst, src.port(), 2), "sent 2");
    }
    // Out: sent by the pod's own process, dropped before it leaves; the socket is the
    // pod's, and so is the task.
    let out_src = pair.b().socket_v4(40203);
    let out_dst = pair.a().socket_v4(FILTERED_OUT_PORT);
    let mut command = NetWorkload::command(
        pair.b(),
        &[
            "udp-send",
            &out_dst.to_string(),
            "--from-port",
            &out_src.port().to_string(),
        ],
    );
    cgroup.enter(&mut command);
    let sender = NetWorkload::spawn(command);
    let sender_pid = sender.pid();
    let (status, lines) = sender.wait();
    assert!(status.success(), "{lines:?}");
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("failed after 0: "),
        "an output drop fails the send: {lines:?}"
    );
    let (src, dst) = (out_src.to_string(), out_dst.to_string());
    tracer.wait_for("the pod's own dropped datagram", |record| {
        matches!(record, Record::Event { fields, .. }
            if fields.get("src") == Some(&json!(src)) && fields.get("dst") == Some(&json!(dst)))
    });
    let records = stop(tracer);
    let drops = drops(&records);

    for (src, dst) in &inbound {
        let (src, dst) = (src.to_string(), dst.to_string());
        let flow: Vec<&Drop> = drops.iter().filter(|d| d.has_flow(&src, &dst)).collect();
        assert_eq!(
            flow.len(),
            2,
            "one event per datagram {src} -> {dst}: {drops:?}"
        );
        for drop in flow {
            assert_eq!(
                drop.fields["reason"],
                json!("NETFILTER_DROP"),
                "{:?}",
                drop.fields
            );
            assert_eq!(drop.fields["protocol"], json!("UDP"));
            assert_netfilter_location(drop);
            assert_eq!(drop.fields["by"], json!("netns"));
            assert_eq!(drop.cgroup(), cgroup.id());
        }
    }
    let out: Vec<&Drop> = drops
        .iter()
        .filter(|d| d.has_flow(&out_src.to_string(), &out_dst.to_string()))
        .collect();
    assert_eq!(out.len(), 1, "{drops:?}");
    let drop = out[0];
    assert_eq!(drop.fields["reason"], json!("NETFILTER_DROP"));
    assert_netfilter_location(drop);
    assert_eq!(drop.fields["by"], json!("socket"), "the pod's socket");
    assert_eq!(drop.cgroup(), cgroup.id());
    let Record::Event { pid, comm, .. } = drop.record else {
        unreachable!()
    };
    assert_eq!(*pid, sender_pid, "dropped in the sender's own syscall");
    assert_eq!(comm, "net-workload");
    assert_counts_cover_events(&records);
}

impl std::fmt::Debug for Drop<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.fields)
    }
}
