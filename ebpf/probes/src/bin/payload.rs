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
    Payload, PayloadHead, RECEIVED, SENT, SOURCE_SOCKET, SOURCE_TLS, TlsInFlight,
};
use ebpf_probes::{
    events,
    file::{at, socket_of},
    filter::is_target,
    global,
    rows::increment,
};

/// Bytes copied of each payload, at most `MAX_CAPTURE`.
#[unsafe(no_mangle)]
static CAPTURE_BYTES: u32 = 256;

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
const RET: usize = 16;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const SOCK_STREAM: u16 = 1;

#[tracepoint(category = "syscalls", name = "sys_enter_write")]
pub fn payload_enter_write(ctx: TracePointContext) -> u32 {
    enter(&ctx, SENT, false);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_sendto")]
pub fn payload_enter_sendto(ctx: TracePointContext) -> u32 {
    enter(&ctx, SENT, false);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_writev")]
pub fn payload_enter_writev(ctx: TracePointContext) -> u32 {
    enter(&ctx, SENT, true);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_read")]
pub fn payload_enter_read(ctx: TracePointContext) -> u32 {
    enter(&ctx, RECEIVED, false);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_recvfrom")]
pub fn payload_enter_recvfrom(ctx: TracePointContext) -> u32 {
    enter(&ctx, RECEIVED, false);
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_readv")]
pub fn payload_enter_readv(ctx: TracePointContext) -> u32 {
    enter(&ctx, RECEIVED, true);
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
    // SAFETY: the syscall's first argument slot.
    let fd = unsafe { ctx.read_at::<u64>(ARG0) }.unwrap_or(u64::MAX);
    let Ok(fd) = u32::try_from(fd) else {
        return 0;
    };
    send(pid_tgid, fd, CLOSED, 0, 0);
    0
}

#[inline(always)]
fn enter(ctx: &TracePointContext, direction: u8, vectored: bool) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target(pid_tgid) {
        return;
    }
    // SAFETY: the syscall's first two argument slots.
    let (fd, buffer) = unsafe {
        (
            ctx.read_at::<u64>(ARG0).unwrap_or(u64::MAX),
            ctx.read_at::<u64>(ARG1).unwrap_or(0),
        )
    };
    let Ok(fd) = u32::try_from(fd) else {
        return;
    };
    // A vectored call's bytes start in its first `struct iovec { void *base; size_t len; }`.
    let buffer = if vectored {
        // SAFETY: read through the helper, which fails cleanly on a bad address.
        unsafe { bpf_probe_read_user(buffer as *const u64) }.unwrap_or(0)
    } else {
        buffer
    };
    let in_flight = InFlight {
        buffer,
        fd,
        direction,
        _pad: [0; 3],
    };
    if IN_FLIGHT.insert(&(pid_tgid as u32), &in_flight, 0).is_err() {
        increment(&LOST, LOST_IN_FLIGHT_FULL);
    }
}

#[inline(always)]
fn exit(ctx: &TracePointContext) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let Some(in_flight) = IN_FLIGHT.get_ptr(&tid) else {
        return;
    };
    // SAFETY: a copy out of the map value.
    let in_flight = unsafe { *in_flight };
    let _ = IN_FLIGHT.remove(&tid);
    // SAFETY: the return value's slot.
    let ret = unsafe { ctx.read_at::<i64>(RET) }.unwrap_or(-1);
    if ret <= 0 {
        return;
    }
    send(
        pid_tgid,
        in_flight.fd,
        in_flight.direction,
        in_flight.buffer,
        ret as u64,
    );
}

/// Sends the event when `fd` is an internet stream socket.
#[inline(always)]
fn send(pid_tgid: u64, fd: u32, direction: u8, buffer: u64, len: u64) {
    let Some(socket) = socket_of(fd) else {
        return;
    };
    if socket.kind != SOCK_STREAM {
        return;
    }
    let Some(ends) = endpoints(socket.sock) else {
        return;
    };
    if global(&TLS) != 0 {
        let _ = LAST_SOCKET.insert(&(pid_tgid as u32), &ends, 0);
    }
    emit(
        pid_tgid,
        socket.sock as u64,
        SOURCE_SOCKET,
        &ends,
        direction,
        buffer,
        len,
    );
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
fn emit(
    pid_tgid: u64,
    id: u64,
    source: u8,
    ends: &LastSocket,
    direction: u8,
    buffer: u64,
    len: u64,
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
        _pad: 0,
        local_addr: ends.local_addr,
        remote_addr: ends.remote_addr,
    };
    let mut captured = global(&CAPTURE_BYTES) as u64;
    if captured > len {
        captured = len;
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
        events::output_batched(
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
            &LastSocket::default(),
            CLOSED,
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
        &ends,
        call.direction,
        call.buffer,
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
