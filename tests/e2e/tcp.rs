//! What the `tcp-*` probes' tests share: a trace of one cgroup, and `net-workload` run
//! inside that cgroup and one side of a `NetPair`.

use std::net::SocketAddr;

use e2e::{
    cgroup::TestCgroup,
    events::{self, Event},
    net_workload::NetWorkload,
    netns::NetNs,
    tracer::TracerRun,
};
use tracer_protocol::{ProbeSpec, Record, Targets, TraceSpec};

pub const PORT: u16 = 8080;
/// Nothing listens here.
pub const CLOSED_PORT: u16 = 8081;

/// A trace of `probe` restricted to `cgroup`, started and attached.
pub fn trace(probe: ProbeSpec, cgroup: &TestCgroup) -> TracerRun {
    let spec = TraceSpec::new(
        vec![probe],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    );
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    tracer
}

/// `net-workload ARGS` started inside `netns` and `cgroup`.
pub fn start_in(cgroup: &TestCgroup, netns: &NetNs, args: &[&str]) -> NetWorkload {
    let mut command = NetWorkload::command(netns, args);
    cgroup.enter(&mut command);
    NetWorkload::spawn(command)
}

/// The lines of a workload that exited successfully.
pub fn lines_of(workload: NetWorkload) -> Vec<String> {
    let (status, lines) = workload.wait();
    assert!(
        status.success(),
        "net-workload exited with {status}: {lines:?}"
    );
    lines
}

/// Both of a side's addresses with `port`, as `net-workload` takes them.
pub fn both_families(side: &NetNs, port: u16) -> [SocketAddr; 2] {
    [side.socket_v4(port), side.socket_v6(port)]
}

/// The peer address in a listener's next `accepted PEER` line (skipping the `closed`
/// lines of earlier connections).
pub fn accepted_peer(listener: &mut NetWorkload) -> String {
    loop {
        let line = listener.next_line();
        if let Some(peer) = line.strip_prefix("accepted ") {
            return peer.to_owned();
        }
    }
}

/// Waits until `probe` has sent at least `count` events that `wanted` accepts.
pub fn wait_events(
    tracer: &mut TracerRun,
    probe: &str,
    count: usize,
    wanted: impl Fn(&Event) -> bool,
) {
    let matching = |records: &[Record]| {
        events::of_probe(records, probe)
            .iter()
            .filter(|event| wanted(event))
            .count()
    };
    while matching(&tracer.seen) < count {
        tracer.wait_for(
            &format!("{count} {probe} events"),
            |record| matches!(record, Record::Event { probe: name, .. } if name == probe),
        );
    }
}

/// Stops the tracer; checks it exited cleanly and reported no loss.
pub fn stop(tracer: TracerRun, probe: &str) -> Vec<Record> {
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    assert_eq!(
        events::lost(&records, probe),
        Some(0),
        "the loss counter must be reported, and zero: {records:?}"
    );
    records
}
