//! From parsed arguments to the trace spec every node receives.

use tracer_protocol::{ProbeSpec, Targets, TraceSpec};

use crate::{
    cli::{GroupBy, TraceArgs},
    exit::CliError,
};

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
    let mut spec = TraceSpec::new(vec![probe_spec(args)?], targets);
    spec.duration_ms = args.duration.map(|d| d.as_millis().max(1) as u64);
    spec.validate()
        .map_err(|err| CliError::usage(err.to_string(), "check the flags"))?;
    Ok(spec)
}

pub fn probe_spec(args: &TraceArgs) -> Result<ProbeSpec, CliError> {
    match args.probe.as_str() {
        "syscall-latency" => Ok(ProbeSpec::SyscallLatency {
            by_syscall: args.by == Some(GroupBy::Syscall),
            min_latency_ns: args.min_latency.map_or(0, |d| d.as_nanos() as u64),
        }),
        "exec" => Ok(ProbeSpec::Exec {}),
        "exit" => Ok(ProbeSpec::Exit {}),
        "open" => Ok(ProbeSpec::Open {}),
        "signal" => Ok(ProbeSpec::Signal {}),
        "oom-kill" => Ok(ProbeSpec::OomKill {}),
        "tcp-connect" => Ok(ProbeSpec::TcpConnect {}),
        "tcp-reset" => Ok(ProbeSpec::TcpReset {}),
        "tcp-life" => Ok(ProbeSpec::TcpLife {}),
        "tcp-retransmit" => Ok(ProbeSpec::TcpRetransmit {}),
        other => Err(CliError::usage(
            format!("unknown probe '{other}'"),
            "run `kubectl ebpf probes` for the list",
        )),
    }
}
