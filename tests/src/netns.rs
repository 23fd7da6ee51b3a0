//! Two network namespaces joined by a veth pair, as two pods on one node: the ground
//! the network probes' tests stand on. Everything here is real kernel networking; a test
//! reads the kernel's own counters inside a namespace to know what happened.

use std::{
    collections::BTreeMap,
    ffi::OsStr,
    fs::File,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6},
    os::{fd::AsRawFd, unix::process::CommandExt},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

/// Namespaces `a` and `b`, each with `lo` up and an `eth0` end of one veth pair, addressed
/// `10.200.N.1/24` and `fd00:200:N::1/64` on `a`, `.2` and `::2` on `b`. Dropping it
/// deletes both namespaces, and with them the veth pair and any route a test added.
pub struct NetPair {
    a: NetNs,
    b: NetNs,
}

/// One named network namespace (`/run/netns/<name>`), deleted when dropped.
pub struct NetNs {
    name: String,
    ipv4: Ipv4Addr,
    ipv6: Ipv6Addr,
}

impl NetPair {
    /// Creates both namespaces and the link between them, and waits until the link is up
    /// both ways. Names and subnets are unique per process and call.
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("kubectl-ebpf-test-{}-{n}", std::process::id());
        let subnet = (n % 250 + 1) as u8;
        let v6 = |host| Ipv6Addr::new(0xfd00, 0x200, subnet.into(), 0, 0, 0, 0, host);
        // Each side is deleted by its own Drop, so a failure half way leaks nothing.
        let a = NetNs::create(
            format!("{prefix}-a"),
            Ipv4Addr::new(10, 200, subnet, 1),
            v6(1),
        );
        let b = NetNs::create(
            format!("{prefix}-b"),
            Ipv4Addr::new(10, 200, subnet, 2),
            v6(2),
        );
        // Created straight inside the namespaces, so every pair can call its ends eth0.
        run_ip(&[
            "link", "add", "eth0", "netns", &a.name, "type", "veth", "peer", "name", "eth0",
            "netns", &b.name,
        ]);
        for side in [&a, &b] {
            side.ip(&["addr", "add", &format!("{}/24", side.ipv4), "dev", "eth0"]);
            side.ip(&[
                "addr",
                "add",
                &format!("{}/64", side.ipv6),
                "dev",
                "eth0",
                "nodad",
            ]);
            side.ip(&["link", "set", "eth0", "up"]);
        }
        for side in [&a, &b] {
            side.wait_link_up();
        }
        NetPair { a, b }
    }

    pub fn a(&self) -> &NetNs {
        &self.a
    }

    pub fn b(&self) -> &NetNs {
        &self.b
    }
}

impl Default for NetPair {
    fn default() -> Self {
        Self::new()
    }
}

impl NetNs {
    fn create(name: String, ipv4: Ipv4Addr, ipv6: Ipv6Addr) -> Self {
        run_ip(&["netns", "add", &name]);
        let netns = NetNs { name, ipv4, ipv6 };
        netns.ip(&["link", "set", "lo", "up"]);
        // Link-local addresses usable at once too, not only the `nodad` ones.
        netns.sysctl("net.ipv6.conf.all.accept_dad", "0");
        netns.sysctl("net.ipv6.conf.default.accept_dad", "0");
        netns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn ipv4(&self) -> Ipv4Addr {
        self.ipv4
    }

    pub fn ipv6(&self) -> Ipv6Addr {
        self.ipv6
    }

    /// This side's IPv4 address with `port`, e.g. `10.200.1.2:8080`.
    pub fn socket_v4(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.ipv4, port))
    }

    /// This side's IPv6 address with `port`, e.g. `[fd00:200:1::2]:8080`.
    pub fn socket_v6(&self, port: u16) -> SocketAddr {
        SocketAddr::V6(SocketAddrV6::new(self.ipv6, port, 0, 0))
    }

    /// `program` to be run inside this namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program);
        self.enter(&mut command);
        command
    }

    /// Makes `command`'s child join this namespace before it execs, so it never runs a
    /// single instruction outside. Combines with `TestCgroup::enter` and
    /// `EmulatedContainer::enter` for a process in a pod's cgroup and network.
    pub fn enter<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        let netns = self.open();
        // SAFETY: the closure runs between fork and exec and only makes one syscall on a
        // descriptor opened before the fork; it allocates nothing.
        unsafe {
            command.pre_exec(move || {
                if libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            })
        }
    }

    /// Runs `work` on a thread of this process that has joined this namespace: sockets it
    /// opens and `/proc/thread-self/net` and `/proc/sys/net` it reads are this
    /// namespace's.
    pub fn run<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        let netns = self.open();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    // SAFETY: setns on a descriptor this thread owns; a network namespace
                    // may be joined by one thread of a multithreaded process.
                    let joined = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(
                        joined,
                        0,
                        "join network namespace {}: {}",
                        self.name,
                        std::io::Error::last_os_error()
                    );
                    work()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Runs `ip -n <name> ARGS`, and panics with ip's message when it fails.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run_ip(&all);
    }

    /// Sets a `net.*` sysctl for this namespace only, e.g. `net.ipv4.tcp_retries2`.
    pub fn sysctl(&self, key: &str, value: &str) {
        assert!(
            key.starts_with("net."),
            "{key} is not per network namespace"
        );
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.run(|| {
            std::fs::write(&path, value)
                .unwrap_or_else(|err| panic!("sysctl {key}={value} in {}: {err}", self.name))
        });
    }

    /// The namespace's SNMP and extended counters, as `nstat` names them (`TcpOutRsts`,
    /// `TcpExtTCPAbortOnData`, `UdpNoPorts`, `Udp6NoPorts`, ...).
    pub fn counters(&self) -> Counters {
        self.run(|| {
            let mut counters = BTreeMap::new();
            for file in ["snmp", "netstat"] {
                let path = format!("/proc/thread-self/net/{file}");
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|err| panic!("read {path}: {err}"));
                parse_header_rows(&text, &mut counters);
            }
            let path = "/proc/thread-self/net/snmp6";
            let text =
                std::fs::read_to_string(path).unwrap_or_else(|err| panic!("read {path}: {err}"));
            for line in text.lines() {
                if let Some((name, value)) = line.split_once(char::is_whitespace)
                    && let Ok(value) = value.trim().parse()
                {
                    counters.insert(name.to_owned(), value);
                }
            }
            Counters(counters)
        })
    }

    /// Waits until counter `name` has risen by at least `by` since `before`, and returns
    /// by how much it rose; panics after `timeout`.
    pub fn wait_counter(&self, before: &Counters, name: &str, by: u64, timeout: Duration) -> u64 {
        let start = Instant::now();
        loop {
            let rise = self.counters().since(before, name);
            if rise >= by {
                return rise;
            }
            assert!(
                start.elapsed() < timeout,
                "{name} in {} rose by {rise} in {timeout:?}, expected at least {by}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Silently drops every packet this side sends to `peer`, by blackhole routes to the
    /// peer's two addresses, until the returned guard is dropped. Packets from the peer
    /// still arrive; the peer's established connections see no ACKs and retransmit. This
    /// side frees its own packets with drop reason `IP_OUTNOROUTES` (IPv4) or
    /// `NOT_SPECIFIED` (IPv6), and the retransmitted data it already has with
    /// `TCP_OLD_SEQUENCE`. (A blackhole on the sending side instead fails new sends with
    /// EINVAL and stops retransmits from reaching the wire.)
    pub fn blackhole(&self, peer: &NetNs) -> Blackhole<'_> {
        let routes = vec![format!("{}/32", peer.ipv4), format!("{}/128", peer.ipv6)];
        for route in &routes {
            self.ip(&["route", "add", "blackhole", route]);
        }
        Blackhole {
            netns: self,
            routes,
        }
    }

    fn open(&self) -> File {
        let path = format!("/run/netns/{}", self.name);
        File::open(&path).unwrap_or_else(|err| panic!("open {path}: {err}"))
    }

    fn wait_link_up(&self) {
        let start = Instant::now();
        loop {
            let output = Command::new("ip")
                .args(["-n", &self.name, "-o", "link", "show", "eth0"])
                .output()
                .expect("run ip");
            if String::from_utf8_lossy(&output.stdout).contains("state UP") {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "eth0 in {} is not up after 5s: {}",
                self.name,
                String::from_utf8_lossy(&output.stdout).trim()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // The namespace lives on while a process is still inside; its name goes now.
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// Routes that drop a side's packets to its peer; removed when dropped.
pub struct Blackhole<'a> {
    netns: &'a NetNs,
    routes: Vec<String>,
}

impl Blackhole<'_> {
    /// Removes the routes: the path works again and held-back data is delivered.
    pub fn restore(self) {
        drop(self);
    }
}

impl Drop for Blackhole<'_> {
    fn drop(&mut self) {
        for route in &self.routes {
            let _ = Command::new("ip")
                .args(["-n", &self.netns.name, "route", "del", "blackhole", route])
                .status();
        }
    }
}

/// A snapshot of one namespace's counters.
#[derive(Debug, Clone)]
pub struct Counters(BTreeMap<String, u64>);

impl Counters {
    /// Counter `name`; panics on a name the kernel does not have, so a typo cannot pass as
    /// a zero.
    pub fn get(&self, name: &str) -> u64 {
        *self
            .0
            .get(name)
            .unwrap_or_else(|| panic!("the kernel has no counter {name}"))
    }

    /// How much counter `name` rose since `before`.
    pub fn since(&self, before: &Counters, name: &str) -> u64 {
        self.get(name).saturating_sub(before.get(name))
    }
}

/// `/proc/net/snmp` and `/proc/net/netstat` come as pairs of lines, `Tcp: Name Name` then
/// `Tcp: 1 2`; nstat names each value `Tcp` + `Name`.
fn parse_header_rows(text: &str, counters: &mut BTreeMap<String, u64>) {
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let mut names = names.split_whitespace();
        let mut values = values.split_whitespace();
        let (Some(group), Some(_)) = (names.next(), values.next()) else {
            continue;
        };
        let group = group.trim_end_matches(':');
        for (name, value) in names.zip(values) {
            // Tcp's MaxConn is -1; no test needs it.
            if let Ok(value) = value.parse() {
                counters.insert(format!("{group}{name}"), value);
            }
        }
    }
}

fn run_ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        output.status.success(),
        "ip {} failed (tests run as root): {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_snmp_pairs_as_nstat_names_them() {
        let mut counters = BTreeMap::new();
        parse_header_rows(
            "Tcp: RtoAlgorithm MaxConn OutRsts\nTcp: 1 -1 7\nTcpExt: TCPAbortOnData\nTcpExt: 3\n",
            &mut counters,
        );
        let counters = Counters(counters);
        assert_eq!(counters.get("TcpOutRsts"), 7);
        assert_eq!(counters.get("TcpExtTCPAbortOnData"), 3);
        assert!(!counters.0.contains_key("TcpMaxConn"));
    }
}
