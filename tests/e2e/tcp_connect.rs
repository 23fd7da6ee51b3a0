//! The `tcp-connect` probe: connects that succeed and connects refused, over IPv4 and
//! IPv6, from a target cgroup; the same connects from outside it are not shown.

use e2e::{cgroup::TestCgroup, events, net_workload::NetWorkload, netns::NetPair};
use serde_json::json;
use tracer_protocol::ProbeSpec;

use crate::tcp::{
    CLOSED_PORT, PORT, accepted_peer, both_families, lines_of, start_in, stop, trace, wait_events,
};

const PROBE: &str = "tcp-connect";

#[test]
fn shows_connects_with_latency_and_refusals_only_of_the_target() {
    let pair = NetPair::new();
    let cgroup = TestCgroup::create(PROBE);
    let mut tracer = trace(
        ProbeSpec::TcpConnect {
            filter: Default::default(),
        },
        &cgroup,
    );

    let mut inside = Vec::new();
    let mut outside = Vec::new();
    for (server, closed) in both_families(pair.b(), PORT)
        .into_iter()
        .zip(both_families(pair.b(), CLOSED_PORT))
    {
        let (server, closed) = (server.to_string(), closed.to_string());
        let mut listener = NetWorkload::start(pair.b(), &["listen", &server]);
        // The same connect from outside the cgroup first: were it traced, its event
        // would come before the ones waited for below.
        let other = NetWorkload::start(pair.a(), &["connect", &server]);
        assert_eq!(lines_of(other).len(), 2);
        outside.push(accepted_peer(&mut listener));

        let client = start_in(&cgroup, pair.a(), &["connect", &server, "--send", "100"]);
        let lines = lines_of(client);
        assert!(lines[0].starts_with("connected "), "{lines:?}");
        inside.push((accepted_peer(&mut listener), server.clone()));

        let refused = start_in(&cgroup, pair.a(), &["connect", &closed]);
        assert_eq!(lines_of(refused), ["refused"]);
        inside.push(("refused".to_owned(), closed));
    }
    wait_events(&mut tracer, PROBE, 4, |_| true);
    let records = stop(tracer, PROBE);
    let events = events::of_probe(&records, PROBE);

    for (n, (src, dst)) in inside.iter().enumerate() {
        let event = events
            .iter()
            .find(|event| event.field("dst") == &json!(dst))
            .unwrap_or_else(|| panic!("no connect to {dst} in {events:?}"));
        assert_eq!(event.cgroup, cgroup.id(), "{event:?}");
        assert_eq!(event.comm, "net-workload", "the connecting task: {event:?}");
        assert_ne!(event.pid, 0, "{event:?}");
        let latency = event.field("latency_ns").as_u64().expect("latency_ns");
        assert!(latency > 0, "{event:?}");
        if src == "refused" {
            let client_ip = if n < 2 {
                format!("{}:", pair.a().ipv4())
            } else {
                format!("[{}]:", pair.a().ipv6())
            };
            let shown = event.field("src").as_str().expect("src");
            assert!(shown.starts_with(&client_ip), "{event:?}");
            assert_eq!(event.field("result"), &json!("refused"), "{event:?}");
            assert_eq!(event.field("state"), &json!("SYN_SENT"), "{event:?}");
            assert_eq!(event.field("error"), &json!("ECONNREFUSED"), "{event:?}");
        } else {
            assert_eq!(event.field("src"), &json!(src), "{event:?}");
            assert_eq!(event.field("result"), &json!("connected"), "{event:?}");
            assert!(event.fields.get("error").is_none(), "{event:?}");
        }
    }
    assert_eq!(events.len(), 4, "one event per connect: {events:?}");
    for src in &outside {
        assert!(
            !events.iter().any(|event| event.field("src") == &json!(src)),
            "a connect from outside the cgroup was traced: {src} in {events:?}"
        );
    }
}

/// With a single local port, held by an open connection, the next connect to the same
/// destination cannot bind one: the kernel gives up in SYN_SENT before any SYN leaves.
#[test]
fn a_connect_without_a_free_local_port_says_so() {
    let pair = NetPair::new();
    pair.a()
        .sysctl("net.ipv4.ip_local_port_range", "40000 40000");
    let cgroup = TestCgroup::create("tcp-connect-ports");
    let server = pair.b().socket_v4(PORT).to_string();
    let _listener = NetWorkload::start(pair.b(), &["listen", &server]);
    let stop_file = std::env::temp_dir().join(format!("{}-ports-stop", pair.a().name()));
    let _ = std::fs::remove_file(&stop_file);
    let mut holder = NetWorkload::start(
        pair.a(),
        &[
            "connect-and-stall",
            &server,
            "--until",
            stop_file.to_str().expect("UTF-8 temp dir"),
        ],
    );
    holder.expect_line("connected ");

    let mut tracer = trace(
        ProbeSpec::TcpConnect {
            filter: Default::default(),
        },
        &cgroup,
    );
    let client = start_in(&cgroup, pair.a(), &["connect", &server]);
    let lines = lines_of(client);
    assert!(
        lines[0].starts_with("failed Cannot assign requested address"),
        "{lines:?}"
    );
    wait_events(&mut tracer, PROBE, 1, |_| true);
    std::fs::write(&stop_file, "").expect("write stop file");
    let _ = holder.wait();
    let _ = std::fs::remove_file(&stop_file);
    let records = stop(tracer, PROBE);
    let events = events::of_probe(&records, PROBE);
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.field("dst"), &json!(server), "{event:?}");
    assert_eq!(
        event.field("src"),
        &json!(format!("{}:0", pair.a().ipv4())),
        "{event:?}"
    );
    assert_eq!(event.field("result"), &json!("no local port"), "{event:?}");
    assert_eq!(event.field("state"), &json!("SYN_SENT"), "{event:?}");
    assert_eq!(event.cgroup, cgroup.id(), "{event:?}");
}

#[test]
fn kernel_side_filters_keep_only_failed_connects_to_the_port() {
    let pair = NetPair::new();
    let cgroup = TestCgroup::create("tcp-connect-filter");
    let filter = tracer_protocol::EventFilter {
        failed: true,
        port: CLOSED_PORT,
        ..Default::default()
    };
    let mut tracer = trace(ProbeSpec::TcpConnect { filter }, &cgroup);
    let server = pair.b().socket_v4(PORT).to_string();
    let closed = pair.b().socket_v4(CLOSED_PORT).to_string();
    let other_closed = pair.b().socket_v4(CLOSED_PORT + 1).to_string();
    let mut listener = NetWorkload::start(pair.b(), &["listen", &server]);
    // A success and a refusal on another port first: were they kept, they would come
    // before the one waited for.
    assert!(
        lines_of(start_in(&cgroup, pair.a(), &["connect", &server]))[0].starts_with("connected ")
    );
    accepted_peer(&mut listener);
    assert_eq!(
        lines_of(start_in(&cgroup, pair.a(), &["connect", &other_closed])),
        ["refused"]
    );
    assert_eq!(
        lines_of(start_in(&cgroup, pair.a(), &["connect", &closed])),
        ["refused"]
    );
    wait_events(&mut tracer, PROBE, 1, |_| true);
    let records = stop(tracer, PROBE);
    let events = events::of_probe(&records, PROBE);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].field("dst"), &json!(closed));
    assert_eq!(events[0].field("result"), &json!("refused"));
}
