//! The `tcp-reset` probe: a server that aborts its connections (SO_LINGER 0) and a
//! client it aborts on, each in its own cgroup and traced separately, so each trace must
//! show its own side's direction only; and a SYN to a closed port, whose reset belongs to
//! no socket.

use e2e::{
    cgroup::TestCgroup,
    events::{self, Event},
    net_workload::NetWorkload,
    netns::NetPair,
    tracer::TracerRun,
};
use serde_json::json;
use tracer_protocol::{ProbeSpec, TraceSpec};

use crate::tcp::{
    CLOSED_PORT, PORT, accepted_peer, both_families, lines_of, start_in, stop, trace, wait_events,
};

const PROBE: &str = "tcp-reset";

fn is(event: &Event, direction: &str, src: &str, dst: &str) -> bool {
    event.field("direction") == &json!(direction)
        && event.field("src") == &json!(src)
        && event.field("dst") == &json!(dst)
}

#[test]
fn each_side_sees_its_own_resets_and_a_closed_port_resets_for_no_socket() {
    let pair = NetPair::new();
    let server_cgroup = TestCgroup::create("tcp-reset-server");
    let client_cgroup = TestCgroup::create("tcp-reset-client");
    let mut server_trace = trace(
        ProbeSpec::TcpReset {
            filter: Default::default(),
        },
        &server_cgroup,
    );
    let mut client_trace = trace(
        ProbeSpec::TcpReset {
            filter: Default::default(),
        },
        &client_cgroup,
    );
    let mut node_trace = TracerRun::start(&TraceSpec::new(
        vec![ProbeSpec::TcpReset {
            filter: Default::default(),
        }],
        Default::default(),
    ));
    node_trace.wait_attached();

    // (server, the client in the client cgroup, a client outside it, the refused client)
    let mut flows = Vec::new();
    for (server, closed) in both_families(pair.b(), PORT)
        .into_iter()
        .zip(both_families(pair.b(), CLOSED_PORT))
    {
        let (server, closed) = (server.to_string(), closed.to_string());
        let mut listener = start_in(&server_cgroup, pair.b(), &["listen", &server, "--reset"]);
        let listener_pid = listener.pid();
        let connect = ["connect", &server, "--send", "100", "--hold", "300"];
        let outside = NetWorkload::start(pair.a(), &connect);
        assert_eq!(lines_of(outside)[1..], ["reset"]);
        let outside_peer = accepted_peer(&mut listener);
        let inside = start_in(&client_cgroup, pair.a(), &connect);
        assert_eq!(lines_of(inside)[1..], ["reset"]);
        let inside_peer = accepted_peer(&mut listener);
        let refused = start_in(&client_cgroup, pair.a(), &["connect", &closed]);
        assert_eq!(lines_of(refused), ["refused"]);
        flows.push((server, closed, inside_peer, outside_peer, listener_pid));
    }
    wait_events(&mut server_trace, PROBE, 4, |_| true);
    wait_events(&mut client_trace, PROBE, 4, |_| true);
    let refused_src = |records: &[_], closed: &str| -> String {
        events::of_probe(records, PROBE)
            .iter()
            .find(|event| event.field("dst") == &json!(closed))
            .and_then(|event| event.field("src").as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("no reset received from {closed}"))
    };
    for (_, closed, ..) in &flows {
        let client = refused_src(&client_trace.seen, closed);
        wait_events(&mut node_trace, PROBE, 1, |event| {
            is(event, "sent", closed, &client)
        });
    }
    let server_records = stop(server_trace, PROBE);
    let client_records = stop(client_trace, PROBE);
    let node_records = stop(node_trace, PROBE);
    let server_events = events::of_probe(&server_records, PROBE);
    let client_events = events::of_probe(&client_records, PROBE);
    let node_events = events::of_probe(&node_records, PROBE);

    for (server, closed, inside, outside, listener_pid) in &flows {
        // The server aborts both connections, in its own close(): its task, its cgroup.
        for peer in [inside, outside] {
            let sent = server_events
                .iter()
                .find(|event| is(event, "sent", server, peer))
                .unwrap_or_else(|| panic!("no reset sent to {peer} in {server_events:?}"));
            assert_eq!(sent.cgroup, server_cgroup.id(), "{sent:?}");
            assert_eq!(sent.pid, *listener_pid, "{sent:?}");
            assert_eq!(sent.comm, "net-workload", "{sent:?}");
            assert_eq!(sent.field("reason"), &json!("TCP_STATE"), "{sent:?}");
            // tcp_disconnect moves the socket to CLOSE before it sends the reset.
            assert_eq!(sent.field("state"), &json!("CLOSE"), "{sent:?}");
        }
        // The client in the traced cgroup receives one in ESTABLISHED, credited to its
        // socket's cgroup (in softirq, so not necessarily to its task).
        let received = client_events
            .iter()
            .find(|event| is(event, "received", inside, server))
            .unwrap_or_else(|| panic!("no reset received by {inside} in {client_events:?}"));
        assert_eq!(received.cgroup, client_cgroup.id(), "{received:?}");
        assert_eq!(
            received.field("state"),
            &json!("ESTABLISHED"),
            "{received:?}"
        );
        assert!(received.fields.get("reason").is_none(), "{received:?}");
        // And one in SYN_SENT from the closed port: the connect's refusal.
        let client = refused_src(&client_records, closed);
        let refused = client_events
            .iter()
            .find(|event| is(event, "received", &client, closed))
            .expect("the refusal");
        assert_eq!(refused.cgroup, client_cgroup.id(), "{refused:?}");
        assert_eq!(refused.field("state"), &json!("SYN_SENT"), "{refused:?}");
        // The closed port's reset has no socket: no cgroup, no task, shown node-wide only.
        let no_socket = node_events
            .iter()
            .find(|event| is(event, "sent", closed, &client))
            .expect("the closed port's reset, node-wide");
        assert_eq!(no_socket.cgroup, 0, "{no_socket:?}");
        assert_eq!(no_socket.pid, 0, "{no_socket:?}");
        assert_eq!(
            no_socket.field("reason"),
            &json!("NO_SOCKET"),
            "{no_socket:?}"
        );
        assert_eq!(no_socket.field("socket"), &json!("none"), "{no_socket:?}");
        assert!(no_socket.fields.get("state").is_none(), "{no_socket:?}");
        // Node-wide, both directions of the aborted connections show.
        assert!(
            node_events
                .iter()
                .any(|event| is(event, "received", inside, server)),
            "{node_events:?}"
        );
        // Each targeted trace shows its own side only.
        assert!(
            !client_events
                .iter()
                .any(|event| event.field("src") == &json!(outside)),
            "a reset of a client outside the cgroup was traced: {client_events:?}"
        );
    }
    assert!(
        server_events
            .iter()
            .all(|event| event.field("direction") == &json!("sent")),
        "{server_events:?}"
    );
    assert_eq!(server_events.len(), 4, "{server_events:?}");
    assert!(
        client_events
            .iter()
            .all(|event| event.field("direction") == &json!("received")),
        "{client_events:?}"
    );
    assert_eq!(client_events.len(), 4, "{client_events:?}");
}
