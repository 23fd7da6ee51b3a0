//! The `tcp-retransmit` probe: two identical established connections, one from the
//! target cgroup and one from another, lose their ACKs; only the target's retransmits
//! show, as events and as a per-flow count at least as large.

use std::time::Duration;

use e2e::{cgroup::TestCgroup, events, net_workload::NetWorkload, netns::NetPair};
use serde_json::json;
use tracer_protocol::{ProbeSpec, Record};

use crate::tcp::{
    PORT, accepted_peer, both_families, lines_of, start_in, stop, trace, wait_events,
};

const PROBE: &str = "tcp-retransmit";

/// The last cumulative retransmit count of the flow `src` → `dst`.
fn count_of(records: &[Record], src: &str, dst: &str) -> Option<(u64, String)> {
    records.iter().rev().find_map(|record| match record {
        Record::Count {
            probe,
            name,
            key,
            value,
        } if probe == PROBE
            && name == "retransmits"
            && key.get("src").map(String::as_str) == Some(src)
            && key.get("dst").map(String::as_str) == Some(dst) =>
        {
            Some((*value, key.get("state").cloned().unwrap_or_default()))
        }
        _ => None,
    })
}

#[test]
fn shows_and_counts_the_targets_retransmits_only() {
    let pair = NetPair::new();
    // Give up on a dead connection within seconds, so nothing outlives the test.
    pair.a().sysctl("net.ipv4.tcp_retries2", "5");
    let cgroup = TestCgroup::create(PROBE);
    let other = TestCgroup::create("tcp-retransmit-other");
    let mut tracer = trace(
        ProbeSpec::TcpRetransmit {
            filter: Default::default(),
        },
        &cgroup,
    );

    let mut flows = Vec::new();
    for (n, server) in both_families(pair.b(), PORT).into_iter().enumerate() {
        let server = server.to_string();
        let stop_file = std::env::temp_dir().join(format!("{}-{n}-retransmit", pair.a().name()));
        let _ = std::fs::remove_file(&stop_file);
        let until = stop_file.to_str().expect("UTF-8 temp dir");
        let mut listener = NetWorkload::start(pair.b(), &["listen", &server]);
        let stall = ["connect-and-stall", &server, "--until", until];
        let mut traced = start_in(&cgroup, pair.a(), &stall);
        traced.expect_line("connected ");
        let traced_peer = accepted_peer(&mut listener);
        let mut untraced = start_in(&other, pair.a(), &stall);
        untraced.expect_line("connected ");
        let untraced_peer = accepted_peer(&mut listener);
        // Some data acknowledged first, so these are an established connection's.
        std::thread::sleep(Duration::from_millis(100));

        let cut = pair.b().blackhole(pair.a());
        let before = pair.a().counters();
        pair.a()
            .wait_counter(&before, "TcpRetransSegs", 4, Duration::from_secs(5));
        wait_events(&mut tracer, PROBE, 2, |event| {
            event.field("src") == &json!(traced_peer)
        });
        cut.restore();
        std::fs::write(&stop_file, "").expect("write stop file");
        for client in [traced, untraced] {
            assert!(lines_of(client)[0].starts_with("stopped after "));
        }
        let _ = std::fs::remove_file(&stop_file);
        flows.push((traced_peer, untraced_peer, server));
    }
    let records = stop(tracer, PROBE);
    let events = events::of_probe(&records, PROBE);

    for (traced, untraced, server) in &flows {
        let seen: Vec<_> = events
            .iter()
            .filter(|event| event.field("src") == &json!(traced))
            .collect();
        assert!(seen.len() >= 2, "{events:?}");
        for event in &seen {
            assert_eq!(event.field("dst"), &json!(server), "{event:?}");
            assert_eq!(event.field("state"), &json!("ESTABLISHED"), "{event:?}");
            assert_eq!(event.cgroup, cgroup.id(), "{event:?}");
            assert!(event.fields.get("error").is_none(), "{event:?}");
        }
        let (count, state) = count_of(&records, traced, server)
            .unwrap_or_else(|| panic!("no count for {traced} in {records:?}"));
        assert!(
            count >= seen.len() as u64,
            "count {count} < {} events",
            seen.len()
        );
        assert_eq!(state, "ESTABLISHED");

        assert!(
            !events
                .iter()
                .any(|event| event.field("src") == &json!(untraced)),
            "the untraced cgroup's flow was traced: {events:?}"
        );
        assert_eq!(count_of(&records, untraced, server), None);
    }
}
