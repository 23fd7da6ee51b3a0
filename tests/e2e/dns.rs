//! The `dns` probe: a DNS server with known answers on 127.0.53.53:53, asked by a client
//! in the target cgroup over UDP (unconnected, `sendto`/`recvfrom`), over TCP, and as
//! glibc's resolver asks (A and AAAA in one `sendmmsg` on a connected socket); the same
//! questions from outside the cgroup do not show.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use e2e::{binaries, cgroup::TestCgroup, events, tracer::last_counts};
use serde_json::json;
use tracer_protocol::ProbeSpec;

use crate::tcp::{stop, trace, wait_events};

const PROBE: &str = "dns";
const SERVER: &str = "127.0.53.53:53";

struct Server(Child);

impl Server {
    fn start() -> Server {
        let mut child = Command::new(binaries::path("dns-workload"))
            .args(["serve", SERVER])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start dns-workload serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("listening line");
        assert_eq!(line.trim(), "listening");
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ask(cgroup: Option<&TestCgroup>, args: &[&str]) -> Vec<String> {
    let mut command = Command::new(binaries::path("dns-workload"));
    if let Some(cgroup) = cgroup {
        cgroup.enter(&mut command);
    }
    let output = command
        .args(["query", SERVER])
        .args(args)
        .output()
        .expect("run dns-workload query");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn lookups_show_name_type_rcode_answers_and_latency_only_of_the_target() {
    let _server = Server::start();
    let cgroup = TestCgroup::create("dns");
    let mut tracer = trace(ProbeSpec::Dns {}, &cgroup);
    // From outside first: were it traced, its events would come first.
    ask(None, &["outside.test"]);
    let udp = ask(
        Some(&cgroup),
        &[
            "known.test",
            "nothere.test",
            "fail.test",
            "slow.test",
            "alias.test",
        ],
    );
    assert_eq!(udp.len(), 5, "{udp:?}");
    ask(Some(&cgroup), &["--tcp", "known.test"]);
    ask(Some(&cgroup), &["--mmsg", "known.test"]);
    wait_events(&mut tracer, PROBE, 8, |_| true);
    let records = stop(tracer, PROBE);
    let events = events::of_probe(&records, PROBE);

    let seen: Vec<(String, String, serde_json::Value, serde_json::Value)> = events
        .iter()
        .map(|e| {
            (
                e.field("name").as_str().unwrap_or("").to_owned(),
                e.field("type").as_str().unwrap_or("").to_owned(),
                e.field("rcode").clone(),
                e.field("answers").clone(),
            )
        })
        .collect();
    let expected = [
        ("known.test", "A", "NOERROR", json!(["10.1.2.3"])),
        ("nothere.test", "A", "NXDOMAIN", json!([])),
        ("fail.test", "A", "SERVFAIL", json!([])),
        ("slow.test", "A", "NOERROR", json!(["10.1.2.3"])),
        (
            "alias.test",
            "A",
            "NOERROR",
            json!(["known.test", "10.1.2.3"]),
        ),
        ("known.test", "A", "NOERROR", json!(["10.1.2.3"])),
        ("known.test", "A", "NOERROR", json!(["10.1.2.3"])),
        ("known.test", "AAAA", "NOERROR", json!(["2001:db8::3"])),
    ];
    let expected: Vec<(String, String, serde_json::Value, serde_json::Value)> = expected
        .into_iter()
        .map(|(name, qtype, rcode, answers)| {
            (name.to_owned(), qtype.to_owned(), json!(rcode), answers)
        })
        .collect();
    assert_eq!(seen, expected, "{events:#?}");
    for event in &events {
        assert_eq!(event.cgroup, cgroup.id(), "{event:?}");
        assert_eq!(event.comm, "dns-workload", "{event:?}");
        assert_eq!(event.field("side"), &json!("client"), "{event:?}");
        assert_eq!(event.field("resolver"), &json!(SERVER), "{event:?}");
        let latency = event.field("latency_ns").as_u64().expect("latency_ns");
        if event.field("name") == "slow.test" {
            assert!(latency >= 200_000_000, "{event:?}");
        } else {
            assert!(latency < 200_000_000, "{event:?}");
        }
    }
    let counts = last_counts(&records, PROBE, "lookups");
    let count = |name: &str, error: Option<&str>| -> u64 {
        counts
            .iter()
            .filter(|(key, _)| {
                key.get("name").map(String::as_str) == Some(name)
                    && key.get("error").map(String::as_str) == error
            })
            .map(|(_, value)| *value)
            .sum()
    };
    assert_eq!(count("known.test", None), 4, "{counts:?}");
    assert_eq!(count("nothere.test", Some("NXDOMAIN")), 1, "{counts:?}");
    assert_eq!(count("fail.test", Some("SERVFAIL")), 1, "{counts:?}");
    assert_eq!(count("outside.test", None), 0, "{counts:?}");
}
