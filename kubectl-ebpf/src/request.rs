//! From parsed arguments to the trace spec every node receives.

use tracer_protocol::{EventFilter, ProbeSpec, Targets, TraceSpec};

use crate::{
    catalogue::{self, Kind},
    cli::{GroupBy, OutputFormat, ProfileFormat, ProfileOptions, TraceArgs},
    exit::CliError,
};

/// The probes whose histograms `--per-pod` can split by pod.
pub const PER_POD_PROBES: &[&str] = &["syscall-latency", "runq-latency", "block-latency"];

/// Rows a table of counts shows when `--top` is not given.
pub const DEFAULT_TOP: usize = 20;

pub fn local_spec(args: &TraceArgs) -> Result<TraceSpec, CliError> {
    if !args.targets.is_empty() {
        return Err(CliError::usage(
            format!(
                "{} names cluster objects, but --local traces this machine",
                args.targets.join(" ")
            ),
            "select local targets with --pid or --cgroup, or drop --local",
        ));
    }
    let targets = Targets {
        pids: args.pids.clone(),
        cgroup_paths: args.cgroups.clone(),
        ..Targets::default()
    };
    base_spec(args, targets)
}

/// The spec every node gets before its own targets are filled in.
pub fn base_spec(args: &TraceArgs, targets: Targets) -> Result<TraceSpec, CliError> {
    let probes = match &args.script {
        Some(script) => script.probes.clone(),
        None => vec![probe_spec(args)?],
    };
    let mut spec = TraceSpec::new(probes, targets);
    spec.script = args.script.as_ref().map(|script| script.spec.clone());
    spec.duration_ms = args.duration.map(|d| d.as_millis().max(1) as u64);
    spec.stats = !args.on.no_stats;
    spec.stats_exact = args.on.exact_stats;
    if let Some(interval) = args.interval {
        spec.interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
    }
    spec.validate()
        .map_err(|err| CliError::usage(err.to_string(), "check the flags"))?;
    Ok(spec)
}

pub fn probe_spec(args: &TraceArgs) -> Result<ProbeSpec, CliError> {
    check_flags(args)?;
    match args.probe.as_str() {
        "syscall-latency" => Ok(ProbeSpec::SyscallLatency {
            by_syscall: args.by == Some(GroupBy::Syscall),
            min_latency_ns: args.min_latency.map_or(0, |d| d.as_nanos() as u64),
            per_pod: args.per_pod,
        }),
        "exec" => Ok(ProbeSpec::Exec {
            filter: event_filter(args),
        }),
        "exit" => Ok(ProbeSpec::Exit {
            filter: event_filter(args),
        }),
        "open" => Ok(ProbeSpec::Open {
            filter: event_filter(args),
        }),
        "signal" => Ok(ProbeSpec::Signal {
            filter: event_filter(args),
        }),
        "oom-kill" => Ok(ProbeSpec::OomKill {}),
        "syscall-count" => Ok(ProbeSpec::SyscallCount {}),
        "runq-latency" => Ok(ProbeSpec::RunqLatency {
            per_pod: args.per_pod,
        }),
        "block-latency" => Ok(ProbeSpec::BlockLatency {
            per_pod: args.per_pod,
        }),
        "cpu-time" => Ok(ProbeSpec::CpuTime {}),
        "profile" => {
            let options = args.profile.clone().unwrap_or(ProfileOptions {
                frequency_hz: tracer_protocol::spec::DEFAULT_FREQUENCY_HZ,
                user: true,
                kernel: true,
                off_cpu: None,
                format: ProfileFormat::Table,
                file: None,
            });
            Ok(ProbeSpec::Profile {
                frequency_hz: options.frequency_hz,
                user: options.user,
                kernel: options.kernel,
                off_cpu: options.off_cpu.is_some(),
                min_block_ns: options
                    .off_cpu
                    .map_or(tracer_protocol::spec::DEFAULT_MIN_BLOCK_NS, |min| {
                        u64::try_from(min.as_nanos()).unwrap_or(u64::MAX)
                    }),
            })
        }
        "packet-drop" => Ok(ProbeSpec::PacketDrop {
            filter: event_filter(args),
        }),
        "tcp-connect" => Ok(ProbeSpec::TcpConnect {
            filter: event_filter(args),
        }),
        "tcp-reset" => Ok(ProbeSpec::TcpReset {
            filter: event_filter(args),
        }),
        "tcp-life" => Ok(ProbeSpec::TcpLife {
            filter: event_filter(args),
        }),
        "tcp-retransmit" => Ok(ProbeSpec::TcpRetransmit {
            filter: event_filter(args),
        }),
        "http" => Ok(ProbeSpec::Http {
            filter: event_filter(args),
            capture_bytes: args
                .capture_bytes
                .unwrap_or(tracer_protocol::spec::DEFAULT_CAPTURE_BYTES),
            capture_headers: args.capture_headers.clone(),
            keep_query: args.keep_query,
        }),
        "dns" => Ok(ProbeSpec::Dns {}),
        "http-red" => Ok(ProbeSpec::HttpRed {
            filter: event_filter(args),
            capture_bytes: args
                .capture_bytes
                .unwrap_or(tracer_protocol::spec::DEFAULT_CAPTURE_BYTES),
        }),
        "programs" => Ok(ProbeSpec::Programs {}),
        other => Err(CliError::usage(
            format!("unknown probe '{other}'"),
            "run `kubectl ebpf probes` for the list",
        )),
    }
}

/// The kernel-side filter the flags ask of an event probe.
fn event_filter(args: &TraceArgs) -> EventFilter {
    EventFilter {
        min_latency_ns: args
            .min_latency
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        failed: args.failed,
        path_prefix: args.path_prefix.clone().unwrap_or_default(),
        port: args.port.unwrap_or(0),
        status: args.status.clone().unwrap_or_default(),
        signal: args.signal.unwrap_or(0),
    }
}

/// Refuses flags that mean nothing for the chosen probe, rather than ignore them.
fn check_flags(args: &TraceArgs) -> Result<(), CliError> {
    let probe = args.probe.as_str();
    // --min-latency is also syscall-latency's own option.
    let takes = |probe: &str, parameter: &str| {
        EventFilter::takes(probe).contains(&parameter)
            || (parameter == "min_latency" && probe == "syscall-latency")
    };
    for (given, parameter, flag) in [
        (args.min_latency.is_some(), "min_latency", "--min-latency"),
        (args.failed, "failed", "--failed"),
        (args.path_prefix.is_some(), "path_prefix", "--path-prefix"),
        (args.port.is_some(), "port", "--port"),
        (args.status.is_some(), "status", "--status"),
        (args.signal.is_some(), "signal", "--signal"),
    ] {
        if given && !takes(probe, parameter) {
            let probes: Vec<&str> = catalogue::names()
                .filter(|name| takes(name, parameter))
                .collect();
            return Err(CliError::usage(
                format!(
                    "{flag} filters {}; {probe} does not take it",
                    probes.join(", ")
                ),
                format!("drop {flag}"),
            ));
        }
    }
    let http_only = [
        (
            args.capture_bytes.is_some() && probe != "http-red",
            "--capture-bytes",
        ),
        (!args.capture_headers.is_empty(), "--capture-header"),
        (args.keep_query, "--keep-query"),
    ];
    if let Some((_, flag)) = http_only.iter().find(|(given, _)| *given)
        && probe != "http"
    {
        return Err(CliError::usage(
            format!("{flag} shapes what the http probe captures; {probe} captures no payloads"),
            format!("drop {flag}"),
        ));
    }
    if args.per_pod && !PER_POD_PROBES.contains(&probe) {
        return Err(CliError::usage(
            format!(
                "--per-pod splits the histograms of {}; {probe} has none to split",
                PER_POD_PROBES.join(", ")
            ),
            "drop --per-pod",
        ));
    }
    if args.side_by_side && !(args.per_pod || args.per_node) {
        return Err(CliError::usage(
            "--side-by-side draws the histograms --per-pod or --per-node split",
            "add --per-pod or --per-node",
        ));
    }
    let counts = catalogue::find(probe).is_some_and(|info| info.kind.has_counts());
    let histogram = catalogue::find(probe).is_some_and(|info| info.kind == Kind::Histogram);
    if args.heatmap && !histogram {
        return Err(CliError::usage(
            format!("--heatmap draws histograms over time; {probe} has none"),
            "use it with syscall-latency, runq-latency or block-latency",
        ));
    }
    if args.output == OutputFormat::Svg && !args.heatmap {
        return Err(CliError::usage(
            "-o svg draws heatmaps",
            "add --heatmap, or choose -o table, json or yaml",
        ));
    }
    if args.top.is_some() && !counts {
        let with_counts: Vec<&str> = catalogue::PROBES
            .iter()
            .filter(|info| info.kind.has_counts())
            .map(|info| info.name)
            .collect();
        return Err(CliError::usage(
            format!(
                "--top limits tables of counts ({}); {probe} prints none",
                with_counts.join(", ")
            ),
            "drop --top",
        ));
    }
    Ok(())
}

/// How many rows each table of counts shows; 0 for all.
pub fn top(args: &TraceArgs) -> usize {
    args.top.unwrap_or(DEFAULT_TOP)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn trace_args(args: &[&str]) -> TraceArgs {
        let cli = Cli::try_parse_from(
            ["kubectl-ebpf", "trace"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .expect("parses");
        match cli.command {
            Command::Trace(args) => *args,
            _ => panic!("not a trace"),
        }
    }

    #[test]
    fn per_pod_reaches_the_histogram_probes() {
        for probe in PER_POD_PROBES {
            let spec = probe_spec(&trace_args(&[probe, "--local", "--per-pod"])).expect("valid");
            let json = serde_json::to_string(&spec).expect("serializes");
            assert!(json.contains(r#""per_pod":true"#), "{json}");
        }
        let spec = probe_spec(&trace_args(&["runq-latency", "--local"])).expect("valid");
        assert_eq!(spec, ProbeSpec::RunqLatency { per_pod: false });
    }

    #[test]
    fn per_pod_is_refused_where_nothing_splits() {
        for probe in ["exec", "syscall-count", "cpu-time"] {
            let err = probe_spec(&trace_args(&[probe, "--local", "--per-pod"]))
                .expect_err("nothing to split");
            assert_eq!(err.code, crate::exit::USAGE);
            let line = err.to_string();
            assert!(!line.contains('\n'), "{line}");
            assert!(
                line.contains("--per-pod")
                    && line.contains(probe)
                    && line.contains("drop --per-pod"),
                "{line}"
            );
        }
    }

    #[test]
    fn top_is_for_tables_of_counts() {
        let args = trace_args(&["syscall-count", "--local", "--top", "5"]);
        assert_eq!(
            probe_spec(&args).expect("valid"),
            ProbeSpec::SyscallCount {}
        );
        assert_eq!(top(&args), 5);
        assert_eq!(top(&trace_args(&["cpu-time", "--local"])), DEFAULT_TOP);
        let err = probe_spec(&trace_args(&["runq-latency", "--local", "--top", "5"]))
            .expect_err("no counts");
        let line = err.to_string();
        assert!(
            line.contains("--top") && line.contains("syscall-count") && line.contains("drop --top"),
            "{line}"
        );
    }

    #[test]
    fn kernel_side_filters_go_to_the_probes_that_take_them() {
        let args = trace_args(&[
            "open",
            "--local",
            "--failed",
            "--min-latency",
            "1ms",
            "--path-prefix",
            "/etc/",
        ]);
        assert_eq!(
            probe_spec(&args).expect("valid"),
            ProbeSpec::Open {
                filter: EventFilter {
                    min_latency_ns: 1_000_000,
                    failed: true,
                    path_prefix: "/etc/".into(),
                    ..EventFilter::default()
                }
            }
        );
        let args = trace_args(&["tcp-connect", "--local", "--port", "443"]);
        assert_eq!(
            probe_spec(&args).expect("valid").filter().map(|f| f.port),
            Some(443)
        );
        let args = trace_args(&["exit", "--local", "--failed", "--signal", "KILL"]);
        assert_eq!(
            probe_spec(&args).expect("valid"),
            ProbeSpec::Exit {
                filter: EventFilter {
                    failed: true,
                    signal: 9,
                    ..EventFilter::default()
                }
            }
        );
        let args = trace_args(&["tcp-life", "--local", "--port", "8080"]);
        assert_eq!(
            probe_spec(&args).expect("valid").filter().map(|f| f.port),
            Some(8080)
        );
        for (probe, flag, value) in [
            ("signal", "--failed", None),
            ("exec", "--signal", Some("9")),
            ("open", "--port", Some("80")),
            ("tcp-connect", "--path-prefix", Some("/x")),
            ("runq-latency", "--min-latency", Some("1ms")),
        ] {
            let mut words = vec![probe, "--local", flag];
            words.extend(value);
            let err = probe_spec(&trace_args(&words)).expect_err("not taken");
            let line = err.to_string();
            assert!(
                line.contains(flag) && line.contains(probe) && line.contains("drop"),
                "{line}"
            );
        }
    }
}
