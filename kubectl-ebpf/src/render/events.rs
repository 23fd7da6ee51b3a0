//! Events as they arrive, one aligned line each:
//!
//! ```text
//! TIME          NODE    POD                 CONTAINER  PID    COMM  PPID  RET  FILENAME  ARGS
//! 14:02:11.337  node-1  shop/checkout-7d9f  app        41022  curl  41001 0    /usr/bin/curl  curl -s http://…
//! ```
//!
//! Columns only ever widen, so a line never needs the ones after it.

use serde_json::Value;

use crate::{catalogue, merge::Event};

/// Longest text shown for one field; the JSON output has it whole.
const MAX_FIELD_CHARS: usize = 200;

pub struct EventPrinter {
    show_node: bool,
    /// `-o wide`: TID and CGROUP columns, and every field whole.
    wide: bool,
    widths: Vec<usize>,
    header_written: bool,
}

impl EventPrinter {
    /// `show_node` adds the NODE column (every trace but a local one).
    pub fn new(show_node: bool, wide: bool) -> Self {
        EventPrinter {
            show_node,
            wide,
            widths: Vec::new(),
            header_written: false,
        }
    }

    /// The line(s) to print for `event`: the header before the first event, then the row.
    pub fn lines(&mut self, event: &Event) -> Vec<String> {
        let fields = catalogue::find(&event.probe).map_or(&[][..], |probe| probe.fields);
        let mut lines = Vec::new();
        if !self.header_written {
            self.header_written = true;
            let header = self.header(fields);
            self.widths = header.iter().map(|name| min_width(name)).collect();
            if super::headers_shown() {
                lines.push(self.align(header));
            }
        }
        let row = self.row(event, fields);
        lines.push(self.align(row));
        lines
    }

    fn header(&self, fields: &[&str]) -> Vec<String> {
        let mut header = vec!["TIME".to_owned()];
        if self.show_node {
            header.push("NODE".to_owned());
        }
        header.extend(["POD", "CONTAINER", "PID"].map(String::from));
        if self.wide {
            header.push("TID".to_owned());
        }
        header.push("COMM".to_owned());
        if self.wide {
            header.push("CGROUP".to_owned());
        }
        header.extend(fields.iter().map(|field| field.to_uppercase()));
        header
    }

    fn row(&self, event: &Event, fields: &[&str]) -> Vec<String> {
        let mut row = vec![clock_time(event.time_ns)];
        if self.show_node {
            row.push(event.node.clone());
        }
        let pod = match (&event.namespace, &event.pod) {
            (Some(namespace), Some(pod)) => format!("{namespace}/{pod}"),
            (None, Some(pod)) => pod.clone(),
            _ => "-".to_owned(),
        };
        row.push(pod);
        row.push(event.container.clone().unwrap_or_else(|| "-".to_owned()));
        row.push(event.pid.to_string());
        if self.wide {
            row.push(event.tid.to_string());
        }
        // Network probes credit no task for work done in softirq for nobody.
        row.push(if event.comm.is_empty() {
            "-".to_owned()
        } else {
            event.comm.clone()
        });
        if self.wide {
            row.push(event.cgroup.to_string());
        }
        for field in fields {
            row.push(event.fields.get(*field).map_or_else(
                || "-".to_owned(),
                |value| show_field(field, value, self.wide),
            ));
        }
        row
    }

    /// Pads every column but the last to the widest value seen in it so far.
    fn align(&mut self, cells: Vec<String>) -> String {
        let last = cells.len().saturating_sub(1);
        let mut line = String::new();
        for (index, cell) in cells.into_iter().enumerate() {
            if index == last {
                line.push_str(&cell);
                break;
            }
            if self.widths.len() <= index {
                self.widths.push(0);
            }
            let width = self.widths[index].max(cell.chars().count());
            self.widths[index] = width;
            line.push_str(&format!("{cell:<width$}  "));
        }
        line
    }
}

/// Room a column starts with, so the first rows line up with the later ones.
fn min_width(column: &str) -> usize {
    match column {
        "TIME" => 12,
        "POD" => 24,
        "NODE" | "COMM" | "CONTAINER" => 12,
        "FILENAME" => 16,
        // An IPv4 endpoint with its port; IPv6 ones widen the column once.
        "SRC" | "DST" => 21,
        _ => 6,
    }
}

/// A field's value for a person; `*_ns` numbers as durations. Whole with `whole`,
/// else bounded in length.
fn show_field(name: &str, value: &Value, whole: bool) -> String {
    match value.as_u64() {
        Some(ns) if name.ends_with("_ns") => crate::units::format_ns(ns as f64),
        _ if whole => show_whole(value),
        _ => show(value),
    }
}

/// A field's value for a person: strings bare, lists space-separated, bounded in length.
pub fn show(value: &Value) -> String {
    let text = show_whole(value);
    if text.chars().count() > MAX_FIELD_CHARS {
        let cut: String = text.chars().take(MAX_FIELD_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// A field's value for a person, on one line, however long.
fn show_whole(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(show_whole).collect::<Vec<_>>().join(" "),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    text.replace(['\n', '\r', '\t'], " ")
}

/// `HH:MM:SS.mmm` in local time.
pub fn clock_time(unix_ns: u64) -> String {
    let seconds = (unix_ns / 1_000_000_000) as libc::time_t;
    let millis = (unix_ns / 1_000_000) % 1000;
    // SAFETY: `localtime_r` fills `tm` from a valid time value.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&seconds, &mut tm).is_null() {
            return format!("{seconds}.{millis:03}");
        }
        tm
    };
    format!(
        "{:02}:{:02}:{:02}.{millis:03}",
        tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

/// After the streamed rows: a line when nothing came at all, so silence is not mistaken
/// for a hang.
pub fn write_total(
    result: &crate::merge::TraceResult,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    if result.events_total == 0 {
        writeln!(out, "No event was recorded.")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn exec_event(pod: Option<&str>, args: Value) -> Event {
        let mut fields = serde_json::Map::new();
        fields.insert("ret".into(), json!(0));
        fields.insert("filename".into(), json!("/bin/echo"));
        fields.insert("args".into(), args);
        Event {
            node: "node-1".into(),
            probe: "exec".into(),
            time_ns: 0,
            pid: 42,
            tid: 42,
            comm: "echo".into(),
            cgroup: 7,
            namespace: pod.map(|_| "shop".into()),
            pod: pod.map(String::from),
            container: pod.map(|_| "app".into()),
            fields,
        }
    }

    #[test]
    fn prints_a_header_then_aligned_rows() {
        let mut printer = EventPrinter::new(true, false);
        let first = printer.lines(&exec_event(Some("checkout-1"), json!(["echo", "hi"])));
        assert_eq!(first.len(), 2);
        assert!(first[0].starts_with("TIME"), "{first:?}");
        assert!(
            first[0].contains("NODE") && first[0].ends_with("ARGS"),
            "{first:?}"
        );
        assert!(first[1].contains("shop/checkout-1"), "{first:?}");
        assert!(first[1].contains("/bin/echo "), "{first:?}");
        assert!(first[1].ends_with("  echo hi"), "{first:?}");
        let second = printer.lines(&exec_event(None, json!(["echo"])));
        assert_eq!(second.len(), 1);
        // Columns line up with the row before.
        let column = |line: &str| line.find("42").expect("pid");
        assert_eq!(column(&first[1]), column(&second[0]));
        assert!(second[0].contains(" - "), "{second:?}");
    }

    #[test]
    fn an_event_without_a_task_shows_a_dash_for_its_command() {
        let mut event = exec_event(None, json!([]));
        event.pid = 0;
        event.comm = String::new();
        let mut printer = EventPrinter::new(false, false);
        let lines = printer.lines(&event);
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(cells[1..5], ["-", "-", "0", "-"], "{lines:?}");
    }

    #[test]
    fn wide_adds_thread_and_cgroup_and_keeps_fields_whole() {
        let long = "z".repeat(500);
        let mut printer = EventPrinter::new(false, true);
        let lines = printer.lines(&exec_event(None, json!([long])));
        let header: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            header[..7],
            ["TIME", "POD", "CONTAINER", "PID", "TID", "COMM", "CGROUP"]
        );
        assert!(lines[1].ends_with(&long), "{lines:?}");
        assert!(lines[1].contains("  7  "), "the cgroup id: {lines:?}");
    }

    #[test]
    fn local_traces_have_no_node_column() {
        let mut printer = EventPrinter::new(false, false);
        let lines = printer.lines(&exec_event(None, json!([])));
        assert!(!lines[0].contains("NODE"), "{lines:?}");
    }

    #[test]
    fn shows_values_bounded_and_on_one_line() {
        assert_eq!(show(&json!(["a", "b"])), "a b");
        assert_eq!(show(&json!("x\ny")), "x y");
        assert_eq!(show(&json!(true)), "yes");
        assert!(show(&json!("z".repeat(500))).ends_with('…'));
    }

    #[test]
    fn shows_nanosecond_fields_as_durations() {
        assert_eq!(show_field("latency_ns", &json!(1_500_000), false), "1.50ms");
        assert_eq!(
            show_field("lifetime_ns", &json!(2_000_000_000u64), false),
            "2s"
        );
        assert_eq!(show_field("ret", &json!(1_500_000), true), "1500000");
    }
}
