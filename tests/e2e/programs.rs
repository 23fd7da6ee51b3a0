//! `kubectl-ebpf programs --local`: the inventory of this machine's eBPF programs names a
//! running tracer's programs, where they attach, who holds them and what they ran.

use std::process::Stdio;

use e2e::{cgroup::TestCgroup, plugin_run::PluginRun, tracer::TracerRun};
use serde_json::Value;
use tracer_protocol::{ProbeSpec, Targets, TraceSpec};

const EXECS: u64 = 20;

/// A tracer of `exec` on a test cgroup, holding its programs while the test lists them.
fn exec_tracer(cgroup: &TestCgroup) -> TracerRun {
    let spec = TraceSpec::new(
        vec![ProbeSpec::Exec {
            filter: Default::default(),
        }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    );
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    tracer
}

/// Lists the programs with `args` while `EXECS` programs run in `cgroup`.
fn programs_while_execing(cgroup: &TestCgroup, args: &[&str]) -> String {
    let plugin = PluginRun::start(["programs", "--local", "-d", "2s"].iter().chain(args));
    for _ in 0..EXECS {
        let status = cgroup
            .command("/bin/true")
            .stdout(Stdio::null())
            .status()
            .expect("run /bin/true");
        assert!(status.success());
    }
    let (status, stdout, stderr) = plugin.finish();
    assert!(status.success(), "exited {status}: {stderr}");
    stdout
}

#[test]
fn a_running_tracers_programs_are_listed_with_attach_point_holder_runs_and_memory() {
    let cgroup = TestCgroup::create("programs");
    let tracer = exec_tracer(&cgroup);
    let stdout = programs_while_execing(&cgroup, &["-o", "json"]);
    let document: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(document["schema"], "kubectl-ebpf/programs/v1");
    let programs = document["programs"].as_array().expect("programs");

    let held: Vec<&Value> = programs
        .iter()
        .filter(|program| {
            program["owners"].as_array().is_some_and(|owners| {
                owners
                    .iter()
                    .any(|owner| owner["pid"] == tracer.pid() && owner["comm"] == "tracer-job")
            })
        })
        .collect();
    // execve and execveat at entry and exit, and sched_process_exec.
    assert_eq!(held.len(), 5, "the exec tracer's programs: {held:#?}");
    let exec = held
        .iter()
        .find(|program| {
            program["attached"]
                .as_array()
                .is_some_and(|at| at.iter().any(|at| at == "tracepoint:sched_process_exec"))
        })
        .unwrap_or_else(|| panic!("no program on sched_process_exec: {held:#?}"));
    assert_eq!(exec["program_type"], "tracepoint", "{exec}");
    assert!(exec["node"].is_string(), "{exec}");
    assert_eq!(exec["tag"].as_str().map(str::len), Some(16), "{exec}");
    // The execs ran it; others on the machine may have too.
    let runs = exec["run_count"].as_u64().expect("runs counted");
    assert!(runs >= EXECS, "{runs} runs for {EXECS} execs: {exec}");
    assert!(
        exec["run_time_ns"].as_u64().expect("run time") > 0,
        "{exec}"
    );
    assert!(
        exec["map_bytes"].as_u64().expect("map memory") > 0,
        "{exec}"
    );
    assert!(
        exec["program_bytes"].as_u64().expect("memory") > 0,
        "{exec}"
    );
    // The inventory loads nothing of its own.
    assert!(
        programs.iter().all(|program| program["owners"]
            .as_array()
            .is_none_or(|owners| owners.iter().all(|owner| owner["comm"] != "kubectl-ebpf"))),
        "{stdout}"
    );
    tracer.kill();
}

#[test]
fn the_wide_table_shows_the_holder_and_the_tag() {
    let cgroup = TestCgroup::create("programs-wide");
    let tracer = exec_tracer(&cgroup);
    let stdout = programs_while_execing(&cgroup, &["-o", "wide"]);
    let header = stdout.lines().next().expect("a header");
    for column in [
        "NODE", "ID", "TYPE", "ATTACHED", "HELD BY", "RUNS", "CPU", "TAG",
    ] {
        assert!(header.contains(column), "no {column}: {header}");
    }
    let holder = format!("tracer-job[{}]", tracer.pid());
    let row = stdout
        .lines()
        .find(|line| line.contains("tracepoint:sched_process_exec") && line.contains(&holder))
        .unwrap_or_else(|| panic!("no row of the exec tracer:\n{stdout}"));
    assert!(row.contains(" tracepoint "), "{row}");
    tracer.kill();
}
