//! The command line. Doc comments here are the `--help` text; completions are generated
//! from the same definitions.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum, builder::PossibleValuesParser};

use crate::{
    catalogue, examples,
    units::{parse_duration, parse_signal},
};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-ebpf",
    bin_name = "kubectl-ebpf",
    version,
    about = "Cluster-wide, ad-hoc eBPF tracing: one merged answer from every node, nothing left behind.",
    after_help = "Exit codes: 0 ok, 1 failure, 2 bad usage or target, 3 permission denied, \
4 kernel lacks a feature, 5 partial result (a node failed, events lost), 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Print tables without their line of column names.
    #[arg(long, global = true)]
    pub no_headers: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the cluster, as kubectl takes it.
#[derive(Clone, Debug, Args)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// The kubeconfig cluster to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,

    /// The kubeconfig user to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,

    /// Namespace of the targets (default: the context's).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// Namespace the tracer Jobs run in.
    #[arg(
        long,
        global = true,
        value_name = "NAMESPACE",
        default_value = "kubectl-ebpf"
    )]
    pub job_namespace: String,

    /// Most API requests a second, sustained (a watch or a followed log counts once).
    #[arg(long, global = true, value_name = "N", default_value_t = crate::cluster::rate_limit::DEFAULT_QPS, value_parser = parse_qps)]
    pub api_qps: f64,

    /// API requests sent at once before --api-qps applies.
    #[arg(long, global = true, value_name = "N", default_value_t = crate::cluster::rate_limit::DEFAULT_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub api_burst: u32,
}

impl Default for ClusterArgs {
    /// As the command line has them when no flag is given.
    fn default() -> Self {
        ClusterArgs {
            kubeconfig: None,
            context: None,
            cluster: None,
            user: None,
            namespace: None,
            job_namespace: "kubectl-ebpf".to_owned(),
            api_qps: crate::cluster::rate_limit::DEFAULT_QPS,
            api_burst: crate::cluster::rate_limit::DEFAULT_BURST,
        }
    }
}

fn parse_qps(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(qps) if qps.is_finite() && qps > 0.0 => Ok(qps),
        _ => Err(format!(
            "'{text}' is not a positive number of requests a second"
        )),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a built-in probe on targets and print the merged result.
    #[command(after_help = examples::TRACE)]
    Trace(Box<TraceArgs>),
    /// Sample the targets' on-CPU stacks and print the merged profile: the top
    /// functions, folded stacks or a flame graph.
    #[command(after_help = examples::PROFILE)]
    Profile(Box<ProfileArgs>),
    /// Run a rhai script on the targets' events on every node and print its merged maps
    /// (docs/scripting.md).
    #[command(after_help = examples::RUN)]
    Run(Box<RunArgs>),
    /// List the built-in probes, or describe one.
    #[command(after_help = examples::PROBES)]
    Probes(ProbesArgs),
    /// List the eBPF programs loaded on nodes, anyone's: type, name, where attached,
    /// which process and pod hold them, what they ran, their memory.
    #[command(after_help = examples::PROGRAMS)]
    Programs(Box<ProgramsArgs>),
    /// List the traces running on the cluster (yours and others').
    #[command(after_help = examples::LIST)]
    List(ListArgs),
    /// Delete a trace's Jobs and their pods.
    #[command(after_help = examples::DELETE)]
    Delete(DeleteArgs),
    /// List the scripts shipped with the plugin (for `run`), or show one's arguments.
    #[command(after_help = examples::SCRIPTS)]
    Scripts(ScriptsArgs),
    /// Print the namespace, roles and bindings a user needs to trace (apply them with
    /// `kubectl apply -f -`).
    #[command(after_help = examples::RBAC)]
    Rbac(RbacArgs),
    /// Print the plugin's version and the versions of the tracers running on the
    /// cluster (or, with --local, of this machine's tracer-job).
    #[command(after_help = examples::VERSION)]
    Version(VersionArgs),
    /// Print a shell completion script.
    #[command(after_help = examples::COMPLETION)]
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Default, Args)]
pub struct TraceArgs {
    /// The probe to run (`kubectl ebpf probes` lists them).
    #[arg(value_parser = PossibleValuesParser::new(catalogue::names()))]
    pub probe: String,

    #[command(flatten)]
    pub on: TargetArgs,

    /// How long to trace (e.g. 30s, 2m); until Ctrl-C when absent.
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Split the result: `syscall` keeps one histogram per syscall.
    #[arg(long, value_enum)]
    pub by: Option<GroupBy>,

    /// Keep each node's histograms apart instead of summing them.
    #[arg(long)]
    pub per_node: bool,

    /// One histogram per pod container, split by cgroup in the kernel and added up
    /// across nodes (syscall-latency, runq-latency, block-latency).
    #[arg(long)]
    pub per_pod: bool,

    /// With --per-pod or --per-node: draw the split histograms next to each other, on
    /// shared rows and one scale, as many as the terminal's width fits.
    #[arg(long)]
    pub side_by_side: bool,

    /// Show the N largest rows of each table of counts (default 20; 0 shows all).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,

    /// Ignore calls faster than this (e.g. 10us), filtered in the kernel (syscall-latency,
    /// open; tcp-connect: the handshake; http: request to response, on the node).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub min_latency: Option<Duration>,

    /// Only what failed, filtered in the kernel: calls (open, exec), connects
    /// (tcp-connect), processes that exited non-zero or by a signal (exit).
    #[arg(long)]
    pub failed: bool,

    /// Only paths that start with PREFIX as the program passed them, filtered in the
    /// kernel (open, exec; at most 64 bytes); http: request paths, on the node.
    #[arg(long, value_name = "PREFIX")]
    pub path_prefix: Option<String>,

    /// Only this port, filtered in the kernel: the remote one (tcp-connect), either end
    /// (tcp-life, tcp-reset, tcp-retransmit, packet-drop).
    #[arg(long)]
    pub port: Option<u16>,

    /// Only this signal (SIGKILL, KILL or 9), filtered in the kernel: the one sent
    /// (signal), the one that ended the process (exit).
    #[arg(long, value_parser = parse_signal, value_name = "SIGNAL")]
    pub signal: Option<u8>,

    /// Only responses with this status (404) or class (5xx) (http).
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,

    /// Bytes of each socket read and write to capture and parse on the node (http;
    /// 1 to 4096, default 256). Payloads never leave the node.
    #[arg(long, value_name = "BYTES")]
    pub capture_bytes: Option<u32>,

    /// Also show this header's value (http; repeat for more). Headers are otherwise never
    /// shipped off the node.
    #[arg(long = "capture-header", value_name = "NAME")]
    pub capture_headers: Vec<String>,

    /// Keep the query string of request paths (http; left out by default, as it can hold
    /// secrets).
    #[arg(long)]
    pub keep_query: bool,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Order tables of counts by this key column (e.g. syscall, pod) instead of largest
    /// count first; --top then keeps the first rows in that order.
    #[arg(long, value_name = "COLUMN")]
    pub sort: Option<String>,

    /// Also draw each histogram over time: one column per --interval, log2 buckets up,
    /// shaded by count (histogram probes; `-o svg` writes it as SVG).
    #[arg(long)]
    pub heatmap: bool,

    /// How often each node sends its snapshot, and so one heatmap column (default 1s).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub interval: Option<Duration>,

    /// Set by `profile`, which runs as a trace of the profile probe.
    #[arg(skip)]
    pub profile: Option<ProfileOptions>,

    /// Set by `programs`, which runs as a trace of the inventory.
    #[arg(skip)]
    pub programs: Option<ListFormat>,

    /// Set by `run`, which runs as a trace of the probes its script handles.
    #[arg(skip)]
    pub script: Option<ScriptRun>,
}

/// A checked script and what it declared.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptRun {
    pub spec: tracer_protocol::ScriptSpec,
    pub probes: Vec<tracer_protocol::ProbeSpec>,
    /// Rows shown per count table, by map name (`top(NAME, n)`).
    pub tops: std::collections::BTreeMap<String, usize>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The script: a .rhai file, or the name of a script shipped with the plugin
    /// (`kubectl ebpf scripts` lists them).
    #[arg(value_name = "SCRIPT", required_unless_present = "expr")]
    pub script: Option<String>,

    /// The script's text itself instead of a file (then every positional argument is a
    /// target).
    #[arg(short = 'e', long = "expr", value_name = "SCRIPT")]
    pub expr: Option<String>,

    /// A value the script reads with arg("NAME"). Repeatable.
    #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = parse_script_arg)]
    pub args: Vec<(String, String)>,

    /// Only compile and check the script, here; create nothing and trace nothing.
    #[arg(long)]
    pub check: bool,

    #[command(flatten)]
    pub on: TargetArgs,

    /// How long to run (e.g. 30s, 2m); until Ctrl-C when absent.
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Show the N largest rows of each table of counts (default 20; 0 shows all).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

fn parse_script_arg(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

/// Where a trace or profile runs and whom it follows: cluster objects, or with --local
/// this machine's processes and cgroups.
#[derive(Debug, Default, Args)]
pub struct TargetArgs {
    /// What to trace in the cluster: pod/NAME (or NAME), deploy/NAME, sts/NAME, ds/NAME,
    /// rs/NAME, job/NAME, node/NAME (the whole node). Several may be given.
    pub targets: Vec<String>,

    /// Trace the pods matching this label selector (e.g. app=checkout).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// With -l: look in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// Trace only this container of each pod.
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,

    /// Trace every node as a whole, with no container filter.
    #[arg(long)]
    pub all_nodes: bool,

    /// The tracer image (default: the one released with this plugin).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// Run the tracer privileged instead of with BPF, PERFMON and SYS_RESOURCE only.
    #[arg(long)]
    pub privileged: bool,

    /// Do not have the kernel count eBPF run time during the trace; the overhead line
    /// then says unknown. By default it counts a tenth of the time and scales up.
    #[arg(long, conflicts_with = "exact_stats")]
    pub no_stats: bool,

    /// Have the kernel count eBPF run time for the whole trace, not a tenth of it (while
    /// on, every eBPF program run on the node reads the clock twice more).
    #[arg(long)]
    pub exact_stats: bool,

    /// Print the objects the trace would create (with -o yaml or json) and create nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Give up on a node whose tracer has not started after this long.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", default_value = "60s")]
    pub start_timeout: Duration,

    /// Trace this machine instead of a cluster, by running tracer-job here.
    #[arg(long)]
    pub local: bool,

    /// With --local: trace this process (all its threads). Repeatable.
    #[arg(long = "pid", value_name = "PID", requires = "local")]
    pub pids: Vec<u32>,

    /// With --local: trace this cgroup v2 directory (absolute, or relative to the cgroup2
    /// mount). Repeatable.
    #[arg(long = "cgroup", value_name = "PATH", requires = "local")]
    pub cgroups: Vec<String>,

    /// The tracer-job binary to run with --local (default: beside this executable).
    #[arg(long, env = "KUBECTL_EBPF_TRACER", value_name = "PATH")]
    pub tracer: Option<PathBuf>,
}

/// The target flags read through the trace (`args.local`, `args.pids`, ...).
impl std::ops::Deref for TraceArgs {
    type Target = TargetArgs;

    fn deref(&self) -> &TargetArgs {
        &self.on
    }
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub on: TargetArgs,

    /// How long to sample (e.g. 30s, 2m).
    #[arg(short = 'd', long, value_parser = parse_duration, default_value = "30s")]
    pub duration: Duration,

    /// Samples per second on each CPU.
    #[arg(
        short = 'F',
        long,
        value_name = "HZ",
        default_value_t = tracer_protocol::spec::DEFAULT_FREQUENCY_HZ,
        value_parser = clap::value_parser!(u64).range(1..=tracer_protocol::spec::MAX_FREQUENCY_HZ)
    )]
    pub frequency: u64,

    /// Which stacks to take (`--user` is kubectl's user flag, hence not `--user`).
    #[arg(long, value_enum, default_value_t = Stacks::Both)]
    pub stacks: Stacks,

    /// Profile the time spent blocked off the CPU (sleeping, waiting for I/O, locks or
    /// other threads) by the stack that blocked, instead of sampling time on it.
    #[arg(long)]
    pub off_cpu: bool,

    /// With --off-cpu: leave out blocks shorter than this (e.g. 100us, 10ms).
    #[arg(
        long,
        value_parser = parse_duration,
        value_name = "DURATION",
        default_value = "1ms",
        requires = "off_cpu"
    )]
    pub min_block: Duration,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = ProfileFormat::Table)]
    pub output: ProfileFormat,

    /// Write the result to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

impl ProfileArgs {
    /// The options the profile probe and its rendering take.
    pub fn options(&self) -> ProfileOptions {
        ProfileOptions {
            frequency_hz: self.frequency,
            user: self.stacks != Stacks::Kernel,
            kernel: self.stacks != Stacks::User,
            off_cpu: self.off_cpu.then_some(self.min_block),
            format: self.output,
            file: self.output_file.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileOptions {
    pub frequency_hz: u64,
    pub user: bool,
    pub kernel: bool,
    /// Off-CPU time instead of samples, leaving out blocks shorter than this.
    pub off_cpu: Option<Duration>,
    pub format: ProfileFormat,
    pub file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stacks {
    /// The process's own code and libraries.
    User,
    /// The kernel code it runs (syscalls, faults, interrupts).
    Kernel,
    /// Both, the kernel frames on top of the user frames that entered the kernel.
    Both,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProfileFormat {
    /// The top functions by self and total samples.
    Table,
    /// One `frame;frame;frame count` line per stack, as flame graph tools read.
    Folded,
    /// An interactive flame graph.
    Svg,
    /// One JSON document: stacks, functions, nodes.
    Json,
    /// The same document as YAML.
    Yaml,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// The plugin's version only; do not ask the cluster.
    #[arg(long, conflicts_with = "local")]
    pub client: bool,

    /// The tracer-job this machine would run with --local, instead of the cluster's.
    #[arg(long)]
    pub local: bool,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = VersionFormat::Text)]
    pub output: VersionFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VersionFormat {
    Text,
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct ProgramsArgs {
    /// The nodes to list: node/NAME, --all-nodes, or the nodes running the pods of
    /// pod/NAME, deploy/NAME...; --local for this machine.
    #[command(flatten)]
    pub on: TargetArgs,

    /// How long to count each program's runs and run time (e.g. 1s, 10s).
    #[arg(short = 'd', long, value_parser = parse_duration, default_value = "1s")]
    pub duration: Duration,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = ListFormat::Table)]
    pub output: ListFormat,
}

/// Formats of the listing commands (`programs`, `list`, `scripts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// A table.
    Table,
    /// The table with more columns.
    Wide,
    /// One JSON document.
    Json,
    /// The same document as YAML.
    Yaml,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    Syscall,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Histograms and a summary table.
    #[default]
    Table,
    /// The table with more: events add TID and CGROUP and show every field whole;
    /// `probes` adds each probe's fields and hooks.
    Wide,
    /// One JSON document (docs/json-output.md).
    Json,
    /// The same document as YAML.
    Yaml,
    /// One JSON object per line: events as they arrive, then the rest.
    Ndjson,
    /// The heatmaps as one SVG document (with --heatmap).
    Svg,
}

impl OutputFormat {
    /// Table or wide: text for a person.
    pub fn is_table(self) -> bool {
        matches!(self, OutputFormat::Table | OutputFormat::Wide)
    }
}

#[derive(Debug, Args)]
pub struct ProbesArgs {
    /// Describe this probe: fields, hooks, and whether this machine's kernel has them.
    #[arg(value_parser = PossibleValuesParser::new(catalogue::names()))]
    pub name: Option<String>,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ScriptsArgs {
    /// A shipped script: show its purpose, arguments and an example.
    pub name: Option<String>,

    /// Output format (`wide` adds each script's arguments).
    #[arg(short = 'o', long, value_enum, default_value_t = ListFormat::Table)]
    pub output: ListFormat,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format (`wide` adds when each trace was created).
    #[arg(short = 'o', long, value_enum, default_value_t = ListFormat::Table)]
    pub output: ListFormat,
}

#[derive(Debug, Args)]
pub struct RbacArgs {
    /// Bind a user (repeatable).
    #[arg(long, value_name = "NAME")]
    pub for_user: Vec<String>,

    /// Bind a group (repeatable; default: the group kubectl-ebpf-users when nobody is named).
    #[arg(long, value_name = "NAME")]
    pub for_group: Vec<String>,

    /// Bind a service account (repeatable).
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub for_service_account: Vec<String>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ManifestFormat::Yaml)]
    pub output: ManifestFormat,
}

/// Formats for objects to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ManifestFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Trace ids, as `kubectl ebpf list` shows them.
    #[arg(required_unless_present = "all")]
    pub ids: Vec<String>,

    /// Delete every trace in the jobs namespace.
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubectl-ebpf").chain(args.iter().copied()))
    }

    /// Every command's help ends with examples, and every example parses.
    #[test]
    fn every_command_has_examples_that_parse() {
        let mut command = Cli::command();
        for sub in command.get_subcommands_mut() {
            let name = sub.get_name().to_owned();
            let help = sub.render_long_help().to_string();
            let examples: Vec<&str> = help
                .lines()
                .skip_while(|line| *line != "Examples:")
                .skip(1)
                .map(str::trim)
                .filter(|line| line.starts_with("kubectl ebpf "))
                .collect();
            assert!(!examples.is_empty(), "{name} --help has no examples");
            for example in examples {
                let command_line = example.split(" | ").next().unwrap_or(example);
                let command_line = command_line.split(" > ").next().unwrap_or(command_line);
                let words = shell_words(command_line.trim_start_matches("kubectl ebpf "));
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                if let Err(err) = parse(&words) {
                    panic!("{name}: example `{example}` does not parse: {err}");
                }
            }
        }
    }

    /// Splits a command line as a shell would, for the examples' quoting only.
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut in_word = false;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    in_word = true;
                }
                (None, ' ') => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                (None, c) => {
                    word.push(c);
                    in_word = true;
                }
            }
        }
        if in_word {
            words.push(word);
        }
        words
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_a_local_trace() {
        let cli = parse(&[
            "trace",
            "syscall-latency",
            "--local",
            "--duration",
            "5s",
            "--pid",
            "1",
            "--pid",
            "2",
            "--cgroup",
            "test",
            "--by",
            "syscall",
            "--min-latency",
            "10us",
            "-o",
            "json",
        ])
        .expect("parses");
        let Command::Trace(args) = cli.command else {
            panic!("not a trace");
        };
        assert!(args.local);
        assert_eq!(args.pids, [1, 2]);
        assert_eq!(args.cgroups, ["test"]);
        assert_eq!(args.duration, Some(Duration::from_secs(5)));
        assert_eq!(args.by, Some(GroupBy::Syscall));
        assert_eq!(args.min_latency, Some(Duration::from_micros(10)));
        assert_eq!(args.output, OutputFormat::Json);
        assert!(!args.per_pod);
        assert_eq!(args.top, None);
    }

    #[test]
    fn parses_per_pod_and_top() {
        let cli = parse(&["trace", "runq-latency", "--local", "--per-pod"]).expect("parses");
        let Command::Trace(args) = cli.command else {
            panic!("not a trace");
        };
        assert!(args.per_pod);
        let cli = parse(&["trace", "syscall-count", "--local", "--top", "5"]).expect("parses");
        let Command::Trace(args) = cli.command else {
            panic!("not a trace");
        };
        assert_eq!(args.top, Some(5));
        let err = parse(&["trace", "syscall-count", "--local", "--top", "many"])
            .expect_err("not a number");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn parses_a_profile() {
        let cli = parse(&["profile", "--local", "--pid", "7"]).expect("parses");
        let Command::Profile(args) = cli.command else {
            panic!("not a profile");
        };
        assert_eq!(args.duration, Duration::from_secs(30));
        assert_eq!(
            args.options(),
            ProfileOptions {
                frequency_hz: 99,
                user: true,
                kernel: true,
                off_cpu: None,
                format: ProfileFormat::Table,
                file: None,
            }
        );
        let cli =
            parse(&["profile", "--local", "--off-cpu", "--min-block", "10ms"]).expect("parses");
        let Command::Profile(args) = cli.command else {
            panic!("not a profile");
        };
        assert_eq!(args.options().off_cpu, Some(Duration::from_millis(10)));
        let cli = parse(&["profile", "--local", "--off-cpu"]).expect("parses");
        let Command::Profile(args) = cli.command else {
            panic!("not a profile");
        };
        assert_eq!(args.options().off_cpu, Some(Duration::from_millis(1)));
        let err = parse(&["profile", "--local", "--min-block", "1ms"])
            .expect_err("--min-block needs --off-cpu");
        assert_eq!(err.exit_code(), 2);
        let cli = parse(&[
            "profile",
            "--local",
            "-F",
            "49",
            "--stacks",
            "kernel",
            "-o",
            "svg",
            "--output-file",
            "out.svg",
            "--user",
            "admin",
        ])
        .expect("parses");
        let Command::Profile(args) = cli.command else {
            panic!("not a profile");
        };
        let options = args.options();
        assert_eq!(
            (options.frequency_hz, options.user, options.kernel),
            (49, false, true)
        );
        assert_eq!(options.format, ProfileFormat::Svg);
        assert_eq!(cli.cluster.user.as_deref(), Some("admin"));
        let err = parse(&["profile", "--local", "-F", "0"]).expect_err("zero Hz");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn parses_a_script_run() {
        let cli = parse(&[
            "run",
            "slow.rhai",
            "pod/api",
            "--arg",
            "min_ms=5",
            "--arg",
            "who=a=b",
            "-n",
            "shop",
        ])
        .expect("parses");
        let Command::Run(args) = cli.command else {
            panic!("not a run");
        };
        assert_eq!(args.script.as_deref(), Some("slow.rhai"));
        assert_eq!(args.on.targets, ["pod/api"]);
        assert_eq!(
            args.args,
            [
                ("min_ms".to_owned(), "5".to_owned()),
                ("who".to_owned(), "a=b".to_owned())
            ]
        );
        let cli =
            parse(&["run", "-e", "on(\"exec\", |e| print(e.comm))", "--local"]).expect("parses");
        let Command::Run(args) = cli.command else {
            panic!("not a run");
        };
        assert!(args.script.is_none() && args.expr.is_some() && args.on.local);
        let err = parse(&["run", "x.rhai", "--arg", "novalue"]).expect_err("not NAME=VALUE");
        assert_eq!(err.exit_code(), 2);
        let err = parse(&["run"]).expect_err("no script");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn refuses_unknown_probes_with_the_list() {
        let err = parse(&["trace", "nope", "--local"]).expect_err("unknown probe");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("syscall-latency"), "{err}");
    }

    #[test]
    fn local_targets_need_local_mode() {
        let err = parse(&["trace", "syscall-latency", "--pid", "1"]).expect_err("needs --local");
        assert!(err.to_string().contains("--local"), "{err}");
    }

    #[test]
    fn refuses_bad_durations() {
        let err = parse(&["trace", "syscall-latency", "--local", "-d", "soon"])
            .expect_err("bad duration");
        assert!(err.to_string().contains("not a duration"), "{err}");
    }
}
