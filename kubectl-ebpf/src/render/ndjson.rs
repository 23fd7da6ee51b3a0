//! `-o ndjson`: one JSON object per line, each with a `type`, for `jq` and log pipelines.
//! Events are written as they arrive (`"type": "event"`); at the end come one line per
//! histogram, heatmap, count and node, and a last `"type": "summary"` line with the
//! trace's totals. Fields are those of the JSON document ([docs/json-output.md]).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

use crate::merge::{Event, TraceResult};

/// `value` as one line, with `"type": kind` added.
fn line(kind: &str, value: &impl Serialize) -> io::Result<String> {
    let mut value = serde_json::to_value(value).map_err(io::Error::other)?;
    if let Value::Object(map) = &mut value {
        map.insert("type".to_owned(), Value::from(kind));
    }
    serde_json::to_string(&value).map_err(io::Error::other)
}

pub fn event_line(event: &Event) -> io::Result<String> {
    line("event", event)
}

/// Everything but the events, which were written as they came.
pub fn write_final(result: &TraceResult, out: &mut impl Write) -> io::Result<()> {
    for histogram in &result.histograms {
        writeln!(out, "{}", line("histogram", histogram)?)?;
    }
    for heatmap in &result.heatmaps {
        writeln!(out, "{}", line("heatmap", heatmap)?)?;
    }
    for count in &result.counts {
        writeln!(out, "{}", line("count", count)?)?;
    }
    for node in &result.nodes {
        writeln!(out, "{}", line("node", node)?)?;
    }
    let summary = serde_json::json!({
        "schema": result.schema,
        "probe": result.probe,
        "duration_ms": result.duration_ms,
        "partial": result.partial,
        "lost": result.lost,
        "malformed_lines": result.malformed_lines,
        "events_total": result.events_total,
    });
    writeln!(out, "{}", line("summary", &summary)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Merger;

    #[test]
    fn every_line_is_an_object_with_a_type_and_the_summary_comes_last() {
        let mut merger = Merger::new();
        for text in [
            r#"{"type":"hello","version":1,"node":"n1","kernel":"6.18","btf":true,"features":[]}"#,
            r#"{"type":"hist","probe":"syscall-latency","name":"latency","unit":"ns","buckets":[{"low":512,"high":1024,"count":3}]}"#,
            r#"{"type":"count","probe":"syscall-count","name":"calls","key":{"syscall":"read"},"value":7}"#,
            r#"{"type":"done","reason":"duration"}"#,
        ] {
            merger.apply("n1", tracer_protocol::decode_line(text));
        }
        merger.ended("n1", "exited 0".to_owned(), String::new());
        let result = merger.result("syscall-latency", 1000);
        let mut out = Vec::new();
        write_final(&result, &mut out).unwrap_or_default();
        let text = String::from_utf8(out).unwrap_or_default();
        let kinds: Vec<String> = text
            .lines()
            .map(|line| {
                let value: Value = serde_json::from_str(line).unwrap_or_default();
                value["type"].as_str().unwrap_or_default().to_owned()
            })
            .collect();
        assert_eq!(kinds, ["histogram", "count", "node", "summary"], "{text}");
        assert!(
            text.lines()
                .last()
                .unwrap_or_default()
                .contains("\"partial\":false")
        );
    }
}
