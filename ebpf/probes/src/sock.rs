//! Reading fields of sockets (`struct sock`) at offsets the tracer found in the kernel's
//! BTF, for hooks that run outside the socket owner's context (softirq, timers).

use crate::{
    global,
    task::{cgroup_kernfs_id, field},
};

/// `offsetof(struct sock, __sk_common.skc_state)`; 0 when unknown.
#[unsafe(no_mangle)]
static SOCK_STATE_OFFSET: u32 = 0;

/// `offsetof(struct sock, sk_cgrp_data.cgroup)`: the cgroup v2 the socket was created
/// in; 0 when unknown. The rest of the way to the id is task.rs's `cgroup->kn->id`.
#[unsafe(no_mangle)]
static SOCK_CGROUP_OFFSET: u32 = 0;

/// `TCP_TIME_WAIT` and `TCP_NEW_SYN_RECV`: such a "socket" is a smaller struct
/// (`inet_timewait_sock`, `request_sock`) without `sk_cgrp_data`.
const TCP_TIME_WAIT: u8 = 6;
const TCP_NEW_SYN_RECV: u8 = 12;

/// The cgroup v2 id of the cgroup a socket was created in, as `bpf_get_current_cgroup_id`
/// gave it for the creating task; `None` for a null pointer, a socket that is not a full
/// one, or unknown offsets.
#[inline(always)]
pub fn cgroup_id(sk: *const u8) -> Option<u64> {
    let state: u8 = field(sk, global(&SOCK_STATE_OFFSET))?;
    if state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV {
        return None;
    }
    let cgroup: *const u8 = field(sk, global(&SOCK_CGROUP_OFFSET))?;
    cgroup_kernfs_id(cgroup)
}

/// A full socket's TCP state (`skc_state`), for hooks whose record has none.
#[inline(always)]
pub fn state(sk: *const u8) -> Option<u32> {
    field::<u8>(sk, global(&SOCK_STATE_OFFSET)).map(u32::from)
}
