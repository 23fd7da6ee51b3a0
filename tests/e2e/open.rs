//! The `open` probe against known opens inside and outside a target cgroup.

use std::process::Command;

use e2e::{binaries, cgroup::TestCgroup, events, tracer::TracerRun};
use serde_json::json;
use tracer_protocol::{ProbeSpec, Record, Targets, TraceSpec};

fn workload() -> String {
    binaries::path("proc-workload").display().to_string()
}

fn open_spec(cgroup: &TestCgroup) -> TraceSpec {
    TraceSpec::new(
        vec![ProbeSpec::Open {
            filter: Default::default(),
        }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    )
}

/// Runs `proc-workload ARGS` and returns its pid and the lines it printed.
fn run(mut command: Command, args: &[&str]) -> (u32, Vec<String>) {
    let child = command
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start proc-workload");
    let pid = child.id();
    let output = child.wait_with_output().expect("wait proc-workload");
    assert!(output.status.success(), "{args:?}: {output:?}");
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (pid, lines)
}

/// The fd `proc-workload` printed as `fd N`.
fn fd(line: &str) -> i64 {
    line.strip_prefix("fd ")
        .and_then(|fd| fd.parse().ok())
        .unwrap_or_else(|| panic!("expected `fd N`, got {line:?}"))
}

#[test]
fn shows_path_flags_result_and_latency_and_nothing_outside_the_cgroup() {
    let cgroup = TestCgroup::create("open");
    let scratch = std::env::temp_dir().join(format!("kubectl-ebpf-open-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let existing = scratch.join("existing");
    std::fs::write(&existing, "x").expect("write a file to open");
    let created = scratch.join("created");
    let missing = "/nonexistent/kubectl-ebpf-open-missing";
    let outside_missing = "/nonexistent/kubectl-ebpf-open-outside";
    // A path the probe cannot read at entry: in a mapped page nothing has touched yet.
    let mapped_path = scratch.join("mapped-target");
    std::fs::write(&mapped_path, "y").expect("write the mapped target");
    let holder = scratch.join("path-holder");
    let mut text = mapped_path.display().to_string().into_bytes();
    text.push(0);
    std::fs::write(&holder, &text).expect("write the path holder");

    let mut tracer = TracerRun::start(&open_spec(&cgroup));
    tracer.wait_attached();
    let (pid, lines) = run(
        cgroup.command(&workload()),
        &["open", missing, &existing.display().to_string()],
    );
    assert_eq!(lines[0], "errno 2");
    let existing_fd = fd(&lines[1]);
    let (create_pid, lines) = run(
        cgroup.command(&workload()),
        &["create", &created.display().to_string()],
    );
    let created_fd = fd(&lines[0]);
    let (mapped_pid, lines) = run(
        cgroup.command(&workload()),
        &["open-mapped", &holder.display().to_string()],
    );
    let mapped_fd = fd(&lines[0]);
    let (outside_pid, _) = run(Command::new(workload()), &["open", outside_missing]);

    tracer.wait_for("the mapped open", |record| {
        matches!(record, Record::Event { pid, fields, .. }
            if *pid == mapped_pid && fields.get("ret") == Some(&json!(mapped_fd)))
    });
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    let _ = std::fs::remove_dir_all(&scratch);
    let events = events::of_probe(&records, "open");
    let find = |pid: u32, path: &str| {
        events
            .iter()
            .find(|event| event.pid == pid && event.field("path") == &json!(path))
            .unwrap_or_else(|| panic!("no open of {path} by {pid} in {events:#?}"))
    };

    let event = find(pid, missing);
    assert_eq!(event.comm, "proc-workload");
    assert_eq!(event.cgroup, cgroup.id());
    assert_eq!(event.field("ret"), &json!(-2));
    assert_eq!(event.field("error"), &json!("ENOENT"));
    assert_eq!(event.field("flags"), &json!("O_RDONLY|O_CLOEXEC"));
    assert_eq!(event.field("syscall"), &json!("openat"));
    assert!(event.field("latency_ns").as_u64().is_some_and(|ns| ns > 0));

    let event = find(pid, &existing.display().to_string());
    assert_eq!(event.field("ret"), &json!(existing_fd));
    assert!(event.fields.get("error").is_none(), "{event:?}");
    assert_eq!(event.field("flags"), &json!("O_RDONLY|O_CLOEXEC"));

    let event = find(create_pid, &created.display().to_string());
    assert_eq!(event.field("ret"), &json!(created_fd));
    assert_eq!(
        event.field("flags"),
        &json!("O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC")
    );

    // Not readable at entry; read at exit, after the kernel's own copy faulted it in.
    let event = find(mapped_pid, &mapped_path.display().to_string());
    assert_eq!(event.field("ret"), &json!(mapped_fd));
    assert_eq!(event.field("path_read_at_exit"), &json!(true));
    assert_eq!(event.field("flags"), &json!("O_RDONLY"));

    assert!(
        !events
            .iter()
            .any(|event| event.pid == outside_pid
                || event.field("path") == &json!(outside_missing)),
        "an open outside the cgroup was traced: {events:#?}"
    );
    assert_eq!(events::lost(&records, "open"), Some(0));
}

#[test]
fn kernel_side_filters_keep_only_failed_opens_under_the_prefix() {
    let cgroup = TestCgroup::create("open-filter");
    let scratch =
        std::env::temp_dir().join(format!("kubectl-ebpf-open-filter-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let present = scratch.join("present").display().to_string();
    std::fs::write(&present, "x").expect("write a file to open");
    let missing = scratch.join("missing").display().to_string();
    let elsewhere = "/nonexistent/kubectl-ebpf-open-filter";

    let mut spec = open_spec(&cgroup);
    spec.probes = vec![ProbeSpec::Open {
        filter: tracer_protocol::EventFilter {
            failed: true,
            path_prefix: scratch.display().to_string(),
            ..Default::default()
        },
    }];
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    let (pid, lines) = run(
        cgroup.command(&workload()),
        &["open", &present, elsewhere, &missing, &present],
    );
    assert_eq!(lines[1], "errno 2");
    tracer.wait_for(
        "the failed open under the prefix",
        |record| matches!(record, Record::Event { pid: p, .. } if *p == pid),
    );
    let (status, records) = tracer.stop();
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    // The successful opens and the failure outside the prefix never left the kernel;
    // neither did the loader's opens of libraries and caches.
    let paths: Vec<serde_json::Value> = events::of_probe(&records, "open")
        .iter()
        .map(|event| event.field("path").clone())
        .collect();
    assert_eq!(paths, [json!(missing)], "{records:?}");
    assert_eq!(events::lost(&records, "open"), Some(0));

    // A latency floor no open reaches keeps every event in the kernel.
    let mut spec = open_spec(&cgroup);
    spec.probes = vec![ProbeSpec::Open {
        filter: tracer_protocol::EventFilter {
            min_latency_ns: 10_000_000_000,
            ..Default::default()
        },
    }];
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    run(
        cgroup.command(&workload()),
        &["open", elsewhere, "/etc/hostname"],
    );
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    assert!(events::of_probe(&records, "open").is_empty(), "{records:?}");
}

/// Under a flood the tracer cannot keep up with, the last drain takes the events of the
/// trace and stops at its end, instead of following the flood for as long as it lasts.
#[test]
fn the_last_drain_stops_at_the_end_of_the_trace() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use e2e::workload::Workload;

    let cgroup = TestCgroup::create("flood");
    let mut floods: Vec<Workload> = (0..2)
        .map(|_| {
            let args = ["0", "--failing-opens", "100000000"].map(str::to_owned);
            Workload::start("syscall-workload", &args)
        })
        .collect();
    for flood in &floods {
        cgroup.add(flood.pid());
    }
    let mut tracer = TracerRun::start(&open_spec(&cgroup));
    tracer.wait_attached();
    for flood in &mut floods {
        flood.go();
    }
    std::thread::sleep(Duration::from_secs(1));
    let stopped_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64;
    let (status, records) = tracer.stop();
    for flood in &floods {
        // SAFETY: killing our own child, which is still running.
        unsafe { libc::kill(flood.pid() as libc::pid_t, libc::SIGKILL) };
    }
    assert!(status.success(), "tracer exited with {status}");
    let times: Vec<u64> = records
        .iter()
        .filter_map(|record| match record {
            Record::Event { time_ns, .. } => Some(*time_ns),
            _ => None,
        })
        .collect();
    // The flood did outrun the tracer: otherwise there is nothing to follow.
    assert!(
        events::lost(&records, "open").is_some_and(|lost| lost > 0),
        "the flood should outrun the tracer, and the loss should show"
    );
    // Between SIGTERM and the loop seeing it, the tracer writes at most one turn of
    // batches (a drain and a snapshot's drain, 16 each); the last drain then takes what
    // the 1 MiB ring held at the end. Following the flood instead, the last drain wrote
    // 256 full batches more (1,179,648 events in all, 60 s, on the test machine).
    let after = times.iter().filter(|&&time| time > stopped_ns).count();
    let most = 2 * 16 * 4_096 + 16_384;
    assert!(
        after <= most,
        "{after} of {} events happened after SIGTERM (at most {most} expected): the tracer followed the flood",
        times.len()
    );
}
