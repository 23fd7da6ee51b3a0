//! The connections an application-protocol probe (`http`, `dns`) follows: one parser
//! state per process and socket (or `SSL *`), who holds it and its endpoints, bounded:
//! when the table is full, the connection idle longest is forgotten.

use std::collections::HashMap;

use super::payload::Captured;

/// Connections followed at once.
const MAX_CONNECTIONS: usize = 16_384;

/// One connection and who its records are attributed to.
pub struct Followed<S> {
    pub state: S,
    pub pid: u32,
    /// The thread that last used it.
    pub tid: u32,
    pub comm: String,
    pub cgroup: u64,
    /// Unknown for TLS before the thread used a socket.
    pub local: Option<String>,
    pub remote: Option<String>,
    /// Plaintext from OpenSSL rather than bytes on the socket.
    pub tls: bool,
    /// Kernel time of its last payload.
    last_ns: u64,
}

pub struct Connections<S> {
    table: HashMap<(u32, u64), Followed<S>>,
}

impl<S> Connections<S> {
    pub fn new() -> Self {
        Connections {
            table: HashMap::new(),
        }
    }

    /// The connection `captured` belongs to, made with `make` when it is new, and the
    /// connection forgotten to make room for it, if one was (to be closed by the caller).
    pub fn follow(
        &mut self,
        captured: &Captured<'_>,
        make: impl FnOnce() -> S,
    ) -> (&mut Followed<S>, Option<Followed<S>>) {
        let key = (captured.pid, captured.sock);
        let mut forgotten = None;
        if self.table.len() >= MAX_CONNECTIONS
            && !self.table.contains_key(&key)
            && let Some(idlest) = self.idlest()
        {
            forgotten = self.table.remove(&idlest);
        }
        let address = |address: Option<std::net::SocketAddr>| address.map(|a| a.to_string());
        let followed = self.table.entry(key).or_insert_with(|| Followed {
            state: make(),
            pid: captured.pid,
            tid: captured.tid,
            comm: captured.comm.clone(),
            cgroup: captured.cgroup,
            local: address(captured.local),
            remote: address(captured.remote),
            tls: captured.tls,
            last_ns: captured.time_ns,
        });
        followed.last_ns = captured.time_ns;
        followed.tid = captured.tid;
        if followed.remote.is_none() {
            followed.local = address(captured.local);
            followed.remote = address(captured.remote);
        }
        (followed, forgotten)
    }

    /// The connection `captured` closes, no longer followed.
    pub fn remove(&mut self, captured: &Captured<'_>) -> Option<Followed<S>> {
        self.table.remove(&(captured.pid, captured.sock))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Followed<S>> {
        self.table.values_mut()
    }

    /// Every connection, no longer followed: the trace ends.
    pub fn take_all(&mut self) -> Vec<Followed<S>> {
        self.table.drain().map(|(_, followed)| followed).collect()
    }

    fn idlest(&self) -> Option<(u32, u64)> {
        self.table
            .iter()
            .min_by_key(|(_, followed)| followed.last_ns)
            .map(|(key, _)| *key)
    }
}
