//! Interrupt trials: cluster traces against the API double interrupted at random moments
//! in random ways (none, Ctrl-C, SIGTERM, SIGKILL of the plugin, SIGKILL of the tracers),
//! counting the Jobs and pods each leaves at the plugin's exit and once the Jobs'
//! deadline and TTL have passed, and at the end the tracer processes and BPF programs
//! still alive. Writes a markdown report.
//!
//! `interrupt-trials [--trials 100] [--seed N] [--out FILE]`; run as root from the
//! workspace root after `cargo build`.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aya::programs::loaded_programs;
use e2e::trials::{Interruption, JOB_CLOCK_SPEED, Trial, Trials};

struct Args {
    trials: usize,
    seed: u64,
    out: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!("usage: interrupt-trials [--trials N] [--seed N] [--out FILE]");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut args = Args {
        trials: 100,
        seed: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |t| t.as_nanos() as u64),
        out: None,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let value = words.next().unwrap_or_else(|| usage());
        match word.as_str() {
            "--trials" => args.trials = value.parse().unwrap_or_else(|_| usage()),
            "--seed" => args.seed = value.parse().unwrap_or_else(|_| usage()),
            "--out" => args.out = Some(PathBuf::from(value)),
            _ => usage(),
        }
    }
    args
}

fn program_ids() -> BTreeSet<u32> {
    loaded_programs()
        .filter_map(Result::ok)
        .map(|info| info.id())
        .collect()
}

/// Processes running the tracer.
fn tracer_processes() -> usize {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("comm"))
                .is_ok_and(|comm| comm.trim() == "tracer-job")
        })
        .count()
}

fn main() {
    let args = parse_args();
    let programs_before = program_ids();
    let mut trials = Trials::start(args.seed);
    let mut seen = Vec::with_capacity(args.trials);
    for index in 0..args.trials {
        let interruption = trials.pick();
        let trial = trials.run(interruption);
        eprintln!(
            "trial {:>3}: {:<24} at {:>4} ms: exit {:<4} left at exit {}, gone after {} ({}){}",
            index + 1,
            interruption.name(),
            trial.after_ms,
            trial.exit.map_or("-".to_owned(), |code| code.to_string()),
            trial.left_at_exit.len(),
            trial
                .gone_after
                .map_or("never".to_owned(), |d| format!("{:.1} s", d.as_secs_f64())),
            trial.last_said,
            trial
                .fault()
                .map_or(String::new(), |f| format!("  FAULT {f}")),
        );
        seen.push(trial);
    }
    drop(trials);
    // The double kills what it started as it stops; a tracer's programs go with it.
    std::thread::sleep(Duration::from_secs(1));
    let tracers_left = tracer_processes();
    let programs_left = program_ids().difference(&programs_before).count();
    let report = report(&args, &seen, tracers_left, programs_left);
    match &args.out {
        Some(path) => std::fs::write(path, &report).expect("write the report"),
        None => print!("{report}"),
    }
    let faults = seen.iter().filter(|t| t.fault().is_some()).count();
    if faults > 0 || tracers_left > 0 || programs_left > 0 {
        eprintln!(
            "{faults} trial(s) failed; {tracers_left} tracer(s) and {programs_left} program(s) left"
        );
        std::process::exit(1);
    }
}

fn report(args: &Args, trials: &[Trial], tracers_left: usize, programs_left: usize) -> String {
    let mut by_kind: BTreeMap<Interruption, Vec<&Trial>> = BTreeMap::new();
    for trial in trials {
        by_kind.entry(trial.interruption).or_default().push(trial);
    }
    let mut out = Vec::new();
    let _ = writeln!(
        out,
        "# Interrupt trials\n\n\
         Written by `interrupt-trials` (tests/src/bin/interrupt_trials.rs): {} cluster traces \
         (`syscall-count deploy/checkout -d 2s` on a two-node API double whose kubelet runs the \
         real tracer), each interrupted at a random moment in its first 3.5 s, which spans \
         resolving, creating the Jobs, starting the tracers, tracing and ending. \
         \"Left at exit\" counts the trace's Jobs and pods as the plugin exited; \"leaked\" \
         those still there once the Jobs' deadline and TTL had passed (the double runs Job \
         clocks {JOB_CLOCK_SPEED}× faster) plus 10 s. Seed {}.\n\n\
         Rerun: `cargo build --locked && sudo target/debug/interrupt-trials --trials {} --out \
         docs/reliability-trials.md`.\n",
        trials.len(),
        args.seed,
        args.trials
    );
    let _ = writeln!(
        out,
        "| interruption | trials | ended before it | tracers killed | exit codes | left at exit | leaked | slowest to be gone | faults |\n\
         |---|---:|---:|---:|---|---:|---:|---:|---:|"
    );
    for (kind, trials) in &by_kind {
        let codes: BTreeSet<String> = trials
            .iter()
            .map(|t| t.exit.map_or("signal".to_owned(), |c| c.to_string()))
            .collect();
        let slowest = trials
            .iter()
            .filter_map(|t| t.gone_after)
            .max()
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} s | {} |",
            kind.name(),
            trials.len(),
            trials.iter().filter(|t| t.ended_first).count(),
            trials.iter().map(|t| t.tracers_killed).sum::<usize>(),
            codes.into_iter().collect::<Vec<_>>().join(", "),
            trials.iter().map(|t| t.left_at_exit.len()).sum::<usize>(),
            trials.iter().map(|t| t.leaked.len()).sum::<usize>(),
            slowest.as_secs_f64(),
            trials.iter().filter(|t| t.fault().is_some()).count(),
        );
    }
    let leaked: usize = trials.iter().map(|t| t.leaked.len()).sum();
    let faults = trials.iter().filter(|t| t.fault().is_some()).count();
    let _ = writeln!(
        out,
        "\nObjects leaked: **{leaked}** in {} trials; trials with a fault (an object left by a \
         plugin that lived to clean up, a leak, a panic or a hang): **{faults}**. After the last \
         trial: {tracers_left} tracer process(es) alive, {programs_left} BPF program(s) loaded \
         that were not before the first.\n\n\
         A SIGKILLed plugin leaves its Jobs by design: they end with the trace's duration (the \
         tracer stops itself) or their deadline, and their TTL removes them and their pods. \
         Exit codes: 0 a whole result, 1 no node traced, 5 partial (a node failed), 130 \
         interrupted before a result.",
        trials.len()
    );
    String::from_utf8_lossy(&out).into_owned()
}
