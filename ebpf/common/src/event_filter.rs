//! Kernel-side parameters of the event probes: what a probe drops before it sends an
//! event, so high-rate work stays in the kernel. Each probe reads the parts that apply
//! to it; zero means "no filter".

/// Bytes of a path prefix the kernel compares.
pub const PREFIX_LEN: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventFilter {
    /// Events that took less (open's call, a connect's handshake) are dropped.
    pub min_latency_ns: u64,
    /// Only this port: the remote one of a connect, either end for the other network
    /// probes.
    pub port: u16,
    /// Non-zero: only calls that failed (exits with a non-zero status or a signal).
    pub failed_only: u8,
    /// Bytes of `prefix` in use; 0: every path.
    pub prefix_len: u8,
    /// Only this signal: the one sent, or the one that ended the process.
    pub signal: u8,
    pub _pad: [u8; 3],
    /// Only paths that start with these bytes.
    pub prefix: [u8; PREFIX_LEN],
}

impl EventFilter {
    pub const NONE: EventFilter = EventFilter {
        min_latency_ns: 0,
        port: 0,
        failed_only: 0,
        prefix_len: 0,
        signal: 0,
        _pad: [0; 3],
        prefix: [0; PREFIX_LEN],
    };

    // The accessors read field by field and volatile: the filter is a global the loader
    // rewrites (so its default must not be folded in), and a copy of the whole would
    // crowd the 512-byte BPF stack.

    #[inline(always)]
    pub fn min_latency(&self) -> u64 {
        read(&self.min_latency_ns)
    }

    #[inline(always)]
    pub fn port(&self) -> u16 {
        read(&self.port)
    }

    #[inline(always)]
    pub fn failed_only(&self) -> bool {
        read(&self.failed_only) != 0
    }

    #[inline(always)]
    pub fn signal(&self) -> u8 {
        read(&self.signal)
    }

    /// Whether a flow with these ports passes the port filter (either end).
    #[inline(always)]
    pub fn either_port_matches(&self, sport: u16, dport: u16) -> bool {
        let port = self.port();
        port == 0 || sport == port || dport == port
    }

    #[inline(always)]
    pub fn has_prefix(&self) -> bool {
        read(&self.prefix_len) != 0
    }

    /// Whether `path` (NUL-terminated or full) starts with the prefix.
    #[inline(always)]
    pub fn path_matches(&self, path: &[u8]) -> bool {
        let len = read(&self.prefix_len) as usize;
        let mut i = 0;
        // Bounded by a constant, so the verifier sees the loop end.
        while i < PREFIX_LEN {
            if i >= len {
                return true;
            }
            if i >= path.len() || path[i] != read(&self.prefix[i]) {
                return false;
            }
            i += 1;
        }
        true
    }
}

#[inline(always)]
fn read<T: Copy>(value: &T) -> T {
    // SAFETY: a valid reference.
    unsafe { core::ptr::read_volatile(value) }
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for EventFilter {}
