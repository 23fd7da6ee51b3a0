//! `http`: one event per HTTP/1.x request and its response, seen by a target process as
//! client or server. The payload capture (`payload.rs`) gives the first bytes of every
//! read and write on the targets' TCP sockets; each connection's bytes go to its own
//! parser (`crate::protocols::http`), which pairs requests with responses. Only what the
//! exchange is (method, path, status, latency, sizes, endpoints, and the headers the spec
//! names) leaves the node, never the payloads.
//!
//! A request without an answer comes out when it has waited `TIMEOUT` (`timed_out`), or
//! when its connection closes or the trace ends (`status` null).
//!
//! `http-red` parses the same way but sends no events: it counts requests and errors
//! (5xx, and requests never answered) and a log2 latency histogram per pod container,
//! side, method and route (the path with ids and hashes collapsed), as `count` records
//! named `requests` and `errors` and `hist` records named `latency`.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use super::connections::{Connections, Followed};

use aya::Ebpf;
use serde_json::{Value, json};
use tracer_protocol::{EventFilter, Record};

use super::{
    Probe,
    events::{Clock, Fields},
    hists::{self, Row},
    owners::{Key, Owners},
    payload::{self, Capture, Captured, Flow},
};
use crate::{
    failure::Failure,
    protocols::http::{Connection, Direction, Exchange, Options, Side, route_template},
    targets::ResolvedTargets,
};

const NAME: &str = "http";
const RED_NAME: &str = "http-red";

/// How long a request may wait for its response before it is reported unanswered.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What the probe asks of the capture and the parser.
pub struct Spec<'a> {
    /// Rate, errors and duration per route instead of events (`http-red`).
    pub red: bool,
    pub filter: &'a EventFilter,
    pub capture_bytes: u32,
    pub capture_headers: &'a [String],
    pub keep_query: bool,
}

/// `http-red`'s tallies by (cgroup, side, method, route).
struct Red {
    rows: BTreeMap<(u64, &'static str, String, String), Tally>,
    owners: Owners,
    written: HashMap<(Key, &'static str), u64>,
}

struct Tally {
    requests: u64,
    errors: u64,
    latency: Row,
}

/// Where finished exchanges go: filtered, then sent as events or tallied (`http-red`).
struct Output {
    name: &'static str,
    filter: EventFilter,
    /// `http-red` mode: exchanges are tallied, not sent.
    red: Option<Red>,
}

pub struct Http {
    capture: Capture,
    output: Output,
    options: Options,
    connections: Connections<Connection>,
    last_expiry: Instant,
    snapshots: hists::Snapshots,
}

pub fn attach(spec: &Spec<'_>, targets: &ResolvedTargets) -> Result<Http, Failure> {
    let name = if spec.red { RED_NAME } else { NAME };
    let capture = payload::attach(name, spec.capture_bytes, payload::Mode::Streams, targets)?;
    let red = spec.red.then(|| Red {
        rows: BTreeMap::new(),
        owners: Owners::new(targets),
        written: HashMap::new(),
    });
    Ok(Http {
        capture,
        output: Output {
            name,
            filter: spec.filter.clone(),
            red,
        },
        options: Options {
            keep_query: spec.keep_query,
            capture_headers: spec
                .capture_headers
                .iter()
                .map(|name| name.to_ascii_lowercase())
                .collect(),
        },
        connections: Connections::new(),
        last_expiry: Instant::now(),
        snapshots: hists::Snapshots::new(name, "latency", "ns"),
    })
}

/// Feeds one payload to its connection's parser; what it finishes goes to `output`.
fn follow(
    connections: &mut Connections<Connection>,
    options: &Options,
    output: &mut Output,
    clock: Clock,
    captured: &Captured<'_>,
    out: &mut Vec<Record>,
) {
    let mut exchanges = Vec::new();
    if captured.flow == Flow::Closed {
        if let Some(mut followed) = connections.remove(captured) {
            followed.state.close(&mut exchanges);
            output.emit(clock, &followed, exchanges, out);
        }
        return;
    }
    let (followed, forgotten) = connections.follow(captured, Connection::new);
    if followed.state.is_http() {
        let direction = match captured.flow {
            Flow::Sent => Direction::Sent,
            _ => Direction::Received,
        };
        followed.state.feed(
            options,
            direction,
            captured.data,
            captured.len,
            captured.time_ns,
            &mut exchanges,
        );
        output.emit(clock, followed, exchanges, out);
    }
    if let Some(mut forgotten) = forgotten {
        let mut exchanges = Vec::new();
        forgotten.state.close(&mut exchanges);
        output.emit(clock, &forgotten, exchanges, out);
    }
}

impl Http {
    /// Requests that waited too long, at most once a second.
    fn expire(&mut self, out: &mut Vec<Record>) {
        if self.last_expiry.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_expiry = Instant::now();
        let now_ns = payload::monotonic_ns();
        let timeout_ns = TIMEOUT.as_nanos() as u64;
        let clock = self.capture.events.clock();
        for followed in self.connections.iter_mut() {
            let mut exchanges = Vec::new();
            followed.state.expire(now_ns, timeout_ns, &mut exchanges);
            self.output.emit(clock, followed, exchanges, out);
        }
    }
}

impl Output {
    fn emit(
        &mut self,
        clock: Clock,
        followed: &Followed<Connection>,
        exchanges: Vec<Exchange>,
        out: &mut Vec<Record>,
    ) {
        for exchange in exchanges {
            if !self.wanted(&exchange) {
                continue;
            }
            if let Some(red) = &mut self.red {
                red.tally(followed.cgroup, &exchange);
                continue;
            }
            out.push(Record::Event {
                probe: self.name.to_owned(),
                time_ns: clock.unix_ns(exchange.request_time_ns),
                pid: followed.pid,
                tid: followed.tid,
                comm: followed.comm.clone(),
                cgroup: followed.cgroup,
                namespace: None,
                pod: None,
                container: None,
                fields: fields(followed, exchange),
            });
        }
    }

    /// The spec's filters: a minimum latency (an unanswered request always passes), a
    /// status or status class, a path prefix.
    fn wanted(&self, exchange: &Exchange) -> bool {
        let filter = &self.filter;
        if filter.min_latency_ns > 0
            && exchange
                .latency_ns
                .is_some_and(|latency| latency < filter.min_latency_ns)
        {
            return false;
        }
        if !filter.status.is_empty()
            && !exchange
                .status
                .is_some_and(|status| status_matches(&filter.status, status))
        {
            return false;
        }
        exchange.path.starts_with(&filter.path_prefix)
    }
}

impl Probe for Http {
    fn ebpf(&self) -> &Ebpf {
        &self.capture.ebpf
    }

    fn name(&self) -> &'static str {
        self.output.name
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        if let Some(red) = &mut self.output.red {
            red.write(self.output.name, &mut self.snapshots, complete, out);
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
        let Http {
            capture,
            connections,
            options,
            output,
            ..
        } = self;
        let more = capture.events.drain_raw(|bytes| {
            let Some(captured) = payload::decode(bytes) else {
                return false;
            };
            follow(connections, options, output, clock, &captured, out);
            true
        });
        self.expire(out);
        // Only once the ring is empty: the payloads still in it had to reach their
        // connections.
        if self.capture.events.ended() && !more {
            for mut followed in self.connections.take_all() {
                let mut exchanges = Vec::new();
                followed.state.close(&mut exchanges);
                self.output.emit(clock, &followed, exchanges, out);
            }
        }
        more
    }

    fn end(&mut self) {
        self.capture.events.end();
    }
}

impl Red {
    fn tally(&mut self, cgroup: u64, exchange: &Exchange) {
        let side = match exchange.side {
            Side::Client => "client",
            Side::Server => "server",
        };
        let key = (
            cgroup,
            side,
            exchange.method.clone(),
            route_template(&exchange.path),
        );
        let tally = self.rows.entry(key).or_insert(Tally {
            requests: 0,
            errors: 0,
            latency: hists::EMPTY,
        });
        tally.requests += 1;
        // A server error, or no answer at all.
        let unanswered = exchange.latency_ns.is_none();
        let server_error = exchange.status.is_some_and(|status| status >= 500);
        if unanswered || server_error {
            tally.errors += 1;
        }
        if let Some(latency) = exchange.latency_ns {
            let bucket = ebpf_common::hist::bucket_of(latency) as usize;
            if let Some(slot) = tally.latency.get_mut(bucket) {
                *slot += 1;
            }
        }
    }

    /// `requests` and `errors` counts and `latency` histograms, each only when it
    /// changed (or on the complete snapshot).
    fn write(
        &mut self,
        probe: &'static str,
        snapshots: &mut hists::Snapshots,
        complete: bool,
        out: &mut Vec<Record>,
    ) {
        let mut latency: BTreeMap<Key, Row> = BTreeMap::new();
        let mut counts: BTreeMap<(Key, &'static str), u64> = BTreeMap::new();
        for ((cgroup, side, method, route), tally) in &self.rows {
            let mut key = self.owners.key(*cgroup);
            key.insert("side".to_owned(), (*side).to_owned());
            key.insert("method".to_owned(), method.clone());
            key.insert("route".to_owned(), route.clone());
            hists::add(
                latency.entry(key.clone()).or_insert(hists::EMPTY),
                &tally.latency,
            );
            *counts.entry((key.clone(), "requests")).or_default() += tally.requests;
            *counts.entry((key, "errors")).or_default() += tally.errors;
        }
        for ((key, name), value) in counts {
            let slot = (key, name);
            if !complete && self.written.get(&slot) == Some(&value) {
                continue;
            }
            out.push(Record::Count {
                probe: probe.to_owned(),
                name: name.to_owned(),
                key: slot.0.clone(),
                value,
            });
            self.written.insert(slot, value);
        }
        snapshots.write(latency, complete, out);
    }
}

/// `5xx`-style classes or an exact code.
fn status_matches(wanted: &str, status: u16) -> bool {
    match wanted.as_bytes() {
        [class, b'x', b'x'] => u16::from(class.wrapping_sub(b'0')) == status / 100,
        _ => wanted.parse::<u16>() == Ok(status),
    }
}

fn fields(followed: &Followed<Connection>, exchange: Exchange) -> Fields {
    let mut fields = Fields::new();
    let side = match exchange.side {
        Side::Client => "client",
        Side::Server => "server",
    };
    fields.insert("side".into(), side.into());
    // Empty when the request began beyond the capture: unknown, not empty.
    let known = |text: String| {
        if text.is_empty() {
            Value::Null
        } else {
            Value::from(text)
        }
    };
    fields.insert("method".into(), known(exchange.method));
    fields.insert("path".into(), known(exchange.path));
    fields.insert(
        "status".into(),
        exchange.status.map_or(Value::Null, Value::from),
    );
    fields.insert(
        "latency_ns".into(),
        exchange.latency_ns.map_or(Value::Null, Value::from),
    );
    fields.insert("request_bytes".into(), exchange.request_bytes.into());
    fields.insert("response_bytes".into(), exchange.response_bytes.into());
    fields.insert("local".into(), followed.local.clone().into());
    fields.insert("remote".into(), followed.remote.clone().into());
    if followed.tls {
        fields.insert("tls".into(), true.into());
    }
    if exchange.timed_out {
        fields.insert("timed_out".into(), true.into());
    }
    if !exchange.headers.is_empty() {
        let headers: serde_json::Map<String, Value> = exchange
            .headers
            .into_iter()
            .map(|(name, value)| (name, json!(value)))
            .collect();
        fields.insert("headers".into(), Value::Object(headers));
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_by_class_or_code() {
        assert!(status_matches("5xx", 503));
        assert!(!status_matches("5xx", 404));
        assert!(status_matches("404", 404));
        assert!(!status_matches("404", 405));
        assert!(!status_matches("x", 200));
    }
}
