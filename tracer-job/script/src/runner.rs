//! A script on a node: compiled once, its top level run once, then its handlers called
//! per event and its maps written as cumulative records.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rhai::{AST, Dynamic, Engine, FnPtr, ImmutableString};
use tracer_protocol::{
    EventFilter, ProbeSpec, Record, ScriptSpec, TracepointCount, UprobeFunction,
};

use crate::{
    caller::Caller,
    diagnostic::Diagnostic,
    engine::{self, Handler, Host, Periodic, SharedHost, lock},
    event::{Event, EventData},
    sources::{self, Source},
};

/// Share of one core the handlers may use, per second of events: beyond it, events are
/// dropped and counted, so a script that cannot keep up never stalls the tracer.
pub const MAX_HANDLER_SHARE: f64 = 0.5;

/// Calls `callback`, started `now`, with its wall-clock deadline set. Every call sets
/// its own, so none is cleared after.
fn call(
    rhai_engine: &Engine,
    ast: &AST,
    host: &SharedHost,
    callback: &FnPtr,
    now: Instant,
    args: impl rhai::FuncArgs,
) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
    lock(host).deadline = Some(now + engine::MAX_CALLBACK_TIME);
    callback.call::<Dynamic>(rhai_engine, ast, args)
}

/// How the script names a handler's source: the probe, `tracepoint:CATEGORY:NAME` or
/// `uprobe:/PATH:SYMBOL`.
fn source_name(handler: &Handler) -> String {
    match (&handler.tracepoint, &handler.uprobe) {
        (Some(tracepoint), _) => format!("{}{tracepoint}", sources::TRACEPOINT_PREFIX),
        (_, Some(function)) => function.source_name(),
        _ => handler.source.name.to_owned(),
    }
}

/// What sends an event to a handler: the probe's name, or for the generic sources the
/// field that says which tracepoint (`CATEGORY:NAME`) or function (its source name)
/// fired. Tracepoint names hold a `:` and function names a `/`, so none is a probe's.
fn route(handler: &Handler) -> String {
    match (&handler.tracepoint, &handler.uprobe) {
        (Some(tracepoint), _) => tracepoint.clone(),
        (_, Some(function)) => function.source_name(),
        _ => handler.source.name.to_owned(),
    }
}

/// The route of an event: its probe's name, or the generic sources' field.
fn event_route<'a>(
    probe: &'a str,
    fields: &'a serde_json::Map<String, serde_json::Value>,
) -> &'a str {
    let field = match probe {
        "tracepoint" => "tracepoint",
        "uprobe" => "uprobe",
        _ => return probe,
    };
    fields
        .get(field)
        .and_then(|value| value.as_str())
        .unwrap_or(probe)
}

/// One failure of a callback, counted.
#[derive(Debug)]
struct Failures {
    diagnostic: Diagnostic,
    count: u64,
    changed: bool,
}

pub struct Script {
    name: String,
    source: String,
    node: ImmutableString,
    engine: Engine,
    ast: AST,
    /// Calls the handlers, keeping what rhai resolved from one event to the next.
    caller: Caller,
    host: SharedHost,
    handlers: Vec<Handler>,
    traced: Vec<ProbeSpec>,
    /// Tracepoints counted in the kernel, into maps of these names.
    kernel_counts: Vec<TracepointCount>,
    /// Handler indexes by what routes events to them ([`route`]); shared, so an event
    /// holds them while the handlers change the script.
    by_probe: HashMap<String, Arc<[usize]>>,
    /// Why a handler was stopped for good, by index.
    disabled: HashMap<usize, (String, u32, u32, String)>,
    every: Vec<(Periodic, u64)>,
    end: Vec<(FnPtr, u32)>,
    tops: BTreeMap<String, usize>,
    /// By handler, line, column and message.
    failures: BTreeMap<(String, u32, u32, String), Failures>,
    dropped_written: BTreeMap<String, u64>,
    /// The handlers' time in the current second, and when that second began.
    busy: Duration,
    window: Instant,
    /// Events dropped because the handlers used up their share, and what was reported.
    shed: u64,
    shed_written: u64,
    /// Share of a core the handlers may use ([`MAX_HANDLER_SHARE`] unless set).
    share: f64,
}

impl Script {
    /// Compiles `spec` and runs its top level, which declares the handlers. `node` names
    /// the node in events.
    pub fn load(spec: &ScriptSpec, node: &str) -> Result<Script, Diagnostic> {
        let host: SharedHost = Arc::new(Mutex::new(Host {
            args: spec.args.clone(),
            top_level: true,
            ..Host::default()
        }));
        let engine = engine::engine(&host);
        let ast = engine
            .compile(&spec.source)
            .map_err(|err| Diagnostic::from_parse(&spec.name, &spec.source, &err))?;
        if let Some((name, position, near)) = crate::calls::unknown(&engine, &ast) {
            let hint = match near {
                Some(near) => format!("did you mean `{near}`?"),
                None => "docs/scripting.md lists the functions scripts can call".to_owned(),
            };
            return Err(Diagnostic::new(
                &spec.name,
                &spec.source,
                position,
                format!("no function `{name}`"),
                hint,
            ));
        }
        lock(&host).deadline = Some(Instant::now() + engine::MAX_CALLBACK_TIME);
        let ran = engine.run_ast(&ast);
        lock(&host).deadline = None;
        ran.map_err(|err| Diagnostic::from_eval(&spec.name, &spec.source, &err))?;
        let (handlers, traced, kernel_counts, every, end, tops) = {
            let mut host = lock(&host);
            host.top_level = false;
            // Lines printed by the top level are the script's first output.
            (
                std::mem::take(&mut host.handlers),
                std::mem::take(&mut host.traced),
                std::mem::take(&mut host.kernel_counts),
                std::mem::take(&mut host.every),
                std::mem::take(&mut host.end),
                std::mem::take(&mut host.tops),
            )
        };
        if handlers.is_empty()
            && traced.is_empty()
            && kernel_counts.is_empty()
            && every.is_empty()
            && end.is_empty()
        {
            return Err(Diagnostic::new(
                &spec.name,
                &spec.source,
                rhai::Position::NONE,
                "the script declares no callback, so it would do nothing".to_owned(),
                r#"handle events with on("exec", |e| { ... })"#.to_owned(),
            ));
        }
        let mut routes: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, handler) in handlers.iter().enumerate() {
            routes.entry(route(handler)).or_default().push(index);
        }
        let by_probe = routes
            .into_iter()
            .map(|(route, indexes)| (route, indexes.into()))
            .collect();
        Ok(Script {
            name: spec.name.clone(),
            source: spec.source.clone(),
            node: node.into(),
            caller: Caller::new(&engine, &ast),
            engine,
            ast,
            host,
            handlers,
            traced,
            kernel_counts,
            by_probe,
            disabled: HashMap::new(),
            every: every
                .into_iter()
                .map(|periodic| {
                    let first = periodic.interval_ns;
                    (periodic, first)
                })
                .collect(),
            end,
            tops,
            failures: BTreeMap::new(),
            dropped_written: BTreeMap::new(),
            busy: Duration::ZERO,
            window: Instant::now(),
            shed: 0,
            shed_written: 0,
            share: MAX_HANDLER_SHARE,
        })
    }

    /// Lets the handlers use `share` of a core (1.0: all of it, never shedding), for
    /// measuring what they can do.
    pub fn set_cpu_share(&mut self, share: f64) {
        self.share = share.clamp(0.01, 1.0);
    }

    /// The probes to attach: one per source the script handles, in declaration order,
    /// each with the loosest of its handlers' kernel-side filters.
    pub fn probes(&self) -> Vec<ProbeSpec> {
        let mut filters: Vec<(&'static Source, EventFilter)> = Vec::new();
        let mut tracepoints: Vec<String> = Vec::new();
        let mut functions: Vec<UprobeFunction> = Vec::new();
        for handler in &self.handlers {
            if let Some(function) = &handler.uprobe {
                match functions
                    .iter_mut()
                    .find(|f| f.source_name() == function.source_name())
                {
                    Some(known) => known.read_arg = known.read_arg.or(function.read_arg),
                    None => functions.push(function.clone()),
                }
            }
            if let Some(tracepoint) = &handler.tracepoint
                && !tracepoints.contains(tracepoint)
            {
                tracepoints.push(tracepoint.clone());
            }
            match filters
                .iter_mut()
                .find(|(s, _)| s.name == handler.source.name)
            {
                Some((_, filter)) => *filter = filter.loosest(&handler.filter),
                None => filters.push((handler.source, handler.filter.clone())),
            }
        }
        filters
            .iter()
            .filter_map(|(source, filter)| {
                if std::ptr::eq(*source, &sources::TRACEPOINT) {
                    Some(ProbeSpec::Tracepoint {
                        tracepoints: tracepoints.clone(),
                        counts: self.kernel_counts.clone(),
                    })
                } else if std::ptr::eq(*source, &sources::UPROBE) {
                    Some(ProbeSpec::Uprobe {
                        functions: functions.clone(),
                    })
                } else {
                    source.probe_spec(filter)
                }
            })
            .chain(self.counted_only())
            .chain(self.traced.iter().cloned())
            .collect()
    }

    /// The tracepoint source when the script only counts tracepoints in the kernel
    /// (with handlers, their source carries the counts).
    fn counted_only(&self) -> Option<ProbeSpec> {
        let handled = self
            .handlers
            .iter()
            .any(|handler| handler.tracepoint.is_some());
        (!handled && !self.kernel_counts.is_empty()).then(|| ProbeSpec::Tracepoint {
            tracepoints: Vec::new(),
            counts: self.kernel_counts.clone(),
        })
    }

    /// The built-in probes whose results the script shows as they are (`trace(...)`).
    pub fn traced(&self) -> &[ProbeSpec] {
        &self.traced
    }

    /// Rows each `top(NAME, n)` table shows.
    pub fn tops(&self) -> &BTreeMap<String, usize> {
        &self.tops
    }

    /// Hands one `event` record to the handlers of its probe; other records are ignored.
    pub fn handle(&mut self, record: Record) {
        let Record::Event {
            probe,
            time_ns,
            pid,
            tid,
            comm,
            cgroup,
            namespace,
            pod,
            container,
            fields,
        } = record
        else {
            return;
        };
        let Some(source) = sources::find(&probe) else {
            return;
        };
        let Some(indexes) = self.by_probe.get(event_route(&probe, &fields)).cloned() else {
            return;
        };
        let started = Instant::now();
        if started.duration_since(self.window) >= Duration::from_secs(1) {
            self.window = started;
            self.busy = Duration::ZERO;
        }
        if self.busy >= Duration::from_secs(1).mul_f64(self.share) {
            self.shed += 1;
            return;
        }
        let event = Event(Arc::new(EventData {
            source,
            node: self.node.clone(),
            time_ns,
            pid,
            tid,
            comm,
            cgroup,
            namespace,
            pod,
            container,
            fields,
        }));
        let mut now = started;
        for &index in indexes.iter() {
            if let Some(key) = self.disabled.get(&index) {
                // A stopped handler's events count as failed, so the loss shows.
                if let Some(failures) = self.failures.get_mut(key) {
                    failures.count += 1;
                    failures.changed = true;
                }
                continue;
            }
            let handler = &self.handlers[index];
            if !sources::admits(&handler.filter, source.name, &event.0.fields) {
                continue;
            }
            lock(&self.host).deadline = Some(now + engine::MAX_CALLBACK_TIME);
            let result = self.caller.call(
                &self.engine,
                &self.ast,
                &handler.callback,
                Dynamic::from(event.clone()),
            );
            now = Instant::now();
            if let Err(err) = result {
                let label = format!("on {}", source_name(handler));
                let line = handler.line;
                let key = self.failed(label, line, &err);
                if self
                    .failures
                    .get(&key)
                    .is_some_and(|f| f.diagnostic.runaway)
                {
                    self.disabled.insert(index, key);
                }
            }
        }
        self.busy += now.duration_since(started);
    }

    /// Runs the `every` callbacks that are due `elapsed_ns` after the trace started.
    pub fn tick(&mut self, elapsed_ns: u64) {
        for index in 0..self.every.len() {
            let (periodic, next) = &mut self.every[index];
            if elapsed_ns < *next {
                continue;
            }
            // Missed periods are not made up for: one call per tick at most.
            while *next <= elapsed_ns {
                *next = next.saturating_add(periodic.interval_ns);
            }
            let (callback, line) = (periodic.callback.clone(), periodic.line);
            let now = Instant::now();
            if let Err(err) = call(&self.engine, &self.ast, &self.host, &callback, now, ()) {
                self.failed("every".to_owned(), line, &err);
            }
        }
    }

    /// Runs the `end` callbacks, once, after the last events.
    pub fn finish(&mut self) {
        for (callback, line) in std::mem::take(&mut self.end) {
            let now = Instant::now();
            if let Err(err) = call(&self.engine, &self.ast, &self.host, &callback, now, ()) {
                self.failed("end".to_owned(), line, &err);
            }
        }
    }

    /// Counts a failure of a callback declared at `line` and returns its key.
    fn failed(
        &mut self,
        handler: String,
        line: u32,
        err: &rhai::EvalAltResult,
    ) -> (String, u32, u32, String) {
        let mut diagnostic = Diagnostic::from_eval(&self.name, &self.source, err);
        if diagnostic.line == 0 {
            // rhai gives no place for some runaways (an empty `loop {}`): name the
            // callback's declaration instead.
            diagnostic = Diagnostic {
                runaway: diagnostic.runaway,
                ..Diagnostic::new(
                    &self.name,
                    &self.source,
                    rhai::Position::new(line.max(1) as u16, 0),
                    format!("{} (in the callback declared here)", diagnostic.message),
                    diagnostic.hint,
                )
            };
        }
        let key = (
            handler,
            diagnostic.line,
            diagnostic.column,
            diagnostic.message.clone(),
        );
        let failures = self.failures.entry(key.clone()).or_insert(Failures {
            diagnostic,
            count: 0,
            changed: true,
        });
        failures.count += 1;
        failures.changed = true;
        key
    }

    /// Printed lines and rows since the last call.
    pub fn take_output(&mut self) -> Vec<Record> {
        std::mem::take(&mut lock(&self.host).output)
    }

    /// Cumulative records of the maps and of the failures (those that changed, or all
    /// with `complete`), after any output.
    pub fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) {
        out.extend(self.take_output());
        let mut host = lock(&self.host);
        host.maps.snapshot(complete, out);
        for (name, dropped) in host.maps.dropped() {
            if complete || self.dropped_written.get(name) != Some(&dropped) {
                self.dropped_written.insert(name.to_owned(), dropped);
                out.push(Record::ScriptError {
                    handler: format!("map {name}"),
                    line: 0,
                    column: 0,
                    message: format!(
                        "map `{name}` is full ({} keys): values with new keys were dropped",
                        crate::maps::MAX_KEYS
                    ),
                    count: dropped,
                    disabled: false,
                });
            }
        }
        drop(host);
        if self.shed > 0 && (complete || self.shed != self.shed_written) {
            self.shed_written = self.shed;
            out.push(Record::ScriptError {
                handler: "events".to_owned(),
                line: 0,
                column: 0,
                message: format!(
                    "the handlers could not keep up: events beyond {}% of a core's time per second were dropped",
                    (self.share * 100.0) as u32
                ),
                count: self.shed,
                disabled: false,
            });
        }
        for ((handler, _, _, _), failures) in &mut self.failures {
            if !complete && !failures.changed {
                continue;
            }
            failures.changed = false;
            let diagnostic = &failures.diagnostic;
            let mut message = diagnostic.message.clone();
            if !diagnostic.hint.is_empty() {
                message.push_str("; ");
                message.push_str(&diagnostic.hint);
            }
            out.push(Record::ScriptError {
                handler: handler.clone(),
                line: diagnostic.line,
                column: diagnostic.column,
                message,
                count: failures.count,
                disabled: diagnostic.runaway && handler.starts_with("on "),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;
    use tracer_protocol::StatOp;

    use super::*;

    fn spec(source: &str) -> ScriptSpec {
        ScriptSpec {
            name: "test.rhai".into(),
            source: source.into(),
            args: BTreeMap::new(),
        }
    }

    fn load(source: &str) -> Script {
        Script::load(&spec(source), "node-1").unwrap_or_else(|err| panic!("{err}"))
    }

    fn failure(source: &str) -> Diagnostic {
        match Script::load(&spec(source), "node-1") {
            Ok(_) => panic!("{source} should fail"),
            Err(err) => err,
        }
    }

    fn event(probe: &str, pid: u32, fields: serde_json::Value) -> Record {
        Record::Event {
            probe: probe.into(),
            time_ns: 1,
            pid,
            tid: pid,
            comm: "app".into(),
            cgroup: 7,
            namespace: Some("shop".into()),
            pod: Some("api-1".into()),
            container: Some("app".into()),
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    fn open(path: &str, ret: i64) -> Record {
        event(
            "open",
            10,
            json!({"path": path, "ret": ret, "latency_ns": 1500}),
        )
    }

    fn snapshot(script: &mut Script) -> Vec<Record> {
        let mut out = Vec::new();
        script.snapshot(false, &mut out);
        out
    }

    fn counts(records: &[Record]) -> BTreeMap<String, u64> {
        records
            .iter()
            .filter_map(|record| match record {
                Record::Count { key, value, .. } => {
                    Some((key.values().cloned().collect::<Vec<_>>().join("|"), *value))
                }
                _ => None,
            })
            .collect()
    }

    fn errors(records: &[Record]) -> Vec<(String, u32, String, u64, bool)> {
        records
            .iter()
            .filter_map(|record| match record {
                Record::ScriptError {
                    handler,
                    line,
                    message,
                    count,
                    disabled,
                    ..
                } => Some((handler.clone(), *line, message.clone(), *count, *disabled)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn counts_events_by_key_and_declares_its_probes() {
        let mut script = load(
            r#"
            // Failed opens by pod and path.
            on("open", |e| {
                if e.ret < 0 {
                    count("failed", #{pod: e.pod, path: e.path});
                }
            });
            on("exec", |e| count("execs", e.comm));
            "#,
        );
        assert_eq!(
            script.probes(),
            [
                ProbeSpec::Open {
                    filter: Default::default()
                },
                ProbeSpec::Exec {
                    filter: Default::default()
                }
            ]
        );
        for _ in 0..3 {
            script.handle(open("/missing", -2));
        }
        script.handle(open("/etc/hosts", 3));
        script.handle(event("exec", 11, json!({"filename": "/bin/sh"})));
        let records = snapshot(&mut script);
        assert_eq!(
            counts(&records),
            [("/missing|api-1".to_owned(), 3), ("app".to_owned(), 1)].into()
        );
        let keys: Vec<_> = records
            .iter()
            .filter_map(|r| match r {
                Record::Count { name, key, .. } if name == "failed" => Some(key.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            keys,
            [BTreeMap::from([
                ("path".to_owned(), "/missing".to_owned()),
                ("pod".to_owned(), "api-1".to_owned())
            ])]
        );
        assert!(errors(&records).is_empty(), "{records:?}");
    }

    #[test]
    fn kernel_side_parameters_merge_to_the_loosest_and_each_handler_keeps_its_own() {
        let mut script = load(
            r#"
            on("open", #{min_latency: ms(5), path_prefix: "/etc/ssl"}, |e| count("slow", e.path));
            on("open", #{path_prefix: "/etc/pass", failed: true}, |e| count("failed", e.path));
            on("tcp-connect", #{port: 443}, |e| count("tls", e.dst));
            "#,
        );
        assert_eq!(
            script.probes(),
            [
                ProbeSpec::Open {
                    filter: EventFilter {
                        path_prefix: "/etc/".into(),
                        ..EventFilter::default()
                    }
                },
                ProbeSpec::TcpConnect {
                    filter: EventFilter {
                        port: 443,
                        ..EventFilter::default()
                    }
                },
            ]
        );
        let open = |path: &str, ret: i64, latency: u64| {
            event(
                "open",
                10,
                json!({"path": path, "ret": ret, "latency_ns": latency}),
            )
        };
        script.handle(open("/etc/ssl/cert.pem", 3, 6_000_000));
        script.handle(open("/etc/ssl/cert.pem", 3, 1_000));
        script.handle(open("/etc/passwd", -13, 1_000));
        script.handle(open("/etc/passwd", 3, 9_000_000));
        assert_eq!(
            counts(&snapshot(&mut script)),
            [
                ("/etc/ssl/cert.pem".to_owned(), 1),
                ("/etc/passwd".to_owned(), 1)
            ]
            .into()
        );
    }

    #[test]
    fn exit_signal_and_network_probes_take_their_parameters() {
        let mut script = load(
            r#"
            on("exit", #{signal: "KILL"}, |e| count("killed", e.pid));
            on("exit", #{failed: true, signal: 9}, |e| count("failed", e.pid));
            on("signal", #{signal: "SIGUSR1"}, |e| count("usr1", e.target_pid));
            on("tcp-life", #{port: 8080}, |e| count("served", e.src));
            "#,
        );
        assert_eq!(
            script.probes(),
            [
                ProbeSpec::Exit {
                    filter: EventFilter {
                        signal: 9,
                        ..EventFilter::default()
                    }
                },
                ProbeSpec::Signal {
                    filter: EventFilter {
                        signal: 10,
                        ..EventFilter::default()
                    }
                },
                ProbeSpec::TcpLife {
                    filter: EventFilter {
                        port: 8080,
                        ..EventFilter::default()
                    }
                },
            ]
        );
        script.handle(event("exit", 7, json!({"signal": "SIGKILL"})));
        script.handle(event("exit", 8, json!({"code": 1})));
        script.handle(event(
            "tcp-life",
            9,
            json!({"src": "10.0.0.1:8080", "dst": "10.0.0.2:51000"}),
        ));
        script.handle(event(
            "tcp-life",
            9,
            json!({"src": "10.0.0.1:51001", "dst": "10.0.0.2:443"}),
        ));
        let mut counted: Vec<(String, u64)> = snapshot(&mut script)
            .into_iter()
            .filter_map(|record| match record {
                Record::Count { name, value, .. } => Some((name, value)),
                _ => None,
            })
            .collect();
        counted.sort();
        assert_eq!(
            counted,
            [
                ("failed".to_owned(), 1),
                ("killed".to_owned(), 1),
                ("served".to_owned(), 1)
            ]
        );
        let err = failure(r#"on("signal", #{signal: "SIGNOPE"}, |e| {});"#);
        assert!(err.message.contains("takes a signal"), "{err}");
        let err = failure(r#"on("exec", #{port: 80}, |e| {});"#);
        assert!(err.hint.contains("exec takes failed, path_prefix"), "{err}");
    }

    #[test]
    fn kernel_counts_join_the_tracepoint_source_or_stand_alone() {
        let count = |name: &str, tracepoint: &str, fields: &[&str]| TracepointCount {
            name: name.into(),
            tracepoint: tracepoint.into(),
            fields: fields.iter().map(|field| field.to_string()).collect(),
        };
        let alone = load(
            r#"count_in_kernel("forks", "tracepoint:sched:sched_process_fork", "parent_comm");"#,
        );
        assert_eq!(
            alone.probes(),
            [ProbeSpec::Tracepoint {
                tracepoints: Vec::new(),
                counts: vec![count("forks", "sched:sched_process_fork", &["parent_comm"])],
            }]
        );
        let mut joined = load(
            r#"count_in_kernel("switches", "tracepoint:sched:sched_switch", ["prev_comm", "next_comm"]);
on("tracepoint:sched:sched_process_fork", |e| count("forks", e.parent_comm));
on("open", |e| count("switches", e.path));"#,
        );
        assert_eq!(
            joined.probes()[0],
            ProbeSpec::Tracepoint {
                tracepoints: vec!["sched:sched_process_fork".into()],
                counts: vec![count(
                    "switches",
                    "sched:sched_switch",
                    &["prev_comm", "next_comm"]
                )],
            }
        );
        // The kernel fills that map: the script's own count() into it is an error.
        joined.handle(event("open", 1, json!({"path": "/a"})));
        let mut out = Vec::new();
        joined.snapshot(true, &mut out);
        assert!(
            out.iter()
                .any(|r| matches!(r, Record::ScriptError { message, .. }
                if message.contains("counted in the kernel"))),
            "{out:?}"
        );
        for (bad, wanted) in [
            (
                r#"count_in_kernel("x", "open", "path");"#,
                "tracepoint's records",
            ),
            (
                r#"count_in_kernel("x", "tracepoint:a:b", ["a", "b", "c", "d", "e"]);"#,
                "1 to 4 fields",
            ),
            (
                r#"count_in_kernel("x", "tracepoint:a:b", "f"); count_in_kernel("y", "tracepoint:a:b", "g");"#,
                "counted in the kernel twice",
            ),
            (
                r#"on("open", |e| count_in_kernel("x", "tracepoint:a:b", "f"));"#,
                "",
            ),
        ] {
            let err = match Script::load(&spec(bad), "node-1") {
                Ok(mut script) => {
                    // Declared in a handler: refused when the handler runs.
                    script.handle(event("open", 1, json!({"path": "/a"})));
                    let mut out = Vec::new();
                    script.snapshot(true, &mut out);
                    format!("{out:?}")
                }
                Err(err) => err.to_string(),
            };
            assert!(err.contains(wanted), "{bad}: {err}");
        }
    }

    #[test]
    fn traced_builtins_join_the_probes_with_their_options() {
        let script = load(
            r#"trace("runq-latency", #{per_pod: true});
trace("syscall-latency", #{by_syscall: true, min_latency: us(10)});"#,
        );
        assert_eq!(
            script.probes(),
            [
                ProbeSpec::RunqLatency { per_pod: true },
                ProbeSpec::SyscallLatency {
                    by_syscall: true,
                    min_latency_ns: 10_000,
                    per_pod: false
                }
            ]
        );
        let err = failure(r#"trace("exec");"#);
        assert!(err.hint.contains(r#"on("exec""#), "{err}");
        let err = failure(r#"trace("runq-latncy");"#);
        assert_eq!(err.hint, "did you mean `runq-latency`?");
        let err = failure(r#"trace("syscall-count", #{per_pod: true});"#);
        assert!(err.message.contains("no option `per_pod`"), "{err}");
        let err = failure(r#"trace("syscall-count"); trace("syscall-count");"#);
        assert!(err.message.contains("declared twice"), "{err}");
    }

    #[test]
    fn tracepoint_handlers_share_one_source_and_route_by_tracepoint() {
        let mut script = load(
            r#"on("tracepoint:sched:sched_process_fork", |e| count("forks", e.parent_comm));
on("open", |e| count("opens", e.path));
on("tracepoint:signal:signal_generate", |e| count("signals", e.sig));
on("tracepoint:sched:sched_process_fork", |e| count("children", e.child_comm));"#,
        );
        assert_eq!(
            script.probes(),
            [
                ProbeSpec::Tracepoint {
                    tracepoints: vec![
                        "sched:sched_process_fork".into(),
                        "signal:signal_generate".into()
                    ],
                    counts: Vec::new(),
                },
                ProbeSpec::Open {
                    filter: EventFilter::default()
                },
            ]
        );
        script.handle(event(
            "tracepoint",
            1,
            json!({"tracepoint": "sched:sched_process_fork", "parent_comm": "sh", "child_comm": "ls"}),
        ));
        script.handle(event(
            "tracepoint",
            1,
            json!({"tracepoint": "signal:signal_generate", "sig": 15}),
        ));
        assert_eq!(
            counts(&snapshot(&mut script)),
            [
                ("sh".to_owned(), 1),
                ("ls".to_owned(), 1),
                ("15".to_owned(), 1)
            ]
            .into()
        );
        let err = failure(r#"on("tracepoint:../x", |e| 1);"#);
        assert!(err.message.contains("names no tracepoint"), "{err}");
        let err = failure(r#"on("tracepoint", |e| 1);"#);
        assert!(err.message.contains("needs the tracepoint's name"), "{err}");
    }

    #[test]
    fn linear_histograms_bucket_by_step_with_room_below_and_above() {
        let mut script = load(
            r#"on("open", |e| {
    for v in [3, 10, 19, 20, 55, 100, 250] { lhist("sizes", e.pod, v, 10, 100, 20, "B"); }
});"#,
        );
        script.handle(open("/a", 3));
        let records = snapshot(&mut script);
        let buckets: Vec<(u64, u64, u64)> = records
            .iter()
            .find_map(|r| match r {
                Record::Hist { unit, buckets, .. } if unit == "B" => {
                    Some(buckets.iter().map(|b| (b.low, b.high, b.count)).collect())
                }
                _ => None,
            })
            .expect("an lhist record");
        assert_eq!(
            buckets,
            [(0, 10, 1), (10, 30, 3), (50, 70, 1), (100, u64::MAX, 2)]
        );
        let err = failure(r#"on("open", |e| 1); lhist("x", 1, 1, 10, 5, 1);"#);
        assert!(err.message.contains("min < max"), "{err}");
        let err = failure(r#"on("open", |e| 1); lhist("x", 1, 1, 0, 1000000, 1);"#);
        assert!(err.message.contains("more than 1000 buckets"), "{err}");
    }

    #[test]
    fn uprobe_handlers_name_their_functions_and_route_by_them() {
        let mut script = load(
            r#"on("uprobe:/usr/lib/libc.so.6:open64", #{read: 0}, |e| count("opens", e.data));
on("uretprobe:/usr/lib/libc.so.6:getppid", |e| count("ppid", e.ret));"#,
        );
        assert_eq!(
            script.probes(),
            [ProbeSpec::Uprobe {
                functions: vec![
                    UprobeFunction {
                        binary: "/usr/lib/libc.so.6".into(),
                        function: "open64".into(),
                        at_return: false,
                        read_arg: Some(0),
                    },
                    UprobeFunction {
                        binary: "/usr/lib/libc.so.6".into(),
                        function: "getppid".into(),
                        at_return: true,
                        read_arg: None,
                    },
                ]
            }]
        );
        script.handle(event(
            "uprobe",
            1,
            json!({"uprobe": "uprobe:/usr/lib/libc.so.6:open64", "data": "/etc/hosts", "arg0": 1}),
        ));
        script.handle(event(
            "uprobe",
            1,
            json!({"uprobe": "uretprobe:/usr/lib/libc.so.6:getppid", "ret": 42}),
        ));
        assert_eq!(
            counts(&snapshot(&mut script)),
            [("/etc/hosts".to_owned(), 1), ("42".to_owned(), 1)].into()
        );
        let err = failure(r#"on("uprobe:libc:malloc", |e| 1);"#);
        assert!(err.message.contains("names no function"), "{err}");
        let err = failure(r#"on("uretprobe:/lib/libc.so.6:malloc", #{read: 0}, |e| 1);"#);
        assert!(err.message.contains("no arguments to read"), "{err}");
        let err = failure(r#"on("uprobe:/lib/libc.so.6:malloc", #{read: 9}, |e| 1);"#);
        assert!(err.message.contains("from 0 to 5"), "{err}");
    }

    #[test]
    fn stats_hists_prints_rows_every_and_end() {
        let mut script = load(
            r#"
            let seen = 0;
            on("open", |e| {
                seen += 1;
                sum("bytes", e.pod, 10);
                avg("latency", e.pod, e.latency_ns);
                hist("latency hist", #{}, e.latency_ns, "ns");
                row("opens", #{path: e.path, ret: e.ret, node: e.node});
            });
            every(sec(1), || print(`tick ${seen}`));
            end(|| print(`seen ${seen} ${fmt_duration(ms(1.5))} ${errno_name(2)} ${signal_name(9)} ${syscall_name(0)}`));
            "#,
        );
        script.handle(open("/a", 3));
        script.handle(open("/b", 4));
        script.tick(500_000_000);
        script.tick(1_000_000_000);
        script.finish();
        let records = snapshot(&mut script);
        let prints: Vec<&str> = records
            .iter()
            .filter_map(|r| match r {
                Record::Print { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let read = if cfg!(target_arch = "x86_64") {
            "read"
        } else {
            "io_setup"
        };
        assert_eq!(
            prints,
            [
                "tick 2".to_owned(),
                format!("seen 2 1.5ms ENOENT SIGKILL {read}")
            ]
        );
        assert!(records.contains(&Record::Row {
            table: "opens".into(),
            columns: vec!["node".into(), "path".into(), "ret".into()],
            values: vec![json!("node-1"), json!("/a"), json!(3)],
        }));
        assert!(records.iter().any(|r| matches!(r,
            Record::Stat { op: StatOp::Avg, value, count: 2, .. } if *value == 3000.0)));
        assert!(records.iter().any(|r| matches!(r,
            Record::Stat { op: StatOp::Sum, value, count: 2, .. } if *value == 20.0)));
        assert!(records.iter().any(|r| matches!(r,
            Record::Hist { unit, buckets, .. } if unit == "ns" && buckets[0].count == 2)));
    }

    #[test]
    fn a_runaway_handler_is_stopped_fast_named_by_line_and_disabled() {
        let mut script = load(
            r#"on("open", |e| count("opens", e.path));
on("open", |e| {
    let n = 0;
    loop { n += 1; }
});
on("exec", |e| {
    loop { }
});
"#,
        );
        let started = Instant::now();
        for _ in 0..5 {
            script.handle(open("/a", 3));
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        let records = snapshot(&mut script);
        // The other handler lost nothing.
        assert_eq!(counts(&records), [("/a".to_owned(), 5)].into());
        let errors = errors(&records);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let (handler, line, message, count, disabled) = &errors[0];
        // rhai does not say where in the callback it stopped: the error names the line
        // that declared it.
        assert_eq!(
            (handler.as_str(), *line, *count, *disabled),
            ("on open", 2, 5, true)
        );
        assert!(
            // Whichever limit comes first: the operations or the clock.
            (message.contains("operations") || message.contains("wall-clock"))
                && message.contains("declared here"),
            "{message}"
        );
        script.handle(event("exec", 1, json!({})));
        let later = self::errors(&snapshot(&mut script));
        let (handler, line, message, ..) = &later[0];
        assert_eq!((handler.as_str(), *line), ("on exec", 6));
        assert!(message.contains("declared here"), "{message}");
    }

    #[test]
    fn a_slow_callback_is_stopped_by_the_clock_and_a_busy_script_sheds_events() {
        let mut script = load(
            r#"on("open", |e| {
    loop { let t = "x".pad(60000, "y"); }
});"#,
        );
        let started = Instant::now();
        script.handle(open("/a", 3));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let stopped = errors(&snapshot(&mut script));
        assert!(stopped[0].2.contains("wall-clock"), "{stopped:?}");
        assert!(stopped[0].4, "disabled: {stopped:?}");

        // Past half a second of handler time in one second, events are dropped and
        // counted, not queued: fed until that happens, every event is one or the other.
        let mut script = load(
            r#"on("open", |e| {
    count("handled", 1);
    for i in 0..20 { let t = "x".pad(60000, "y"); }
});"#,
        );
        let started = Instant::now();
        let mut total = 0;
        while script.shed == 0 && started.elapsed() < Duration::from_secs(20) {
            script.handle(open("/a", 3));
            total += 1;
        }
        // The rest of that second is shed at once.
        for _ in 0..100 {
            script.handle(open("/a", 3));
            total += 1;
        }
        let records = snapshot(&mut script);
        let handled = counts(&records).get("1").copied().unwrap_or(0);
        let shed = errors(&records)
            .iter()
            .find(|e| e.0 == "events")
            .map(|e| e.3)
            .unwrap_or_else(|| panic!("no shed events: {records:?}"));
        assert!(shed > 0 && handled > 0, "{handled} {shed}");
        assert_eq!(handled + shed, total);
        assert!(
            errors(&records).iter().all(|e| e.0 == "events"),
            "no handler was stopped: {records:?}"
        );
    }

    #[test]
    fn huge_strings_and_deep_recursion_are_refused() {
        let mut script = load(
            r#"fn deep(n) { deep(n + 1) }
on("open", |e| {
    let s = "x";
    while true { s += s; }
});
on("exec", |e| deep(0));
"#,
        );
        script.handle(open("/a", 3));
        script.handle(event("exec", 1, json!({})));
        let errors = errors(&snapshot(&mut script));
        let huge = errors
            .iter()
            .find(|e| e.0 == "on open")
            .expect("string error");
        assert_eq!(huge.1, 2);
        assert!(huge.2.contains("too large"), "{huge:?}");
        assert!(!huge.4, "a refused allocation does not disable");
        let deep = errors
            .iter()
            .find(|e| e.0 == "on exec")
            .expect("recursion error");
        assert!(deep.2.contains("nest too deep"), "{deep:?}");
    }

    #[test]
    fn every_call_gets_the_whole_operation_budget_and_closures_keep_their_captures() {
        // 1,500 calls of over 1,000 operations each: past the budget of one call in
        // total, so a budget that did not start again at each call would stop it.
        let mut script = load(
            r#"on("open", |e| {
    let n = 0;
    for i in 0..500 { n += 1; }
    if n == 500 { count("calls", "plain"); }
});
let floor = 3;
on("open", |e| if e.ret >= floor { count("calls", "closure"); });"#,
        );
        script.set_cpu_share(1.0);
        for _ in 0..1_500 {
            script.handle(open("/a", 3));
        }
        let records = snapshot(&mut script);
        assert!(errors(&records).is_empty(), "{records:?}");
        assert_eq!(
            counts(&records),
            [("plain".to_owned(), 1_500), ("closure".to_owned(), 1_500)].into()
        );
    }

    #[test]
    fn a_failing_handler_is_counted_and_the_others_go_on() {
        let mut script = load(
            r#"on("open", |e| {
    count("all", "opens");
    let n = e.path + 1 - 1;
});"#,
        );
        script.handle(open("/a", 3));
        script.handle(open("/b", 3));
        let records = snapshot(&mut script);
        assert_eq!(counts(&records), [("opens".to_owned(), 2)].into());
        let errors = errors(&records);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].1, errors[0].3, errors[0].4), (3, 2, false));
        // Reported again only when it changes.
        assert!(self::errors(&snapshot(&mut script)).is_empty());
    }

    #[test]
    fn errors_point_at_the_place_with_a_hint() {
        let err = failure("on(\"open\", |e| {\n    count(\"x\", e.path\n});\n");
        assert_eq!((err.line, err.file.as_str()), (3, "test.rhai"));
        let text = err.to_string();
        assert!(text.starts_with("test.rhai:3:1: "), "{text}");
        assert!(text.contains("3 | });\n  | ^\n"), "{text}");

        let err = failure("\n  on(\"opne\", |e| print(e));");
        assert_eq!((err.line, err.column), (2, 3));
        assert_eq!(err.message, "unknown probe `opne`");
        assert_eq!(err.hint, "did you mean `open`?");
        assert!(
            err.to_string()
                .contains("2 |   on(\"opne\", |e| print(e));\n  |   ^\n")
        );

        let err = failure(r#"on("open", #{min_latncy: 5}, |e| print(e));"#);
        assert!(
            err.message
                .contains("no kernel-side parameter `min_latncy`"),
            "{err}"
        );
        assert_eq!(err.hint, "did you mean `min_latency`?");
        let err = failure(r#"on("oom-kill", #{port: 5}, |e| print(e));"#);
        assert!(err.hint.contains("takes no parameters"), "{err}");
        let err = failure(r#"on("tcp-connect", #{port: 70000}, |e| print(e));"#);
        assert!(err.message.contains("a port from 1 to 65535"), "{err}");

        let err = failure(r#"cuont("x", 1);"#);
        assert_eq!(err.hint, "did you mean `count`?", "{err}");
        // Inside a handler too, before any event, with its place.
        let err = failure("on(\"open\", |e| {\n    if e.ret < 0 { cuont(\"x\", 1); }\n});");
        assert_eq!(
            (err.line, err.message.as_str()),
            (2, "no function `cuont`"),
            "{err}"
        );
        assert_eq!(err.hint, "did you mean `count`?", "{err}");
        // Functions of the script, the language and variables holding closures are known.
        load(
            r#"fn twice(f, x) { f(x) + f.call(x) }
let add = |x| x + 1;
on("open", |e| { count("x", twice(add, 1) + add(2)); print(type_of(e)); });"#,
        );

        let err = failure("let x = 1;");
        assert!(err.message.contains("no callback"), "{err}");

        let err = failure(r#"on("open", |e| print(missing));"#);
        assert!(err.message.contains("missing"), "{err}");
    }

    #[test]
    fn fields_are_checked_against_the_probe() {
        let mut script = load(
            r#"on("open", |e| {
    count("err", e.error);
    if e.has("error") { count("has", 1); }
    count("typo", e.pathh);
});"#,
        );
        script.handle(open("/a", 3));
        let records = snapshot(&mut script);
        // `error` is a field of open events that this one lacks: `()`, an empty key.
        assert_eq!(counts(&records), [(String::new(), 1)].into());
        let errors = errors(&records);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].1, 4);
        assert!(
            errors[0].2.contains("no field `pathh`")
                && errors[0].2.contains("did you mean `path`?"),
            "{errors:?}"
        );
    }

    #[test]
    fn args_are_typed_by_their_defaults() {
        let mut with_args = spec(
            r#"let min = arg("min_ms", 10); let who = arg("who"); let on_ = arg("flag", false);
on("open", |e| count("x", [min, who, on_, type_of(min)]));"#,
        );
        with_args.args = [
            ("min_ms".to_owned(), "25".to_owned()),
            ("who".to_owned(), "api".to_owned()),
            ("flag".to_owned(), "yes".to_owned()),
        ]
        .into();
        let mut script = Script::load(&with_args, "n").unwrap_or_else(|err| panic!("{err}"));
        script.handle(open("/a", 3));
        assert_eq!(
            counts(&snapshot(&mut script)),
            [("25|api|true|i64".to_owned(), 1)].into()
        );
        with_args.args.insert("min_ms".into(), "soon".into());
        let err = Script::load(&with_args, "n").err().expect("not an int");
        assert!(err.message.contains("min_ms=soon is not a i64"), "{err}");
        with_args.args.clear();
        let err = Script::load(&with_args, "n")
            .err()
            .expect("who is required");
        assert!(err.message.contains("--arg who=VALUE"), "{err}");
    }

    #[test]
    fn the_sandbox_has_no_way_out() {
        for source in [
            r#"import "x" as y; on("open", |e| 1);"#,
            r#"eval("1"); on("open", |e| 1);"#,
            r#"on("open", |e| on("exec", |e| 1)); on("exec", |e| 1);"#,
            // Files, processes, the network and the environment: none exists in the API.
            r#"let f = open("/etc/shadow"); on("open", |e| 1);"#,
            r#"on("open", |e| read_file("/etc/shadow"));"#,
            r#"on("open", |e| system("sh -c id"));"#,
            r#"on("open", |e| exec("/bin/sh"));"#,
            r#"on("open", |e| connect("10.0.0.1:80"));"#,
            r#"on("open", |e| env("HOME"));"#,
            // Blocking the tracer, or ending it.
            r#"on("open", |e| sleep(1000));"#,
            r#"on("open", |e| sleep(0.5));"#,
            r#"on("open", |e| exit(1));"#,
        ] {
            // Refused by the check, or failing when the handler runs (declarations inside
            // a handler, calls the engine does not have).
            if let Ok(mut script) = Script::load(&spec(source), "n") {
                script.handle(open("/a", 1));
                let errors = errors(&snapshot(&mut script));
                assert_eq!(errors.len(), 1, "{source}: {errors:?}");
                if source.contains("on(\"exec\"") {
                    assert!(errors[0].2.contains("top level"), "{errors:?}");
                }
            }
        }
        let err = failure("let s = \"ab\"; let t = s.pad(100000, \"x\"); on(\"open\", |e| 1);");
        assert!(err.message.contains("too large"), "{err}");
    }
}
