//! The `block-latency` probe: direct reads and writes on a loop device, made inside the
//! target, are counted by device and operation; identical ones outside are not.

use std::collections::BTreeMap;

use e2e::{
    cgroup::TestCgroup,
    loopdev::LoopDevice,
    pods::EmulatedNode,
    tracer::{TracerRun, last_hists, last_lost},
    workload::Workload,
};
use tracer_protocol::{ProbeSpec, QosClass, Record, Targets, TraceSpec};

const PROBE: &str = "block-latency";
const READS: u64 = 30;
const WRITES: u64 = 20;

/// `block-workload` making `reads` and `writes` direct I/Os on `device` when told to.
pub fn io(device: &LoopDevice, reads: u64, writes: u64) -> Workload {
    Workload::start(
        "block-workload",
        &[
            device.path().display().to_string(),
            reads.to_string(),
            writes.to_string(),
        ],
    )
}

fn trace(spec: &TraceSpec, inside: &mut Workload, outside: &mut Workload) -> Vec<Record> {
    let mut tracer = TracerRun::start(spec);
    tracer.wait_attached();
    inside.run();
    outside.run();
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    assert_eq!(last_lost(&records, PROBE), Some(0), "{records:?}");
    records
}

/// Each histogram's count, by key.
fn counts(records: &[Record]) -> BTreeMap<BTreeMap<String, String>, u64> {
    last_hists(records, PROBE)
        .into_iter()
        .map(|(key, buckets)| (key, buckets.iter().map(|b| b.count).sum()))
        .collect()
}

fn key(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn counts_direct_io_of_a_cgroup_by_device_and_op() {
    let device = LoopDevice::create(16 << 20);
    let cgroup = TestCgroup::create("block");
    let mut inside = io(&device, READS, WRITES);
    let mut outside = io(&device, 50, 40);
    cgroup.add(inside.pid());
    let spec = TraceSpec::new(
        vec![ProbeSpec::BlockLatency { per_pod: false }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    );
    let records = trace(&spec, &mut inside, &mut outside);
    let name = device.name();
    assert_eq!(
        counts(&records),
        BTreeMap::from([
            (key(&[("device", &name), ("op", "read")]), READS),
            (key(&[("device", &name), ("op", "write")]), WRITES),
        ]),
        "the target's requests only"
    );
    // Every latency is a real duration.
    for buckets in last_hists(&records, PROBE).values() {
        assert!(buckets.iter().all(|bucket| bucket.low > 0), "{buckets:?}");
    }
}

#[test]
fn per_pod_names_the_pod_that_made_the_requests() {
    let device = LoopDevice::create(16 << 20);
    let node = EmulatedNode::new();
    let db = node.container("db-0", "postgres", QosClass::Guaranteed, false);
    let mut inside = io(&device, READS, WRITES);
    let mut outside = io(&device, 50, 40);
    db.add(inside.pid());
    let mut spec = TraceSpec::new(
        vec![ProbeSpec::BlockLatency { per_pod: true }],
        Targets {
            containers: vec![db.target.clone()],
            ..Targets::default()
        },
    );
    spec.node_containers = vec![db.target.clone()];
    let records = trace(&spec, &mut inside, &mut outside);
    let name = device.name();
    let pod = [
        ("namespace", "default"),
        ("pod", "db-0"),
        ("container", "postgres"),
        ("device", name.as_str()),
    ];
    let with_op = |op: &'static str| {
        let mut pairs = pod.to_vec();
        pairs.push(("op", op));
        key(&pairs)
    };
    assert_eq!(
        counts(&records),
        BTreeMap::from([(with_op("read"), READS), (with_op("write"), WRITES)])
    );
}
