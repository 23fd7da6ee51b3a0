//! The `exec` probe against known programs run inside and outside a target cgroup.

use std::process::Stdio;

use e2e::{cgroup::TestCgroup, tracer::TracerRun};
use serde_json::{Value, json};
use tracer_protocol::{ProbeSpec, Record, Targets, TraceSpec};

fn exec_spec(cgroup: &TestCgroup) -> TraceSpec {
    TraceSpec::new(
        vec![ProbeSpec::Exec {
            filter: Default::default(),
        }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    )
}

fn exec_events(records: &[Record]) -> Vec<(&Record, &serde_json::Map<String, Value>)> {
    records
        .iter()
        .filter_map(|record| match record {
            Record::Event { probe, fields, .. } if probe == "exec" => Some((record, fields)),
            _ => None,
        })
        .collect()
}

#[test]
fn shows_path_args_result_and_nothing_outside_the_cgroup() {
    let cgroup = TestCgroup::create("exec");
    let mut tracer = TracerRun::start(&exec_spec(&cgroup));
    tracer.wait_attached();

    let status = cgroup
        .command("/bin/echo")
        .args(["kubectl-ebpf-inside", "second arg"])
        .stdout(Stdio::null())
        .status()
        .expect("run echo inside");
    assert!(status.success());
    let missing = cgroup.command("/nonexistent/kubectl-ebpf-missing").status();
    assert!(missing.is_err(), "a missing program cannot run");
    let outside = std::process::Command::new("/bin/echo")
        .arg("kubectl-ebpf-outside")
        .stdout(Stdio::null())
        .status()
        .expect("run echo outside");
    assert!(outside.success());

    tracer.wait_for("the failed exec", |record| {
        matches!(record, Record::Event { fields, .. } if fields.get("error") == Some(&json!("ENOENT")))
    });
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    let events = exec_events(&records);

    let (record, fields) = events
        .iter()
        .find(|(_, fields)| fields["filename"] == json!("/bin/echo"))
        .unwrap_or_else(|| panic!("no exec of /bin/echo in {events:?}"));
    assert_eq!(
        fields["args"],
        json!(["/bin/echo", "kubectl-ebpf-inside", "second arg"])
    );
    assert_eq!(fields["ret"], json!(0));
    assert_eq!(
        fields["ppid"],
        json!(std::process::id()),
        "the test process is the parent"
    );
    assert!(fields.get("error").is_none(), "{fields:?}");
    let Record::Event {
        comm, cgroup: id, ..
    } = record
    else {
        unreachable!()
    };
    assert_eq!(comm, "echo");
    assert_eq!(*id, cgroup.id());

    let (_, failed) = events
        .iter()
        .find(|(_, fields)| fields.get("error") == Some(&json!("ENOENT")))
        .expect("the failed exec");
    assert_eq!(
        failed["filename"],
        json!("/nonexistent/kubectl-ebpf-missing")
    );
    assert_eq!(failed["ret"], json!(-2));

    assert!(
        !events
            .iter()
            .any(|(_, fields)| fields["args"].to_string().contains("kubectl-ebpf-outside")),
        "an exec outside the cgroup was traced: {events:?}"
    );
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Lost { probe, count: 0 } if probe == "exec")),
        "the loss counter must be reported: {records:?}"
    );
}
