//! The command line's answers to bad input: one line, a documented exit code.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-ebpf"))
        .args(args)
        .output()
        .expect("run kubectl-ebpf")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn unknown_probe_lists_the_known_ones() {
    let output = run(&["trace", "no-such-probe", "--local"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("syscall-latency"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn cluster_mode_says_what_to_do_instead() {
    let output = run(&["trace", "syscall-latency", "deploy/checkout"]);
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("--local"), "{text}");
}

#[test]
fn cluster_targets_are_refused_in_local_mode() {
    let output = run(&["trace", "syscall-latency", "--local", "pod/api"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--pid or --cgroup"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_missing_tracer_is_named() {
    let output = run(&[
        "trace",
        "syscall-latency",
        "--local",
        "--tracer",
        "/nonexistent/tracer-job",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("/nonexistent/tracer-job"));
}

#[test]
fn lists_the_probes() {
    let output = run(&["probes"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("syscall-latency"));
}

#[test]
fn describes_one_probe_with_its_local_availability() {
    let output = run(&["probes", "exec", "-o", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let entries: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("probes -o json is JSON");
    let exec = &entries[0];
    assert_eq!(exec["name"], "exec");
    assert_eq!(exec["kind"], "events");
    assert!(
        exec["hooks"]
            .as_array()
            .is_some_and(|hooks| hooks.iter().any(|hook| hook == "syscalls:sys_enter_execve"))
    );
    // This machine has tracefs and runs the tests as root, so the answer is known.
    assert_eq!(exec["local"]["state"], "available", "{exec}");
}

#[test]
fn no_headers_leaves_the_rows_only() {
    let with = String::from_utf8_lossy(&run(&["probes"]).stdout).into_owned();
    let without = String::from_utf8_lossy(&run(&["probes", "--no-headers"]).stdout).into_owned();
    assert!(
        with.lines().next().unwrap_or_default().contains("PROBE"),
        "{with}"
    );
    let first = without.lines().next().unwrap_or_default();
    assert!(
        first.trim_start().starts_with("syscall-latency"),
        "{without}"
    );
    assert!(!without.contains("WHAT IT SHOWS"), "{without}");
    assert_eq!(
        without.lines().count() + 1,
        with.lines().count(),
        "only the header line goes: {with}\n{without}"
    );
}

#[test]
fn scripts_lists_the_shipped_ones_and_shows_one() {
    let listed = run(&["scripts"]);
    assert!(listed.status.success());
    let text = String::from_utf8_lossy(&listed.stdout);
    for name in ["failed-opens", "exec-audit", "crash-loop"] {
        assert!(text.contains(name), "{text}");
    }
    let one = run(&["scripts", "failed-opens"]);
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(
        text.contains("Arguments:") && text.contains("--arg prefix="),
        "{text}"
    );
    assert!(text.contains("kubectl ebpf run failed-opens"), "{text}");
    let unknown = run(&["scripts", "faild-opens"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("did you mean `failed-opens`?"),
        "{}",
        stderr(&unknown)
    );
}
