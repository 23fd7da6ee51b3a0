//! The ground the network probes' tests stand on, checked without eBPF: each traffic
//! pattern those tests will trace happens on this kernel, as the namespace's own SNMP
//! counters show.

use std::{os::unix::fs::MetadataExt, time::Duration};

use e2e::{
    net_workload::NetWorkload,
    netns::{NetNs, NetPair},
    pods::EmulatedNode,
};
use tracer_protocol::QosClass;

const PORT: u16 = 8080;
/// Nothing listens here.
const CLOSED_PORT: u16 = 8081;

fn both_families(side: &NetNs, port: u16) -> [String; 2] {
    [
        side.socket_v4(port).to_string(),
        side.socket_v6(port).to_string(),
    ]
}

fn lines_of(workload: NetWorkload) -> Vec<String> {
    let (status, lines) = workload.wait();
    assert!(
        status.success(),
        "net-workload exited with {status}: {lines:?}"
    );
    lines
}

fn netns_inode(path: &str) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{path}: {err}"))
        .ino()
}

/// A SYN to a closed port: the server's kernel drops it (reason NO_SOCKET) and answers
/// with a RST that has no socket (tcp_send_reset reason NO_SOCKET); the client's connect
/// fails with ECONNREFUSED (tcp_receive_reset in SYN_SENT).
#[test]
fn connect_to_a_closed_port_is_refused_with_a_reset() {
    let pair = NetPair::new();
    for server in both_families(pair.b(), CLOSED_PORT) {
        let client_before = pair.a().counters();
        let server_before = pair.b().counters();
        let client = NetWorkload::start(pair.a(), &["connect", &server, "--count", "3"]);
        assert_eq!(lines_of(client), ["refused"; 3], "connecting to {server}");
        let server_after = pair.b().counters();
        assert_eq!(server_after.since(&server_before, "TcpOutRsts"), 3);
        assert_eq!(server_after.since(&server_before, "TcpPassiveOpens"), 0);
        let client_after = pair.a().counters();
        assert_eq!(client_after.since(&client_before, "TcpActiveOpens"), 3);
        assert_eq!(client_after.since(&client_before, "TcpAttemptFails"), 3);
    }
}

/// Full connections over both families, the server inside an emulated pod's cgroup and
/// the pair's namespace at once.
#[test]
fn connects_over_ipv4_and_ipv6_from_inside_a_pod() {
    let pair = NetPair::new();
    let node = EmulatedNode::new();
    let pod = node.container("web-6f7c", "server", QosClass::Burstable, true);
    for server in both_families(pair.b(), PORT) {
        let mut command = NetWorkload::command(pair.b(), &["listen", &server]);
        pod.enter(&mut command);
        let mut listener = NetWorkload::spawn(command);
        let pid = listener.pid();
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
        let relative = pod
            .path()
            .strip_prefix(e2e::cgroup::cgroup2_mount())
            .expect("below the mount");
        assert!(
            cgroup
                .trim_end()
                .ends_with(&format!("{}/container", relative.display())),
            "listener is in {cgroup:?}"
        );
        assert_eq!(
            netns_inode(&format!("/proc/{pid}/ns/net")),
            netns_inode(&format!("/run/netns/{}", pair.b().name()))
        );

        let client_before = pair.a().counters();
        let client = NetWorkload::start(
            pair.a(),
            &["connect", &server, "--count", "2", "--send", "3000"],
        );
        let lines = lines_of(client);
        assert_eq!(lines.len(), 4, "{lines:?}");
        for attempt in lines.chunks(2) {
            assert!(
                attempt[0].starts_with(&format!("connected {server} in ")),
                "{lines:?}"
            );
            assert_eq!(attempt[1], "closed", "{lines:?}");
        }
        let client_ip = if server.starts_with('[') {
            format!("[{}]:", pair.a().ipv6())
        } else {
            format!("{}:", pair.a().ipv4())
        };
        for _ in 0..2 {
            let accepted = listener.expect_line("accepted ");
            assert!(accepted.contains(&client_ip), "{accepted}");
            let closed = listener.expect_line("closed ");
            assert!(closed.ends_with(" after 3000 bytes"), "{closed}");
        }
        let client_after = pair.a().counters();
        assert_eq!(client_after.since(&client_before, "TcpActiveOpens"), 2);
        assert_eq!(client_after.since(&client_before, "TcpAttemptFails"), 0);
    }
}

/// A server that aborts with SO_LINGER 0 resets an established connection: the server's
/// kernel counts an abort on data and a RST out (tcp_send_reset with reason TCP_STATE),
/// the client's an established reset (tcp_receive_reset in ESTABLISHED).
#[test]
fn server_abort_resets_an_established_connection() {
    let pair = NetPair::new();
    for server in both_families(pair.b(), PORT) {
        let mut listener = NetWorkload::start(pair.b(), &["listen", &server, "--reset"]);
        let client_before = pair.a().counters();
        let server_before = pair.b().counters();
        let client = NetWorkload::start(
            pair.a(),
            &["connect", &server, "--send", "100", "--hold", "300"],
        );
        let lines = lines_of(client);
        assert!(lines[0].starts_with("connected "), "{lines:?}");
        assert_eq!(lines[1..], ["reset"], "{lines:?}");
        listener.expect_line("accepted ");
        assert!(
            listener.expect_line("reset ").ends_with(" after 100 bytes"),
            "the server read the client's data before aborting"
        );
        let server_after = pair.b().counters();
        assert_eq!(server_after.since(&server_before, "TcpOutRsts"), 1);
        assert_eq!(
            server_after.since(&server_before, "TcpExtTCPAbortOnData"),
            1
        );
        let client_after = pair.a().counters();
        assert_eq!(client_after.since(&client_before, "TcpEstabResets"), 1);
    }
}

/// Once the server's packets to the client vanish, the client's established connection
/// sees no ACKs and retransmits within a few RTOs (the first at about 200 ms); with the
/// path back, everything sent arrives.
#[test]
fn cut_path_makes_an_established_connection_retransmit() {
    let pair = NetPair::new();
    // Give up on a dead connection within seconds rather than the default 15 minutes, so
    // nothing outlives the test even if it fails half way. (Not tcp_orphan_retries: the
    // client closes while its last data may still be in flight, and an orphan that has
    // already retransmitted more than that is dropped at once, data and all.)
    pair.a().sysctl("net.ipv4.tcp_retries2", "5");
    for (n, server) in both_families(pair.b(), PORT).into_iter().enumerate() {
        let stop = std::env::temp_dir().join(format!("{}-{n}-stop", pair.a().name()));
        let _ = std::fs::remove_file(&stop);
        let mut listener = NetWorkload::start(pair.b(), &["listen", &server]);
        let mut client = NetWorkload::start(
            pair.a(),
            &[
                "connect-and-stall",
                &server,
                "--until",
                stop.to_str().expect("UTF-8 temp dir"),
            ],
        );
        client.expect_line("connected ");
        listener.expect_line("accepted ");
        // Some data acknowledged first, so the retransmits are an established
        // connection's, not the handshake's.
        std::thread::sleep(Duration::from_millis(100));

        let before = pair.a().counters();
        let cut = pair.b().blackhole(pair.a());
        let retransmits =
            pair.a()
                .wait_counter(&before, "TcpRetransSegs", 2, Duration::from_secs(5));
        let after = pair.a().counters();
        assert!(after.since(&before, "TcpExtTCPTimeouts") >= 1);
        cut.restore();

        std::fs::write(&stop, "").expect("write stop file");
        let lines = lines_of(client);
        let _ = std::fs::remove_file(&stop);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let sent = lines[0]
            .strip_prefix("stopped after ")
            .unwrap_or_else(|| panic!("client said {lines:?} after {retransmits} retransmits"));
        let closed = listener.expect_line("closed ");
        assert!(
            closed.ends_with(&format!(" after {sent}")),
            "everything sent arrives once the path is back: {closed}"
        );
    }
}

/// Datagrams to a port nobody listens on are dropped by the receiver (drop reason
/// NO_SOCKET), which counts them as NoPorts.
#[test]
fn udp_to_a_port_without_a_listener_is_dropped() {
    let pair = NetPair::new();
    for (server, [no_ports, delivered]) in both_families(pair.b(), CLOSED_PORT).into_iter().zip([
        ["UdpNoPorts", "UdpInDatagrams"],
        ["Udp6NoPorts", "Udp6InDatagrams"],
    ]) {
        let before = pair.b().counters();
        let sender = NetWorkload::start(pair.a(), &["udp-send", &server, "--count", "5"]);
        assert_eq!(lines_of(sender), ["sent 5"]);
        // Delivery is asynchronous to the sender's exit, though quick on a veth.
        let dropped = pair
            .b()
            .wait_counter(&before, no_ports, 5, Duration::from_secs(5));
        assert_eq!(dropped, 5, "{no_ports} for {server}");
        assert_eq!(pair.b().counters().since(&before, delivered), 0);
    }
}
