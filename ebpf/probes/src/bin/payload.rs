//! `payload`: a bounded prefix of what target processes write to and read from TCP
//! sockets, for the application-protocol probes (`http`). The syscalls' own tracepoints
//! (read, write, readv, writev, sendto, recvfrom) give the descriptor and the buffer at
//! enter; at exit, when bytes moved and the descriptor is an internet stream socket, the
//! first `CAPTURE_BYTES` of them go to the ring with the socket's identity and endpoints.
//! A close of such a socket is sent too, so the node can end its connection.
//!
//! TLS: uprobes on OpenSSL's `SSL_write`, `SSL_read` and their `_ex` forms take the
//! plaintext the same way, keyed by the `SSL *`; its endpoints are those of the socket
//! the thread last moved bytes on, which is the one under the call (OpenSSL reads and
//! writes it within the call).
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_probe_read_user,
        generated::bpf_probe_read_user as read_user_raw,
    },
    macros::{map, tracepoint, uprobe, uretprobe},
    maps::{LruHashMap, PerCpuArray},
    programs::{ProbeContext, RetProbeContext, TracePointContext},
};
use ebpf_common::payload::{
    CLOSED, InFlight, LOST_COUNTERS, LOST_IN_FLIGHT_FULL, LastSocket, MAX_CAPTURE, MAX_IN_FLIGHT,
    MODE_DNS, Payload, PayloadHead, RECEIVED, SENT, SHAPE_BUFFER, SHAPE_IOVEC, SHAPE_MMSGHDR,
    SHAPE_MSGHDR, SOCK_DGRAM, SOCK_STREAM, SOURCE_SOCKET, SOURCE_TLS, TlsInFlight,
};
use ebpf_probes::{
    events,
    file::{at, socket_of},
    filter::is_target,
    global,
    rows::increment,
    tracepoint_field,
};

/// Bytes copied of each payload, at most `MAX_CAPTURE`.
#[unsafe(no_mangle)]
static CAPTURE_BYTES: u32 = 256;

/// `MODE_STREAMS` (every internet stream socket) or `MODE_DNS`.
#[unsafe(no_mangle)]
static MODE: u8 = 0;

/// `MODE_DNS`: the port one end of a socket (or a datagram's peer) must have.
#[unsafe(no_mangle)]
static DNS_PORT: u16 = 53;

/// Non-zero when OpenSSL's functions have uprobes, which need `LAST_SOCKET`.
#[unsafe(no_mangle)]
static TLS: u8 = 0;

/// `offsetof(struct sock, __sk_common.…)` of what identifies a connection's endpoints.
#[unsafe(no_mangle)]
static SOCK_FAMILY_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SOCK_DADDR_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SOCK_RCV_SADDR_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SOCK_DPORT_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SOCK_NUM_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SOCK_V6_DADDR_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SOCK_V6_RCV_SADDR_OFFSET: u32 = 0;

#[map]
static IN_FLIGHT: LruHashMap<u32, InFlight> = LruHashMap::with_max_entries(MAX_IN_FLIGHT, 0);

#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(LOST_COUNTERS, 0);

/// OpenSSL calls in flight, by thread (apart from `IN_FLIGHT`: the call makes syscalls).
#[map]
static TLS_IN_FLIGHT: LruHashMap<u32, TlsInFlight> = LruHashMap::with_max_entries(MAX_IN_FLIGHT, 0);

/// Where an event is built before its head and captured bytes go to the ring.
#[map]
static SCRATCH: PerCpuArray<Payload> = PerCpuArray::with_max_entries(1, 0);

/// The TCP socket each thread last moved bytes on.
#[map]
static LAST_SOCKET: LruHashMap<u32, LastSocket> = LruHashMap::with_max_entries(MAX_IN_FLIGHT, 0);

/// Every syscall tracepoint's record has its arguments as 8-byte slots from offset 16
/// (after the common fields and the syscall number), and its return value at 16.
const ARG0: usize = 16;
const ARG1: usize = 24;
/// `recvfrom` and `sendto`'s `struct sockaddr *`.
const ARG4: usize = 48;
const RET: usize = 16;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// Messages of one `sendmmsg`/`recvmmsg` whose bytes are taken (a resolver sends its A
/// and AAAA queries in one call).
const MAX_MESSAGES: u64 = 4;
/// `sizeof(struct mmsghdr)` and where its `msg_len` is; `struct msghdr` keeps
/// `msg_name` at 0 and `msg_iov` at 16 (x86_64 and arm64 alike).
const MMSGHDR_SIZE: u64 = 64;
const MMSGHDR_LEN: u64 = 56;
const MSGHDR_IOV: u64 = 16;

#[tracepoint(category = "syscalls", name = "sys_enter_write")]
pub fn payload_enter_write(ctx: TracePointContext) -> u32 {
    enter(&ctx, SENT, SHAPE_BUFFER, false);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_sendto")]
pub fn payload_enter_sendto(ctx: TracePointContext) -> u32 {
    enter(&ctx, SENT, SHAPE_BUFFER, true);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_writev")]
pub fn payload_enter_writev(ctx: TracePointContext) -> u32 {
    enter(&ctx, SENT, SHAPE_IOVEC, false);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_sendmsg")]
pub fn payload_enter_sendmsg(ctx: TracePointContext) -> u32 {
    enter(&ctx, SENT, SHAPE_MSGHDR, false);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_sendmmsg")]
pub fn payload_enter_sendmmsg(ctx: TracePointContext) -> u32 {
    enter(&ctx, SENT, SHAPE_MMSGHDR, false);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_read")]
pub fn payload_enter_read(ctx: TracePointContext) -> u32 {
    enter(&ctx, RECEIVED, SHAPE_BUFFER, false);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_recvfrom")]
pub fn payload_enter_recvfrom(ctx: TracePointContext) -> u32 {
    enter(&ctx, RECEIVED, SHAPE_BUFFER, true);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_readv")]
pub fn payload_enter_readv(ctx: TracePointContext) -> u32 {
    enter(&ctx, RECEIVED, SHAPE_IOVEC, false);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_recvmsg")]
pub fn payload_enter_recvmsg(ctx: TracePointContext) -> u32 {
    enter(&ctx, RECEIVED, SHAPE_MSGHDR, false);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_recvmmsg")]
pub fn payload_enter_recvmmsg(ctx: TracePointContext) -> u32 {
    enter(&ctx, RECEIVED, SHAPE_MMSGHDR, false);
    0
}

/// One program serves every exit: what the enter recorded says what to do.
#[tracepoint(category = "syscalls", name = "sys_exit_write")]
pub fn payload_exit(ctx: TracePointContext) -> u32 {
    exit(&ctx);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_close")]
pub fn payload_close(ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target(pid_tgid) {
        return 0;
    }
    let fd = tracepoint_field::<u64, ARG0>(&ctx, ARG0 as u32).unwrap_or(u64::MAX);
    let Ok(fd) = u32::try_from(fd) else {
        return 0;
    };
    send(pid_tgid, fd, CLOSED, 0, 0, 0, 0);
    0
}

#[inline(always)]
fn enter(ctx: &TracePointContext, direction: u8, shape: u8, has_address: bool) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target(pid_tgid) {
        return;
    }
    let (fd, buffer, address) = (
        tracepoint_field::<u64, ARG0>(ctx, ARG0 as u32).unwrap_or(u64::MAX),
        tracepoint_field::<u64, ARG1>(ctx, ARG1 as u32).unwrap_or(0),
        if has_address {
            tracepoint_field::<u64, ARG4>(ctx, ARG4 as u32).unwrap_or(0)
        } else {
            0
        },
    );
    let Ok(fd) = u32::try_from(fd) else {
        return;
    };
    let in_flight = InFlight {
        buffer,
        address,
        fd,
        direction,
        shape,
        _pad: [0; 2],
    };
    if IN_FLIGHT.insert(&(pid_tgid as u32), &in_flight, 0).is_err() {
        increment(&LOST, LOST_IN_FLIGHT_FULL);
    }
}

#[inline(always)]
fn exit(ctx: &TracePointContext) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let Some(call) = IN_FLIGHT.get_ptr(&tid) else {
        return;
    };
    // SAFETY: a copy out of the map value.
    let call = unsafe { *call };
    let _ = IN_FLIGHT.remove(&tid);
    let ret = tracepoint_field::<i64, RET>(ctx, RET as u32).unwrap_or(-1);
    if ret <= 0 {
        return;
    }
    let ret = ret as u64;
    let (fd, direction) = (call.fd, call.direction);
    match call.shape {
        SHAPE_BUFFER => send(pid_tgid, fd, direction, call.buffer, ret, ret, call.address),
        SHAPE_IOVEC => {
            let (base, first) = iovec(call.buffer);
            send(pid_tgid, fd, direction, base, ret, first, 0);
        }
        SHAPE_MSGHDR => {
            let (base, first, name) = msghdr(call.buffer);
            send(pid_tgid, fd, direction, base, ret, first, name);
        }
        SHAPE_MMSGHDR => {
            // `ret` messages went; each says its own length.
            for i in 0..MAX_MESSAGES {
                if i >= ret {
                    break;
                }
                let header = call.buffer + i * MMSGHDR_SIZE;
                // SAFETY: read through the helper, which fails cleanly on a bad address.
                let len = unsafe { bpf_probe_read_user((header + MMSGHDR_LEN) as *const u32) }
                    .unwrap_or(0);
                let (base, first, name) = msghdr(header);
                if len > 0 {
                    send(pid_tgid, fd, direction, base, u64::from(len), first, name);
                }
            }
        }
        _ => {}
    }
}

/// The first buffer of a `struct iovec` array and its length.
#[inline(always)]
fn iovec(iov: u64) -> (u64, u64) {
    // SAFETY: read through the helper, which fails cleanly on a bad address.
    let iovec = unsafe { bpf_probe_read_user(iov as *const [u64; 2]) }.unwrap_or([0; 2]);
    (iovec[0], iovec[1])
}

/// A `struct msghdr`'s first buffer, its length, and its `msg_name`.
#[inline(always)]
fn msghdr(header: u64) -> (u64, u64, u64) {
    // SAFETY: read through the helper, which fails cleanly on a bad address.
    let fields = unsafe { bpf_probe_read_user(header as *const [u64; 3]) }.unwrap_or([0; 3]);
    let (base, first) = iovec(fields[(MSGHDR_IOV / 8) as usize]);
    (base, first, fields[0])
}

/// Sends the event when `fd` is a socket the mode takes: `len` bytes moved, of which the
/// first `first` are at `buffer` (the rest in later buffers of a vectored call);
/// `address` is the peer's `struct sockaddr` a datagram call named, or 0.
#[inline(always)]
fn send(pid_tgid: u64, fd: u32, direction: u8, buffer: u64, len: u64, first: u64, address: u64) {
    let Some(socket) = socket_of(fd) else {
        return;
    };
    let kind = socket.kind as u8;
    if kind != SOCK_STREAM && kind != SOCK_DGRAM {
        return;
    }
    let Some(mut ends) = endpoints(socket.sock) else {
        return;
    };
    if address != 0 {
        peer(address, &mut ends);
    }
    if global(&MODE) == MODE_DNS {
        let port = global(&DNS_PORT);
        if ends.local_port != port && ends.remote_port != port {
            return;
        }
    } else if kind != SOCK_STREAM {
        return;
    }
    if global(&TLS) != 0 {
        let _ = LAST_SOCKET.insert(&(pid_tgid as u32), &ends, 0);
    }
    let capturable = if first < len { first } else { len };
    emit(
        pid_tgid,
        socket.sock as u64,
        SOURCE_SOCKET,
        kind,
        &ends,
        direction,
        buffer,
        len,
        capturable,
    );
}

/// The peer a datagram call named (`sendto`'s destination, `recvfrom`'s source), over
/// the socket's own when it is not connected.
#[inline(always)]
fn peer(address: u64, ends: &mut LastSocket) {
    // SAFETY: read through the helper, which fails cleanly on a bad address.
    let head = unsafe { bpf_probe_read_user(address as *const [u8; 8]) }.unwrap_or([0; 8]);
    let family = u16::from_ne_bytes([head[0], head[1]]);
    let port = u16::from_be_bytes([head[2], head[3]]);
    if port == 0 || ends.remote_port != 0 {
        return;
    }
    ends.remote_port = port;
    if family == AF_INET {
        ends.remote_addr = [0; 16];
        ends.remote_addr[..4].copy_from_slice(&head[4..8]);
    } else if family == AF_INET6 {
        // `sin6_addr` follows `sin6_flowinfo`.
        // SAFETY: read through the helper, which fails cleanly on a bad address.
        ends.remote_addr =
            unsafe { bpf_probe_read_user((address + 8) as *const [u8; 16]) }.unwrap_or([0; 16]);
    }
}

/// An internet socket's endpoints; `None` for other families.
#[inline(always)]
fn endpoints(sock: *const u8) -> Option<LastSocket> {
    let family: u16 = at(sock, global(&SOCK_FAMILY_OFFSET))?;
    let mut ends = LastSocket {
        family: family as u8,
        local_port: at::<u16>(sock, global(&SOCK_NUM_OFFSET)).unwrap_or(0),
        remote_port: u16::from_be(at::<u16>(sock, global(&SOCK_DPORT_OFFSET)).unwrap_or(0)),
        ..LastSocket::default()
    };
    if family == AF_INET {
        let local: [u8; 4] = at(sock, global(&SOCK_RCV_SADDR_OFFSET)).unwrap_or([0; 4]);
        let remote: [u8; 4] = at(sock, global(&SOCK_DADDR_OFFSET)).unwrap_or([0; 4]);
        ends.local_addr[..4].copy_from_slice(&local);
        ends.remote_addr[..4].copy_from_slice(&remote);
    } else if family == AF_INET6 {
        ends.local_addr = at(sock, global(&SOCK_V6_RCV_SADDR_OFFSET)).unwrap_or([0; 16]);
        ends.remote_addr = at(sock, global(&SOCK_V6_DADDR_OFFSET)).unwrap_or([0; 16]);
    } else {
        return None;
    }
    Some(ends)
}

/// Copies the first `CAPTURE_BYTES` of `len` bytes at `buffer` into an event.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn emit(
    pid_tgid: u64,
    id: u64,
    source: u8,
    kind: u8,
    ends: &LastSocket,
    direction: u8,
    buffer: u64,
    len: u64,
    capturable: u64,
) {
    let Some(event) = SCRATCH.get_ptr_mut(0) else {
        events::count_lost();
        return;
    };
    // SAFETY: this CPU's buffer; programs on one CPU do not run concurrently.
    let event = unsafe { &mut *event };
    event.head = PayloadHead {
        header: events::header(pid_tgid),
        sock: id,
        len,
        captured: 0,
        fd: 0,
        direction,
        family: ends.family,
        local_port: ends.local_port,
        remote_port: ends.remote_port,
        source,
        kind,
        local_addr: ends.local_addr,
        remote_addr: ends.remote_addr,
    };
    let mut captured = global(&CAPTURE_BYTES) as u64;
    if captured > capturable {
        captured = capturable;
    }
    if captured > MAX_CAPTURE as u64 {
        captured = MAX_CAPTURE as u64;
    }
    if captured > 0 && buffer != 0 {
        // SAFETY: `captured` is at most the buffer's size; the helper fails cleanly on
        // a bad address, and then nothing counts as captured.
        let read = unsafe {
            read_user_raw(
                event.data.as_mut_ptr() as *mut _,
                captured as u32,
                buffer as *const _,
            )
        };
        if read != 0 {
            captured = 0;
        }
    } else {
        captured = 0;
    }
    event.head.captured = captured as u32;
    let head = core::mem::size_of::<PayloadHead>();
    // SAFETY: the head and at most `MAX_CAPTURE` bytes of data: within the value.
    unsafe {
        events::output_bytes(
            event as *const Payload as *const u8,
            head + captured as usize,
        )
    };
}

/// `int SSL_write(SSL *ssl, const void *buf, int num)`
#[uprobe]
pub fn payload_tls_write(ctx: ProbeContext) -> u32 {
    tls_enter(&ctx, SENT, false);
    0
}

/// `int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written)`
#[uprobe]
pub fn payload_tls_write_ex(ctx: ProbeContext) -> u32 {
    tls_enter(&ctx, SENT, true);
    0
}

/// `int SSL_read(SSL *ssl, void *buf, int num)`
#[uprobe]
pub fn payload_tls_read(ctx: ProbeContext) -> u32 {
    tls_enter(&ctx, RECEIVED, false);
    0
}

/// `int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes)`
#[uprobe]
pub fn payload_tls_read_ex(ctx: ProbeContext) -> u32 {
    tls_enter(&ctx, RECEIVED, true);
    0
}

/// `void SSL_free(SSL *ssl)`: the connection is over.
#[uprobe]
pub fn payload_tls_free(ctx: ProbeContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target(pid_tgid) {
        return 0;
    }
    let ssl = ctx.arg::<u64>(0).unwrap_or(0);
    if ssl != 0 {
        emit(
            pid_tgid,
            ssl,
            SOURCE_TLS,
            0,
            &LastSocket::default(),
            CLOSED,
            0,
            0,
            0,
        );
    }
    0
}

/// The return of any of them: the plain calls return the byte count, the `_ex` calls 1
/// and the count through their last argument.
#[uretprobe]
pub fn payload_tls_return(ctx: RetProbeContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let Some(call) = TLS_IN_FLIGHT.get_ptr(&tid) else {
        return 0;
    };
    // SAFETY: a copy out of the map value.
    let call = unsafe { *call };
    let _ = TLS_IN_FLIGHT.remove(&tid);
    let ret = ctx.ret::<u64>() as u32 as i32;
    let len = if call.count_at != 0 {
        if ret != 1 {
            return 0;
        }
        // SAFETY: read through the helper, which fails cleanly on a bad address.
        unsafe { bpf_probe_read_user(call.count_at as *const u64) }.unwrap_or(0)
    } else {
        if ret <= 0 {
            return 0;
        }
        ret as u64
    };
    if len == 0 {
        return 0;
    }
    let ends = LAST_SOCKET
        .get_ptr(&tid)
        // SAFETY: a copy out of the map value.
        .map(|ends| unsafe { *ends })
        .unwrap_or_default();
    emit(
        pid_tgid,
        call.ssl,
        SOURCE_TLS,
        0,
        &ends,
        call.direction,
        call.buffer,
        len,
        len,
    );
    0
}

#[inline(always)]
fn tls_enter(ctx: &ProbeContext, direction: u8, ex: bool) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target(pid_tgid) {
        return;
    }
    let call = TlsInFlight {
        ssl: ctx.arg::<u64>(0).unwrap_or(0),
        buffer: ctx.arg::<u64>(1).unwrap_or(0),
        count_at: if ex {
            ctx.arg::<u64>(3).unwrap_or(0)
        } else {
            0
        },
        direction,
        _pad: [0; 7],
    };
    if TLS_IN_FLIGHT.insert(&(pid_tgid as u32), &call, 0).is_err() {
        increment(&LOST, LOST_IN_FLIGHT_FULL);
    }
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
