//! The `tcp-life` probe: a connection of a target that sends known bytes, holds, and
//! closes; one that was open before the trace began; and the listener's side of each,
//! which is outside the target and must not show.

use std::time::Duration;

use e2e::{cgroup::TestCgroup, events, net_workload::NetWorkload, netns::NetPair};
use serde_json::json;
use tracer_protocol::ProbeSpec;

use crate::tcp::{
    PORT, accepted_peer, both_families, lines_of, start_in, stop, trace, wait_events,
};

const PROBE: &str = "tcp-life";
const SENT: u64 = 3000;
const HOLD_MS: u64 = 300;

#[test]
fn shows_endpoints_lifetime_bytes_and_close_state_of_the_targets_connections() {
    let pair = NetPair::new();
    let cgroup = TestCgroup::create(PROBE);

    // Open before the trace: its lifetime cannot be known.
    let stop_file = std::env::temp_dir().join(format!("{}-life-stop", pair.a().name()));
    let _ = std::fs::remove_file(&stop_file);
    let early_server = pair.b().socket_v4(PORT + 1).to_string();
    let mut early_listener = NetWorkload::start(pair.b(), &["listen", &early_server]);
    let mut early = start_in(
        &cgroup,
        pair.a(),
        &[
            "connect-and-stall",
            &early_server,
            "--until",
            stop_file.to_str().expect("UTF-8 temp dir"),
        ],
    );
    early.expect_line("connected ");
    let early_peer = accepted_peer(&mut early_listener);

    let mut tracer = trace(
        ProbeSpec::TcpLife {
            filter: Default::default(),
        },
        &cgroup,
    );
    std::fs::write(&stop_file, "").expect("write stop file");
    assert!(lines_of(early)[0].starts_with("stopped after "));
    let _ = std::fs::remove_file(&stop_file);

    let mut flows = Vec::new();
    for server in both_families(pair.b(), PORT) {
        let server = server.to_string();
        let mut listener = NetWorkload::start(pair.b(), &["listen", &server]);
        let client = start_in(
            &cgroup,
            pair.a(),
            &[
                "connect",
                &server,
                "--send",
                &SENT.to_string(),
                "--hold",
                &HOLD_MS.to_string(),
            ],
        );
        assert_eq!(lines_of(client)[1..], ["closed"]);
        let peer = accepted_peer(&mut listener);
        let closed = listener.expect_line("closed ");
        assert!(
            closed.ends_with(&format!(" after {SENT} bytes")),
            "{closed}"
        );
        flows.push((peer, server));
    }
    wait_events(&mut tracer, PROBE, 3, |_| true);
    // The listener's sides close a moment later; had they been traced, they would show.
    std::thread::sleep(Duration::from_millis(200));
    let records = stop(tracer, PROBE);
    let events = events::of_probe(&records, PROBE);

    for (src, dst) in &flows {
        let event = events
            .iter()
            .find(|event| event.field("src") == &json!(src))
            .unwrap_or_else(|| panic!("no connection from {src} in {events:?}"));
        assert_eq!(event.field("dst"), &json!(dst), "{event:?}");
        assert_eq!(event.cgroup, cgroup.id(), "{event:?}");
        assert_eq!(event.comm, "net-workload", "{event:?}");
        assert_eq!(event.field("direction"), &json!("outbound"), "{event:?}");
        let duration = event.field("duration_ns").as_u64().expect("a duration");
        assert!(
            duration >= HOLD_MS * 1_000_000,
            "it was held {HOLD_MS} ms: {event:?}"
        );
        assert!(duration < 10_000_000_000, "{event:?}");
        // The kernel counts sequence space: the payload plus the SYN and the FIN
        // acknowledged; received, the peer's FIN.
        assert_eq!(event.field("tx_bytes"), &json!(SENT + 2), "{event:?}");
        assert_eq!(event.field("rx_bytes"), &json!(1), "{event:?}");
        // The client closed first: FIN_WAIT2, then the server's FIN (TIME_WAIT).
        assert_eq!(event.field("close_state"), &json!("FIN_WAIT2"), "{event:?}");
    }

    let early = events
        .iter()
        .find(|event| event.field("src") == &json!(early_peer))
        .unwrap_or_else(|| panic!("no connection from {early_peer} in {events:?}"));
    assert_eq!(early.field("duration_ns"), &json!("unknown"), "{early:?}");
    assert_eq!(early.field("direction"), &json!("unknown"), "{early:?}");
    assert_eq!(early.field("dst"), &json!(early_server), "{early:?}");
    assert_eq!(early.cgroup, cgroup.id(), "{early:?}");

    assert_eq!(events.len(), 3, "only the client's sides: {events:?}");
}
