//! `kubectl ebpf programs`: the eBPF programs loaded on the nodes, the costliest first.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment};
use serde::Serialize;

use crate::{
    cli::ListFormat,
    merge::{NodeProgram, NodeSummary, TraceResult},
    units::format_ns,
};

/// The inventory's name in the spec and the result.
pub const PROBE: &str = "programs";

pub const PROGRAMS_SCHEMA: &str = "kubectl-ebpf/programs/v1";

/// Attach points and holders a table cell lists before it says how many more.
const LISTED: usize = 2;

#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    /// How long runs and run time were counted.
    duration_ms: u64,
    partial: bool,
    nodes: &'a [NodeSummary],
    programs: Vec<&'a NodeProgram>,
}

pub fn write(result: &TraceResult, format: ListFormat, out: &mut dyn Write) -> io::Result<()> {
    let programs = costliest_first(&result.programs);
    match format {
        ListFormat::Json | ListFormat::Yaml => {
            let document = Document {
                schema: PROGRAMS_SCHEMA,
                duration_ms: result.duration_ms,
                partial: result.partial,
                nodes: &result.nodes,
                programs,
            };
            if format == ListFormat::Json {
                serde_json::to_writer_pretty(&mut *out, &document)?;
                writeln!(out)
            } else {
                super::write_yaml(&document, &mut &mut *out)
            }
        }
        ListFormat::Table | ListFormat::Wide => {
            write_table(&programs, result, format == ListFormat::Wide, out)
        }
    }
}

/// Most run time first (unknown last), then by node and id.
fn costliest_first(programs: &[NodeProgram]) -> Vec<&NodeProgram> {
    let mut sorted: Vec<&NodeProgram> = programs.iter().collect();
    sorted.sort_by(|a, b| {
        b.program
            .run_time_ns
            .cmp(&a.program.run_time_ns)
            .then_with(|| (&a.node, a.program.id).cmp(&(&b.node, b.program.id)))
    });
    sorted
}

fn write_table(
    programs: &[&NodeProgram],
    result: &TraceResult,
    wide: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    if programs.is_empty() {
        return writeln!(out, "No eBPF program is loaded.");
    }
    let mut header = vec![
        "NODE", "ID", "TYPE", "NAME", "ATTACHED", "HELD BY", "RUNS", "CPU", "MEMORY",
    ];
    if wide {
        header.extend(["TAG", "UID", "LOADED", "MAPS"]);
    }
    let right = ["ID", "RUNS", "CPU", "MEMORY", "UID"];
    let mut table = super::table(header.clone());
    for entry in programs {
        let program = &entry.program;
        let mut row = vec![
            entry.node.clone(),
            program.id.to_string(),
            program.kind.clone(),
            program.name.clone(),
            listed(&program.attached, "-"),
            listed(&program.owners.iter().map(holder).collect::<Vec<_>>(), "-"),
            program
                .run_count
                .map_or_else(|| "unknown".to_owned(), |runs| runs.to_string()),
            cpu(program.run_time_ns, result.duration_ms),
            memory(program.program_bytes, program.map_bytes),
        ];
        if wide {
            row.push(program.tag.clone());
            row.push(
                program
                    .uid
                    .map_or_else(|| "-".to_owned(), |uid| uid.to_string()),
            );
            row.push(program.loaded_at.map_or_else(|| "-".to_owned(), loaded_at));
            let maps: Vec<String> = program.map_ids.iter().map(u32::to_string).collect();
            row.push(if maps.is_empty() {
                "-".to_owned()
            } else {
                maps.join(",")
            });
        }
        table.add_row(row.into_iter().zip(&header).map(|(text, column)| {
            let cell = Cell::new(text);
            if right.contains(column) {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        }));
    }
    writeln!(out, "{table}")?;
    let nodes = result.nodes.len();
    writeln!(
        out,
        "{} program(s) on {nodes} node(s); runs and CPU counted over {}.",
        programs.len(),
        format_ns(result.duration_ms as f64 * 1e6)
    )
}

/// `a, b +3 more`, or `none` when empty.
fn listed(items: &[String], none: &str) -> String {
    if items.is_empty() {
        return none.to_owned();
    }
    let mut text = items
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > LISTED {
        text.push_str(&format!(" +{} more", items.len() - LISTED));
    }
    text
}

/// `comm[pid]`, after its pod container when it runs in one: `shop/checkout-1/app
/// envoy[4242]`.
fn holder(owner: &tracer_protocol::ProgramOwner) -> String {
    let process = format!("{}[{}]", owner.comm, owner.pid);
    match (&owner.namespace, &owner.pod) {
        (Some(namespace), Some(pod)) => match &owner.container {
            Some(container) => format!("{namespace}/{pod}/{container} {process}"),
            None => format!("{namespace}/{pod} {process}"),
        },
        _ => process,
    }
}

/// Run time and its share of one CPU over the window: `1.20ms (0.12%)`.
fn cpu(run_time_ns: Option<u64>, window_ms: u64) -> String {
    let Some(ns) = run_time_ns else {
        return "unknown".to_owned();
    };
    let share = ns as f64 / (window_ms.max(1) as f64 * 1e6) * 100.0;
    let share = if share > 0.0 && share < 0.01 {
        "<0.01%".to_owned()
    } else {
        format!("{share:.2}%")
    };
    format!("{} ({share})", format_ns(ns as f64))
}

/// The program's and its maps' kernel memory together.
fn memory(program: Option<u64>, maps: Option<u64>) -> String {
    match (program, maps) {
        (None, None) => "-".to_owned(),
        (program, maps) => bytes(program.unwrap_or(0) + maps.unwrap_or(0)),
    }
}

fn bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            return if value >= 10.0 {
                format!("{value:.0} {unit}")
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{bytes} B")
}

/// Seconds since the epoch as UTC `2026-12-02T21:50:00Z`.
fn loaded_at(seconds: u64) -> String {
    let days = seconds / 86_400;
    let time = seconds % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3600,
        time % 3600 / 60,
        time % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracer_protocol::{LoadedProgram, ProgramOwner};

    #[test]
    fn cells_read_at_a_glance() {
        assert_eq!(cpu(Some(1_200_000), 1000), "1.20ms (0.12%)");
        assert_eq!(cpu(Some(50), 1000), "50ns (<0.01%)");
        assert_eq!(cpu(None, 1000), "unknown");
        assert_eq!(memory(Some(4096), Some(20 << 20)), "20 MiB");
        assert_eq!(memory(Some(4096), None), "4.0 KiB");
        assert_eq!(memory(None, None), "-");
        assert_eq!(
            listed(&["a".into(), "b".into(), "c".into()], "-"),
            "a, b +1 more"
        );
        assert_eq!(loaded_at(1_796_244_386), "2026-12-02T20:46:26Z");
        let owner = ProgramOwner {
            pid: 7,
            comm: "envoy".into(),
            namespace: Some("shop".into()),
            pod: Some("checkout-1".into()),
            container: Some("proxy".into()),
        };
        assert_eq!(holder(&owner), "shop/checkout-1/proxy envoy[7]");
    }

    #[test]
    fn the_costliest_come_first_and_unknown_last() {
        let program = |id, run_time_ns| NodeProgram {
            node: "n1".into(),
            program: LoadedProgram {
                id,
                run_time_ns,
                ..LoadedProgram::default()
            },
        };
        let programs = [program(1, Some(5)), program(2, None), program(3, Some(9))];
        let ids: Vec<u32> = costliest_first(&programs)
            .iter()
            .map(|p| p.program.id)
            .collect();
        assert_eq!(ids, [3, 1, 2]);
    }
}
