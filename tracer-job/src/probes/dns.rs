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
    connections::{Connections, Followed},
    events::{Clock, Fields},
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

/// A DNS message is at most 512 bytes over UDP without EDNS; 1232 is the usual EDNS
/// size. Capture that much so answers are whole.
pub const CAPTURE_BYTES: u32 = 1232;

/// One socket's queries waiting for their answers.
struct Socket {
    pairing: Pairing,
    /// Whether the process asked (client) or answered (server), from what it did first.
    client: Option<bool>,
}

/// Lookups by (cgroup, name, type, rcode), for the `lookups` counts.
#[derive(Default)]
struct Tallies(BTreeMap<(u64, String, String, String), u64>);

pub struct Dns {
    capture: Capture,
    sockets: Connections<Socket>,
    tallies: Tallies,
    owners: Owners,
    written: HashMap<Key, u64>,
    last_expiry: Instant,
    snapshots: hists::Snapshots,
}

pub fn attach(targets: &ResolvedTargets) -> Result<Dns, Failure> {
    Ok(Dns {
        capture: payload::attach(NAME, CAPTURE_BYTES, payload::Mode::Dns, targets)?,
        sockets: Connections::new(),
        tallies: Tallies::default(),
        owners: Owners::new(targets),
        written: HashMap::new(),
        last_expiry: Instant::now(),
        snapshots: hists::Snapshots::new(NAME, "lookups", "lookups"),
    })
}

/// Feeds one message to its socket's pairing; the lookups it finishes go to `tallies`.
fn follow(
    sockets: &mut Connections<Socket>,
    tallies: &mut Tallies,
    clock: Clock,
    captured: &Captured<'_>,
    out: &mut Vec<Record>,
) {
    let mut lookups = Vec::new();
    if captured.flow == Flow::Closed {
        if let Some(mut followed) = sockets.remove(captured) {
            followed.state.pairing.close(&mut lookups);
            tallies.emit(clock, &followed, lookups, out);
        }
        return;
    }
    let (followed, forgotten) = sockets.follow(captured, || Socket {
        pairing: Pairing::new(),
        client: None,
    });
    let direction = match captured.flow {
        Flow::Sent => Direction::Sent,
        _ => Direction::Received,
    };
    let socket = &mut followed.state;
    // The side that sends first asks.
    socket.client.get_or_insert(direction == Direction::Sent);
    if captured.datagram {
        socket
            .pairing
            .feed(direction, captured.data, captured.time_ns, &mut lookups);
    } else {
        socket
            .pairing
            .feed_stream(direction, captured.data, captured.time_ns, &mut lookups);
    }
    tallies.emit(clock, followed, lookups, out);
    if let Some(mut forgotten) = forgotten {
        let mut lookups = Vec::new();
        forgotten.state.pairing.close(&mut lookups);
        tallies.emit(clock, &forgotten, lookups, out);
    }
}

impl Dns {
    /// Queries that waited too long, at most once a second.
    fn expire(&mut self, out: &mut Vec<Record>) {
        if self.last_expiry.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_expiry = Instant::now();
        let now_ns = payload::monotonic_ns();
        let timeout_ns = TIMEOUT.as_nanos() as u64;
        let clock = self.capture.events.clock();
        for followed in self.sockets.iter_mut() {
            let mut lookups = Vec::new();
            followed
                .state
                .pairing
                .expire(now_ns, timeout_ns, &mut lookups);
            self.tallies.emit(clock, followed, lookups, out);
        }
    }
}

impl Tallies {
    /// Counts each lookup and sends it as an event.
    fn emit(
        &mut self,
        clock: Clock,
        followed: &Followed<Socket>,
        lookups: Vec<Lookup>,
        out: &mut Vec<Record>,
    ) {
        let client = followed.state.client != Some(false);
        // The resolver: the peer of a client, the process itself for a server.
        let resolver = if client {
            &followed.remote
        } else {
            &followed.local
        };
        for lookup in lookups {
            let rcode = match (lookup.rcode, lookup.timed_out) {
                (Some(rcode), _) => Some(rcode_name(rcode)),
                (None, true) => Some("TIMEOUT".to_owned()),
                (None, false) => None,
            };
            let qtype = type_name(lookup.qtype);
            *self
                .0
                .entry((
                    followed.cgroup,
                    lookup.name.clone(),
                    qtype.clone(),
                    rcode.clone().unwrap_or_else(|| "-".to_owned()),
                ))
                .or_default() += 1;
            let mut fields = Fields::new();
            fields.insert(
                "side".into(),
                if client { "client" } else { "server" }.into(),
            );
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
                resolver.clone().map_or(Value::Null, Value::from),
            );
            out.push(Record::Event {
                probe: NAME.to_owned(),
                time_ns: clock.unix_ns(lookup.query_time_ns),
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
        for ((cgroup, name, qtype, rcode), value) in &self.tallies.0 {
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

    fn drain_events(&mut self, out: &mut Vec<Record>) -> bool {
        let clock = self.capture.events.clock();
        let Dns {
            capture,
            sockets,
            tallies,
            ..
        } = self;
        let more = capture.events.drain_raw(|bytes| {
            let Some(captured) = payload::decode(bytes) else {
                return false;
            };
            follow(sockets, tallies, clock, &captured, out);
            true
        });
        self.expire(out);
        // Only once the ring is empty: what waits there may still belong to them.
        if self.capture.events.ended() && !more {
            for mut followed in self.sockets.take_all() {
                let mut lookups = Vec::new();
                followed.state.pairing.close(&mut lookups);
                self.tallies.emit(clock, &followed, lookups, out);
            }
        }
        more
    }

    fn end(&mut self) {
        self.capture.events.end();
    }
}
