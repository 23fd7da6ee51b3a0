//! Reading fields of sockets at offsets the tracer found in the kernel's BTF.
//!
//! Network hooks often run in softirq, on behalf of whatever task the CPU interrupted,
//! so the current task's cgroup says nothing about the socket. A socket remembers the
//! cgroup of the task that created it (an accepted socket, its listener's), and that is
//! what the probes filter and attribute on.

use crate::{
    global,
    task::{cgroup_kn_id, field},
};

/// `offsetof(struct sock, sk_cgrp_data.cgroup)`; 0 when unknown.
#[unsafe(no_mangle)]
static SOCK_CGROUP_OFFSET: u32 = 0;

/// The cgroup v2 id of the socket's owner, `sk->sk_cgrp_data.cgroup->kn->id`, as
/// `bpf_get_current_cgroup_id` gives it for a task; `None` when the offsets are unknown
/// or a read fails. `sk` must be a full socket (not a request or time-wait one).
#[inline(always)]
pub fn cgroup_id(sk: *const u8) -> Option<u64> {
    let cgroup: *const u8 = field(sk, global(&SOCK_CGROUP_OFFSET))?;
    cgroup_kn_id(cgroup)
}
