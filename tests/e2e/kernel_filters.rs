//! Kernel-side parameters of the event probes that gained them after open and
//! tcp-connect: exec (`failed`, `path_prefix`), exit (`failed`, `signal`), signal
//! (`signal`) and tcp-life (`port`, either end). The tracer writes what the kernel sent,
//! with no filter of its own, so what is missing was dropped in the kernel.

use std::{
    os::unix::process::ExitStatusExt,
    process::{Child, Command, Stdio},
};

use e2e::{
    binaries, cgroup::TestCgroup, events, net_workload::NetWorkload, netns::NetPair,
    tracer::TracerRun, workload::ready_sleeper,
};
use serde_json::json;
use tracer_protocol::{EventFilter, ProbeSpec, Record};

use crate::tcp::{PORT, accepted_peer, lines_of, start_in, stop, trace};

fn workload() -> String {
    binaries::path("proc-workload").display().to_string()
}

fn signal(child: &mut Child, signal: i32) {
    // SAFETY: signalling a child of this test.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
    let status = child.wait().expect("wait the sleeper");
    assert_eq!(status.signal(), Some(signal), "{status}");
}

fn exited(mut command: Command, args: &[&str], code: i32) {
    let status = command.args(args).status().expect("run proc-workload");
    assert_eq!(status.code(), Some(code), "{args:?}");
}

fn stopped(tracer: TracerRun, probe: &str) -> Vec<events::Event> {
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    events::of_probe(&records, probe)
}

#[test]
fn exit_keeps_only_failures_or_only_the_asked_signal() {
    let cgroup = TestCgroup::create("exit-filter");
    let mut failed = trace(
        ProbeSpec::Exit {
            filter: EventFilter {
                failed: true,
                ..EventFilter::default()
            },
        },
        &cgroup,
    );
    let mut killed = trace(
        ProbeSpec::Exit {
            filter: EventFilter {
                signal: libc::SIGKILL as u8,
                ..EventFilter::default()
            },
        },
        &cgroup,
    );

    exited(cgroup.command(&workload()), &["exit", "0"], 0);
    exited(cgroup.command(&workload()), &["exit", "3"], 3);
    let mut terminated = ready_sleeper(cgroup.command(&workload()));
    signal(&mut terminated, libc::SIGTERM);
    let mut sigkilled = ready_sleeper(cgroup.command(&workload()));
    let sigkilled_pid = sigkilled.id();
    signal(&mut sigkilled, libc::SIGKILL);

    let last =
        |record: &Record| matches!(record, Record::Event { pid, .. } if *pid == sigkilled_pid);
    failed.wait_for("the SIGKILLed sleeper's exit", last);
    killed.wait_for("the SIGKILLed sleeper's exit", last);

    let failed = stopped(failed, "exit");
    let endings: Vec<_> = failed
        .iter()
        .map(|event| {
            event
                .fields
                .get("code")
                .cloned()
                .unwrap_or_else(|| event.field("signal").clone())
        })
        .collect();
    assert_eq!(
        endings,
        [json!(3), json!("SIGTERM"), json!("SIGKILL")],
        "exit 0 is no failure: {failed:?}"
    );

    let killed = stopped(killed, "exit");
    assert_eq!(killed.len(), 1, "only the SIGKILL: {killed:?}");
    assert_eq!(killed[0].pid, sigkilled_pid, "{killed:?}");
    assert_eq!(killed[0].field("signal"), &json!("SIGKILL"), "{killed:?}");
}

#[test]
fn exec_keeps_only_failures_or_only_paths_under_the_prefix() {
    let cgroup = TestCgroup::create("exec-filter");
    let mut failed = trace(
        ProbeSpec::Exec {
            filter: EventFilter {
                failed: true,
                ..EventFilter::default()
            },
        },
        &cgroup,
    );
    let mut prefixed = trace(
        ProbeSpec::Exec {
            filter: EventFilter {
                path_prefix: "/bin/ec".to_owned(),
                ..EventFilter::default()
            },
        },
        &cgroup,
    );

    let run = |program: &str| {
        let status = cgroup
            .command(program)
            .arg("kubectl-ebpf-filter")
            .stdout(Stdio::null())
            .status()
            .expect("run inside");
        assert!(status.success(), "{program}");
    };
    run("/bin/true");
    run("/bin/echo");
    assert!(
        cgroup
            .command("/bin/ec-kubectl-ebpf-missing")
            .status()
            .is_err()
    );
    assert!(
        cgroup
            .command("/nonexistent/kubectl-ebpf-missing")
            .status()
            .is_err()
    );
    let is_missing = |record: &Record| {
        matches!(record, Record::Event { fields, .. }
            if fields.get("filename") == Some(&json!("/nonexistent/kubectl-ebpf-missing")))
    };
    failed.wait_for("the missing program", is_missing);
    prefixed.wait_for("the missing program under the prefix", |record| {
        matches!(record, Record::Event { fields, .. }
            if fields.get("filename") == Some(&json!("/bin/ec-kubectl-ebpf-missing")))
    });

    let filenames = |events: &[events::Event]| -> Vec<String> {
        events
            .iter()
            .map(|event| event.field("filename").as_str().unwrap_or("").to_owned())
            .collect()
    };
    let failed = stopped(failed, "exec");
    assert_eq!(
        filenames(&failed),
        [
            "/bin/ec-kubectl-ebpf-missing",
            "/nonexistent/kubectl-ebpf-missing"
        ],
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .all(|event| event.field("error") == &json!("ENOENT")),
        "{failed:?}"
    );
    let prefixed = stopped(prefixed, "exec");
    assert_eq!(
        filenames(&prefixed),
        ["/bin/echo", "/bin/ec-kubectl-ebpf-missing"],
        "{prefixed:?}"
    );
}

#[test]
fn signal_keeps_only_the_asked_signal() {
    let cgroup = TestCgroup::create("signal-filter");
    let mut tracer = trace(
        ProbeSpec::Signal {
            filter: EventFilter {
                signal: libc::SIGUSR1 as u8,
                ..EventFilter::default()
            },
        },
        &cgroup,
    );
    let mut terminated = ready_sleeper(cgroup.command(&workload()));
    signal(&mut terminated, libc::SIGTERM);
    let mut interrupted = ready_sleeper(cgroup.command(&workload()));
    let interrupted_pid = interrupted.id();
    signal(&mut interrupted, libc::SIGUSR1);
    tracer.wait_for("the SIGUSR1", |record| {
        matches!(record, Record::Event { fields, .. }
            if fields.get("target_pid") == Some(&json!(interrupted_pid)))
    });

    let events = stopped(tracer, "signal");
    assert_eq!(events.len(), 1, "only the SIGUSR1: {events:?}");
    assert_eq!(events[0].field("signal"), &json!("SIGUSR1"), "{events:?}");
}

#[test]
fn tcp_life_keeps_connections_with_the_port_at_either_end() {
    let pair = NetPair::new();
    let cgroup = TestCgroup::create("tcp-life-filter");
    let served_port = PORT + 20;
    let mut tracer = trace(
        ProbeSpec::TcpLife {
            filter: EventFilter {
                port: served_port,
                ..EventFilter::default()
            },
        },
        &cgroup,
    );

    // First, the target connects elsewhere: neither end has the port.
    let elsewhere = pair.b().socket_v4(PORT + 21).to_string();
    let mut listener = NetWorkload::start(pair.b(), &["listen", &elsewhere]);
    let connect = start_in(&cgroup, pair.a(), &["connect", &elsewhere, "--send", "10"]);
    assert_eq!(lines_of(connect)[1..], ["closed"]);
    accepted_peer(&mut listener);
    listener.expect_line("closed ");

    // Then the target serves on the port: its side's local end has it.
    let served = pair.b().socket_v4(served_port).to_string();
    let mut server = start_in(&cgroup, pair.b(), &["listen", &served]);
    let client = NetWorkload::start(pair.a(), &["connect", &served, "--send", "10"]);
    assert_eq!(lines_of(client)[1..], ["closed"]);
    let client_end = accepted_peer(&mut server);
    server.expect_line("closed ");

    tracer.wait_for("the served connection", |record| {
        matches!(record, Record::Event { fields, .. } if fields.get("dst") == Some(&json!(client_end)))
    });
    // The other connection closed first: had it passed, its event would be in already.
    let records = stop(tracer, "tcp-life");
    let events = events::of_probe(&records, "tcp-life");
    assert_eq!(events.len(), 1, "only the served connection: {events:?}");
    assert_eq!(events[0].field("src"), &json!(served), "{events:?}");
    assert_eq!(
        events[0].field("direction"),
        &json!("inbound"),
        "{events:?}"
    );
}
