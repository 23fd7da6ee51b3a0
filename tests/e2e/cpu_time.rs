//! The `cpu-time` probe: a thread that uses a second of CPU inside the target shows about
//! a second for its process; an identical one outside does not show.

use std::collections::BTreeMap;

use e2e::{
    cgroup::{TestCgroup, cgroup2_mount},
    tracer::{TracerRun, last_counts, last_lost},
    workload::Workload,
};
use tracer_protocol::{ProbeSpec, Targets, TraceSpec};

const PROBE: &str = "cpu-time";

fn spinner() -> Workload {
    // One thread spinning until it has used 1000 ms of CPU.
    Workload::start(
        "sched-workload",
        &["spin".to_owned(), "1".to_owned(), "1000".to_owned()],
    )
}

#[test]
fn a_second_on_cpu_inside_and_nothing_outside() {
    let cgroup = TestCgroup::create("cpu");
    let mut inside = spinner();
    let mut outside = spinner();
    cgroup.add(inside.pid());
    let spec = TraceSpec::new(
        vec![ProbeSpec::CpuTime {}],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    );
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    inside.go();
    outside.go();
    inside.wait_done();
    outside.wait_done();
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");

    let times = last_counts(&records, PROBE, "on_cpu_ns");
    let of = |pid: u32| {
        times
            .iter()
            .filter(|(key, _)| key.get("pid") == Some(&pid.to_string()))
            .collect::<Vec<_>>()
    };
    let inside_rows = of(inside.pid());
    let [(key, ns)] = inside_rows[..] else {
        panic!("one row for pid {}: {times:?}", inside.pid());
    };
    // The spinner's second, its main thread's moments, and nothing of the outside one.
    // Time between context switches runs short of the thread's own CPU clock on this
    // virtual machine: a few percent when quiet (bpftrace summing the same sched_switch
    // intervals agrees with the probe to the microsecond), up to a quarter with the
    // whole suite running beside it. Not yet explained; hence the low bound.
    assert!(
        (500_000_000..=1_250_000_000).contains(ns),
        "pid {} was on a CPU for {ns} ns, not about a second",
        inside.pid()
    );
    let relative = cgroup
        .path()
        .strip_prefix(cgroup2_mount())
        .expect("below the mount");
    assert_eq!(
        key,
        &BTreeMap::from([
            ("cgroup".to_owned(), format!("/{}", relative.display())),
            ("comm".to_owned(), "sched-workload".to_owned()),
            ("pid".to_owned(), inside.pid().to_string()),
        ])
    );
    assert!(
        of(outside.pid()).is_empty(),
        "the process outside the cgroup was counted: {times:?}"
    );
    assert_eq!(times.len(), 1, "only the target process ran: {times:?}");

    let node = |name: &str| {
        last_counts(&records, PROBE, name)
            .get(&BTreeMap::new())
            .copied()
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get() as u64);
    assert_eq!(node("cpus"), Some(cpus));
    assert!(
        node("traced_ns").is_some_and(|ns| ns >= 1_000_000_000),
        "{records:?}"
    );
    assert_eq!(last_lost(&records, PROBE), Some(0));
}
