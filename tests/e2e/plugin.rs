//! `kubectl-ebpf trace --local` end to end: the plugin runs the real tracer, which loads
//! real probes.

use std::process::Command;

use e2e::{binaries, cgroup::TestCgroup, plugin_run::PluginRun, workload::Workload};
use serde_json::Value;

const INSIDE_CALLS: u64 = 20_000;
const OUTSIDE_CALLS: u64 = 50_000;

fn cgroup_path(cgroup: &TestCgroup) -> &str {
    cgroup.path().to_str().expect("a UTF-8 cgroup path")
}

#[test]
fn ctrl_c_ends_a_cgroup_trace_and_prints_the_merged_json() {
    let cgroup = TestCgroup::create("plugin");
    let mut inside = Workload::spawn(INSIDE_CALLS);
    let mut outside = Workload::spawn(OUTSIDE_CALLS);
    cgroup.add(inside.pid());

    let plugin = PluginRun::start([
        "trace",
        "syscall-latency",
        "--local",
        "--by",
        "syscall",
        "-o",
        "json",
        "--cgroup",
        cgroup_path(&cgroup),
    ]);
    inside.run();
    outside.run();
    plugin.interrupt();
    let (status, stdout, _) = plugin.finish();
    assert!(status.success(), "plugin exited {status}; stdout: {stdout}");

    let result: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_eq!(result["schema"], "kubectl-ebpf/trace-result/v1");
    assert_eq!(result["probe"], "syscall-latency");
    assert_eq!(result["partial"], false);
    assert_eq!(result["nodes"][0]["status"], "done");
    assert!(result["nodes"][0]["attach_ms"].is_u64());
    let getppid = result["histograms"]
        .as_array()
        .expect("histograms")
        .iter()
        .find(|h| h["key"]["syscall"] == "getppid")
        .expect("a getppid histogram");
    let count = getppid["count"].as_u64().expect("count");
    assert!(
        (INSIDE_CALLS..=INSIDE_CALLS + 20).contains(&count),
        "only the {INSIDE_CALLS} calls inside the cgroup belong here, found {count}"
    );
    let bucket_sum: u64 = getppid["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            assert!(b["low"].as_u64() < b["high"].as_u64(), "{b}");
            b["count"].as_u64().expect("bucket count")
        })
        .sum();
    assert_eq!(bucket_sum, count);
    assert_eq!(getppid["unit"], "ns");
    assert!(getppid["p50"].as_u64().expect("p50") <= getppid["p99"].as_u64().expect("p99"));
}

#[test]
fn a_timed_trace_prints_a_histogram_and_a_summary() {
    let output = Command::new(binaries::plugin())
        .args(["trace", "syscall-latency", "--local", "--duration", "700ms"])
        .output()
        .expect("run kubectl-ebpf");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.starts_with("syscall-latency (ns):\n"), "{stdout}");
    assert!(stdout.contains(" |@"), "no bar in {stdout}");
    for column in ["COUNT", "P50", "P90", "P99", "SLOWEST"] {
        assert!(stdout.contains(column), "no {column} column in {stdout}");
    }
}

#[test]
fn a_missing_cgroup_is_one_line_and_exit_code_2() {
    let output = Command::new(binaries::plugin())
        .args([
            "trace",
            "syscall-latency",
            "--local",
            "--cgroup",
            "no-such-cgroup",
        ])
        .output()
        .expect("run kubectl-ebpf");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("no-such-cgroup"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn a_heatmap_places_a_burst_in_its_interval_and_adds_up_to_the_histogram() {
    let cgroup = TestCgroup::create("heatmap");
    let mut inside = Workload::spawn(INSIDE_CALLS);
    cgroup.add(inside.pid());
    let plugin = PluginRun::start([
        "trace",
        "syscall-latency",
        "--local",
        "--heatmap",
        "--interval",
        "250ms",
        "-d",
        "3s",
        "-o",
        "json",
        "--cgroup",
        cgroup_path(&cgroup),
    ]);
    // A quiet second first: the burst belongs four or more intervals in.
    std::thread::sleep(std::time::Duration::from_secs(1));
    inside.run();
    let (status, stdout, _) = plugin.finish();
    assert!(status.success(), "{status}");
    let result: Value = serde_json::from_str(&stdout).expect("one JSON document");
    let heatmaps = result["heatmaps"].as_array().expect("heatmaps");
    assert_eq!(heatmaps.len(), 1, "{result}");
    let heatmap = &heatmaps[0];
    assert_eq!(heatmap["interval_ms"], 250);
    let column_totals: Vec<u64> = heatmap["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|column| {
            column
                .as_array()
                .expect("buckets")
                .iter()
                .map(|bucket| bucket["count"].as_u64().expect("count"))
                .sum()
        })
        .collect();
    let total: u64 = column_totals.iter().sum();
    assert_eq!(
        total, result["histograms"][0]["count"],
        "the intervals add up to the histogram: {column_totals:?}"
    );
    let (busiest, most) = column_totals
        .iter()
        .enumerate()
        .max_by_key(|(_, total)| **total)
        .expect("some column");
    assert!(*most >= INSIDE_CALLS / 2, "{column_totals:?}");
    assert!(
        busiest >= 3,
        "the burst came after a quiet second: {column_totals:?}"
    );
    assert!(column_totals[0] < 1_000, "{column_totals:?}");
}

#[test]
fn a_heatmap_as_svg_is_one_document_and_other_probes_refuse_it() {
    let output = Command::new(binaries::plugin())
        .args([
            "trace",
            "syscall-latency",
            "--local",
            "--heatmap",
            "--interval",
            "200ms",
            "-d",
            "1s",
            "-o",
            "svg",
        ])
        .output()
        .expect("run kubectl-ebpf");
    assert!(output.status.success(), "{output:?}");
    let svg = String::from_utf8_lossy(&output.stdout);
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(
        svg.matches("<rect ").count(),
        svg.matches("</rect>").count()
    );
    assert!(
        svg.matches("<rect ").count() > 0,
        "a second of the whole machine's syscalls"
    );

    let refused = Command::new(binaries::plugin())
        .args(["trace", "exec", "--local", "--heatmap", "-d", "1s"])
        .output()
        .expect("run kubectl-ebpf");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--heatmap draws histograms"));
}

#[test]
fn ndjson_streams_events_as_lines_and_ends_with_a_summary() {
    let cgroup = TestCgroup::create("ndjson");
    let plugin = PluginRun::start([
        "trace",
        "exec",
        "--local",
        "-d",
        "2s",
        "-o",
        "ndjson",
        "--cgroup",
        cgroup_path(&cgroup),
    ]);
    let status = cgroup
        .command("/bin/true")
        .status()
        .expect("run /bin/true in the cgroup");
    assert!(status.success());
    let (status, stdout, _) = plugin.finish();
    assert!(status.success(), "{status}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is one JSON object"))
        .collect();
    let exec = lines
        .iter()
        .find(|line| line["type"] == "event")
        .unwrap_or_else(|| panic!("no event line: {stdout}"));
    assert_eq!(exec["probe"], "exec");
    assert_eq!(exec["fields"]["filename"], "/bin/true", "{exec}");
    let last = lines.last().expect("lines");
    assert_eq!(last["type"], "summary", "{stdout}");
    assert_eq!(last["events_total"], 1, "{stdout}");
    assert_eq!(last["partial"], false);
}

#[test]
fn a_malformed_kubeconfig_is_one_line_exit_2() {
    let dir = std::env::temp_dir().join(format!("bad-kubeconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let garbage = dir.join("garbage");
    std::fs::write(&garbage, "clusters: [this is: not: a kubeconfig\n").expect("write");
    let no_context = dir.join("no-context");
    std::fs::write(
        &no_context,
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\ncurrent-context: gone\n",
    )
    .expect("write");
    for (kubeconfig, says) in [(&garbage, "cannot load"), (&no_context, "cannot be used")] {
        let output = Command::new(binaries::plugin())
            .env("KUBECONFIG", kubeconfig)
            .args(["trace", "syscall-latency", "deploy/checkout", "-d", "1s"])
            .output()
            .expect("run kubectl-ebpf");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(lines.first().is_some_and(|l| l.contains(says)), "{stderr}");
        // The error, then at most its hint.
        assert!(lines.len() <= 2, "{stderr}");
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}
