//! A merged profile: the `samples` counts of every node, each keyed by who the cgroup
//! belongs to, the thread name and the stack, folded into one stack per line whose root
//! is the pod's container (`namespace/pod/container`), or the cgroup path outside pods:
//!
//! ```text
//! shop/checkout-7d9f/app;checkout;main;handle;parse 812
//! ```
//!
//! Shown as the top functions by self and total samples (`table`), those lines
//! (`folded`), a flame graph (`svg`) or one JSON document.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    io::{self, Write},
};

use comfy_table::{Cell, CellAlignment, Table, presets::NOTHING};
use serde::Serialize;

use crate::{
    cli::{ProfileFormat, ProfileOptions},
    merge::{Key, NodeSummary, TraceResult},
};

/// The probe `kubectl ebpf profile` runs.
pub const PROBE: &str = "profile";

/// The count holding samples per stack.
const SAMPLES: &str = "samples";

/// The count holding milliseconds spent symbolizing, per node.
const SYMBOLIZE_MS: &str = "symbolize_ms";

/// Rows of each table of functions.
const TABLE_ROWS: usize = 20;

pub const PROFILE_SCHEMA: &str = "kubectl-ebpf/profile/v1";

/// The profile merged over nodes.
#[derive(Debug, Default, Serialize)]
pub struct Profile {
    pub samples: u64,
    /// Folded stacks (root first) and their samples, by stack.
    pub stacks: BTreeMap<String, u64>,
    /// Milliseconds the nodes spent symbolizing, summed.
    pub symbolize_ms: u64,
}

/// Samples of one function: where it was the innermost frame (self) and where it was on
/// the stack at all (total).
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Function {
    pub name: String,
    #[serde(rename = "self")]
    pub self_samples: u64,
    pub total: u64,
}

impl Profile {
    pub fn from_result(result: &TraceResult) -> Self {
        let mut profile = Profile::default();
        for count in result.counts.iter().filter(|count| count.probe == PROBE) {
            match count.name.as_str() {
                SAMPLES => {
                    let line = folded(&count.key);
                    *profile.stacks.entry(line).or_default() += count.value;
                    profile.samples += count.value;
                }
                SYMBOLIZE_MS => profile.symbolize_ms += count.value,
                _ => {}
            }
        }
        profile
    }

    /// `frame;frame;frame count` lines.
    pub fn lines(&self) -> Vec<String> {
        self.stacks
            .iter()
            .map(|(stack, count)| format!("{stack} {count}"))
            .collect()
    }

    /// Functions by self samples, most first. The first two frames of a stack (who and
    /// which thread) are not functions.
    pub fn functions(&self) -> Vec<Function> {
        let mut functions: HashMap<&str, Function> = HashMap::new();
        for (stack, count) in &self.stacks {
            let frames: Vec<&str> = stack.split(';').skip(2).collect();
            let mut seen = HashSet::new();
            for frame in &frames {
                if seen.insert(*frame) {
                    functions.entry(frame).or_default().total += count;
                }
            }
            if let Some(leaf) = frames.last() {
                functions.entry(leaf).or_default().self_samples += count;
            }
        }
        let mut functions: Vec<Function> = functions
            .into_iter()
            .map(|(name, function)| Function {
                name: name.to_owned(),
                ..function
            })
            .collect();
        functions.sort_by(|a, b| {
            (b.self_samples, b.total, &a.name).cmp(&(a.self_samples, a.total, &b.name))
        });
        functions
    }
}

/// The folded stack of one `samples` count: owner, thread name, frames.
fn folded(key: &Key) -> String {
    let part = |name: &str| key.get(name).map(String::as_str);
    let owner = match (
        part("namespace"),
        part("pod").or(part("pod_uid")),
        part("container"),
    ) {
        (Some(namespace), Some(pod), Some(container)) => format!("{namespace}/{pod}/{container}"),
        (Some(namespace), Some(pod), None) => format!("{namespace}/{pod}"),
        (None, Some(pod), _) => pod.to_owned(),
        _ => part("cgroup").unwrap_or("[unknown cgroup]").to_owned(),
    };
    let comm = part("comm")
        .filter(|comm| !comm.is_empty())
        .unwrap_or("[unknown]");
    let stack = part("stack").unwrap_or("[no stack]");
    // `;` separates frames and the last space the count: keep both out of the names.
    let clean = |text: &str| text.replace([';', '\n'], "_");
    format!("{};{};{stack}", clean(&owner), clean(comm))
}

pub fn write(
    result: &TraceResult,
    options: &ProfileOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let profile = Profile::from_result(result);
    match options.format {
        ProfileFormat::Folded => {
            for line in profile.lines() {
                writeln!(out, "{line}")?;
            }
            Ok(())
        }
        ProfileFormat::Svg => write_svg(&profile, result, options, out),
        ProfileFormat::Json => write_json(&profile, result, options, out),
        ProfileFormat::Table => write_table(&profile, result, options, out),
    }
}

fn write_table(
    profile: &Profile,
    result: &TraceResult,
    options: &ProfileOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "{} samples at {} Hz over {:.1}s on {} node(s); symbolized in {} ms.",
        profile.samples,
        options.frequency_hz,
        result.duration_ms as f64 / 1000.0,
        result.nodes.len(),
        profile.symbolize_ms
    )?;
    if profile.samples == 0 {
        return writeln!(
            out,
            "No sample was taken: the targets did not run on a CPU."
        );
    }
    let mut functions = profile.functions();
    writeln!(out)?;
    writeln!(out, "Top functions by self samples:")?;
    functions_table(&functions, profile.samples, out)?;
    functions.sort_by(|a, b| (b.total, &a.name).cmp(&(a.total, &b.name)));
    writeln!(out)?;
    writeln!(out, "Top functions by total samples:")?;
    functions_table(&functions, profile.samples, out)
}

fn functions_table(functions: &[Function], samples: u64, out: &mut dyn Write) -> io::Result<()> {
    let share = |count: u64| format!("{:.1}%", count as f64 * 100.0 / samples.max(1) as f64);
    let mut table = Table::new();
    table.load_style(NOTHING);
    table.set_header(["SELF", "SELF%", "TOTAL", "TOTAL%", "FUNCTION"]);
    for function in functions.iter().take(TABLE_ROWS) {
        table.add_row([
            Cell::new(function.self_samples).set_alignment(CellAlignment::Right),
            Cell::new(share(function.self_samples)).set_alignment(CellAlignment::Right),
            Cell::new(function.total).set_alignment(CellAlignment::Right),
            Cell::new(share(function.total)).set_alignment(CellAlignment::Right),
            Cell::new(&function.name),
        ]);
    }
    writeln!(out, "{table}")
}

#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    duration_ms: u64,
    frequency_hz: u64,
    samples: u64,
    symbolize_ms: u64,
    partial: bool,
    lost: u64,
    nodes: &'a [NodeSummary],
    stacks: Vec<Stack<'a>>,
    functions: Vec<Function>,
}

#[derive(Serialize)]
struct Stack<'a> {
    stack: &'a str,
    count: u64,
}

fn write_json(
    profile: &Profile,
    result: &TraceResult,
    options: &ProfileOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut stacks: Vec<Stack> = profile
        .stacks
        .iter()
        .map(|(stack, count)| Stack {
            stack,
            count: *count,
        })
        .collect();
    stacks.sort_by(|a, b| (b.count, a.stack).cmp(&(a.count, b.stack)));
    let document = Document {
        schema: PROFILE_SCHEMA,
        duration_ms: result.duration_ms,
        frequency_hz: options.frequency_hz,
        samples: profile.samples,
        symbolize_ms: profile.symbolize_ms,
        partial: result.partial,
        lost: result.lost,
        nodes: &result.nodes,
        stacks,
        functions: profile.functions(),
    };
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}

fn write_svg(
    profile: &Profile,
    result: &TraceResult,
    options: &ProfileOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut svg = inferno::flamegraph::Options::default();
    svg.title = "kubectl ebpf profile".to_owned();
    svg.subtitle = Some(format!(
        "{} samples at {} Hz over {:.1}s on {} node(s)",
        profile.samples,
        options.frequency_hz,
        result.duration_ms as f64 / 1000.0,
        result.nodes.len()
    ));
    svg.count_name = "samples".to_owned();
    let lines = profile.lines();
    if lines.is_empty() {
        // inferno refuses an empty profile; a graph that says so is still an SVG.
        return writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="600" height="40"><text x="10" y="25">No sample was taken: the targets did not run on a CPU.</text></svg>"#
        );
    }
    inferno::flamegraph::from_lines(&mut svg, lines.iter().map(String::as_str), out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Merger;
    use tracer_protocol::{Decoded, Record};

    fn sample(key: &[(&str, &str)], value: u64) -> Decoded {
        Decoded::Record(Record::Count {
            probe: PROBE.to_owned(),
            name: SAMPLES.to_owned(),
            key: key
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value,
        })
    }

    fn result() -> TraceResult {
        let mut merger = Merger::new();
        let pod = [
            ("namespace", "shop"),
            ("pod", "api-1"),
            ("container", "app"),
            ("comm", "api"),
        ];
        let with = |stack: &'static str| {
            let mut key = pod.to_vec();
            key.push(("stack", stack));
            key
        };
        // The same stack on two nodes adds up.
        merger.apply("a", sample(&with("main;work;spin"), 30));
        merger.apply("b", sample(&with("main;work;spin"), 10));
        merger.apply("a", sample(&with("main;work"), 5));
        merger.apply("a", sample(&with("main;idle;read_[k]"), 5));
        merger.apply(
            "a",
            sample(
                &[("cgroup", "/system.slice/x"), ("comm", "x"), ("stack", "f")],
                1,
            ),
        );
        merger.result(PROBE, 1000)
    }

    #[test]
    fn stacks_add_up_across_nodes_under_their_pod() {
        let profile = Profile::from_result(&result());
        assert_eq!(profile.samples, 51);
        assert_eq!(
            profile.lines(),
            [
                "/system.slice/x;x;f 1",
                "shop/api-1/app;api;main;idle;read_[k] 5",
                "shop/api-1/app;api;main;work 5",
                "shop/api-1/app;api;main;work;spin 40",
            ]
        );
    }

    #[test]
    fn functions_count_self_and_total_once_per_stack() {
        let functions = Profile::from_result(&result()).functions();
        let find = |name: &str| {
            functions
                .iter()
                .find(|f| f.name == name)
                .map(|f| (f.self_samples, f.total))
        };
        assert_eq!(functions[0].name, "spin");
        assert_eq!(find("spin"), Some((40, 40)));
        assert_eq!(find("work"), Some((5, 45)));
        assert_eq!(find("main"), Some((0, 50)));
        assert_eq!(find("read_[k]"), Some((5, 5)));
        // Owners and thread names are not functions.
        assert_eq!(find("api"), None);
        assert_eq!(find("shop/api-1/app"), None);
    }

    #[test]
    fn writes_each_format() {
        let result = result();
        let mut options = ProfileOptions {
            frequency_hz: 99,
            user: true,
            kernel: true,
            format: ProfileFormat::Folded,
            file: None,
        };
        let render = |options: &ProfileOptions| {
            let mut out = Vec::new();
            write(&result, options, &mut out).expect("writes");
            String::from_utf8(out).expect("utf-8")
        };
        assert!(render(&options).contains("shop/api-1/app;api;main;work;spin 40\n"));
        options.format = ProfileFormat::Table;
        let table = render(&options);
        assert!(table.starts_with("51 samples at 99 Hz"), "{table}");
        assert!(table.contains("spin"), "{table}");
        options.format = ProfileFormat::Json;
        let json: serde_json::Value = serde_json::from_str(&render(&options)).expect("json");
        assert_eq!(json["samples"], 51);
        assert_eq!(json["stacks"][0]["count"], 40);
        assert_eq!(json["functions"][0]["name"], "spin");
        options.format = ProfileFormat::Svg;
        let svg = render(&options);
        assert!(svg.contains("<svg") && svg.contains("spin"), "{svg}");
    }
}
