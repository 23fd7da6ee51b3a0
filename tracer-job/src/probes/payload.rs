//! The user side of `ebpf/probes/src/bin/payload.rs`: loads the socket-payload capture
//! for the targets and reads its events. The application-protocol probes (`http`) parse
//! what it captures; the bytes themselves never leave the node.
//!
//! TLS: the OpenSSL libraries (`libssl.so*`) the target processes map when the trace
//! starts, and those at the usual paths in their roots, get uprobes on `SSL_write`,
//! `SSL_read`, their `_ex` forms and `SSL_free`, so their plaintext is captured too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray},
    programs::{TracePoint, UProbe, uprobe::UProbeScope},
};
use ebpf_common::payload::{
    CLOSED, LOST_IN_FLIGHT_FULL, MAX_CAPTURE, MAX_IN_FLIGHT, MODE_DNS, MODE_STREAMS, PayloadHead,
    RECEIVED, SENT, SOCK_DGRAM, SOURCE_TLS,
};
use tracer_protocol::ErrorCode;

use super::{events, filter::FilterGlobals, load, maps, missing_program, slots, uprobe};
use crate::{btf::Btf, failure::Failure, targets::ResolvedTargets, tracefs::Format};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/payload"));

/// Room for payloads waiting to be read: 16 MiB, some 45,000 events of 256 bytes.
const RING_BYTES: u32 = 16 << 20;

/// The syscalls whose payloads are taken; each has its entry program,
/// `payload_enter_<syscall>`.
const SYSCALLS: [&str; 10] = [
    "write", "sendto", "writev", "sendmsg", "sendmmsg", "read", "recvfrom", "readv", "recvmsg",
    "recvmmsg",
];

/// What the capture takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every internet stream socket (`http`).
    Streams,
    /// Stream and datagram sockets with port 53 at either end (`dns`).
    Dns,
}

const EXIT_PROGRAM: &str = "payload_exit";
const CLOSE_PROGRAM: &str = "payload_close";

/// OpenSSL's functions and the entry programs attached to them; the ones that move
/// bytes get the return program too.
const TLS_FUNCTIONS: [(&str, &str, bool); 5] = [
    ("SSL_write", "payload_tls_write", true),
    ("SSL_write_ex", "payload_tls_write_ex", true),
    ("SSL_read", "payload_tls_read", true),
    ("SSL_read_ex", "payload_tls_read_ex", true),
    ("SSL_free", "payload_tls_free", false),
];
const TLS_RETURN_PROGRAM: &str = "payload_tls_return";

/// Where distributions install OpenSSL: looked for in the targets' roots, so processes
/// that start after the trace are covered too.
const USUAL_OPENSSL: [&str; 8] = [
    "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    "/usr/lib/aarch64-linux-gnu/libssl.so.3",
    "/lib/x86_64-linux-gnu/libssl.so.3",
    "/lib/aarch64-linux-gnu/libssl.so.3",
    "/usr/lib64/libssl.so.3",
    "/usr/lib/libssl.so.3",
    "/lib/libssl.so.3",
    "/usr/lib/x86_64-linux-gnu/libssl.so.1.1",
];

/// Which way a payload went, seen from the traced process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Sent,
    Received,
    /// The process closed the socket.
    Closed,
}

/// One syscall's payload on a TCP socket.
#[derive(Debug)]
pub struct Captured<'a> {
    pub time_ns: u64,
    pub cgroup: u64,
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    /// The kernel's socket, or the `SSL *` for TLS: the connection's identity while it
    /// is open.
    pub sock: u64,
    /// Plaintext of an OpenSSL call, not bytes on the socket.
    pub tls: bool,
    /// A datagram socket's message (UDP), not part of a stream.
    pub datagram: bool,
    pub flow: Flow,
    /// Bytes the syscall moved; `data` is their first part.
    pub len: u64,
    pub data: &'a [u8],
    /// Unknown for TLS when the thread had not used a socket yet.
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
}

/// The loaded capture.
pub struct Capture {
    pub events: events::EventStream,
    /// Syscalls that could not be followed (the in-flight map was full).
    lost: PerCpuArray<MapData, u64>,
    /// Holds the programs and their links; dropping it detaches them.
    pub ebpf: Ebpf,
}

impl Capture {
    /// Payloads the capture lost: the ring was full, an event could not be read, or a
    /// syscall could not be followed.
    pub fn lost(&self) -> Result<u64, Failure> {
        let values = self
            .lost
            .get(&LOST_IN_FLIGHT_FULL, 0)
            .map_err(|err| Failure::from_kernel("reading the payload loss counter", &err))?;
        let not_followed = values.iter().fold(0u64, |total, v| total.wrapping_add(*v));
        Ok(self.events.lost()?.wrapping_add(not_followed))
    }
}

/// Loads and attaches the capture, copying at most `capture_bytes` of each payload.
pub fn attach(
    probe: &'static str,
    capture_bytes: u32,
    mode: Mode,
    targets: &ResolvedTargets,
) -> Result<Capture, Failure> {
    // DNS is not looked for inside TLS.
    let libraries = match mode {
        Mode::Streams => uprobe::mapped_files(
            targets,
            |name| name.starts_with("libssl.so"),
            &USUAL_OPENSSL,
        ),
        Mode::Dns => Vec::new(),
    };
    let mode_global = match mode {
        Mode::Streams => MODE_STREAMS,
        Mode::Dns => MODE_DNS,
    };
    check_syscall_layout()?;
    let offsets = offsets()?;
    let filter = FilterGlobals::new(targets);
    let capture_bytes = capture_bytes.min(MAX_CAPTURE as u32);
    let mut loader = EbpfLoader::new();
    filter.apply(&mut loader);
    for (name, offset) in &offsets {
        loader.override_global(name, offset, true);
    }
    let tls = u8::from(!libraries.is_empty());
    let in_flight = slots::in_flight(MAX_IN_FLIGHT);
    // Only OpenSSL's uprobes use the TLS maps.
    let tls_entries = if tls != 0 { in_flight } else { 1 };
    loader
        .override_global("CAPTURE_BYTES", &capture_bytes, true)
        .override_global("TLS", &tls, true)
        .override_global("MODE", &mode_global, true)
        .map_max_entries("EVENTS", RING_BYTES)
        .map_max_entries("IN_FLIGHT", in_flight)
        .map_max_entries("LAST_SOCKET", tls_entries)
        .map_max_entries("TLS_IN_FLIGHT", tls_entries);
    let mut ebpf = load(loader, OBJECT, probe, targets)?;
    // Exits first, so no entry is recorded without its exit attached.
    attach_many(
        &mut ebpf,
        EXIT_PROGRAM,
        &SYSCALLS.map(|syscall| format!("sys_exit_{syscall}")),
    )?;
    attach_many(&mut ebpf, CLOSE_PROGRAM, &["sys_enter_close".to_owned()])?;
    for syscall in SYSCALLS {
        let program = format!("payload_enter_{syscall}");
        attach_many(&mut ebpf, &program, &[format!("sys_enter_{syscall}")])?;
    }
    attach_tls(&mut ebpf, &libraries)?;
    Ok(Capture {
        events: events::EventStream::take(&mut ebpf, probe)?,
        lost: maps::take(&mut ebpf, "LOST")?,
        ebpf,
    })
}

/// Reads one event; `None` when it is not a payload event.
pub fn decode(bytes: &[u8]) -> Option<Captured<'_>> {
    let event: PayloadHead = events::read(bytes)?;
    let flow = match event.direction {
        SENT => Flow::Sent,
        RECEIVED => Flow::Received,
        CLOSED => Flow::Closed,
        _ => return None,
    };
    let captured = (event.captured as usize).min(MAX_CAPTURE);
    let start = size_of::<PayloadHead>();
    let data = bytes.get(start..start + captured)?;
    Some(Captured {
        time_ns: event.header.time_ns,
        cgroup: event.header.cgroup,
        pid: event.header.pid,
        tid: event.header.tid,
        comm: events::text(&event.header.comm),
        sock: event.sock,
        tls: event.source == SOURCE_TLS,
        datagram: event.kind == SOCK_DGRAM,
        flow,
        len: event.len,
        data,
        local: address(event.family, &event.local_addr, event.local_port),
        remote: address(event.family, &event.remote_addr, event.remote_port),
    })
}

fn address(family: u8, bytes: &[u8; 16], port: u16) -> Option<SocketAddr> {
    const AF_INET: u8 = 2;
    const AF_INET6: u8 = 10;
    let ip = match family {
        AF_INET6 => {
            let v6 = Ipv6Addr::from(*bytes);
            // A v4 peer of a dual-stack socket shows as ::ffff:a.b.c.d.
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        AF_INET => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Attaches the OpenSSL uprobes to each library. A library without one of the
/// functions (an old OpenSSL has no `_ex`) goes without that one.
fn attach_tls(ebpf: &mut Ebpf, libraries: &[uprobe::Binary]) -> Result<(), Failure> {
    if libraries.is_empty() {
        return Ok(());
    }
    for (_, program, _) in TLS_FUNCTIONS {
        load_uprobe(ebpf, program)?;
    }
    load_uprobe(ebpf, TLS_RETURN_PROGRAM)?;
    for library in libraries {
        for (function, program, returns) in TLS_FUNCTIONS {
            let entry = uprobe_program(ebpf, program)?
                .attach([function], library.attach_path(), UProbeScope::AllProcesses)
                .is_ok();
            if entry && returns {
                uprobe_program(ebpf, TLS_RETURN_PROGRAM)?
                    .attach([function], library.attach_path(), UProbeScope::AllProcesses)
                    .map_err(|err| {
                        Failure::from_kernel(
                            &format!("attaching to the return of {function}"),
                            &err,
                        )
                    })?;
            }
        }
    }
    Ok(())
}

fn uprobe_program<'a>(ebpf: &'a mut Ebpf, program: &str) -> Result<&'a mut UProbe, Failure> {
    ebpf.program_mut(program)
        .ok_or_else(|| missing_program(program))?
        .try_into()
        .map_err(|err| Failure::from_kernel(&format!("loading {program}"), &err))
}

fn load_uprobe(ebpf: &mut Ebpf, program: &str) -> Result<(), Failure> {
    uprobe_program(ebpf, program)?
        .load()
        .map_err(|err| Failure::from_kernel(&format!("loading {program}"), &err))
}

/// The program reads a syscall's first two arguments (and the fifth of `sendto` and
/// `recvfrom`) and its return value at fixed places of the syscalls' tracepoint
/// records: check this kernel agrees.
fn check_syscall_layout() -> Result<(), Failure> {
    for syscall in SYSCALLS {
        let enter = Format::load("syscalls", &format!("sys_enter_{syscall}"))?;
        let exit = Format::load("syscalls", &format!("sys_exit_{syscall}"))?;
        let fd = enter.offset("fd", 8)?;
        let ret = exit.offset("ret", 8)?;
        let address = match syscall {
            "sendto" | "recvfrom" => enter.offset("addr", 8)?,
            _ => 48,
        };
        if fd != 16 || ret != 16 || address != 48 {
            return Err(Failure::new(
                ErrorCode::KernelUnsupported,
                format!(
                    "tracepoint syscalls:sys_enter_{syscall} lays out its arguments in a way this tracer does not know"
                ),
                "the http and dns probes need the usual syscall tracepoint layout",
            ));
        }
    }
    Ok(())
}

/// Where the kernel keeps what leads from a descriptor to its socket, and the socket's
/// endpoints; all of them, or the probe cannot run.
fn offsets() -> Result<Vec<(&'static str, u32)>, Failure> {
    let unsupported = |what: String| {
        Failure::new(
            ErrorCode::KernelUnsupported,
            what,
            "the http probe needs a kernel with BTF (CONFIG_DEBUG_INFO_BTF)",
        )
    };
    let btf = Btf::from_sys_fs()
        .map_err(|err| unsupported(format!("cannot read the kernel's BTF: {err}")))?;
    let wanted: [(&str, &str, &[&str]); 16] = [
        ("TASK_FILES_OFFSET", "task_struct", &["files"]),
        ("FILES_FDT_OFFSET", "files_struct", &["fdt"]),
        ("FDTABLE_MAX_FDS_OFFSET", "fdtable", &["max_fds"]),
        ("FDTABLE_FD_OFFSET", "fdtable", &["fd"]),
        ("FILE_INODE_OFFSET", "file", &["f_inode"]),
        ("FILE_PRIVATE_DATA_OFFSET", "file", &["private_data"]),
        ("INODE_MODE_OFFSET", "inode", &["i_mode"]),
        ("SOCKET_TYPE_OFFSET", "socket", &["type"]),
        ("SOCKET_SK_OFFSET", "socket", &["sk"]),
        ("SOCK_FAMILY_OFFSET", "sock", &["__sk_common", "skc_family"]),
        ("SOCK_DADDR_OFFSET", "sock", &["__sk_common", "skc_daddr"]),
        (
            "SOCK_RCV_SADDR_OFFSET",
            "sock",
            &["__sk_common", "skc_rcv_saddr"],
        ),
        ("SOCK_DPORT_OFFSET", "sock", &["__sk_common", "skc_dport"]),
        ("SOCK_NUM_OFFSET", "sock", &["__sk_common", "skc_num"]),
        (
            "SOCK_V6_DADDR_OFFSET",
            "sock",
            &["__sk_common", "skc_v6_daddr"],
        ),
        (
            "SOCK_V6_RCV_SADDR_OFFSET",
            "sock",
            &["__sk_common", "skc_v6_rcv_saddr"],
        ),
    ];
    wanted
        .iter()
        .map(|(global, owner, path)| {
            btf.member(owner, path)
                .map(|member| (*global, member.offset))
                .map_err(|err| {
                    unsupported(format!(
                        "cannot find {owner}.{} in the kernel's BTF: {err}",
                        path.join(".")
                    ))
                })
        })
        .collect()
}

/// Loads `program` once and attaches it to each `syscalls:` tracepoint named.
fn attach_many(ebpf: &mut Ebpf, program: &str, tracepoints: &[String]) -> Result<(), Failure> {
    let what = format!("attaching {program}");
    let loaded: &mut TracePoint = ebpf
        .program_mut(program)
        .ok_or_else(|| missing_program(program))?
        .try_into()
        .map_err(|err| Failure::from_kernel(&what, &err))?;
    loaded
        .load()
        .map_err(|err| Failure::from_kernel(&what, &err))?;
    for tracepoint in tracepoints {
        loaded.attach("syscalls", tracepoint).map_err(|err| {
            Failure::from_kernel(&format!("{what} to syscalls:{tracepoint}"), &err)
        })?;
    }
    Ok(())
}

/// `CLOCK_MONOTONIC` now, the clock of the events' kernel times (`bpf_ktime_get_ns`).
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(now.tv_nsec).unwrap_or(0)
}
