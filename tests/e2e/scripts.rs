//! `kubectl ebpf run`: rhai scripts on the real kernel's events, through the tracer and
//! through the plugin, and the shipped scripts against workloads that trigger them.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
};

use e2e::{
    binaries, cgroup::TestCgroup, plugin_run::PluginRun, tracer::TracerRun, workload::ready_sleeper,
};
use serde_json::Value;
use tracer_protocol::{
    ProbeSpec, Record, ScriptSpec, Targets, TraceSpec, TracepointCount, UprobeFunction,
};

fn workload() -> String {
    binaries::path("proc-workload").display().to_string()
}

/// Runs `proc-workload ARGS` in `command` to the end.
fn run(mut command: Command, args: &[&str]) {
    let status = command
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("start proc-workload");
    let _ = status;
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kubectl-ebpf-scripts-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The last cumulative value of the script's count `name` whose key has `column = value`.
fn script_count(records: &[Record], name: &str, column: &str, value: &str) -> Option<u64> {
    records.iter().rev().find_map(|record| match record {
        Record::Count {
            probe,
            name: n,
            key,
            value: v,
        } if probe == "script"
            && n == name
            && key.get(column).map(String::as_str) == Some(value) =>
        {
            Some(*v)
        }
        _ => None,
    })
}

#[test]
fn a_script_counts_opens_by_path_exactly_and_a_runaway_handler_loses_nothing_else() {
    let cgroup = TestCgroup::create("script-opens");
    let dir = scratch("opens");
    let missing = dir.join("missing").display().to_string();
    let present = dir.join("present");
    std::fs::write(&present, "x").expect("write a file to open");
    let present = present.display().to_string();

    let mut spec = TraceSpec::new(
        vec![ProbeSpec::Open {
            filter: Default::default(),
        }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    );
    spec.script = Some(ScriptSpec {
        name: "opens.rhai".into(),
        source: format!(
            r#"let dir = "{}";
on("open", |e| {{
    if e.path.starts_with(dir) {{
        count("opens", #{{path: e.path, error: e.error}});
    }}
}});
on("open", |e| {{
    let n = 0;
    loop {{ n += 1; }}
}});
"#,
            dir.display()
        ),
        args: Default::default(),
    });
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    // Three opens of the missing file and one of the present one, each run in its own
    // process; the same opens outside the cgroup must not count.
    run(
        cgroup.command(&workload()),
        &["open", &missing, &missing, &present],
    );
    run(cgroup.command(&workload()), &["open", &missing]);
    run(Command::new(workload()), &["open", &missing, &present]);
    tracer.wait_for("the count of the present file", |record| {
        script_count(std::slice::from_ref(record), "opens", "path", &present).is_some()
    });
    let (status, records) = tracer.stop();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "tracer exited {status}: {records:?}");
    assert_eq!(
        script_count(&records, "opens", "path", &missing),
        Some(3),
        "{records:?}"
    );
    assert_eq!(script_count(&records, "opens", "path", &present), Some(1));
    let error = records
        .iter()
        .rev()
        .find_map(|record| match record {
            Record::Count { key, .. } if key.get("path") == Some(&missing) => {
                key.get("error").cloned()
            }
            _ => None,
        })
        .expect("the missing file's count");
    assert_eq!(error, "ENOENT");
    // The endless handler was stopped at its first event, named by its line, counted
    // for every event it then missed, and disabled.
    let runaway = records
        .iter()
        .rev()
        .find_map(|record| match record {
            Record::ScriptError {
                handler,
                line,
                message,
                count,
                disabled,
                ..
            } => Some((handler.clone(), *line, message.clone(), *count, *disabled)),
            _ => None,
        })
        .expect("a script_error record");
    assert_eq!(
        (runaway.0.as_str(), runaway.1, runaway.4),
        ("on open", 7, true),
        "{runaway:?}"
    );
    // Stopped by whichever limit came first: its operations or its wall-clock time.
    assert!(
        runaway.2.contains("operations") || runaway.2.contains("wall-clock"),
        "{runaway:?}"
    );
    assert!(runaway.3 >= 4, "every open inside counts: {runaway:?}");
    assert!(records.iter().any(|r| matches!(r, Record::Done { .. })));
}

/// Runs the plugin's `run ARGS --local --cgroup CGROUP -o json`, calls `work` once it has
/// attached, and returns its exit status, result document and stderr.
fn plugin_run(args: &[&str], cgroup: &Path, work: impl FnOnce()) -> (ExitStatus, Value, String) {
    let cgroup = cgroup.to_str().expect("a UTF-8 cgroup path");
    let plugin = PluginRun::start(
        ["run"]
            .iter()
            .chain(args)
            .chain(&["--local", "-o", "json", "-d", "3s", "--cgroup", cgroup]),
    );
    work();
    let (status, stdout, rest) = plugin.finish();
    let result = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("{err}: stdout {stdout:?}, stderr {rest:?}"));
    (status, result, rest)
}

/// The merged counts of map `name` as (key, value).
fn counts(result: &Value, name: &str) -> Vec<(Value, u64)> {
    result["counts"]
        .as_array()
        .map(|counts| {
            counts
                .iter()
                .filter(|c| c["probe"] == "script" && c["name"] == name)
                .map(|c| (c["key"].clone(), c["value"].as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_plugin_reports_a_runaway_and_keeps_the_rest_of_the_output() {
    let cgroup = TestCgroup::create("script-plugin");
    let dir = scratch("plugin");
    let path = dir.join("script.rhai");
    std::fs::write(
        &path,
        r#"on("exit", |e| count("exits", #{comm: e.comm, code: e.code}));
on("exit", |e| {
    print(`exit ${e.code}`);
    while true { }
});
"#,
    )
    .expect("write the script");
    let (status, result, stderr) =
        plugin_run(&[&path.display().to_string()], cgroup.path(), || {
            run(cgroup.command(&workload()), &["exit", "3"]);
            run(cgroup.command(&workload()), &["exit", "3"]);
        });
    let _ = std::fs::remove_dir_all(&dir);
    // Partial: the result undercounts what the stopped handler would have done.
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert_eq!(result["probe"], "script");
    assert_eq!(result["partial"], true);
    let exits = counts(&result, "exits");
    assert_eq!(
        exits,
        [(serde_json::json!({"comm": "proc-workload", "code": "3"}), 2)],
        "{result:#}"
    );
    // The runaway handler printed before it looped, once: it was stopped there.
    let printed: Vec<&str> = result["printed"]
        .as_array()
        .expect("printed lines")
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert_eq!(printed, ["exit 3"]);
    let error = &result["script_errors"][0];
    assert_eq!(error["handler"], "on exit");
    assert_eq!(error["line"], 2);
    assert_eq!(error["count"], 2);
    assert_eq!(error["disabled"], true);
    assert!(
        stderr.contains("warning: node") && stderr.contains("stopped"),
        "{stderr}"
    );
    // The failing line is shown as `--check` shows a compile error (a runaway is placed
    // at its callback's line, without a column for a caret).
    assert!(stderr.contains("at script.rhai:2 failed"), "{stderr}");
    assert!(
        stderr.lines().any(|line| line == "2 | on(\"exit\", |e| {"),
        "{stderr}"
    );
}

#[test]
fn check_points_at_a_syntax_error_and_runs_nothing() {
    let dir = scratch("check");
    let path = dir.join("broken.rhai");
    std::fs::write(
        &path,
        "on(\"open\", |e| {\n    count(\"opens\", e.path\n});\n",
    )
    .expect("write the script");
    for extra in [
        &["--check"][..],
        &["--local", "--tracer", "/nonexistent/tracer-job"],
    ] {
        let output = Command::new(binaries::plugin())
            .arg("run")
            .arg(&path)
            .args(extra)
            .output()
            .expect("run kubectl-ebpf");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {stderr}");
        // Place, the line, a caret under the column, a hint; no tracer was looked for.
        assert!(stderr.starts_with("error: broken.rhai:3:1: "), "{stderr}");
        assert!(stderr.contains("\n3 | });\n  | ^\nhint: "), "{stderr}");
        assert!(!stderr.contains("tracer"), "{stderr}");
    }
    let output = Command::new(binaries::plugin())
        .args(["run", "--check", "failed-opens"])
        .output()
        .expect("run kubectl-ebpf");
    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .starts_with("failed-opens.rhai: ok; handles open events")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failed_opens_counts_by_path_and_error() {
    let cgroup = TestCgroup::create("script-failed-opens");
    let dir = scratch("failed");
    let missing = dir.join("missing").display().to_string();
    let present = dir.join("present");
    std::fs::write(&present, "x").expect("write a file");
    let prefix = format!("prefix={}", dir.display());
    let (status, result, stderr) =
        plugin_run(&["failed-opens", "--arg", &prefix], cgroup.path(), || {
            run(
                cgroup.command(&workload()),
                &["open", &missing, &missing, &present.display().to_string()],
            );
            run(Command::new(workload()), &["open", &missing]);
        });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "{stderr}");
    assert_eq!(
        counts(&result, "failed opens"),
        [(
            serde_json::json!({"pod": "", "comm": "proc-workload", "path": missing, "error": "ENOENT"}),
            2
        )],
        "{result:#}"
    );
}

#[test]
fn exec_audit_shows_full_command_lines() {
    let cgroup = TestCgroup::create("script-exec-audit");
    let (status, result, stderr) = plugin_run(&["exec-audit"], cgroup.path(), || {
        run(cgroup.command(&workload()), &["exit", "0"]);
        run(Command::new(workload()), &["exit", "1"]);
    });
    assert!(status.success(), "{stderr}");
    let rows: Vec<&Value> = result["printed"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|p| p["table"] == "execs")
        .collect();
    assert_eq!(rows.len(), 1, "{result:#}");
    assert_eq!(rows[0]["row"]["command"], format!("{} exit 0", workload()));
    assert_eq!(rows[0]["row"]["result"], "ok");
    assert_eq!(
        counts(&result, "programs started"),
        [(
            serde_json::json!({"pod": "", "program": workload(), "result": "ok"}),
            1
        )]
    );
}

#[test]
fn crash_loop_tells_exit_codes_from_signals() {
    let cgroup = TestCgroup::create("script-crash-loop");
    let (status, result, stderr) = plugin_run(&["crash-loop"], cgroup.path(), || {
        run(cgroup.command(&workload()), &["exit", "3"]);
        run(cgroup.command(&workload()), &["raise", "9"]);
        run(Command::new(workload()), &["exit", "4"]);
    });
    assert!(status.success(), "{stderr}");
    let ends = counts(&result, "process ends");
    let how: Vec<(&str, u64)> = ends
        .iter()
        .filter(|(key, _)| key["comm"] == "proc-workload")
        .map(|(key, value)| (key["how"].as_str().unwrap_or_default(), *value))
        .collect();
    assert!(how.contains(&("exit 3", 1)), "{ends:?}");
    assert!(how.contains(&("SIGKILL", 1)), "{ends:?}");
    assert!(!how.iter().any(|(how, _)| *how == "exit 4"), "{ends:?}");
    let signals = counts(&result, "signals sent");
    assert!(
        signals.iter().any(|(key, n)| key["signal"] == "SIGKILL"
            && key["sender"] == "proc-workload"
            && *n == 1),
        "{signals:?}"
    );
}

/// The rows of table `table` the script printed.
fn rows(result: &Value, table: &str) -> Vec<Value> {
    result["printed"]
        .as_array()
        .map(|printed| {
            printed
                .iter()
                .filter(|p| p["table"] == table)
                .map(|p| p["row"].clone())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn slow_opens_keeps_only_opens_past_the_threshold() {
    let cgroup = TestCgroup::create("script-slow-opens");
    let dir = scratch("slow");
    // Opening a FIFO for reading blocks until a writer opens it: a slow open on demand.
    let fifo = dir.join("fifo");
    let status = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(status.success());
    let fifo_path = fifo.display().to_string();
    let (status, result, stderr) =
        plugin_run(&["slow-opens", "--arg", "min_ms=50"], cgroup.path(), || {
            let reader = cgroup
                .command(&workload())
                .args(["open", &fifo_path, "/etc/hostname"])
                .stdout(Stdio::null())
                .spawn()
                .expect("start the reader");
            std::thread::sleep(std::time::Duration::from_millis(300));
            let writer = std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .expect("open the FIFO for writing");
            drop(writer);
            let _ = reader.wait_with_output();
        });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "{stderr}");
    // The FIFO's open, and none of the fast ones (the loader's, /etc/hostname).
    assert_eq!(
        counts(&result, "slow opens"),
        [(
            serde_json::json!({"pod": "", "comm": "proc-workload", "path": fifo_path}),
            1
        )],
        "{result:#}"
    );
    let hist = result["histograms"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["name"] == "open latency"))
        .unwrap_or_else(|| panic!("no latency histogram: {result:#}"));
    let total: u64 = hist["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, 1, "{hist:#}");
}

#[test]
fn signals_names_sender_receiver_and_signal() {
    let cgroup = TestCgroup::create("script-signals");
    let (status, result, stderr) = plugin_run(&["signals"], cgroup.path(), || {
        // A sleeper outside the target, killed by a process inside it.
        let mut sleeper = Command::new(workload())
            .arg("sleep")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the sleeper");
        let pid = sleeper.id().to_string();
        run(cgroup.command(&workload()), &["kill", &pid, "15"]);
        let _ = sleeper.wait();
    });
    assert!(status.success(), "{stderr}");
    let signals = counts(&result, "signals");
    assert!(
        signals.contains(&(
            serde_json::json!({"signal": "SIGTERM", "from_pod": "-", "from": "proc-workload",
                "to_pod": "-", "to": "proc-workload"}),
            1
        )),
        "{signals:?}"
    );
    let printed: Vec<&str> = result["printed"]
        .as_array()
        .expect("printed")
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert!(
        printed
            .iter()
            .any(|line| line.starts_with("SIGTERM: proc-workload (pid ")),
        "{printed:?}"
    );
}

#[test]
fn shell_in_container_catches_shells_and_only_shells() {
    let cgroup = TestCgroup::create("script-shell");
    let (status, result, stderr) = plugin_run(&["shell-in-container"], cgroup.path(), || {
        let status = cgroup
            .command("/bin/sh")
            .args(["-c", "exit 0"])
            .status()
            .expect("run sh");
        assert!(status.success());
        run(cgroup.command(&workload()), &["exit", "0"]);
        let _ = Command::new("/bin/sh").args(["-c", "exit 0"]).status();
    });
    assert!(status.success(), "{stderr}");
    let shells = rows(&result, "shells");
    assert_eq!(shells.len(), 1, "{result:#}");
    assert_eq!(shells[0]["command"], "/bin/sh -c exit 0");
    assert_eq!(
        counts(&result, "shells started"),
        [(
            serde_json::json!({"pod": "", "container": "", "shell": "sh"}),
            1
        )]
    );
}

#[test]
fn sensitive_files_tells_reads_from_writes() {
    let cgroup = TestCgroup::create("script-sensitive");
    let dir = scratch("sensitive");
    let secret = dir.join("token").display().to_string();
    let extra = format!("extra={}/", dir.display());
    let (status, result, stderr) =
        plugin_run(&["sensitive-files", "--arg", &extra], cgroup.path(), || {
            run(
                cgroup.command(&workload()),
                &["open", "/etc/shadow", "/etc/hostname"],
            );
            run(cgroup.command(&workload()), &["create", &secret]);
            run(Command::new(workload()), &["open", "/etc/shadow"]);
        });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "{stderr}");
    let mut seen: Vec<(String, String, u64)> = counts(&result, "sensitive files")
        .into_iter()
        .map(|(key, n)| {
            (
                key["path"].as_str().unwrap_or_default().to_owned(),
                key["access"].as_str().unwrap_or_default().to_owned(),
                n,
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("/etc/shadow".to_owned(), "read".to_owned(), 1),
            (secret, "write".to_owned(), 1),
        ],
        "{result:#}"
    );
    assert_eq!(rows(&result, "sensitive opens").len(), 2);
}

#[test]
fn connect_failures_and_who_talks_name_the_remote_endpoints() {
    use e2e::{net_workload::NetWorkload, netns::NetPair};

    use crate::tcp::{CLOSED_PORT, PORT, accepted_peer, lines_of, start_in};

    let pair = NetPair::new();
    let cgroup = TestCgroup::create("script-connects");
    let server = pair.b().socket_v4(PORT).to_string();
    let closed = pair.b().socket_v4(CLOSED_PORT).to_string();
    let traffic = || {
        let mut listener = NetWorkload::start(pair.b(), &["listen", &server]);
        let lines = lines_of(start_in(
            &cgroup,
            pair.a(),
            &["connect", &server, "--send", "100"],
        ));
        assert!(lines[0].starts_with("connected "), "{lines:?}");
        accepted_peer(&mut listener);
        assert_eq!(
            lines_of(start_in(&cgroup, pair.a(), &["connect", &closed])),
            ["refused"]
        );
        // Outside the target: never counted.
        assert_eq!(
            lines_of(NetWorkload::start(pair.a(), &["connect", &closed])),
            ["refused"]
        );
    };

    let (status, result, stderr) = plugin_run(&["connect-failures"], cgroup.path(), traffic);
    assert!(status.success(), "{stderr}");
    assert_eq!(
        counts(&result, "failed connects"),
        [(
            serde_json::json!({"pod": "", "remote": closed, "result": "refused"}),
            1
        )],
        "{result:#}"
    );
    // The refusal is a reset the target received.
    assert!(
        counts(&result, "resets").contains(&(
            serde_json::json!({"pod": "", "remote": closed, "direction": "received"}),
            1
        )),
        "{result:#}"
    );

    let (status, result, stderr) = plugin_run(&["who-talks"], cgroup.path(), traffic);
    assert!(status.success(), "{stderr}");
    let mut connects = counts(&result, "connects");
    connects.sort_by_key(|(key, _)| key["remote"].to_string());
    assert_eq!(
        connects,
        [
            (
                serde_json::json!({"pod": "", "remote": server, "result": "connected"}),
                1
            ),
            (
                serde_json::json!({"pod": "", "remote": closed, "result": "refused"}),
                1
            ),
        ],
        "{result:#}"
    );
    let key = serde_json::json!({"pod": "", "direction": "outbound", "remote": server});
    assert!(
        counts(&result, "connections closed").contains(&(key.clone(), 1)),
        "{result:#}"
    );
    let sent = result["stats"]
        .as_array()
        .and_then(|stats| {
            stats
                .iter()
                .find(|s| s["name"] == "bytes sent" && s["key"] == key)
        })
        .unwrap_or_else(|| panic!("no bytes sent: {result:#}"));
    // The kernel counts sequence space: the 100 bytes, the SYN and the FIN.
    assert_eq!(sent["value"].as_f64(), Some(102.0), "{sent:#}");
}

/// A shipped script's spec, as the plugin would send it.
fn stdlib(name: &str) -> ScriptSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts-stdlib")
        .join(format!("{name}.rhai"));
    ScriptSpec {
        name: format!("{name}.rhai"),
        source: std::fs::read_to_string(&path).expect("a shipped script"),
        args: Default::default(),
    }
}

#[test]
fn disk_latency_credits_each_request_to_its_pod() {
    use e2e::{loopdev::LoopDevice, pods::EmulatedNode, tracer::last_hists};
    use tracer_protocol::QosClass;

    use crate::block_latency::io;

    let device = LoopDevice::create(16 << 20);
    let node = EmulatedNode::new();
    let db = node.container("db-0", "postgres", QosClass::Guaranteed, false);
    let mut inside = io(&device, 30, 20);
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
    spec.script = Some(stdlib("disk-latency"));
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    inside.run();
    outside.run();
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    let totals: Vec<(String, String, u64)> = last_hists(&records, "block-latency")
        .into_iter()
        .map(|(key, buckets)| {
            (
                key.get("pod").cloned().unwrap_or_default(),
                key.get("op").cloned().unwrap_or_default(),
                buckets.iter().map(|b| b.count).sum(),
            )
        })
        .collect();
    assert_eq!(
        totals,
        [
            ("db-0".to_owned(), "read".to_owned(), 30),
            ("db-0".to_owned(), "write".to_owned(), 20)
        ],
        "{records:?}"
    );
}

#[test]
fn noisy_neighbours_shows_the_pod_that_waits_for_a_cpu() {
    use e2e::{pods::EmulatedNode, tracer::last_hists, workload::Workload};
    use tracer_protocol::QosClass;

    let node = EmulatedNode::new();
    let batch = node.container("batch-1", "crunch", QosClass::BestEffort, false);
    // More spinning threads than CPUs: they take turns, and each turn starts with a wait.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32 * 2;
    let mut spinner = Workload::start(
        "sched-workload",
        &["spin".to_owned(), threads.to_string(), "500".to_owned()],
    );
    batch.add(spinner.pid());
    let mut spec = TraceSpec::new(
        vec![ProbeSpec::RunqLatency { per_pod: true }],
        Targets {
            containers: vec![batch.target.clone()],
            ..Targets::default()
        },
    );
    spec.node_containers = vec![batch.target.clone()];
    spec.script = Some(stdlib("noisy-neighbours"));
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    spinner.go();
    spinner.wait_done();
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    let hists = last_hists(&records, "runq-latency");
    let waits: u64 = hists
        .iter()
        .filter(|(key, _)| key.get("pod").map(String::as_str) == Some("batch-1"))
        .flat_map(|(_, buckets)| buckets.iter().map(|b| b.count))
        .sum();
    assert!(waits > 0, "no waits for batch-1: {hists:?}");
    assert!(
        hists.keys().all(|key| key.contains_key("pod")),
        "only the target pod: {hists:?}"
    );
}

#[test]
fn the_tracepoint_source_decodes_any_tracepoint_by_field_name() {
    let cgroup = TestCgroup::create("script-tracepoint");
    let mut spec = TraceSpec::new(
        vec![ProbeSpec::Tracepoint {
            tracepoints: vec!["sched:sched_process_fork".into()],
            counts: Vec::new(),
        }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    );
    spec.script = Some(ScriptSpec {
        name: "forks.rhai".into(),
        source: r#"on("tracepoint:sched:sched_process_fork", |e| {
    count("forks", #{parent: e.parent_comm, child: e.child_comm, positive: e.child_pid > 0});
});
on("tracepoint:sched:sched_process_fork", |e| count("typo", e.child_pidd));
"#
        .into(),
        args: Default::default(),
    });
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    // Two forks by a shell inside the target; the same outside does not count.
    let script = "/bin/true; /bin/true; exit 0";
    let status = cgroup
        .command("/bin/sh")
        .args(["-c", script])
        .status()
        .expect("run sh");
    assert!(status.success());
    let _ = Command::new("/bin/sh").args(["-c", script]).status();
    tracer.wait_for("two forks", |record| {
        matches!(record, Record::Count { name, value, .. } if name == "forks" && *value == 2)
    });
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited {status}: {records:?}");
    assert_eq!(script_count(&records, "forks", "parent", "sh"), Some(2));
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Count { name, key, .. }
            if name == "forks" && key.get("positive").map(String::as_str) == Some("true"))),
        "{records:?}"
    );
    // A field the tracepoint does not have names the nearest one.
    let error = records
        .iter()
        .rev()
        .find_map(|record| match record {
            Record::ScriptError { message, .. } => Some(message.clone()),
            _ => None,
        })
        .expect("a script error");
    assert!(
        error.contains("tracepoint sched:sched_process_fork has no field `child_pidd`")
            && error.contains("did you mean `child_pid`?"),
        "{error}"
    );
}

/// The last value of map `name` under exactly `key`.
fn keyed_count(records: &[Record], name: &str, key: &[(&str, &str)]) -> Option<u64> {
    let key: BTreeMap<String, String> = key
        .iter()
        .map(|(column, value)| (column.to_string(), value.to_string()))
        .collect();
    records.iter().rev().find_map(|record| match record {
        Record::Count {
            probe,
            name: n,
            key: k,
            value,
        } if probe == "script" && n == name && *k == key => Some(*value),
        _ => None,
    })
}

#[test]
fn tracepoints_counted_in_the_kernel_by_text_and_integer_fields() {
    let cgroup = TestCgroup::create("script-kernel-count");
    // Outside the target, as the receiver of the signal sent from inside.
    let mut sleeper = ready_sleeper(Command::new(workload()));
    // What `count_in_kernel(NAME, "tracepoint:...", FIELDS)` asks for, with no script
    // on the node: any event sent would show in the output.
    let count = |name: &str, tracepoint: &str, fields: &[&str]| TracepointCount {
        name: name.into(),
        tracepoint: tracepoint.into(),
        fields: fields.iter().map(|field| field.to_string()).collect(),
    };
    let spec = TraceSpec::new(
        vec![ProbeSpec::Tracepoint {
            tracepoints: Vec::new(),
            counts: vec![
                count(
                    "forks",
                    "sched:sched_process_fork",
                    &["parent_comm", "child_comm"],
                ),
                count("signals", "signal:signal_generate", &["sig", "comm"]),
            ],
        }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    );
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    // Two forks by a shell inside the target; the same outside does not count.
    let script = "/bin/true; /bin/true; exit 0";
    let status = cgroup
        .command("/bin/sh")
        .args(["-c", script])
        .status()
        .expect("run sh");
    assert!(status.success());
    let _ = Command::new("/bin/sh").args(["-c", script]).status();
    let sent = cgroup
        .command(&workload())
        .args(["kill", &sleeper.id().to_string(), "10"])
        .output()
        .expect("run the sender");
    assert_eq!(String::from_utf8_lossy(&sent.stdout).trim(), "sent");
    let _ = sleeper.wait();
    tracer.wait_for(
        "the signal counted",
        |record| matches!(record, Record::Count { name, .. } if name == "signals"),
    );
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited {status}: {records:?}");
    assert_eq!(
        keyed_count(
            &records,
            "forks",
            &[("parent_comm", "sh"), ("child_comm", "sh")]
        ),
        Some(2),
        "{records:?}"
    );
    assert_eq!(
        keyed_count(
            &records,
            "signals",
            &[("sig", "10"), ("comm", "proc-workload")]
        ),
        Some(1),
        "{records:?}"
    );
    // The children of the shell inside signal it as they end.
    assert_eq!(
        keyed_count(&records, "signals", &[("sig", "17"), ("comm", "sh")]),
        Some(2),
        "{records:?}"
    );
    // Counted only: no event was sent.
    assert!(
        !records.iter().any(|r| matches!(r, Record::Event { .. })),
        "{records:?}"
    );
}

#[test]
fn top_syscalls_counts_each_syscall_of_the_target() {
    use e2e::workload::Workload;

    let cgroup = TestCgroup::create("script-top-syscalls");
    let mut spec = TraceSpec::new(
        vec![ProbeSpec::Tracepoint {
            tracepoints: vec!["raw_syscalls:sys_enter".into()],
            counts: Vec::new(),
        }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    );
    spec.script = Some(stdlib("top-syscalls"));
    let mut inside = Workload::spawn(5_000);
    let mut outside = Workload::spawn(7_000);
    cgroup.add(inside.pid());
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    inside.run();
    outside.run();
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited {status}: {records:?}");
    let getppid = script_count(&records, "syscalls", "syscall", "getppid").unwrap_or(0);
    // Events the handlers had no time for (a loaded machine, a debug build) are counted,
    // never lost silently: counted and dropped cover the loop, and none of the outside's
    // 7,000 calls is there.
    let shed = records
        .iter()
        .rev()
        .find_map(|r| match r {
            Record::ScriptError { handler, count, .. } if handler == "events" => Some(*count),
            _ => None,
        })
        .unwrap_or(0);
    assert!(
        getppid < 5_020 && getppid + shed >= 5_000,
        "getppid {getppid}, dropped {shed}: {records:?}"
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| matches!(r, Record::Lost { probe, count } if probe == "tracepoint" && *count > 0))
            .count(),
        0,
        "{records:?}"
    );
}

#[test]
fn top_syscalls_through_the_plugin_attaches_the_tracepoint_it_handles() {
    use e2e::workload::Workload;

    let cgroup = TestCgroup::create("script-top-syscalls-plugin");
    let (status, result, stderr) = plugin_run(&["top-syscalls"], cgroup.path(), || {
        let mut inside = Workload::spawn(3_000);
        cgroup.add(inside.pid());
        inside.run();
    });
    // Partial (5) only when the handlers could not keep up, which says so.
    let shed: u64 = result["script_errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["handler"] == "events")
        .map(|e| e["count"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        status.success() || (status.code() == Some(5) && shed > 0),
        "{stderr}"
    );
    let getppid = counts(&result, "syscalls")
        .into_iter()
        .find(|(key, _)| key["syscall"] == "getppid")
        .map_or(0, |(_, n)| n);
    assert!(
        getppid < 3_020 && getppid + shed >= 3_000,
        "{getppid}, dropped {shed}: {result:#}"
    );
}

#[test]
fn a_kernel_count_through_the_plugin_is_a_map_like_the_scripts_own() {
    let cgroup = TestCgroup::create("script-kernel-count-plugin");
    let source =
        r#"count_in_kernel("forks", "tracepoint:sched:sched_process_fork", "parent_comm");"#;
    let (status, result, stderr) = plugin_run(&["-e", source], cgroup.path(), || {
        let script = "/bin/true; /bin/true; /bin/true; exit 0";
        let inside = cgroup.command("/bin/sh").args(["-c", script]).status();
        assert!(inside.expect("run sh").success());
        let _ = Command::new("/bin/sh").args(["-c", script]).status();
    });
    assert!(status.success(), "{stderr}");
    let forks = counts(&result, "forks");
    assert_eq!(
        forks,
        [(serde_json::json!({"parent_comm": "sh"}), 3)],
        "{result:#}"
    );
}

/// The C library this test runs with, as its own maps name it.
fn libc_path() -> String {
    std::fs::read_to_string("/proc/self/maps")
        .expect("read maps")
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            Path::new(path)
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("libc.so"))
        })
        .expect("a libc in the maps")
        .to_owned()
}

/// A tracer running `source` on `cgroup`'s events, attached.
fn script_trace(cgroup: &TestCgroup, name: &str, source: String) -> TracerRun {
    let mut spec = TraceSpec::new(
        vec![],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    );
    let script = ScriptSpec {
        name: name.into(),
        source,
        args: Default::default(),
    };
    spec.probes = tracer_script::Script::load(&script, "n")
        .unwrap_or_else(|err| panic!("{err}"))
        .probes();
    spec.script = Some(script);
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    tracer
}

/// Where the dynamic symbol `name` of the ELF file `path` is, as `nm -D` shows it.
fn symbol_address(path: &str, name: &str) -> u64 {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(path).expect("read the library");
    let elf = object::File::parse(&*data).expect("an ELF file");
    elf.dynamic_symbols()
        .find(|symbol| symbol.name() == Ok(name))
        .map(|symbol| symbol.address())
        .unwrap_or_else(|| panic!("no {name} in {path}"))
}

/// Runs the uprobe script `source(libc, dir)` and, once it is attached, opens the missing
/// file `dir/missing` twice from the cgroup and once from outside; stops the trace once
/// `until` (named `what`) is seen. Returns the missing file's path and what the tracer
/// wrote.
fn uprobe_opens(
    name: &str,
    source: impl FnOnce(&str, &Path) -> String,
    what: &str,
    until: impl Fn(&Record) -> bool,
) -> (String, Vec<Record>) {
    let cgroup = TestCgroup::create(&format!("script-{name}"));
    let dir = scratch(name);
    let missing = dir.join("missing").display().to_string();
    // A target process must run when the trace starts: the binary is found below its
    // root.
    let mut sleeper = cgroup
        .command(&workload())
        .arg("sleep")
        .stdout(Stdio::null())
        .spawn()
        .expect("start the sleeper");
    let mut tracer = script_trace(&cgroup, &format!("{name}.rhai"), source(&libc_path(), &dir));
    run(cgroup.command(&workload()), &["open", &missing, &missing]);
    run(Command::new(workload()), &["open", &missing]);
    tracer.wait_for(what, until);
    let (status, records) = tracer.stop();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "tracer exited {status}: {records:?}");
    (missing, records)
}

#[test]
fn a_uprobe_by_address_or_symbol_offset_sees_what_the_symbol_sees() {
    // For a stripped binary: the address `nm` or `objdump -d` shows, and an offset into
    // a symbol (0: its first instruction, where a probe surely may go).
    let source = |libc: &str, dir: &Path| {
        let address = symbol_address(libc, "open64");
        format!(
            r#"on("uprobe:{libc}:{address:#x}", #{{read: 0}}, |e| {{
    if e.data.starts_with("{dir}") {{ count("by address", e.data); }}
}});
on("uprobe:{libc}:open64+0x0", #{{read: 0}}, |e| {{
    if e.data.starts_with("{dir}") {{ count("by offset", e.data); }}
}});
"#,
            dir = dir.display()
        )
    };
    // The two maps go out in one snapshot; the final one has both in full.
    let (missing, records) = uprobe_opens(
        "uprobe-address",
        source,
        "both opens by offset",
        |record| matches!(record, Record::Count { name, value, .. } if name == "by offset" && *value >= 2),
    );
    // The two opens inside, not the one outside.
    for map in ["by address", "by offset"] {
        assert_eq!(
            script_count(&records, map, "key", &missing),
            Some(2),
            "{map}: {records:?}"
        );
    }
}

#[test]
fn a_uprobe_address_outside_the_binary_is_one_clear_error() {
    let libc = libc_path();
    let mut spec = TraceSpec::new(
        vec![ProbeSpec::Uprobe {
            functions: vec![
                UprobeFunction::parse(&format!("uprobe:{libc}:0x7fffffffffff"))
                    .expect("well formed"),
            ],
        }],
        Targets::default(),
    );
    spec.duration_ms = Some(1_000);
    let (status, records) = TracerRun::start(&spec).finish();
    assert_eq!(status.code(), Some(2), "{records:?}");
    let errors: Vec<_> = records
        .iter()
        .filter_map(|record| match record {
            Record::Error { message, hint, .. } => Some((message, hint)),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{records:?}");
    assert!(
        errors[0]
            .0
            .contains("0x7fffffffffff is in no loaded part of"),
        "{errors:?}"
    );
    assert!(errors[0].1.contains("objdump -d"), "{errors:?}");
}

#[test]
fn the_uprobe_source_sees_arguments_strings_and_return_values_of_the_target_only() {
    let source = |libc: &str, dir: &Path| {
        format!(
            r#"on("uprobe:{libc}:open64", #{{read: 0}}, |e| {{
    if e.data.starts_with("{dir}") {{ count("opens", #{{path: e.data, flags: e.arg1}}); }}
}});
// open64 returns an int: the register's low 32 bits, sign-extended.
on("uretprobe:{libc}:open64", |e| count("returns", i32(e.ret)));
"#,
            dir = dir.display()
        )
    };
    let (missing, records) = uprobe_opens(
        "uprobe",
        source,
        "the failed returns",
        |record| matches!(record, Record::Count { name, value, .. } if name == "returns" && *value >= 2),
    );
    // Both opens inside, none outside; the string read at the first argument, the
    // flags (O_RDONLY|O_CLOEXEC) as the second.
    assert_eq!(
        script_count(&records, "opens", "path", &missing),
        Some(2),
        "{records:?}"
    );
    let flags = (libc::O_RDONLY | libc::O_CLOEXEC).to_string();
    assert_eq!(
        script_count(&records, "opens", "flags", &flags),
        Some(2),
        "{records:?}"
    );
    // open64 returned -1 for both inside, not for the one outside.
    assert_eq!(
        script_count(&records, "returns", "key", "-1"),
        Some(2),
        "{records:?}"
    );
}
