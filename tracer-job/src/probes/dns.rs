//! `dns`: one event per DNS lookup a target made or answered, over UDP or TCP port 53:
//! the name, type, response code, answers (at most 8), latency and the resolver. The
//! payload capture (`payload.rs`, in its DNS mode) gives the messages of the targets'
//! sockets with port 53 at either end; each socket's queries are paired with their
//! answers by `crate::protocols::dns`. Beside the events, a `count` named `lookups` per
//! owner, name and type, with an `error` (`NXDOMAIN`, `SERVFAIL`, `TIMEOUT`, ...) in the
//! key of lookups that failed, so tables list the failures apart.
//!
//! A query without an answer comes out when it has waited `TIMEOUT` (`rcode`
//! `TIMEOUT`), or when the trace ends (`rcode` null).

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use aya::Ebpf;
use serde_json::Value;
use tracer_protocol::Record;

use super::{
    Probe,
    events::Fields,
    hists,
    owners::{Key, Owners},
    payload::{self, Capture, Captured, Flow},
};
use crate::{
    failure::Failure,
    protocols::dns::{Direction, Lookup, Pairing, rcode_name, type_name},
    targets::ResolvedTargets,
};

const NAME: &str = "dns";

/// How long a query may wait for its answer (resolvers retry after about 5 s).
const TIMEOUT: Duration = Duration::from_secs(5);

/// Sockets followed at once; beyond it, the one idle longest is forgotten.
const MAX_SOCKETS: usize = 16_384;

/// A DNS message is at most 512 bytes over UDP without EDNS; 1232 is the usual EDNS
/// size. Capture that much so answers are whole.
pub const CAPTURE_BYTES: u32 = 1232;

struct Followed {
    pairing: Pairing,
    pid: u32,
    tid: u32,
    comm: String,
    cgroup: u64,
    server: Option<String>,
    /// Whether the process asked (client) or answered (server), from its first query.
    client: Option<bool>,
    last_ns: u64,
}

pub struct Dns {
    capture: Capture,
    sockets: HashMap<(u32, u64), Followed>,
    owners: Owners,
    /// Lookups by (cgroup, name, type, rcode).
    tallies: BTreeMap<(u64, String, String, String), u64>,
    written: HashMap<Key, u64>,
    ending: bool,
    last_expiry: Instant,
    snapshots: hists::Snapshots,
}

pub fn attach(targets: &ResolvedTargets) -> Result<Dns, Failure> {
    Ok(Dns {
        capture: payload::attach(NAME, CAPTURE_BYTES, payload::Mode::Dns, targets)?,
        sockets: HashMap::new(),
        owners: Owners::new(targets),
        tallies: BTreeMap::new(),
        written: HashMap::new(),
        ending: false,
        last_expiry: Instant::now(),
        snapshots: hists::Snapshots::new(NAME, "lookups", "lookups"),
    })
}

impl Dns {
    fn follow(&mut self, captured: &Captured<'_>, out: &mut Vec<Record>) {
        let key = (captured.pid, captured.sock);
        if captured.flow == Flow::Closed {
            if let Some(mut followed) = self.sockets.remove(&key) {
                let mut lookups = Vec::new();
                followed.pairing.close(&mut lookups);
                self.emit(&followed, lookups, out);
            }
            return;
        }
        if !self.sockets.contains_key(&key) && self.sockets.len() >= MAX_SOCKETS {
            self.forget_oldest(out);
        }
        let followed = self.sockets.entry(key).or_insert_with(|| Followed {
            pairing: Pairing::new(),
            pid: captured.pid,
            tid: captured.tid,
            comm: captured.comm.clone(),
            cgroup: captured.cgroup,
            server: None,
            client: None,
            last_ns: captured.time_ns,
        });
        followed.last_ns = captured.time_ns;
        followed.tid = captured.tid;
        let direction = match captured.flow {
            Flow::Sent => Direction::Sent,
            _ => Direction::Received,
        };
        // The side that sends first asks; the resolver is the peer of a client and the
        // process itself for a server.
        if followed.client.is_none() {
            followed.client = Some(direction == Direction::Sent);
        }
        let resolver = if followed.client == Some(true) {
            captured.remote
        } else {
            captured.local
        };
        if let Some(resolver) = resolver {
            followed.server = Some(resolver.to_string());
        }
        let mut lookups = Vec::new();
        if captured.datagram {
            followed
                .pairing
                .feed(direction, captured.data, captured.time_ns, &mut lookups);
        } else {
            followed
                .pairing
                .feed_stream(direction, captured.data, captured.time_ns, &mut lookups);
        }
        if !lookups.is_empty()
            && let Some(followed) = self.sockets.remove(&key)
        {
            self.emit(&followed, lookups, out);
            self.sockets.insert(key, followed);
        }
    }

    fn forget_oldest(&mut self, out: &mut Vec<Record>) {
        let Some(oldest) = payload::idlest(&self.sockets, |followed| followed.last_ns) else {
            return;
        };
        if let Some(mut followed) = self.sockets.remove(&oldest) {
            let mut lookups = Vec::new();
            followed.pairing.close(&mut lookups);
            self.emit(&followed, lookups, out);
        }
    }

    fn expire(&mut self, out: &mut Vec<Record>) {
        if self.last_expiry.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_expiry = Instant::now();
        let now_ns = payload::monotonic_ns();
        let timeout_ns = TIMEOUT.as_nanos() as u64;
        let keys: Vec<(u32, u64)> = self.sockets.keys().copied().collect();
        for key in keys {
            let mut lookups = Vec::new();
            if let Some(followed) = self.sockets.get_mut(&key) {
                followed.pairing.expire(now_ns, timeout_ns, &mut lookups);
            }
            if !lookups.is_empty()
                && let Some(followed) = self.sockets.remove(&key)
            {
                self.emit(&followed, lookups, out);
                self.sockets.insert(key, followed);
            }
        }
    }

    fn emit(&mut self, followed: &Followed, lookups: Vec<Lookup>, out: &mut Vec<Record>) {
        for lookup in lookups {
            let rcode = match (lookup.rcode, lookup.timed_out) {
                (Some(rcode), _) => Some(rcode_name(rcode)),
                (None, true) => Some("TIMEOUT".to_owned()),
                (None, false) => None,
            };
            let qtype = type_name(lookup.qtype);
            let tally = self
                .tallies
                .entry((
                    followed.cgroup,
                    lookup.name.clone(),
                    qtype.clone(),
                    rcode.clone().unwrap_or_else(|| "-".to_owned()),
                ))
                .or_default();
            *tally += 1;
            let mut fields = Fields::new();
            let side = if followed.client == Some(false) {
                "server"
            } else {
                "client"
            };
            fields.insert("side".into(), side.into());
            fields.insert("name".into(), lookup.name.into());
            fields.insert("type".into(), qtype.into());
            fields.insert("rcode".into(), rcode.map_or(Value::Null, Value::from));
            fields.insert(
                "answers".into(),
                Value::Array(lookup.answers.into_iter().map(Value::from).collect()),
            );
            fields.insert("answer_count".into(), lookup.answer_count.into());
            fields.insert(
                "latency_ns".into(),
                lookup.latency_ns.map_or(Value::Null, Value::from),
            );
            fields.insert(
                "resolver".into(),
                followed.server.clone().map_or(Value::Null, Value::from),
            );
            out.push(Record::Event {
                probe: NAME.to_owned(),
                time_ns: self.capture.events.unix_ns(lookup.query_time_ns),
                pid: followed.pid,
                tid: followed.tid,
                comm: followed.comm.clone(),
                cgroup: followed.cgroup,
                namespace: None,
                pod: None,
                container: None,
                fields,
            });
        }
    }
}

impl Probe for Dns {
    fn ebpf(&self) -> &Ebpf {
        &self.capture.ebpf
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        for ((cgroup, name, qtype, rcode), value) in &self.tallies {
            let mut key = self.owners.key(*cgroup);
            key.insert("name".to_owned(), name.clone());
            key.insert("type".to_owned(), qtype.clone());
            // NOERROR is success; unanswered at the end (`-`) is neither.
            if rcode != "NOERROR" {
                key.insert("error".to_owned(), rcode.clone());
            }
            if !complete && self.written.get(&key) == Some(value) {
                continue;
            }
            self.written.insert(key.clone(), *value);
            out.push(Record::Count {
                probe: NAME.to_owned(),
                name: "lookups".to_owned(),
                key,
                value: *value,
            });
        }
        let lost = self.capture.lost()?;
        self.snapshots.lost(lost, complete, out);
        Ok(())
    }

    fn event_fd(&mut self) -> Option<std::os::fd::RawFd> {
        Some(self.capture.events.fd())
    }

    fn drain_events(&mut self, out: &mut Vec<Record>) {
        for bytes in &payload::take_waiting(&mut self.capture.events) {
            if let Some(captured) = payload::decode(bytes) {
                self.follow(&captured, out);
            }
        }
        self.expire(out);
        if self.ending {
            for (_, mut followed) in std::mem::take(&mut self.sockets) {
                let mut lookups = Vec::new();
                followed.pairing.close(&mut lookups);
                self.emit(&followed, lookups, out);
            }
        }
    }

    fn end(&mut self) {
        self.ending = true;
    }
}
