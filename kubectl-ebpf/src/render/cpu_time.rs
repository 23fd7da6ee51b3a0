//! The `cpu-time` table: on-CPU time per process, largest first, with its share of its
//! node's CPUs over the trace and, where the node has RAPL energy counters, an estimate
//! of the energy it used:
//!
//! ```text
//! cpu-time: on-CPU time and share of the node's CPUs (top 2 of 14 processes):
//! NAMESPACE  POD         CONTAINER  PID    COMM    ON-CPU  SHARE  ENERGY
//! shop       checkout-1  app        41022  java    4.21s   21.1%  n/a
//! shop       cart-2      app        41100  node    1.02s    5.1%  n/a
//! node-1: 2 CPUs for 10.0s; energy n/a (no RAPL counters)
//! ```
//!
//! SHARE is the process's on-CPU time over (traced time × the node's online CPUs), so
//! 100% means every CPU of the node for the whole trace. ENERGY is the node's package
//! energy (RAPL) over the trace times the process's part of the node's busy CPU time.

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use comfy_table::{Cell, CellAlignment, Table};

use super::key_columns;
use crate::{
    merge::{Count, TraceResult},
    units::format_ns,
};

pub const PROBE: &str = "cpu-time";

/// What one node reported beside its processes' times.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct NodeFacts {
    cpus: Option<u64>,
    traced_ns: Option<u64>,
    energy_uj: Option<u64>,
    busy_ns: Option<u64>,
}

impl NodeFacts {
    /// The process's share of the node's CPU capacity over the trace, 0..=1.
    fn share(&self, on_cpu_ns: u64) -> Option<f64> {
        let capacity = self.cpus? as f64 * self.traced_ns? as f64;
        (capacity > 0.0).then(|| on_cpu_ns as f64 / capacity)
    }

    /// Joules: the node's energy times the process's part of the node's busy time.
    fn energy_j(&self, on_cpu_ns: u64) -> Option<f64> {
        let busy = self.busy_ns? as f64;
        let energy_j = self.energy_uj? as f64 / 1e6;
        (busy > 0.0).then(|| energy_j * (on_cpu_ns as f64 / busy).min(1.0))
    }
}

pub fn write(result: &TraceResult, top: usize, out: &mut impl Write) -> io::Result<()> {
    let (processes, nodes) = split(&result.counts);
    if processes.is_empty() {
        writeln!(out, "No target process ran on a CPU during the trace.")?;
    } else {
        let shown = if top == 0 {
            processes.len()
        } else {
            top.min(processes.len())
        };
        let title = "cpu-time: on-CPU time and share of the node's CPUs";
        if shown < processes.len() {
            writeln!(
                out,
                "{title} (top {shown} of {} processes):",
                processes.len()
            )?;
        } else {
            writeln!(out, "{title}:")?;
        }
        writeln!(out, "{}", table(&processes[..shown], &nodes))?;
    }
    for (node, facts) in &nodes {
        writeln!(out, "{}", node_line(node, facts))?;
    }
    Ok(())
}

/// The processes' rows (largest first) and each node's facts.
fn split(counts: &[Count]) -> (Vec<&Count>, BTreeMap<String, NodeFacts>) {
    let mut processes: Vec<&Count> = Vec::new();
    let mut nodes: BTreeMap<String, NodeFacts> = BTreeMap::new();
    for count in counts.iter().filter(|count| count.probe == PROBE) {
        let node = count.key.get("node").cloned().unwrap_or_default();
        let facts = nodes.entry(node).or_default();
        match count.name.as_str() {
            "on_cpu_ns" => processes.push(count),
            "cpus" => facts.cpus = Some(count.value),
            "traced_ns" => facts.traced_ns = Some(count.value),
            "energy_uj" => facts.energy_uj = Some(count.value),
            "busy_ns" => facts.busy_ns = Some(count.value),
            _ => {}
        }
    }
    processes.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.key.cmp(&b.key)));
    (processes, nodes)
}

fn table(processes: &[&Count], nodes: &BTreeMap<String, NodeFacts>) -> Table {
    let mut key_names = key_columns(processes.iter().flat_map(|count| count.key.keys()));
    // One node needs no column saying so.
    if nodes.len() <= 1 {
        key_names.retain(|name| name.as_str() != "node");
    }
    let mut header: Vec<String> = key_names.iter().map(|name| name.to_uppercase()).collect();
    header.extend(["ON-CPU", "SHARE", "ENERGY"].map(String::from));
    let mut table = super::table(header);
    for count in processes {
        let node = count.key.get("node").cloned().unwrap_or_default();
        let facts = nodes.get(&node).copied().unwrap_or_default();
        let mut row: Vec<Cell> = key_names
            .iter()
            .map(|name| Cell::new(count.key.get(*name).map_or("-", String::as_str)))
            .collect();
        let right = |text: String| Cell::new(text).set_alignment(CellAlignment::Right);
        row.push(right(format_ns(count.value as f64)));
        row.push(right(facts.share(count.value).map_or_else(
            || "-".to_owned(),
            |share| format!("{:.1}%", share * 100.0),
        )));
        row.push(right(facts.energy_j(count.value).map_or_else(
            || "n/a".to_owned(),
            |joules| format!("{joules:.1}J"),
        )));
        table.add_row(row);
    }
    table
}

fn node_line(node: &str, facts: &NodeFacts) -> String {
    let name = if node.is_empty() { "node" } else { node };
    let cpus = facts
        .cpus
        .map_or_else(|| "? CPUs".to_owned(), |cpus| format!("{cpus} CPUs"));
    let traced = facts
        .traced_ns
        .map_or_else(|| "?".to_owned(), |ns| format_ns(ns as f64));
    let energy = match facts.energy_uj {
        Some(uj) => format!("energy {:.1}J (RAPL)", uj as f64 / 1e6),
        None => "energy n/a (no RAPL counters)".to_owned(),
    };
    format!("{name}: {cpus} for {traced}; {energy}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Merger;
    use tracer_protocol::decode_line;

    fn result(lines: &[(&str, &str)]) -> TraceResult {
        let mut merger = Merger::new().per_node(true);
        for (node, line) in lines {
            merger.apply(node, decode_line(line));
        }
        merger.result(PROBE, 1000)
    }

    fn render(result: &TraceResult, top: usize) -> String {
        let mut out = Vec::new();
        write(result, top, &mut out).expect("writes");
        String::from_utf8(out).expect("utf-8")
    }

    const CPUS: &str = r#"{"type":"count","probe":"cpu-time","name":"cpus","value":2}"#;
    const TRACED: &str =
        r#"{"type":"count","probe":"cpu-time","name":"traced_ns","value":10000000000}"#;

    #[test]
    fn shows_time_and_share_of_the_node() {
        let result = result(&[
            ("n1", CPUS),
            ("n1", TRACED),
            (
                "n1",
                r#"{"type":"count","probe":"cpu-time","name":"on_cpu_ns","key":{"namespace":"shop","pod":"cart-1","container":"app","pid":"42","comm":"busy"},"value":5000000000}"#,
            ),
            (
                "n1",
                r#"{"type":"count","probe":"cpu-time","name":"on_cpu_ns","key":{"cgroup":"/test","pid":"7","comm":"idle"},"value":20000000}"#,
            ),
        ]);
        let text = render(&result, 20);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "cpu-time: on-CPU time and share of the node's CPUs:"
        );
        let header: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            header,
            [
                "NAMESPACE",
                "POD",
                "CONTAINER",
                "CGROUP",
                "PID",
                "COMM",
                "ON-CPU",
                "SHARE",
                "ENERGY"
            ],
            "{text}"
        );
        let busy: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            busy,
            [
                "shop", "cart-1", "app", "-", "42", "busy", "5s", "25.0%", "n/a"
            ],
            "{text}"
        );
        assert!(
            lines[3].contains("/test") && lines[3].contains("0.1%"),
            "{text}"
        );
        assert_eq!(
            lines[4],
            "n1: 2 CPUs for 10s; energy n/a (no RAPL counters)"
        );
    }

    #[test]
    fn estimates_energy_where_the_node_measures_it() {
        let result = result(&[
            ("n1", CPUS),
            ("n1", TRACED),
            (
                "n1",
                r#"{"type":"count","probe":"cpu-time","name":"energy_uj","value":100000000}"#,
            ),
            (
                "n1",
                r#"{"type":"count","probe":"cpu-time","name":"busy_ns","value":10000000000}"#,
            ),
            (
                "n1",
                r#"{"type":"count","probe":"cpu-time","name":"on_cpu_ns","key":{"pid":"42","comm":"busy"},"value":2500000000}"#,
            ),
        ]);
        let text = render(&result, 0);
        // A quarter of the node's busy time: a quarter of its 100 J.
        assert!(
            text.lines()
                .nth(2)
                .is_some_and(|line| line.trim_end().ends_with("25.0J")),
            "{text}"
        );
        assert!(text.contains("energy 100.0J (RAPL)"), "{text}");
    }

    #[test]
    fn many_nodes_get_a_node_column_and_top_applies() {
        let mut lines = Vec::new();
        for node in ["n1", "n2"] {
            lines.push((node, CPUS));
            lines.push((node, TRACED));
            lines.push((
                node,
                r#"{"type":"count","probe":"cpu-time","name":"on_cpu_ns","key":{"pid":"1","comm":"init"},"value":1000}"#,
            ));
        }
        let result = result(&lines);
        let text = render(&result, 1);
        assert!(
            text.starts_with(
                "cpu-time: on-CPU time and share of the node's CPUs (top 1 of 2 processes):"
            ),
            "{text}"
        );
        assert!(
            text.lines()
                .nth(1)
                .is_some_and(|header| header.trim_start().starts_with("NODE")),
            "{text}"
        );
        assert!(
            text.contains("n1: 2 CPUs") && text.contains("n2: 2 CPUs"),
            "{text}"
        );
    }

    #[test]
    fn says_when_nothing_ran() {
        let result = result(&[("n1", CPUS), ("n1", TRACED)]);
        assert!(render(&result, 20).starts_with("No target process ran"));
    }
}
