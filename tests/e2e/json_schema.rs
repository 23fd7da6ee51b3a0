//! Every JSON document the plugin prints is checked against its published schema in
//! docs/schemas, as a consumer validating our output would.

use std::process::Command;

use e2e::{
    binaries,
    cgroup::TestCgroup,
    plugin_run::PluginRun,
    schema::{assert_valid, violations},
};
use serde_json::{Value, json};

/// Exit code of a result that is whole but says what it missed (events lost in the
/// kernel on a busy machine): its document must match the schema all the same.
const PARTIAL: i32 = 5;

/// `kubectl-ebpf ARGS` run to its end; its stdout as JSON.
fn json_of(args: &[&str]) -> Value {
    let output = Command::new(binaries::plugin())
        .args(args)
        .output()
        .expect("run kubectl-ebpf");
    assert!(
        matches!(output.status.code(), Some(0 | PARTIAL)),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{args:?}: {err}: {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

#[test]
fn histograms_heatmaps_and_counts_match_the_trace_result_schema() {
    let histograms = json_of(&[
        "trace",
        "syscall-latency",
        "--local",
        "-d",
        "2s",
        "--heatmap",
        "--by",
        "syscall",
        "-o",
        "json",
    ]);
    assert!(
        !histograms["histograms"]
            .as_array()
            .expect("histograms")
            .is_empty()
    );
    assert!(
        !histograms["heatmaps"]
            .as_array()
            .expect("heatmaps")
            .is_empty()
    );
    assert_valid("trace-result-v1.json", &histograms);

    let counts = json_of(&[
        "trace",
        "syscall-count",
        "--local",
        "-d",
        "1s",
        "-o",
        "json",
    ]);
    assert!(!counts["counts"].as_array().expect("counts").is_empty());
    assert_valid("trace-result-v1.json", &counts);
}

#[test]
fn events_and_a_scripts_maps_match_the_trace_result_schema() {
    let cgroup = TestCgroup::create("schema-events");
    let cgroup_path = cgroup.path().display().to_string();
    for args in [
        vec!["trace", "exec"],
        vec![
            "run",
            "-e",
            r#"on("exec", |e| { count("execs", #{program: e.filename}); avg("pids", #{}, e.pid); print("exec " + e.filename); row("runs", #{pid: e.pid}); });"#,
        ],
    ] {
        let mut full = args.clone();
        full.extend([
            "--local",
            "--cgroup",
            &cgroup_path,
            "-d",
            "2s",
            "-o",
            "json",
        ]);
        let plugin = PluginRun::start(&full);
        let status = cgroup.command("/bin/true").status().expect("run /bin/true");
        assert!(status.success());
        let (status, stdout, stderr) = plugin.finish();
        assert!(status.success(), "{full:?}: {stderr}");
        let document: Value = serde_json::from_str(&stdout).expect("one JSON document");
        let filled = ["events", "counts", "stats", "printed"]
            .iter()
            .filter(|field| document[**field].as_array().is_some_and(|a| !a.is_empty()))
            .count();
        assert!(filled >= 1, "{full:?} recorded nothing: {document:#}");
        assert_valid("trace-result-v1.json", &document);
    }
}

#[test]
fn the_profile_and_the_programs_inventory_match_their_schemas() {
    let profile = json_of(&["profile", "--local", "-d", "1s", "-o", "json"]);
    assert_valid("profile-v1.json", &profile);
    let programs = json_of(&["programs", "--local", "-o", "json"]);
    assert_valid("programs-v1.json", &programs);
}

#[test]
fn the_shipped_scripts_list_matches_its_schema() {
    let scripts = json_of(&["scripts", "-o", "json"]);
    assert!(
        scripts["scripts"].as_array().is_some_and(|s| s.len() > 10),
        "{scripts:#}"
    );
    assert_valid("scripts-v1.json", &scripts);
    let one = json_of(&["scripts", "exec-audit", "-o", "json"]);
    assert_eq!(one["scripts"][0]["arguments"], json!(["failed"]));
    assert_valid("scripts-v1.json", &one);
}

#[test]
fn the_schemas_refuse_what_they_do_not_describe() {
    // A check that passes anything would make the tests above worthless.
    let document = json!({
        "schema": "kubectl-ebpf/programs/v1",
        "duration_ms": 1000,
        "partial": false,
        "nodes": [],
        "programs": [{"node": "n", "id": 1, "program_type": "xdp", "name": "x", "tag": "nothex", "surprise": 1}]
    });
    let found = violations("programs-v1.json", &document);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(violations("trace-result-v1.json", &json!({"schema": "other"})).len() > 1);
}
