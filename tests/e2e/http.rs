//! The `http` probe: a real HTTP/1.1 server and client on loopback, with known requests
//! and exact sizes. Traced on the server's side, then on the client's; the same traffic
//! of processes outside the target cgroup does not show.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use e2e::{
    binaries,
    cgroup::TestCgroup,
    events::{self, Event},
    plugin_run::PluginRun,
};
use serde_json::json;
use tracer_protocol::{EventFilter, ProbeSpec};

use crate::tcp::{stop, trace, wait_events};

const PROBE: &str = "http";

const REQUESTS: [&str; 6] = [
    "GET:/ok?token=secret",
    "GET:/missing",
    "GET:/fail",
    "GET:/slow",
    "POST:/echo",
    "GET:/ok",
];

fn spec(filter: EventFilter, capture_bytes: u32) -> ProbeSpec {
    ProbeSpec::Http {
        filter,
        capture_bytes,
        capture_headers: vec!["content-type".to_owned()],
        keep_query: false,
    }
}

/// `http-workload serve`, in `cgroup` when given.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(cgroup: Option<&TestCgroup>) -> Server {
        let program = binaries::path("http-workload");
        let mut command = Command::new(&program);
        if let Some(cgroup) = cgroup {
            cgroup.enter(&mut command);
        }
        let mut child = command
            .arg("serve")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start http-workload serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("listening line");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the client saw of one exchange.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    status: u64,
    request_bytes: u64,
    response_bytes: u64,
}

/// Runs `http-workload get` against `port` (in `cgroup` when given); its exchanges.
fn client(port: u16, cgroup: Option<&TestCgroup>, extra: &[&str]) -> Vec<Seen> {
    let mut command = Command::new(binaries::path("http-workload"));
    if let Some(cgroup) = cgroup {
        cgroup.enter(&mut command);
    }
    let output = command
        .arg("get")
        .arg(port.to_string())
        .args(extra)
        .args(REQUESTS)
        .stderr(Stdio::inherit())
        .output()
        .expect("run http-workload get");
    assert!(output.status.success(), "client failed: {output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let seen: Vec<Seen> = text
        .lines()
        .filter_map(|line| line.strip_prefix("got "))
        .map(|line| {
            let parts: Vec<&str> = line.split(' ').collect();
            Seen {
                method: parts[0].to_owned(),
                path: parts[1].split('?').next().unwrap_or("").to_owned(),
                status: parts[2].parse().expect("status"),
                request_bytes: parts[3].parse().expect("request bytes"),
                response_bytes: parts[4].parse().expect("response bytes"),
            }
        })
        .collect();
    assert_eq!(seen.len(), REQUESTS.len(), "{text}");
    seen
}

/// Each exchange the client saw has exactly one event, equal in every field. Pipelined,
/// the requests behind `/slow` wait for it too.
fn assert_matches(
    events: &[Event],
    seen: &[Seen],
    side: &str,
    cgroup: &TestCgroup,
    pipelined: bool,
) {
    let mut behind_slow = false;
    assert_eq!(
        events.len(),
        seen.len(),
        "one event per exchange: {events:#?}"
    );
    for (event, seen) in events.iter().zip(seen) {
        assert_eq!(event.cgroup, cgroup.id(), "{event:?}");
        assert_eq!(event.comm, "http-workload", "{event:?}");
        assert_eq!(event.field("side"), &json!(side), "{event:?}");
        assert_eq!(event.field("method"), &json!(seen.method), "{event:?}");
        assert_eq!(event.field("path"), &json!(seen.path), "{event:?}");
        assert_eq!(event.field("status"), &json!(seen.status), "{event:?}");
        assert_eq!(
            event.field("request_bytes"),
            &json!(seen.request_bytes),
            "{event:?}"
        );
        assert_eq!(
            event.field("response_bytes"),
            &json!(seen.response_bytes),
            "{event:?}"
        );
        assert_eq!(
            event.field("headers"),
            &json!({"content-type": "text/plain"}),
            "{event:?}"
        );
        let latency = event.field("latency_ns").as_u64().expect("latency_ns");
        behind_slow |= seen.path == "/slow";
        if seen.path == "/slow" || (pipelined && behind_slow) {
            assert!(latency >= 300_000_000, "{event:?}");
        } else {
            assert!(latency < 300_000_000, "{event:?}");
        }
        let remote = event.field("remote").as_str().expect("remote");
        assert!(remote.starts_with("127.0.0.1:"), "{event:?}");
    }
}

#[test]
fn a_server_shows_each_request_with_its_status_latency_and_sizes() {
    let cgroup = TestCgroup::create("http-server");
    let mut tracer = trace(spec(EventFilter::default(), 256), &cgroup);
    let inside = Server::start(Some(&cgroup));
    let outside = Server::start(None);
    // Traffic no target takes part in: a client and server both outside.
    client(outside.port, None, &[]);
    let seen = client(inside.port, None, &[]);
    wait_events(&mut tracer, PROBE, REQUESTS.len(), |_| true);
    let records = stop(tracer, PROBE);
    let events = events::of_probe(&records, PROBE);
    assert_matches(&events, &seen, "server", &cgroup, false);
    for event in &events {
        let local = event.field("local").as_str().expect("local");
        assert_eq!(local, format!("127.0.0.1:{}", inside.port), "{event:?}");
    }
}

#[test]
fn a_client_shows_pipelined_requests_paired_in_order() {
    let cgroup = TestCgroup::create("http-client");
    // The client reads several pipelined responses in one read: the capture must hold
    // their heads (beyond it, a status is unknown; see docs/probes/http.md).
    let mut tracer = trace(spec(EventFilter::default(), 4096), &cgroup);
    let server = Server::start(None);
    let seen = client(server.port, Some(&cgroup), &["--pipeline"]);
    wait_events(&mut tracer, PROBE, REQUESTS.len(), |_| true);
    let records = stop(tracer, PROBE);
    let events = events::of_probe(&records, PROBE);
    assert_matches(&events, &seen, "client", &cgroup, true);
    for event in &events {
        let remote = event.field("remote").as_str().expect("remote");
        assert_eq!(remote, format!("127.0.0.1:{}", server.port), "{event:?}");
    }
}

#[test]
fn filters_keep_only_the_status_class_and_slow_requests_asked_for() {
    let cgroup = TestCgroup::create("http-filter");
    let filter = EventFilter {
        status: "5xx".to_owned(),
        ..EventFilter::default()
    };
    let mut tracer = trace(spec(filter, 256), &cgroup);
    let server = Server::start(Some(&cgroup));
    client(server.port, None, &[]);
    wait_events(&mut tracer, PROBE, 1, |_| true);
    let records = stop(tracer, PROBE);
    let events = events::of_probe(&records, PROBE);
    let paths: Vec<&serde_json::Value> = events.iter().map(|e| e.field("path")).collect();
    assert_eq!(paths, [&json!("/fail")], "{events:#?}");
}

/// `http-red` through the plugin: per route, the requests and errors counted and a
/// latency histogram holding every answered request; ids in paths collapse into one
/// route; the table shows the same numbers.
#[test]
fn red_counts_requests_errors_and_latency_per_route() {
    let cgroup = TestCgroup::create("http-red");
    let server = Server::start(Some(&cgroup));
    let cgroup_path = cgroup.path().to_str().expect("UTF-8").to_owned();
    let run = |output: &str| {
        PluginRun::start([
            "trace",
            "http-red",
            "--local",
            "--cgroup",
            &cgroup_path,
            "-d",
            "3s",
            "-o",
            output,
        ])
    };
    let requests = [
        "GET:/users/1",
        "GET:/users/22",
        "GET:/users/333?tab=orders",
        "GET:/fail",
        "GET:/ok",
    ];
    let get = |port: u16| {
        let output = Command::new(binaries::path("http-workload"))
            .arg("get")
            .arg(port.to_string())
            .args(requests)
            .output()
            .expect("run http-workload get");
        assert!(output.status.success(), "{output:?}");
    };

    let plugin = run("json");
    get(server.port);
    let (status, stdout, stderr) = plugin.finish();
    assert!(status.success(), "{status}: {stderr}");
    let result: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let count = |name: &str, route: &str| -> u64 {
        result["counts"]
            .as_array()
            .expect("counts")
            .iter()
            .filter(|c| c["name"] == name && c["key"]["route"] == route)
            .map(|c| c["value"].as_u64().expect("value"))
            .sum()
    };
    assert_eq!(count("requests", "/users/{id}"), 3, "{stdout}");
    assert_eq!(count("errors", "/users/{id}"), 0, "{stdout}");
    assert_eq!(count("requests", "/fail"), 1, "{stdout}");
    assert_eq!(count("errors", "/fail"), 1, "{stdout}");
    assert_eq!(count("requests", "/ok"), 1, "{stdout}");
    let users = result["histograms"]
        .as_array()
        .expect("histograms")
        .iter()
        .find(|h| h["key"]["route"] == "/users/{id}")
        .unwrap_or_else(|| panic!("no /users/{{id}} histogram: {stdout}"));
    assert_eq!(users["count"], 3, "{users}");
    assert_eq!(users["key"]["side"], "server", "{users}");
    assert_eq!(users["key"]["method"], "GET", "{users}");

    let plugin = run("table");
    get(server.port);
    let (status, stdout, stderr) = plugin.finish();
    assert!(status.success(), "{status}: {stderr}");
    let row = stdout
        .lines()
        .find(|line| line.contains("/users/{id}"))
        .unwrap_or_else(|| panic!("no /users/{{id}} row: {stdout}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    // CGROUP SIDE METHOD ROUTE REQUESTS RATE/S ERRORS ERROR% P50 P90 P99
    assert_eq!(
        &cells[1..5],
        ["server", "GET", "/users/{id}", "3"],
        "{stdout}"
    );
    assert_eq!(&cells[6..8], ["0", "0.0%"], "{stdout}");
    let fail = stdout
        .lines()
        .find(|line| line.contains("/fail"))
        .unwrap_or_else(|| panic!("no /fail row: {stdout}"));
    let cells: Vec<&str> = fail.split_whitespace().collect();
    assert_eq!(&cells[4..8], ["1", cells[5], "1", "100.0%"], "{stdout}");
}

/// HTTPS through OpenSSL: curl, started in the target cgroup after the trace (its
/// container already runs), fetches from `openssl s_server` with a throwaway
/// certificate; the plaintext at `SSL_write`/`SSL_read` shows the method, path and
/// status, with the socket's endpoints.
#[test]
fn https_through_openssl_shows_the_decrypted_exchange() {
    let dir = tempfile_dir("http-tls");
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("run openssl req");
    assert!(made.success(), "openssl req: {made}");
    let port = free_port();
    let mut server = Command::new("openssl")
        .args([
            "s_server",
            "-www",
            "-quiet",
            "-accept",
            &port.to_string(),
            "-key",
        ])
        .arg(&key)
        .arg("-cert")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_server");
    wait_for_port(port);

    let cgroup = TestCgroup::create("http-tls");
    // The container's long-running process: the trace finds OpenSSL in its root.
    let mut resident = cgroup.command("sleep").arg("60").spawn().expect("sleep");
    let mut tracer = trace(spec(EventFilter::default(), 256), &cgroup);
    let url = format!("https://127.0.0.1:{port}/hello?secret=1");
    let fetched = cgroup
        .command("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", &url])
        .output()
        .expect("run curl");
    // Outside the cgroup: not shown.
    Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            &format!("https://127.0.0.1:{port}/outside"),
        ])
        .status()
        .expect("run curl");
    assert_eq!(
        String::from_utf8_lossy(&fetched.stdout),
        "200",
        "{fetched:?}"
    );
    wait_events(&mut tracer, PROBE, 1, |_| true);
    let records = stop(tracer, PROBE);
    let _ = server.kill();
    let _ = server.wait();
    let _ = resident.kill();
    let _ = resident.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let events = events::of_probe(&records, PROBE);
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.comm, "curl", "{event:?}");
    assert_eq!(event.field("tls"), &json!(true), "{event:?}");
    assert_eq!(event.field("side"), &json!("client"), "{event:?}");
    assert_eq!(event.field("method"), &json!("GET"), "{event:?}");
    assert_eq!(event.field("path"), &json!("/hello"), "{event:?}");
    assert_eq!(event.field("status"), &json!(200), "{event:?}");
    assert_eq!(
        event.field("remote"),
        &json!(format!("127.0.0.1:{port}")),
        "{event:?}"
    );
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kubectl-ebpf-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("nothing listens on port {port}");
}

/// A request whose response never comes is reported when its connection closes: method
/// and path known, status and latency null.
#[test]
fn a_request_never_answered_is_reported_without_a_status() {
    let cgroup = TestCgroup::create("http-hang");
    let mut tracer = trace(spec(EventFilter::default(), 256), &cgroup);
    let server = Server::start(None);
    let output = cgroup
        .command(binaries::path("http-workload").to_str().expect("UTF-8"))
        .args(["get", &server.port.to_string(), "GET:/ok", "GET:/hang"])
        .output()
        .expect("run http-workload get");
    assert!(output.status.success(), "{output:?}");
    wait_events(&mut tracer, PROBE, 2, |_| true);
    let records = stop(tracer, PROBE);
    let events = events::of_probe(&records, PROBE);
    let paths: Vec<(&serde_json::Value, &serde_json::Value)> = events
        .iter()
        .map(|e| (e.field("path"), e.field("status")))
        .collect();
    assert_eq!(
        paths,
        [
            (&json!("/ok"), &json!(200)),
            (&json!("/hang"), &serde_json::Value::Null)
        ],
        "{events:#?}"
    );
    assert_eq!(events[1].field("latency_ns"), &serde_json::Value::Null);
    assert_eq!(events[1].field("method"), &json!("GET"));
}
