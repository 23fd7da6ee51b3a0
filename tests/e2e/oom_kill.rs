//! The `oom-kill` probe against a workload that uses memory until the kernel kills it,
//! inside a target pod whose memory is limited, and another one in a neighbour pod.
//!
//! The limit goes where this machine's kernel keeps the memory controller: the cgroup's
//! own `memory.max` when cgroup v2 has it, or else (hybrid hosts, where cgroup v1 holds
//! it) a cgroup v1 memory cgroup the workload joins as well, as kubelet does there.

use std::{
    fs,
    io::{BufRead, BufReader, Write},
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::Duration,
};

use e2e::{
    binaries,
    cgroup::{TestCgroup, cgroup2_mount},
    events,
    pods::EmulatedNode,
    tracer::TracerRun,
};
use serde_json::json;
use tracer_protocol::{ProbeSpec, QosClass, Record, Targets, TraceSpec};

const LIMIT_BYTES: u64 = 32 << 20;

/// A memory limit on one emulated container, removed when dropped.
enum MemoryLimit {
    /// `memory.max` of the container's own cgroup.
    Unified,
    /// A cgroup v1 memory cgroup the container's processes also join.
    Legacy(PathBuf),
}

impl MemoryLimit {
    fn set(cgroup: &TestCgroup, bytes: u64) -> MemoryLimit {
        if enable_unified_memory(cgroup.path()) {
            fs::write(cgroup.path().join("memory.max"), bytes.to_string()).expect("set memory.max");
            fs::write(cgroup.path().join("memory.swap.max"), "0").ok();
            return MemoryLimit::Unified;
        }
        let root = legacy_memory_mount().unwrap_or_else(|| {
            panic!(
                "no memory controller to limit the workload: cgroup v2 at {} does not offer \
                 it and no cgroup v1 memory hierarchy is mounted",
                cgroup2_mount().display()
            )
        });
        let name = cgroup
            .path()
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = root.join(format!("kubectl-ebpf-test-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("create {}: {err}", dir.display()));
        fs::write(dir.join("memory.limit_in_bytes"), bytes.to_string())
            .expect("set memory.limit_in_bytes");
        MemoryLimit::Legacy(dir)
    }

    /// Puts a process under the limit (the unified limit applies already).
    fn add(&self, pid: u32) {
        if let MemoryLimit::Legacy(dir) = self {
            fs::write(dir.join("cgroup.procs"), pid.to_string())
                .unwrap_or_else(|err| panic!("move {pid} into {}: {err}", dir.display()));
        }
    }
}

impl Drop for MemoryLimit {
    fn drop(&mut self) {
        if let MemoryLimit::Legacy(dir) = self {
            // A killed process leaves its cgroup once it is reaped, a moment later.
            for _ in 0..50 {
                if fs::remove_dir(&*dir).is_ok() || !dir.exists() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Turns on the memory controller down to `cgroup`, if cgroup v2 has it.
fn enable_unified_memory(cgroup: &Path) -> bool {
    let mount = cgroup2_mount();
    let offered = fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default();
    if !offered.split_whitespace().any(|name| name == "memory") {
        return false;
    }
    let Ok(relative) = cgroup.strip_prefix(&mount) else {
        return false;
    };
    let mut dir = mount.clone();
    for part in relative.components() {
        if fs::write(dir.join("cgroup.subtree_control"), "+memory").is_err() {
            return false;
        }
        dir.push(part);
    }
    dir.join("memory.max").exists()
}

/// Where a cgroup v1 memory hierarchy is mounted, if one is.
fn legacy_memory_mount() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, path, "cgroup", options, ..] if options.split(',').any(|o| o == "memory") => {
                Some(PathBuf::from(path))
            }
            _ => None,
        }
    })
}

/// A `proc-workload hog` in `cgroup` under `limit`, started and told to go.
fn hog(cgroup: &TestCgroup, limit: &MemoryLimit) -> Child {
    let mut child = cgroup
        .command(&binaries::path("proc-workload").display().to_string())
        .arg("hog")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the hog");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut ready)
        .expect("read the hog");
    assert_eq!(ready.trim(), "ready");
    limit.add(child.id());
    writeln!(child.stdin.as_mut().expect("piped"), "go").expect("tell the hog to go");
    child
}

fn killed(mut child: Child) {
    let status = child.wait().expect("wait the hog");
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the hog should be OOM-killed: {status}"
    );
}

#[test]
fn names_the_victim_its_pod_and_its_memory_and_not_a_neighbours() {
    let node = EmulatedNode::new();
    let target = node.container("api-6f7c", "app", QosClass::Burstable, false);
    let neighbour = node.container("batch-2b9d", "worker", QosClass::BestEffort, false);
    let target_limit = MemoryLimit::set(target.cgroup(), LIMIT_BYTES);
    let neighbour_limit = MemoryLimit::set(neighbour.cgroup(), LIMIT_BYTES);
    let mut spec = TraceSpec::new(
        vec![ProbeSpec::OomKill {}],
        Targets {
            containers: vec![target.target.clone()],
            ..Targets::default()
        },
    );
    spec.node = Some("node-1".to_owned());
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();

    let outside = hog(neighbour.cgroup(), &neighbour_limit);
    let outside_pid = outside.id();
    killed(outside);
    let inside = hog(target.cgroup(), &target_limit);
    let inside_pid = inside.id();
    killed(inside);

    tracer.wait_for("the OOM kill in the target pod", |record| {
        matches!(record, Record::Event { probe, pid, .. } if probe == "oom-kill" && *pid == inside_pid)
    });
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    let events = events::of_probe(&records, "oom-kill");
    assert_eq!(events.len(), 1, "one OOM kill, the target's: {events:#?}");
    let event = &events[0];
    assert_eq!(event.pid, inside_pid);
    assert_eq!(event.comm, "proc-workload");
    assert_eq!(event.cgroup, target.cgroup().id());
    assert_eq!(event.namespace.as_deref(), Some("default"));
    assert_eq!(event.pod.as_deref(), Some("api-6f7c"));
    assert_eq!(event.container.as_deref(), Some("app"));
    // The hog's own allocation failed, so it is the trigger too.
    assert_eq!(event.field("trigger_pid"), &json!(inside_pid));
    assert_eq!(event.field("trigger_comm"), &json!("proc-workload"));
    assert!(
        event.fields.get("cgroup_of").is_none(),
        "the victim's own cgroup was read: {event:?}"
    );
    let anon = event.field("anon_rss_kb").as_u64().expect("anon_rss_kb");
    let total = event.field("total_vm_kb").as_u64().expect("total_vm_kb");
    assert!(
        (LIMIT_BYTES / 2 / 1024..=LIMIT_BYTES * 11 / 10 / 1024).contains(&anon),
        "the hog used about its {LIMIT_BYTES}-byte limit in anonymous memory: {anon} KiB"
    );
    assert!(total >= anon, "{event:?}");
    // SAFETY: getuid cannot fail.
    assert_eq!(event.field("uid"), &json!(unsafe { libc::getuid() }));
    let adj: i64 = fs::read_to_string("/proc/self/oom_score_adj")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .expect("read oom_score_adj");
    assert_eq!(event.field("oom_score_adj"), &json!(adj));
    assert!(!events.iter().any(|event| event.pid == outside_pid));
    assert_eq!(events::lost(&records, "oom-kill"), Some(0));
}
