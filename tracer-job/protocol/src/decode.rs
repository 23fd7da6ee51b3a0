//! Turning one line of a tracer's output into a record, without ever failing the stream.

use crate::{MAX_LINE_BYTES, Record};

#[derive(Debug, PartialEq)]
pub enum Decoded {
    Record(Record),
    /// A blank line, or a record type this build does not know; nothing to do.
    Skip,
    /// A line that is not a record: counted and reported, never fatal.
    Malformed(String),
}

pub fn decode_line(line: &str) -> Decoded {
    let line = line.trim();
    if line.is_empty() {
        return Decoded::Skip;
    }
    if line.len() > MAX_LINE_BYTES {
        return Decoded::Malformed(format!(
            "line of {} bytes exceeds the {MAX_LINE_BYTES}-byte limit",
            line.len()
        ));
    }
    match serde_json::from_str::<Record>(line) {
        Ok(Record::Unknown) => Decoded::Skip,
        Ok(record) => Decoded::Record(record),
        Err(err) => Decoded::Malformed(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{Bucket, ErrorCode, record::ProgramStats};

    fn record(line: &str) -> Record {
        match decode_line(line) {
            Decoded::Record(record) => record,
            other => panic!("{line} decoded as {other:?}"),
        }
    }

    #[test]
    fn decodes_every_record_type() {
        assert_eq!(
            record(
                r#"{"type":"hello","version":1,"node":"n1","kernel":"6.18","btf":true,"features":["raw_tracepoint"]}"#
            ),
            Record::Hello {
                version: 1,
                node: "n1".into(),
                kernel: "6.18".into(),
                btf: true,
                features: vec!["raw_tracepoint".into()],
                trace_id: None,
                tracer_version: None,
            }
        );
        assert_eq!(
            record(r#"{"type":"attached","probes":["syscall-latency"],"ms":42}"#),
            Record::Attached {
                probes: vec!["syscall-latency".into()],
                ms: 42
            }
        );
        let Record::Event {
            probe,
            pid,
            fields,
            pod,
            ..
        } = record(
            r#"{"type":"event","probe":"exec","time_ns":1,"pid":7,"comm":"sh","fields":{"filename":"/bin/sh"},"pod":"api"}"#,
        )
        else {
            panic!("not an event");
        };
        assert_eq!(
            (probe.as_str(), pid, pod.as_deref()),
            ("exec", 7, Some("api"))
        );
        assert_eq!(fields["filename"], "/bin/sh");
        assert_eq!(
            record(
                r#"{"type":"hist","probe":"syscall-latency","name":"latency","key":{"syscall":"read"},"unit":"ns","buckets":[{"low":1024,"high":2048,"count":3}]}"#
            ),
            Record::Hist {
                probe: "syscall-latency".into(),
                name: "latency".into(),
                key: BTreeMap::from([("syscall".into(), "read".into())]),
                unit: "ns".into(),
                buckets: vec![Bucket {
                    low: 1024,
                    high: 2048,
                    count: 3
                }],
            }
        );
        assert_eq!(
            record(r#"{"type":"count","probe":"syscall-count","name":"calls","value":9}"#),
            Record::Count {
                probe: "syscall-count".into(),
                name: "calls".into(),
                key: BTreeMap::new(),
                value: 9
            }
        );
        assert_eq!(
            record(r#"{"type":"lost","probe":"exec","count":3}"#),
            Record::Lost {
                probe: "exec".into(),
                count: 3
            }
        );
        assert_eq!(
            record(r#"{"type":"stats","programs":[{"name":"p","run_time_ns":5,"run_count":2}]}"#),
            Record::Stats {
                programs: vec![ProgramStats {
                    probe: String::new(),
                    name: "p".into(),
                    run_time_ns: 5,
                    run_count: 2
                }],
                run_time_counted: false,
                cpu_ns: None,
                max_rss_bytes: None,
                lost: 0,
                elapsed_ms: 0,
                run_time_counted_ms: None,
            }
        );
        assert_eq!(
            record(r#"{"type":"error","code":"permission-denied","message":"m","hint":"h"}"#),
            Record::Error {
                code: ErrorCode::PermissionDenied,
                message: "m".into(),
                hint: "h".into()
            }
        );
        assert_eq!(
            record(r#"{"type":"done","reason":"duration"}"#),
            Record::Done {
                reason: "duration".into()
            }
        );
    }

    #[test]
    fn skips_unknown_types_and_ignores_unknown_fields() {
        assert_eq!(decode_line(r#"{"type":"telemetry","x":1}"#), Decoded::Skip);
        assert_eq!(
            record(r#"{"type":"done","reason":"signal","added_later":[1,2]}"#),
            Record::Done {
                reason: "signal".into()
            }
        );
        let Record::Error { code, .. } =
            record(r#"{"type":"error","code":"from-the-future","message":"m"}"#)
        else {
            panic!("not an error");
        };
        assert_eq!(code, ErrorCode::Unknown);
    }

    #[test]
    fn reports_malformed_lines_without_failing() {
        for line in [
            "not json",
            "{\"type\":\"done\"",
            r#"{"type":"hist","probe":"p"}"#,
            r#"{"no_type":1}"#,
            "[1,2,3]",
            "I1121 10:00:00 some log line from a runtime",
        ] {
            assert!(matches!(decode_line(line), Decoded::Malformed(_)), "{line}");
        }
        assert_eq!(decode_line("   "), Decoded::Skip);
        let long = format!(
            r#"{{"type":"done","reason":"{}"}}"#,
            "x".repeat(MAX_LINE_BYTES)
        );
        assert!(matches!(decode_line(&long), Decoded::Malformed(msg) if msg.contains("limit")));
    }

    #[test]
    fn encodes_what_it_decodes() {
        let done = Record::Done {
            reason: "signal".into(),
        };
        assert_eq!(record(&done.to_line()), done);
    }
}
