//! Property tests of the two parsers that read untrusted bytes: the record decoder (a
//! tracer's log, which anything on the node can write into) and the trace spec (a
//! ConfigMap anyone with edit rights in the namespace can change). Neither may panic,
//! and what they accept must survive a round trip.

use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::{Decoded, MAX_LINE_BYTES, Record, TraceSpec, decode_line, spec::MAX_SPEC_BYTES};

const RECORD_TYPES: &[&str] = &[
    "hello",
    "attached",
    "event",
    "hist",
    "count",
    "stat",
    "print",
    "row",
    "script_error",
    "lost",
    "target",
    "stats",
    "error",
    "done",
];

const RECORD_FIELDS: &[&str] = &[
    "version",
    "node",
    "kernel",
    "btf",
    "features",
    "trace_id",
    "probes",
    "ms",
    "probe",
    "time_ns",
    "pid",
    "tid",
    "comm",
    "cgroup",
    "namespace",
    "pod",
    "container",
    "fields",
    "name",
    "key",
    "unit",
    "buckets",
    "value",
    "op",
    "count",
    "text",
    "table",
    "columns",
    "values",
    "handler",
    "line",
    "column",
    "message",
    "disabled",
    "state",
    "programs",
    "code",
    "hint",
    "reason",
    "le",
    "run_ns",
    "run_count",
];

const PROBES: &[&str] = &[
    "syscall-latency",
    "exec",
    "exit",
    "open",
    "signal",
    "oom-kill",
    "syscall-count",
    "runq-latency",
    "block-latency",
    "cpu-time",
    "profile",
    "packet-drop",
    "tcp-connect",
    "tcp-reset",
    "tcp-life",
    "tcp-retransmit",
    "http",
    "http-red",
    "dns",
];

const SPEC_FIELDS: &[&str] = &[
    "by_syscall",
    "min_latency_ns",
    "per_pod",
    "frequency_hz",
    "user",
    "kernel",
    "off_cpu",
    "filter",
    "status",
    "path_prefix",
    "capture_bytes",
    "capture_headers",
    "keep_query",
    "pids",
    "cgroup_ids",
    "cgroup_paths",
    "containers",
    "pod_uid",
    "container_id",
    "qos",
    "namespace",
    "pod",
    "container",
    "name",
    "source",
    "args",
];

fn known_or_random(known: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(known).prop_map(str::to_owned),
        1 => "[a-z_-]{0,12}",
        1 => ".{0,12}",
    ]
}

/// Any JSON value, a few levels deep, with keys drawn mostly from `keys`.
fn json(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..5).prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        ".{0,24}".prop_map(Value::String),
        prop::sample::select(PROBES).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(known_or_random(keys), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// An object that looks like a record: a known (or not) `type` and fields of any shape.
fn record_like() -> impl Strategy<Value = String> {
    (
        known_or_random(RECORD_TYPES),
        prop::collection::btree_map(known_or_random(RECORD_FIELDS), json(RECORD_FIELDS), 0..8),
    )
        .prop_map(|(kind, fields)| {
            let mut object: Map<String, Value> = fields.into_iter().collect();
            object.insert("type".into(), Value::String(kind));
            Value::Object(object).to_string()
        })
}

/// An object that looks like a trace spec: version, probes, targets, script and the rest,
/// each present or not, of the right shape or not.
fn spec_like() -> impl Strategy<Value = Vec<u8>> {
    let probe = (
        known_or_random(PROBES),
        prop::collection::btree_map(known_or_random(SPEC_FIELDS), json(SPEC_FIELDS), 0..3),
    )
        .prop_map(|(name, fields)| {
            let mut object: Map<String, Value> = fields.into_iter().collect();
            object.insert("probe".into(), Value::String(name));
            Value::Object(object)
        });
    let field = |value: BoxedStrategy<Value>| prop::option::weighted(0.7, value);
    (
        field(prop_oneof![Just(Value::from(1)), json(SPEC_FIELDS)].boxed()),
        field(
            prop_oneof![
                prop::collection::vec(probe, 0..4).prop_map(Value::Array),
                json(SPEC_FIELDS),
            ]
            .boxed(),
        ),
        field(json(SPEC_FIELDS).boxed()),
        field(json(SPEC_FIELDS).boxed()),
        field(prop_oneof![(0u64..5000).prop_map(Value::from), json(SPEC_FIELDS)].boxed()),
        field(json(SPEC_FIELDS).boxed()),
        prop::collection::btree_map(known_or_random(SPEC_FIELDS), json(SPEC_FIELDS), 0..2),
    )
        .prop_map(
            |(version, probes, targets, script, interval, duration, extra)| {
                let mut object: Map<String, Value> = extra.into_iter().collect();
                for (name, value) in [
                    ("version", version),
                    ("probes", probes),
                    ("targets", targets),
                    ("script", script),
                    ("interval_ms", interval),
                    ("duration_ms", duration),
                ] {
                    if let Some(value) = value {
                        object.insert(name.into(), value);
                    }
                }
                serde_json::to_vec(&Value::Object(object)).expect("a JSON value serializes")
            },
        )
}

/// What a user reads of a refused line or spec: one line, short enough to read.
fn assert_one_bounded_line(why: &str, bound: usize) {
    assert!(!why.is_empty(), "an empty reason");
    assert!(!why.contains('\n'), "a reason of several lines: {why:?}");
    assert!(
        why.len() <= bound,
        "a reason of {} bytes: {why:?}",
        why.len()
    );
}

fn check_decoded(line: &str) {
    match decode_line(line) {
        Decoded::Record(record) => {
            assert!(!matches!(record, Record::Unknown));
            assert_eq!(
                decode_line(&record.to_line()),
                Decoded::Record(record.clone()),
                "{line} does not round trip"
            );
        }
        Decoded::Skip => {}
        Decoded::Malformed(why) => assert_one_bounded_line(&why, 512),
    }
}

proptest! {
    // FUZZ_CASES=N runs a longer campaign than the suite's 300 cases per property.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(300)
    ))]

    #[test]
    fn decoder_survives_any_text(line in ".{0,300}") {
        check_decoded(&line);
    }

    #[test]
    fn decoder_survives_record_like_lines(line in record_like()) {
        check_decoded(&line);
    }

    /// A log line cut anywhere, as a runtime does when it splits long lines.
    #[test]
    fn decoder_survives_cut_lines(line in record_like(), cut in any::<prop::sample::Index>()) {
        let mut at = cut.index(line.len() + 1);
        while !line.is_char_boundary(at) {
            at -= 1;
        }
        check_decoded(&line[..at]);
    }

    #[test]
    fn decoder_refuses_overlong_lines(extra in 1usize..4096) {
        let line = format!(r#"{{"type":"print","text":"{}"}}"#, "x".repeat(MAX_LINE_BYTES + extra));
        prop_assert!(matches!(decode_line(&line), Decoded::Malformed(_)));
    }

    #[test]
    fn spec_parser_survives_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_spec(&bytes);
    }

    #[test]
    fn spec_parser_survives_spec_like_objects(bytes in spec_like()) {
        check_spec(&bytes);
    }
}

fn check_spec(bytes: &[u8]) {
    match TraceSpec::parse(bytes) {
        Ok(spec) => {
            let again = serde_json::to_vec(&spec).expect("a parsed spec serializes");
            assert_eq!(
                TraceSpec::parse(&again).expect("a parsed spec parses again"),
                spec
            );
        }
        Err(err) => assert_one_bounded_line(&err.to_string(), 512),
    }
}

#[test]
fn decoder_and_spec_parser_survive_deep_nesting() {
    for depth in [64, 127, 128, 129, 10_000] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        check_decoded(&format!(r#"{{"type":"event","fields":{{"x":{deep}}}}}"#));
        check_spec(format!(r#"{{"version":1,"probes":{deep}}}"#).as_bytes());
    }
}

#[test]
fn spec_parser_refuses_oversized_specs_in_one_line() {
    let mut spec = br#"{"version":1,"probes":[{"probe":"exec"}],"trace_id":""#.to_vec();
    spec.resize(MAX_SPEC_BYTES + 10, b'x');
    spec.extend_from_slice(br#""}"#);
    let err = TraceSpec::parse(&spec).expect_err("too large").to_string();
    assert_one_bounded_line(&err, 200);
    assert!(err.contains("limit"), "{err}");
}
