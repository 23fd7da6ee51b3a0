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
//!
//! Off-CPU profiles (`blocked_us` counts) have the same shape; their values are
//! microseconds blocked instead of samples.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    io::{self, Write},
};

use comfy_table::{Cell, CellAlignment};
use serde::Serialize;

use crate::{
    cli::{ProfileFormat, ProfileOptions},
    merge::{Key, NodeSummary, Overhead, TraceResult},
};

/// The probe `kubectl ebpf profile` runs.
pub const PROBE: &str = "profile";

/// The count holding samples per stack.
const SAMPLES: &str = "samples";

/// The count holding microseconds blocked per stack, off-CPU.
const BLOCKED_US: &str = "blocked_us";

/// The count holding milliseconds spent symbolizing, per node.
const SYMBOLIZE_MS: &str = "symbolize_ms";

/// Rows of each table of functions.
const TABLE_ROWS: usize = 20;

pub const PROFILE_SCHEMA: &str = "kubectl-ebpf/profile/v1";

/// The profile merged over nodes.
#[derive(Debug, Default, Serialize)]
pub struct Profile {
    /// Samples on-CPU, microseconds blocked off-CPU, summed over stacks.
    pub samples: u64,
    /// Folded stacks (root first) and their samples (or microseconds), by stack.
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
                SAMPLES | BLOCKED_US => {
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
        ProfileFormat::Json | ProfileFormat::Yaml => write_json(&profile, result, options, out),
        ProfileFormat::Table => write_table(&profile, result, options, out),
    }
}

/// One line on what the profile holds.
fn summary(profile: &Profile, result: &TraceResult, options: &ProfileOptions) -> String {
    let seconds = result.duration_ms as f64 / 1000.0;
    let nodes = result.nodes.len();
    match options.off_cpu {
        Some(min) => format!(
            "{} ms blocked (blocks of {} or more) over {seconds:.1}s on {nodes} node(s)",
            millis(profile.samples),
            crate::units::format_ns(min.as_nanos() as f64),
        ),
        None => format!(
            "{} samples at {} Hz over {seconds:.1}s on {nodes} node(s)",
            profile.samples, options.frequency_hz
        ),
    }
}

/// Microseconds as milliseconds with one decimal.
fn millis(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

fn write_table(
    profile: &Profile,
    result: &TraceResult,
    options: &ProfileOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "{}; symbolized in {} ms.",
        summary(profile, result, options),
        profile.symbolize_ms
    )?;
    if profile.samples == 0 {
        let why = match options.off_cpu {
            Some(_) => "Nothing was blocked that long: the targets did not sleep or wait.",
            None => "No sample was taken: the targets did not run on a CPU.",
        };
        return writeln!(out, "{why}");
    }
    let what = if options.off_cpu.is_some() {
        "time blocked"
    } else {
        "samples"
    };
    let mut functions = profile.functions();
    writeln!(out)?;
    writeln!(out, "Top functions by self {what}:")?;
    functions_table(&functions, profile.samples, options, out)?;
    functions.sort_by(|a, b| (b.total, &a.name).cmp(&(a.total, &b.name)));
    writeln!(out)?;
    writeln!(out, "Top functions by total {what}:")?;
    functions_table(&functions, profile.samples, options, out)
}

fn functions_table(
    functions: &[Function],
    samples: u64,
    options: &ProfileOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let share = |count: u64| format!("{:.1}%", count as f64 * 100.0 / samples.max(1) as f64);
    let off_cpu = options.off_cpu.is_some();
    let value = |count: u64| {
        if off_cpu {
            millis(count)
        } else {
            count.to_string()
        }
    };
    let mut table = if off_cpu {
        super::table(["SELF ms", "SELF%", "TOTAL ms", "TOTAL%", "FUNCTION"])
    } else {
        super::table(["SELF", "SELF%", "TOTAL", "TOTAL%", "FUNCTION"])
    };
    for function in functions.iter().take(TABLE_ROWS) {
        table.add_row([
            Cell::new(value(function.self_samples)).set_alignment(CellAlignment::Right),
            Cell::new(share(function.self_samples)).set_alignment(CellAlignment::Right),
            Cell::new(value(function.total)).set_alignment(CellAlignment::Right),
            Cell::new(share(function.total)).set_alignment(CellAlignment::Right),
            Cell::new(&function.name),
        ]);
    }
    writeln!(out, "{table}")
}

#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    /// `on-cpu` or `off-cpu`.
    mode: &'static str,
    /// What stack counts are: `samples`, or `us` (microseconds blocked).
    unit: &'static str,
    duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_hz: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_block_us: Option<u64>,
    /// The stack counts summed.
    total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<u64>,
    symbolize_ms: u64,
    partial: bool,
    lost: u64,
    nodes: &'a [NodeSummary],
    overhead: &'a Overhead,
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
    let off_cpu = options.off_cpu;
    let document = Document {
        schema: PROFILE_SCHEMA,
        mode: if off_cpu.is_some() {
            "off-cpu"
        } else {
            "on-cpu"
        },
        unit: if off_cpu.is_some() { "us" } else { "samples" },
        duration_ms: result.duration_ms,
        frequency_hz: off_cpu.is_none().then_some(options.frequency_hz),
        min_block_us: off_cpu.map(|min| u64::try_from(min.as_micros()).unwrap_or(u64::MAX)),
        total: profile.samples,
        samples: off_cpu.is_none().then_some(profile.samples),
        symbolize_ms: profile.symbolize_ms,
        partial: result.partial,
        lost: result.lost,
        nodes: &result.nodes,
        overhead: &result.overhead,
        stacks,
        functions: profile.functions(),
    };
    if options.format == ProfileFormat::Yaml {
        return super::write_yaml(&document, &mut &mut *out);
    }
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
    svg.subtitle = Some(summary(profile, result, options));
    svg.count_name = if options.off_cpu.is_some() {
        "us".to_owned()
    } else {
        "samples".to_owned()
    };
    let lines = profile.lines();
    if lines.is_empty() {
        // inferno refuses an empty profile; a graph that says so is still an SVG.
        let why = match options.off_cpu {
            Some(_) => "Nothing was blocked that long: the targets did not sleep or wait.",
            None => "No sample was taken: the targets did not run on a CPU.",
        };
        return writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="600" height="40"><text x="10" y="25">{why}</text></svg>"#
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
            off_cpu: None,
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
        options.format = ProfileFormat::Yaml;
        let yaml = render(&options);
        assert!(yaml.contains("schema: kubectl-ebpf/profile/v1"), "{yaml}");
        assert!(yaml.contains("samples: 51"), "{yaml}");
        options.format = ProfileFormat::Svg;
        let svg = render(&options);
        assert!(svg.contains("<svg") && svg.contains("spin"), "{svg}");
    }

    #[test]
    fn off_cpu_values_are_time_blocked() {
        let mut merger = Merger::new();
        let key = [
            ("namespace", "shop"),
            ("pod", "api-1"),
            ("container", "app"),
            ("comm", "api"),
            ("stack", "main;sleepy;clock_nanosleep"),
        ];
        let mut blocked = sample(&key, 1_500_000);
        if let Decoded::Record(Record::Count { name, .. }) = &mut blocked {
            *name = BLOCKED_US.to_owned();
        }
        merger.apply("a", blocked);
        let result = merger.result(PROBE, 2000);
        let mut options = ProfileOptions {
            frequency_hz: 99,
            user: true,
            kernel: true,
            off_cpu: Some(std::time::Duration::from_millis(1)),
            format: ProfileFormat::Folded,
            file: None,
        };
        let render = |options: &ProfileOptions| {
            let mut out = Vec::new();
            write(&result, options, &mut out).expect("writes");
            String::from_utf8(out).expect("utf-8")
        };
        assert_eq!(
            render(&options),
            "shop/api-1/app;api;main;sleepy;clock_nanosleep 1500000\n"
        );
        options.format = ProfileFormat::Table;
        let table = render(&options);
        assert!(
            table.starts_with("1500.0 ms blocked (blocks of 1ms or more) over 2.0s"),
            "{table}"
        );
        assert!(
            table.contains("SELF ms") && table.contains("1500.0"),
            "{table}"
        );
        options.format = ProfileFormat::Json;
        let json: serde_json::Value = serde_json::from_str(&render(&options)).expect("json");
        assert_eq!(json["mode"], "off-cpu");
        assert_eq!(json["unit"], "us");
        assert_eq!(json["total"], 1_500_000);
        assert_eq!(json["min_block_us"], 1000);
        assert!(json.get("samples").is_none(), "{json}");
    }
}
