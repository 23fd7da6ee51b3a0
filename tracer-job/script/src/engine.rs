//! The one engine definition: the sandbox's limits and the API scripts get. The node
//! runs scripts with it and the plugin checks them with it, so both agree.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use rhai::{
    Dynamic, Engine, EvalAltResult, FnPtr, INT, NativeCallContext, Position,
    packages::{
        ArithmeticPackage, BasicArrayPackage, BasicIteratorPackage, BasicMapPackage,
        BasicMathPackage, BasicStringPackage, LanguageCorePackage, LogicPackage, MoreStringPackage,
        Package,
    },
};
use tracer_protocol::{
    EventFilter, ProbeSpec, Record, StatOp, TracepointCount, UprobeFunction,
    names::{errno, signal, signal_number},
    spec::{
        MAX_COUNT_FIELDS, MAX_PATH_PREFIX_BYTES, MAX_TRACEPOINTS, MAX_UPROBES_PER_KIND,
        split_tracepoint,
    },
};

use crate::{
    event::{self, Event},
    fault::Fault,
    maps::{self, Kind, Maps},
    sources::{self, SOURCES, Source},
};

/// Operations one callback (or the top level) may run before it is stopped.
pub const MAX_OPERATIONS: u64 = 1_000_000;
/// Wall-clock time one callback (or the top level) may take before it is stopped: what
/// bounds a callback whose operations are few but slow (huge strings, big maps).
pub const MAX_CALLBACK_TIME: Duration = Duration::from_millis(100);
/// How often, in operations, a running callback's clock is read.
const CLOCK_EVERY_OPERATIONS: u64 = 256;
pub const MAX_CALL_LEVELS: usize = 32;
pub const MAX_EXPR_DEPTH: usize = 64;
pub const MAX_FN_EXPR_DEPTH: usize = 32;
pub const MAX_STRING_BYTES: usize = 64 * 1024;
pub const MAX_ARRAY_LEN: usize = 10_000;
pub const MAX_MAP_LEN: usize = 1_000;
/// Printed lines and table rows are cut here, so records stay under 16 KiB.
pub const MAX_OUTPUT_BYTES: usize = 8 * 1024;
/// Most `every` and `end` callbacks and `on` handlers a script may declare.
pub const MAX_CALLBACKS: usize = 64;

/// The functions the API adds, for hints on misspelled calls.
pub const API_FUNCTIONS: &[&str] = &[
    "on",
    "trace",
    "count_in_kernel",
    "every",
    "end",
    "top",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "hist",
    "lhist",
    "row",
    "print",
    "arg",
    "ns",
    "us",
    "ms",
    "sec",
    "fmt_duration",
    "fmt_bytes",
    "join",
    "errno_name",
    "signal_name",
    "syscall_name",
    "i32",
    "has",
];

/// A handler of one source's events.
#[derive(Clone, Debug)]
pub struct Handler {
    pub source: &'static Source,
    /// For the generic source: the tracepoint, `category:name`.
    pub tracepoint: Option<String>,
    /// For the generic user-space source: the function.
    pub uprobe: Option<UprobeFunction>,
    /// What the kernel drops before the handler sees it (`on(probe, #{...}, ...)`).
    pub filter: EventFilter,
    pub callback: FnPtr,
    pub line: u32,
}

/// An `every` callback.
#[derive(Clone, Debug)]
pub struct Periodic {
    pub interval_ns: u64,
    pub callback: FnPtr,
    pub line: u32,
}

/// What a script declared and produced, shared by the engine's functions.
#[derive(Debug, Default)]
pub struct Host {
    pub args: BTreeMap<String, String>,
    /// Declarations (`on`, `every`, `end`, `top`) are allowed while the top level runs.
    pub top_level: bool,
    pub handlers: Vec<Handler>,
    /// Built-in aggregating probes whose results join the script's (`trace(...)`).
    pub traced: Vec<ProbeSpec>,
    /// Maps the kernel fills: tracepoints counted by fields (`count_in_kernel(...)`).
    pub kernel_counts: Vec<TracepointCount>,
    pub every: Vec<Periodic>,
    pub end: Vec<(FnPtr, u32)>,
    pub tops: BTreeMap<String, usize>,
    pub maps: Maps,
    /// Printed lines and rows not yet written.
    pub output: Vec<Record>,
    /// When the running callback must stop; set by the runner before each call.
    pub deadline: Option<Instant>,
}

pub type SharedHost = Arc<Mutex<Host>>;

pub fn lock(host: &SharedHost) -> MutexGuard<'_, Host> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    host.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

type Outcome<T> = Result<T, Box<EvalAltResult>>;

/// The sandboxed engine, with the API bound to `host`.
pub fn engine(host: &SharedHost) -> Engine {
    let mut engine = Engine::new_raw();
    for package in [
        LanguageCorePackage::new().as_shared_module(),
        ArithmeticPackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicIteratorPackage::new().as_shared_module(),
        BasicStringPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
    ] {
        engine.register_global_module(package);
    }
    engine
        .set_max_operations(MAX_OPERATIONS)
        .set_max_call_levels(MAX_CALL_LEVELS)
        .set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH)
        .set_max_string_size(MAX_STRING_BYTES)
        .set_max_array_size(MAX_ARRAY_LEN)
        .set_max_map_size(MAX_MAP_LEN)
        .set_max_variables(1_000)
        .set_max_functions(256)
        .set_strict_variables(true)
        .set_fail_on_invalid_map_property(true);
    engine.disable_symbol("eval");
    refuse_blocking(&mut engine);
    let clock = host.clone();
    engine.on_progress(move |operations| {
        if operations % CLOCK_EVERY_OPERATIONS != 0 {
            return None;
        }
        let deadline = lock(&clock).deadline?;
        (Instant::now() >= deadline).then(|| Dynamic::from("time"))
    });

    declarations(&mut engine, host);
    aggregations(&mut engine, host);
    output(&mut engine, host);
    helpers(&mut engine, host);
    events(&mut engine);
    engine
}

/// The core package's `sleep` would block the tracer's only thread where no operation
/// count or clock can stop it; these, registered on the engine itself, are found first.
fn refuse_blocking(engine: &mut Engine) {
    fn refused(ctx: &NativeCallContext) -> Box<EvalAltResult> {
        Fault::new(
            "sleep is not available: a handler must never block the tracer".to_owned(),
            "use every(ms(N), || ...) to run code at intervals".to_owned(),
        )
        .at(ctx.call_position())
    }
    engine.register_fn(
        "sleep",
        |ctx: NativeCallContext, _seconds: i64| -> Outcome<()> { Err(refused(&ctx)) },
    );
    engine.register_fn(
        "sleep",
        |ctx: NativeCallContext, _seconds: f64| -> Outcome<()> { Err(refused(&ctx)) },
    );
}

fn line(position: Position) -> u32 {
    position.line().unwrap_or(0) as u32
}

fn declaration_only(host: &Host, what: &str, position: Position) -> Outcome<()> {
    if host.top_level {
        Ok(())
    } else {
        Err(Fault::new(
            format!("{what} declares a callback and runs only at the top level of the script"),
            format!("move {what} out of the function or handler"),
        )
        .at(position))
    }
}

fn room(count: usize, position: Position) -> Outcome<()> {
    if count < MAX_CALLBACKS {
        Ok(())
    } else {
        Err(Fault::new(
            format!("too many callbacks: a script may declare {MAX_CALLBACKS}"),
            "handle several cases in one callback",
        )
        .at(position))
    }
}

/// What `on(name, ...)` handles: a source, and for a generic one its tracepoint or
/// function.
struct Named {
    source: &'static Source,
    tracepoint: Option<String>,
    uprobe: Option<UprobeFunction>,
}

fn named(name: &str, position: Position) -> Outcome<Named> {
    let mut named = Named {
        source: &sources::UPROBE,
        tracepoint: None,
        uprobe: None,
    };
    if name.starts_with("uprobe:") || name.starts_with("uretprobe:") {
        named.uprobe = Some(UprobeFunction::parse(name).ok_or_else(|| {
            Fault::new(
                format!("`{name}` names no function of a binary"),
                "write uprobe:/ABSOLUTE/PATH:SYMBOL (or uretprobe:), the path as the container sees it, e.g. uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc",
            )
            .at(position)
        })?);
    } else if let Some(tracepoint) = name.strip_prefix(sources::TRACEPOINT_PREFIX) {
        if split_tracepoint(tracepoint).is_none() {
            return Err(Fault::new(
                format!("`{name}` names no tracepoint"),
                "write tracepoint:CATEGORY:NAME, e.g. tracepoint:sched:sched_process_fork (/sys/kernel/tracing/events lists them)",
            )
            .at(position));
        }
        named.source = &sources::TRACEPOINT;
        named.tracepoint = Some(tracepoint.to_owned());
    } else {
        named.source = source(name, position)?;
    }
    Ok(named)
}

fn source(name: &str, position: Position) -> Outcome<&'static Source> {
    if name == sources::UPROBE.name {
        return Err(Fault::new(
            "the uprobe source needs the binary and the function",
            "write uprobe:/ABSOLUTE/PATH:SYMBOL, e.g. uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc",
        )
        .at(position));
    }
    if name == sources::TRACEPOINT.name {
        return Err(Fault::new(
            "the tracepoint source needs the tracepoint's name",
            "write tracepoint:CATEGORY:NAME, e.g. tracepoint:sched:sched_process_fork",
        )
        .at(position));
    }
    sources::find(name).ok_or_else(|| {
        let names = SOURCES.iter().map(|source| source.name);
        let hint = match sources::nearest(name, names.clone()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!(
                "scripts can handle the events of {}",
                names.collect::<Vec<_>>().join(", ")
            ),
        };
        Fault::new(format!("unknown probe `{name}`"), hint).at(position)
    })
}

/// The kernel-side parameters of `on(probe, #{...}, ...)`, checked against what the
/// probe takes.
fn event_filter(probe: &str, params: &rhai::Map, position: Position) -> Outcome<EventFilter> {
    let takes = EventFilter::takes(probe);
    let mut filter = EventFilter::default();
    for (name, value) in params {
        let name = name.as_str();
        if !takes.contains(&name) {
            let hint = match sources::nearest(name, takes.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None if takes.is_empty() => {
                    "this probe takes no parameters; filter in the handler".to_owned()
                }
                None => format!("{probe} takes {}", takes.join(", ")),
            };
            return Err(Fault::new(
                format!("{probe} takes no kernel-side parameter `{name}`"),
                hint,
            )
            .at(position));
        }
        let wrong = |what: &str| {
            Fault::new(
                format!("parameter `{name}` takes {what}, not {value}"),
                match name {
                    "min_latency" => "give nanoseconds, e.g. min_latency: ms(5)",
                    "failed" => "give true or false",
                    "port" => "give a port number, e.g. port: 443",
                    "signal" => "give a signal's name or number, e.g. signal: \"SIGKILL\"",
                    _ => "give a path, e.g. path_prefix: \"/etc/\"",
                },
            )
            .at(position)
        };
        match name {
            "min_latency" => {
                filter.min_latency_ns = value
                    .as_int()
                    .ok()
                    .and_then(|ns| u64::try_from(ns).ok())
                    .ok_or_else(|| wrong("a duration in nanoseconds"))?;
            }
            "failed" => filter.failed = value.as_bool().map_err(|_| wrong("true or false"))?,
            "port" => {
                filter.port = value
                    .as_int()
                    .ok()
                    .and_then(|port| u16::try_from(port).ok())
                    .filter(|port| *port != 0)
                    .ok_or_else(|| wrong("a port from 1 to 65535"))?;
            }
            "signal" => {
                let number = match value.read_lock::<rhai::ImmutableString>() {
                    Some(name) => signal_number(&name),
                    None => value
                        .as_int()
                        .ok()
                        .and_then(|n| signal_number(&n.to_string())),
                };
                filter.signal = number.ok_or_else(|| wrong("a signal (1 to 64, or a name)"))?;
            }
            _ => {
                let prefix = value
                    .read_lock::<rhai::ImmutableString>()
                    .map(|text| text.to_string())
                    .ok_or_else(|| wrong("a string"))?;
                if prefix.len() > MAX_PATH_PREFIX_BYTES {
                    return Err(Fault::new(
                        format!(
                            "path_prefix is {} bytes; the kernel compares at most {MAX_PATH_PREFIX_BYTES}",
                            prefix.len()
                        ),
                        "shorten it, and check the rest of the path in the handler",
                    )
                    .at(position));
                }
                filter.path_prefix = prefix;
            }
        }
    }
    Ok(filter)
}

/// The built-in probes a script may `trace(...)`: those that aggregate in the kernel.
pub const TRACEABLE: &[&str] = &[
    "syscall-latency",
    "runq-latency",
    "block-latency",
    "syscall-count",
];

/// `trace(probe, #{...})`: a built-in aggregating probe and its options.
fn traced_probe(probe: &str, params: &rhai::Map, position: Position) -> Outcome<ProbeSpec> {
    if !TRACEABLE.contains(&probe) {
        let hint = if sources::find(probe).is_some() {
            format!("{probe} sends events: handle them with on(\"{probe}\", |e| ...)")
        } else {
            match sources::nearest(probe, TRACEABLE.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("trace() takes {}", TRACEABLE.join(", ")),
            }
        };
        return Err(Fault::new(format!("trace() cannot run `{probe}`"), hint).at(position));
    }
    let takes: &[&str] = match probe {
        "syscall-latency" => &["by_syscall", "min_latency", "per_pod"],
        "runq-latency" | "block-latency" => &["per_pod"],
        _ => &[],
    };
    let (mut by_syscall, mut min_latency_ns, mut per_pod) = (false, 0, false);
    for (name, value) in params {
        let name = name.as_str();
        if !takes.contains(&name) {
            let hint = if takes.is_empty() {
                "it takes no options".to_owned()
            } else {
                format!("it takes {}", takes.join(", "))
            };
            return Err(Fault::new(format!("{probe} has no option `{name}`"), hint).at(position));
        }
        let wrong = |what: &str| {
            Fault::new(format!("option `{name}` takes {what}, not {value}"), "").at(position)
        };
        match name {
            "min_latency" => {
                min_latency_ns = value
                    .as_int()
                    .ok()
                    .and_then(|ns| u64::try_from(ns).ok())
                    .ok_or_else(|| wrong("a duration in nanoseconds"))?;
            }
            "by_syscall" => by_syscall = value.as_bool().map_err(|_| wrong("true or false"))?,
            _ => per_pod = value.as_bool().map_err(|_| wrong("true or false"))?,
        }
    }
    Ok(match probe {
        "syscall-latency" => ProbeSpec::SyscallLatency {
            by_syscall,
            min_latency_ns,
            per_pod,
        },
        "runq-latency" => ProbeSpec::RunqLatency { per_pod },
        "block-latency" => ProbeSpec::BlockLatency { per_pod },
        _ => ProbeSpec::SyscallCount {},
    })
}

/// `#{read: N}` of a uprobe: the argument whose string to read, at entry only.
fn read_param(
    function: &UprobeFunction,
    params: &rhai::Map,
    position: Position,
) -> Outcome<Option<u8>> {
    let mut read = None;
    for (name, value) in params {
        if name.as_str() != "read" {
            return Err(Fault::new(
                format!("a uprobe takes no parameter `{name}`"),
                "it takes read: N, the argument (0 to 5) whose string to read",
            )
            .at(position));
        }
        let arg = value
            .as_int()
            .ok()
            .and_then(|n| u8::try_from(n).ok())
            .filter(|n| *n <= 5)
            .ok_or_else(|| {
                Fault::new(
                    format!("read takes an argument number from 0 to 5, not {value}"),
                    "e.g. #{read: 0} reads the string the first argument points to",
                )
                .at(position)
            })?;
        if function.at_return {
            return Err(Fault::new(
                "a return probe has no arguments to read",
                "read the argument at entry: uprobe: instead of uretprobe:",
            )
            .at(position));
        }
        read = Some(arg);
    }
    Ok(read)
}

/// Refuses a tracepoint beyond the [`MAX_TRACEPOINTS`] that handlers and kernel counts
/// together may name.
fn tracepoint_room(host: &Host, tracepoint: &str, position: Position) -> Outcome<()> {
    let mut named: Vec<&str> = host
        .handlers
        .iter()
        .filter_map(|h| h.tracepoint.as_deref())
        .chain(host.kernel_counts.iter().map(|c| c.tracepoint.as_str()))
        .collect();
    named.push(tracepoint);
    named.sort();
    named.dedup();
    if named.len() > MAX_TRACEPOINTS {
        return Err(Fault::new(
            format!("a script may handle and count {MAX_TRACEPOINTS} tracepoints"),
            "split the question over two scripts",
        )
        .at(position));
    }
    Ok(())
}

/// `count_in_kernel(NAME, "tracepoint:CATEGORY:NAME", FIELDS)`: the map NAME, filled in
/// the kernel with the tracepoint's records counted by FIELDS (a name or an array).
fn kernel_count(
    host: &mut Host,
    name: &str,
    source: &str,
    fields: &Dynamic,
    position: Position,
) -> Outcome<()> {
    declaration_only(host, "count_in_kernel()", position)?;
    let tracepoint = source
        .strip_prefix(sources::TRACEPOINT_PREFIX)
        .filter(|tracepoint| split_tracepoint(tracepoint).is_some())
        .ok_or_else(|| {
            Fault::new(
                format!("count_in_kernel counts a tracepoint's records, not `{source}`"),
                "name it \"tracepoint:CATEGORY:NAME\", as /sys/kernel/tracing/events/CATEGORY/NAME",
            )
            .at(position)
        })?;
    let fields: Vec<String> = match fields.read_lock::<rhai::Array>() {
        Some(array) => array.iter().map(maps::text).collect(),
        None => vec![maps::text(fields)],
    };
    let count = TracepointCount {
        name: name.to_owned(),
        tracepoint: tracepoint.to_owned(),
        fields,
    };
    if count.fields.is_empty() || count.fields.len() > MAX_COUNT_FIELDS {
        return Err(Fault::new(
            format!(
                "count_in_kernel takes 1 to {MAX_COUNT_FIELDS} fields, not {}",
                count.fields.len()
            ),
            "count by fewer fields, or handle the events with on(...)",
        )
        .at(position));
    }
    if host
        .kernel_counts
        .iter()
        .any(|c| c.tracepoint == count.tracepoint)
    {
        return Err(Fault::new(
            format!("{tracepoint} is counted in the kernel twice"),
            "one kernel count per tracepoint; handle the events with on(...) for more",
        )
        .at(position));
    }
    if name.is_empty() || host.kernel_counts.iter().any(|c| c.name == name) {
        return Err(Fault::new(
            format!("count_in_kernel needs a map name of its own, not `{name}`"),
            "give each count its own name",
        )
        .at(position));
    }
    tracepoint_room(host, tracepoint, position)?;
    host.maps.reserve_for_kernel(name);
    host.kernel_counts.push(count);
    Ok(())
}

fn declarations(engine: &mut Engine, host: &SharedHost) {
    let counts = host.clone();
    engine.register_fn(
        "count_in_kernel",
        move |ctx: NativeCallContext, name: &str, source: &str, fields: Dynamic| {
            kernel_count(
                &mut lock(&counts),
                name,
                source,
                &fields,
                ctx.call_position(),
            )
        },
    );
    let trace = {
        let host = host.clone();
        move |ctx: NativeCallContext, probe: &str, params: rhai::Map| -> Outcome<()> {
            let mut host = lock(&host);
            declaration_only(&host, "trace()", ctx.call_position())?;
            let spec = traced_probe(probe, &params, ctx.call_position())?;
            if host
                .traced
                .iter()
                .any(|traced| traced.name() == spec.name())
            {
                return Err(Fault::new(
                    format!("trace(\"{probe}\") is declared twice"),
                    "a script runs each built-in probe once; keep one declaration",
                )
                .at(ctx.call_position()));
            }
            host.traced.push(spec);
            Ok(())
        }
    };
    let plain = trace.clone();
    engine.register_fn("trace", move |ctx: NativeCallContext, probe: &str| {
        plain(ctx, probe, rhai::Map::new())
    });
    engine.register_fn("trace", trace);

    let on = {
        let host = host.clone();
        move |ctx: NativeCallContext,
              probe: &str,
              filter: EventFilter,
              read_arg: Option<u8>,
              callback: FnPtr|
              -> Outcome<()> {
            let mut host = lock(&host);
            declaration_only(&host, "on()", ctx.call_position())?;
            room(host.handlers.len(), ctx.call_position())?;
            let Named {
                source,
                tracepoint,
                mut uprobe,
            } = named(probe, ctx.call_position())?;
            if let Some(function) = uprobe.as_mut() {
                function.read_arg = read_arg;
                let same_kind: Vec<String> = host
                    .handlers
                    .iter()
                    .filter_map(|h| h.uprobe.as_ref())
                    .filter(|f| f.at_return == function.at_return)
                    .map(UprobeFunction::source_name)
                    .chain([function.source_name()])
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if same_kind.len() > MAX_UPROBES_PER_KIND {
                    return Err(Fault::new(
                        format!("a script may handle {MAX_UPROBES_PER_KIND} functions at entry and as many at return"),
                        "split the question over two scripts",
                    )
                    .at(ctx.call_position()));
                }
            }
            if let Some(tracepoint) = &tracepoint {
                tracepoint_room(&host, tracepoint, ctx.call_position())?;
            }
            host.handlers.push(Handler {
                source,
                tracepoint,
                uprobe,
                filter,
                callback,
                line: line(ctx.call_position()),
            });
            Ok(())
        }
    };
    let plain = on.clone();
    engine.register_fn(
        "on",
        move |ctx: NativeCallContext, probe: &str, callback: FnPtr| {
            plain(ctx, probe, EventFilter::default(), None, callback)
        },
    );
    engine.register_fn(
        "on",
        move |ctx: NativeCallContext, probe: &str, params: rhai::Map, callback: FnPtr| {
            let target = named(probe, ctx.call_position())?;
            if let Some(function) = &target.uprobe {
                let read_arg = read_param(function, &params, ctx.call_position())?;
                return on(ctx, probe, EventFilter::default(), read_arg, callback);
            }
            let filter = event_filter(target.source.name, &params, ctx.call_position())?;
            on(ctx, probe, filter, None, callback)
        },
    );
    let every = host.clone();
    engine.register_fn(
        "every",
        move |ctx: NativeCallContext, interval_ns: INT, callback: FnPtr| -> Outcome<()> {
            let mut host = lock(&every);
            declaration_only(&host, "every()", ctx.call_position())?;
            room(host.every.len(), ctx.call_position())?;
            if interval_ns <= 0 {
                return Err(Fault::new(
                    format!("every() needs a positive interval, not {interval_ns}"),
                    "give one in nanoseconds, e.g. every(sec(10), || ...)",
                )
                .at(ctx.call_position()));
            }
            host.every.push(Periodic {
                interval_ns: interval_ns as u64,
                callback,
                line: line(ctx.call_position()),
            });
            Ok(())
        },
    );
    let end = host.clone();
    engine.register_fn(
        "end",
        move |ctx: NativeCallContext, callback: FnPtr| -> Outcome<()> {
            let mut host = lock(&end);
            declaration_only(&host, "end()", ctx.call_position())?;
            room(host.end.len(), ctx.call_position())?;
            host.end.push((callback, line(ctx.call_position())));
            Ok(())
        },
    );
    let top = host.clone();
    engine.register_fn(
        "top",
        move |ctx: NativeCallContext, name: &str, rows: INT| -> Outcome<()> {
            let mut host = lock(&top);
            declaration_only(&host, "top()", ctx.call_position())?;
            host.tops.insert(name.to_owned(), rows.max(0) as usize);
            Ok(())
        },
    );
}

/// A number the script passed, as `f64`.
fn number(value: &Dynamic, what: &str, position: Position) -> Outcome<f64> {
    if let Ok(i) = value.as_int() {
        Ok(i as f64)
    } else if let Ok(f) = value.as_float() {
        Ok(f)
    } else {
        Err(Fault::new(
            format!("{what} takes a number, not {}", value.type_name()),
            "convert it first, e.g. parse_int(text)",
        )
        .at(position))
    }
}

fn update(
    host: &SharedHost,
    ctx: &NativeCallContext,
    name: &str,
    kind: Kind,
    unit: &str,
    key: &Dynamic,
    value: f64,
) -> Outcome<()> {
    lock(host)
        .maps
        .update(name, kind, unit, key, value)
        .map_err(|refused| Fault::new(refused.0, refused.1).at(ctx.call_position()))
}

fn aggregations(engine: &mut Engine, host: &SharedHost) {
    let h = host.clone();
    engine.register_fn(
        "count",
        move |ctx: NativeCallContext, name: &str, key: Dynamic| {
            update(&h, &ctx, name, Kind::Count, "", &key, 1.0)
        },
    );
    let h = host.clone();
    engine.register_fn(
        "count",
        move |ctx: NativeCallContext, name: &str, key: Dynamic, n: INT| {
            update(&h, &ctx, name, Kind::Count, "", &key, n as f64)
        },
    );
    for op in [StatOp::Sum, StatOp::Min, StatOp::Max, StatOp::Avg] {
        let h = host.clone();
        engine.register_fn(
            op.as_str(),
            move |ctx: NativeCallContext, name: &str, key: Dynamic, value: Dynamic| {
                let value = number(&value, op.as_str(), ctx.call_position())?;
                update(&h, &ctx, name, Kind::Stat(op), "", &key, value)
            },
        );
    }
    let h = host.clone();
    engine.register_fn(
        "hist",
        move |ctx: NativeCallContext, name: &str, key: Dynamic, value: Dynamic| {
            let value = number(&value, "hist", ctx.call_position())?;
            update(&h, &ctx, name, Kind::Hist, "", &key, value)
        },
    );
    let h = host.clone();
    engine.register_fn(
        "hist",
        move |ctx: NativeCallContext, name: &str, key: Dynamic, value: Dynamic, unit: &str| {
            let value = number(&value, "hist", ctx.call_position())?;
            update(&h, &ctx, name, Kind::Hist, unit, &key, value)
        },
    );
    let h = host.clone();
    let lhist = move |ctx: NativeCallContext,
                      name: &str,
                      key: Dynamic,
                      value: Dynamic,
                      min: INT,
                      max: INT,
                      step: INT,
                      unit: &str|
          -> Outcome<()> {
        let value = number(&value, "lhist", ctx.call_position())?;
        let kind = linear(min, max, step, ctx.call_position())?;
        update(&h, &ctx, name, kind, unit, &key, value)
    };
    let plain = lhist.clone();
    engine.register_fn(
        "lhist",
        move |ctx: NativeCallContext,
              name: &str,
              key: Dynamic,
              value: Dynamic,
              min: INT,
              max: INT,
              step: INT| { plain(ctx, name, key, value, min, max, step, "") },
    );
    engine.register_fn("lhist", lhist);
}

/// `lhist`'s range, checked: `min < max`, a positive step, at most
/// [`maps::MAX_LHIST_BUCKETS`] buckets.
fn linear(min: INT, max: INT, step: INT, position: Position) -> Outcome<Kind> {
    let refuse = |what: String| {
        Err(Fault::new(
            what,
            "e.g. lhist(\"latency ms\", #{}, ms_value, 0, 100, 10)",
        )
        .at(position))
    };
    let (Ok(min), Ok(max), Ok(step)) =
        (u64::try_from(min), u64::try_from(max), u64::try_from(step))
    else {
        return refuse(format!(
            "lhist takes a range of non-negative numbers, not {min}..{max} by {step}"
        ));
    };
    if min >= max || step == 0 {
        return refuse(format!(
            "lhist needs min < max and a positive step, not {min}..{max} by {step}"
        ));
    }
    if (max - min).div_ceil(step) > maps::MAX_LHIST_BUCKETS {
        return refuse(format!(
            "lhist {min}..{max} by {step} makes more than {} buckets",
            maps::MAX_LHIST_BUCKETS
        ));
    }
    Ok(Kind::Lhist { min, max, step })
}

fn output(engine: &mut Engine, host: &SharedHost) {
    let printed = host.clone();
    engine.on_print(move |text| {
        let mut text = text.to_owned();
        maps::cut(&mut text, MAX_OUTPUT_BYTES);
        lock(&printed).output.push(Record::Print { text });
    });
    let rows = host.clone();
    engine.register_fn("row", move |table: &str, row: rhai::Map| {
        let mut columns = Vec::with_capacity(row.len());
        let mut values = Vec::with_capacity(row.len());
        let mut size = table.len();
        for (name, value) in &row {
            let value = event::json(value);
            size += name.len() + value.to_string().len();
            if size > MAX_OUTPUT_BYTES {
                values.push(serde_json::Value::String("...".into()));
                columns.push(name.to_string());
                break;
            }
            columns.push(name.to_string());
            values.push(value);
        }
        lock(&rows).output.push(Record::Row {
            table: table.to_owned(),
            columns,
            values,
        });
    });
}

/// `arg(name, default)`: the value parsed as the default's type.
fn typed_arg(given: &str, default: &Dynamic, name: &str, position: Position) -> Outcome<Dynamic> {
    let parsed = if default.is_int() {
        given.trim().parse::<INT>().ok().map(Dynamic::from)
    } else if default.is_float() {
        given.trim().parse::<f64>().ok().map(Dynamic::from)
    } else if default.is_bool() {
        match given.trim() {
            "true" | "yes" | "1" => Some(Dynamic::TRUE),
            "false" | "no" | "0" => Some(Dynamic::FALSE),
            _ => None,
        }
    } else {
        Some(Dynamic::from(given.to_owned()))
    };
    parsed.ok_or_else(|| {
        Fault::new(
            format!(
                "--arg {name}={given} is not a {} like its default {default}",
                default.type_name()
            ),
            format!("pass --arg {name}=<{}>", default.type_name()),
        )
        .at(position)
    })
}

fn helpers(engine: &mut Engine, host: &SharedHost) {
    let args = host.clone();
    engine.register_fn(
        "arg",
        move |ctx: NativeCallContext, name: &str| -> Outcome<String> {
            lock(&args).args.get(name).cloned().ok_or_else(|| {
                Fault::new(
                    format!("the script needs --arg {name}=VALUE"),
                    format!("pass --arg {name}=..., or give a default: arg(\"{name}\", ...)"),
                )
                .at(ctx.call_position())
            })
        },
    );
    let args = host.clone();
    engine.register_fn(
        "arg",
        move |ctx: NativeCallContext, name: &str, default: Dynamic| -> Outcome<Dynamic> {
            match lock(&args).args.get(name) {
                Some(given) => typed_arg(given, &default, name, ctx.call_position()),
                None => Ok(default),
            }
        },
    );
    for (name, scale) in [
        ("ns", 1),
        ("us", 1_000),
        ("ms", 1_000_000),
        ("sec", 1_000_000_000),
    ] {
        engine.register_fn(name, move |n: INT| n.saturating_mul(scale));
        engine.register_fn(name, move |n: f64| (n * scale as f64) as INT);
    }
    engine.register_fn("fmt_duration", |ns: INT| fmt_duration(ns));
    engine.register_fn("fmt_bytes", |bytes: INT| fmt_bytes(bytes));
    engine.register_fn("join", |items: rhai::Array, separator: &str| {
        items
            .iter()
            .map(maps::text)
            .collect::<Vec<_>>()
            .join(separator)
    });
    engine.register_fn("errno_name", |code: INT| errno(code.abs()));
    // A register holds a C `int` in its low 32 bits: `i32(e.ret)` reads it signed.
    engine.register_fn("i32", |n: INT| i64::from(n as i32));
    engine.register_fn("syscall_name", |nr: INT| {
        u64::try_from(nr).map_or_else(|_| format!("syscall_{nr}"), tracer_protocol::syscalls::name)
    });
    engine.register_fn("signal_name", |number: INT| signal(number));
}

fn events(engine: &mut Engine) {
    engine.register_type_with_name::<Event>("Event");
    // A getter per known field name: `e.path` then resolves at once, where the indexer
    // below is found only after the getter lookup fails (several times slower). The
    // indexer serves the rest: tracepoints' fields, and names no probe has.
    let mut names: Vec<&'static str> = sources::COMMON_FIELDS.to_vec();
    names.extend(
        SOURCES
            .iter()
            .flat_map(|source| source.fields.iter().copied()),
    );
    names.sort_unstable();
    names.dedup();
    for name in names {
        if sources::COMMON_FIELDS.contains(&name) {
            engine.register_get(name, move |event: &mut Event| event.get(name));
        } else {
            engine.register_get(name, move |event: &mut Event| event.field(name));
        }
    }
    engine.register_indexer_get(|event: &mut Event, name: &str| event.get(name));
    engine.register_fn("has", |event: &mut Event, name: &str| event.has(name));
    engine.register_fn("to_string", |event: &mut Event| {
        format!("{} event of pid {}", event.0.source.name, event.0.pid)
    });
}

/// `1.5ms`, `320us`, `2.0s`: three significant figures at most.
pub fn fmt_duration(ns: INT) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs() as f64;
    let (value, unit) = if ns < 1e3 {
        return format!("{sign}{ns}ns");
    } else if ns < 1e6 {
        (ns / 1e3, "us")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{sign}{}{unit}", short(value))
}

/// `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn fmt_bytes(bytes: INT) -> String {
    let sign = if bytes < 0 { "-" } else { "" };
    let mut value = bytes.unsigned_abs() as f64;
    if value < 1024.0 {
        return format!("{sign}{value} B");
    }
    let mut unit = "B";
    for next in ["KiB", "MiB", "GiB", "TiB", "PiB"] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{sign}{} {unit}", short(value))
}

fn short(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_and_sizes() {
        assert_eq!(fmt_duration(999), "999ns");
        assert_eq!(fmt_duration(1_500_000), "1.5ms");
        assert_eq!(fmt_duration(320_000), "320us");
        assert_eq!(fmt_duration(2_000_000_000), "2.0s");
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(1536), "1.5 KiB");
        assert_eq!(fmt_bytes(3 << 30), "3.0 GiB");
    }
}
