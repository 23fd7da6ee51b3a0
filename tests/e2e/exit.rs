//! The `exit` probe against processes that end in known ways inside and outside a
//! target cgroup.

use std::{os::unix::process::ExitStatusExt, process::Command, time::Duration};

use e2e::{binaries, cgroup::TestCgroup, events, tracer::TracerRun, workload::ready_sleeper};
use serde_json::json;
use tracer_protocol::{ProbeSpec, Record, Targets, TraceSpec};

fn workload() -> String {
    binaries::path("proc-workload").display().to_string()
}

fn exit_spec(cgroup: &TestCgroup) -> TraceSpec {
    TraceSpec::new(
        vec![ProbeSpec::Exit {
            filter: Default::default(),
        }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    )
}

/// Runs `proc-workload ARGS` to its end and returns its pid.
fn run(mut command: Command, args: &[&str], expect_code: Option<i32>) -> u32 {
    let mut child = command.args(args).spawn().expect("start proc-workload");
    let pid = child.id();
    let status = child.wait().expect("wait proc-workload");
    assert_eq!(status.code(), expect_code, "{args:?} ended with {status}");
    pid
}

#[test]
fn shows_exit_codes_signals_and_lifetimes_of_processes_only_inside_the_cgroup() {
    let cgroup = TestCgroup::create("exit");
    let mut tracer = TracerRun::start(&exit_spec(&cgroup));
    tracer.wait_attached();

    let slow = run(cgroup.command(&workload()), &["exit", "3", "300"], Some(3));
    let threaded = run(
        cgroup.command(&workload()),
        &["exit-threads", "5", "4"],
        Some(5),
    );
    let raised = run(cgroup.command(&workload()), &["raise", "15"], None);
    let mut sleeper = ready_sleeper(cgroup.command(&workload()));
    sleeper.kill().expect("SIGKILL the sleeper");
    let status = sleeper.wait().expect("wait the sleeper");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let killed = sleeper.id();
    let outside = run(Command::new(workload()), &["exit", "9"], Some(9));

    tracer.wait_for(
        "the killed sleeper's exit",
        |record| matches!(record, Record::Event { pid, .. } if *pid == killed),
    );
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    let events = events::of_probe(&records, "exit");
    let only = |pid: u32| {
        let found: Vec<_> = events.iter().filter(|event| event.pid == pid).collect();
        assert_eq!(found.len(), 1, "one exit for process {pid}: {events:#?}");
        found[0].clone()
    };

    let event = only(slow);
    assert_eq!(event.comm, "proc-workload");
    assert_eq!(event.cgroup, cgroup.id());
    assert_eq!(event.field("code"), &json!(3));
    assert_eq!(event.field("ppid"), &json!(std::process::id()));
    assert!(event.fields.get("signal").is_none(), "{event:?}");
    let lifetime = event.field("lifetime_ns").as_u64().expect("lifetime_ns");
    assert!(
        (Duration::from_millis(300).as_nanos() as u64..Duration::from_secs(30).as_nanos() as u64)
            .contains(&lifetime),
        "it lived 300 ms and more: {lifetime} ns"
    );

    // Four threads, one event; named after the main thread even if another ended last.
    let event = only(threaded);
    assert_eq!(event.comm, "proc-workload");
    assert_eq!(event.field("code"), &json!(5));

    let event = only(raised);
    assert_eq!(event.field("signal"), &json!("SIGTERM"));
    assert_eq!(event.field("core_dumped"), &json!(false));
    assert!(event.fields.get("code").is_none(), "{event:?}");

    let event = only(killed);
    assert_eq!(event.field("signal"), &json!("SIGKILL"));
    assert!(event.field("lifetime_ns").as_u64().is_some_and(|ns| ns > 0));

    assert!(
        !events.iter().any(|event| event.pid == outside),
        "an exit outside the cgroup was traced: {events:#?}"
    );
    // Only whole processes: every event is a distinct process.
    let mut pids: Vec<u32> = events.iter().map(|event| event.pid).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), events.len(), "{events:#?}");
    assert_eq!(events::lost(&records, "exit"), Some(0));
}
