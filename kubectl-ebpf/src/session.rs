//! One trace from the user's side: start the tracers, merge their streams as they come,
//! handle Ctrl-C, and print the result.

use std::{
    io::{IsTerminal, Write},
    path::Path,
    time::{Duration, Instant},
};

use tokio::sync::mpsc;
use tracer_protocol::{ScriptSpec, TraceSpec, decode_line};
use tracer_script::diagnostic::excerpt;

use crate::{
    catalogue::{self, Kind},
    cli::{ClusterArgs, OutputFormat, ProfileArgs, ProgramsArgs, TraceArgs},
    exit::{self, CliError},
    interrupt::{self, Interrupts},
    launch::{
        NodeEvent,
        local::{self, LocalTracer},
    },
    merge::{Merger, NodeStatus, Printed, Progress, TraceResult},
    progress::ProgressView,
    render::{self, events::EventPrinter},
    request, terminal,
    units::format_ns,
};

pub async fn trace(cluster: ClusterArgs, args: TraceArgs) -> Result<u8, CliError> {
    if !args.local {
        return crate::cluster::trace(&cluster, &args).await;
    }
    let spec = request::local_spec(&args)?;
    let tracer = local::find_tracer(args.tracer.as_deref())?;
    let (events, incoming) = mpsc::channel(1024);
    let started = Instant::now();
    let mut interrupts = interrupt::listen();
    let mut handle = LocalTracer::start(&tracer, &spec, events).await?;
    let Some(merger) = collect(incoming, 1, &mut handle, &spec, &args, &mut interrupts).await
    else {
        return Ok(exit::INTERRUPTED);
    };
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let result = merger.result(&args.probe, elapsed);
    show(&result, &args)
}

/// `profile`: a trace of the profile probe, shown as a profile.
pub async fn profile(cluster: ClusterArgs, args: ProfileArgs) -> Result<u8, CliError> {
    let options = args.options();
    let trace_args = TraceArgs {
        probe: render::profile::PROBE.to_owned(),
        on: args.on,
        duration: Some(args.duration),
        profile: Some(options),
        ..TraceArgs::default()
    };
    trace(cluster, trace_args).await
}

/// `programs`: a trace of the inventory, shown as a list of programs. It lists whole
/// nodes, so it takes nodes only.
pub async fn programs(cluster: ClusterArgs, args: ProgramsArgs) -> Result<u8, CliError> {
    let on = &args.on;
    if on.targets.is_empty() && !on.all_nodes && !on.local {
        return Err(CliError::usage(
            "name the nodes to list",
            "give node/NAME, --all-nodes, or --local for this machine",
        ));
    }
    let targets = crate::cluster::target::parse_all(&on.targets)?;
    if let Some(target) = targets
        .iter()
        .find(|t| t.kind != crate::cluster::target::Kind::Node)
    {
        return Err(CliError::usage(
            format!("programs lists whole nodes; {target} is not a node"),
            "give node/NAME, --all-nodes, or --local",
        ));
    }
    if args.on.selector.is_some() || args.on.container.is_some() {
        return Err(CliError::usage(
            "programs lists whole nodes; -l and -c select pods",
            "give node/NAME, --all-nodes, or --local",
        ));
    }
    let trace_args = TraceArgs {
        probe: render::programs::PROBE.to_owned(),
        on: args.on,
        duration: Some(args.duration),
        programs: Some(args.output),
        ..TraceArgs::default()
    };
    trace(cluster, trace_args).await
}

/// Prints the result of `args`'s trace in the form it asks for.
pub fn show(result: &TraceResult, args: &TraceArgs) -> Result<u8, CliError> {
    if let Some(format) = args.programs {
        return conclude(result, None, None, |out| {
            render::programs::write(result, format, out)
        });
    }
    match (&args.profile, &args.script) {
        (Some(options), _) => conclude(result, options.file.as_deref(), None, |out| {
            render::profile::write(result, options, out)
        }),
        (None, Some(script)) if args.output.is_table() => {
            conclude(result, None, Some(&script.spec), |mut out| {
                render::script::write(result, &script.tops, request::top(args), &mut out)
            })
        }
        (None, script) => conclude(result, None, script.as_ref().map(|s| &s.spec), |mut out| {
            render::render(result, args.output, request::top(args), &mut out)
        }),
    }
}

/// Running tracers, as the collection loop controls them.
pub trait Tracers {
    /// Ask every tracer to flush its final snapshot and exit.
    fn stop(&mut self);
    /// Give up on them; no result will be shown.
    fn abandon(&mut self);
}

impl Tracers for LocalTracer {
    fn stop(&mut self) {
        LocalTracer::stop(self);
    }

    fn abandon(&mut self) {
        self.kill();
    }
}

/// Merges the streams of `nodes` tracers until every one has ended. The first Ctrl-C
/// (or SIGTERM) stops the tracers (their final snapshots still count); the second
/// abandons them, and then there is no result (`None`).
pub async fn collect(
    mut incoming: mpsc::Receiver<NodeEvent>,
    nodes: usize,
    tracers: &mut impl Tracers,
    spec: &TraceSpec,
    args: &TraceArgs,
    interrupted: &mut Interrupts,
) -> Option<Merger> {
    // A process's on-CPU time and its share mean something on its own node only.
    let per_node = args.per_node || args.probe == render::cpu_time::PROBE;
    let mut merger = Merger::new().per_node(per_node);
    if args.heatmap {
        merger = merger.heatmaps(spec.interval_ms);
    }
    let started = Instant::now();
    let mut view = ProgressView::new(spec.duration_ms);
    // Events stream to stdout as they come in the table format; JSON and YAML hold them
    // for the final document.
    let mut printer = args
        .output
        .is_table()
        .then(|| EventPrinter::new(!args.local, args.output == OutputFormat::Wide));
    let mut countdown = tokio::time::interval(Duration::from_secs(1));
    let live = live_view(args);
    let every = args.interval.unwrap_or(Duration::from_secs(1));
    let mut redraw = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut running = nodes;
    let mut interrupts = 0u32;
    while running > 0 {
        tokio::select! {
            event = incoming.recv() => match event {
                Some(NodeEvent::Line { node, line }) => {
                    let decoded = decode_line(&line);
                    let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    merger.observe(&node, &decoded, now_ms);
                    match merger.apply(&node, decoded) {
                        Some(Progress::Attached { node, ms }) => view.attached(&node, ms),
                        Some(Progress::Event(event)) => {
                            if let Some(printer) = printer.as_mut() {
                                view.print_lines(&printer.lines(&event));
                            } else if args.output == OutputFormat::Ndjson {
                                write_event_line(&event);
                            }
                        }
                        Some(Progress::Print(printed)) if printer.is_some() => {
                            view.print_lines(&[script_line(&printed, !args.local)]);
                        }
                        Some(Progress::Print(_)) => {}
                        None => {}
                    }
                }
                Some(NodeEvent::Waiting { node, why }) => view.waiting(&node, &why),
                Some(NodeEvent::Failed { node, code, message, hint }) => {
                    view.ended(&node, &message);
                    merger.failed(&node, code, message, hint);
                    running -= 1;
                }
                Some(NodeEvent::Ended { node, status, stderr, .. }) => {
                    view.ended(&node, &status);
                    merger.ended(&node, status, stderr);
                    running -= 1;
                }
                None => break,
            },
            _ = countdown.tick() => view.tick(),
            _ = redraw.tick(), if live => view.redraw(&frame(&merger, args, nodes, started.elapsed())),
            () = interrupted.next() => {
                interrupts += 1;
                if interrupts == 1 {
                    view.finish();
                    eprintln!("Stopping; collecting the final snapshots (Ctrl-C again to abandon).");
                    tracers.stop();
                } else {
                    view.finish();
                    tracers.abandon();
                    eprintln!("Abandoned; no result.");
                    return None;
                }
            }
        }
    }
    view.clear_frame();
    view.finish();
    Some(merger)
}

/// Whether to redraw the result in place while the trace runs: asked for with
/// `--interval`, for tables of counts and histograms, on a terminal.
fn live_view(args: &TraceArgs) -> bool {
    // Events stream between the frames otherwise; those probes print as they go.
    let aggregates = catalogue::find(&args.probe)
        .is_some_and(|probe| matches!(probe.kind, Kind::Histogram | Kind::Counts));
    args.interval.is_some()
        && args.output.is_table()
        && !args.heatmap
        && args.profile.is_none()
        && aggregates
        && std::io::stdout().is_terminal()
}

/// One screen of the live view: a title, then the result so far as the table format
/// prints it, cut to fit above the progress lines.
fn frame(merger: &Merger, args: &TraceArgs, nodes: usize, elapsed: Duration) -> Vec<String> {
    let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let result = merger.result(&args.probe, elapsed_ms);
    let mut text = Vec::new();
    let _ = render::render(&result, OutputFormat::Table, request::top(args), &mut text);
    let mut lines = vec![format!(
        "{} after {}s, redrawn every {}; Ctrl-C to stop",
        args.probe,
        elapsed.as_secs(),
        format_ns(args.interval.unwrap_or_default().as_nanos() as f64)
    )];
    lines.extend(String::from_utf8_lossy(&text).lines().map(str::to_owned));
    let rows = terminal::size().map_or(24, |(rows, _)| rows);
    let room = rows.saturating_sub(nodes + 2).max(4);
    if lines.len() > room {
        lines.truncate(room - 1);
        lines.push("... (cut to fit; --top N shows fewer rows)".to_owned());
    }
    lines
}

/// One event as an NDJSON line on stdout, now: whoever reads the pipe sees it at once.
fn write_event_line(event: &crate::merge::Event) {
    if let Ok(line) = render::ndjson::event_line(event) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
    }
}

/// A script's printed line or row as shown while it runs: `[node] text`, `table: a=1`.
fn script_line(printed: &Printed, show_node: bool) -> String {
    let mut line = String::new();
    if show_node {
        line.push_str(&format!("[{}] ", printed.node));
    }
    if let Some(table) = &printed.table {
        line.push_str(table);
        line.push_str(": ");
    }
    line.push_str(&printed.text);
    line
}

/// Prints the result, or the reason there is none, and picks the exit code.
/// Writes the result with `write` (to `file`, else to stdout), or returns the reason there
/// is none; then warns about what is missing from it (a script's failing lines shown from
/// `script`) and picks the exit code.
pub fn conclude(
    result: &TraceResult,
    file: Option<&Path>,
    script: Option<&ScriptSpec>,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<u8, CliError> {
    let failed: Vec<_> = result
        .nodes
        .iter()
        .filter(|node| node.status != NodeStatus::Done)
        .collect();
    if failed.len() == result.nodes.len() {
        // No node finished: there is no result, only the reason.
        return Err(match failed.first() {
            Some(node) => match &node.error {
                Some(error) => {
                    let mut err = CliError::from_tracer(error.code, &error.message, &error.hint);
                    err.message = format!("{}: {}", node.node, err.message);
                    err
                }
                None => CliError::failure(
                    format!(
                        "{}: {}",
                        node.node,
                        node.detail
                            .as_deref()
                            .unwrap_or("tracer ended without a result")
                    ),
                    "see `kubectl describe pod` in the jobs namespace, or run tracer-job by hand to see its output",
                ),
            },
            None => CliError::failure("no tracer produced output", ""),
        });
    }
    let written = match file {
        Some(path) => {
            write_file(path, write)?;
            eprintln!("Wrote {}.", path.display());
            Ok(())
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            write(&mut stdout).and_then(|()| stdout.flush())
        }
    };
    if let Err(err) = written {
        // A closed pipe (`| head`) is not a failure of the trace.
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(CliError::failure(
                format!("cannot write the result: {err}"),
                "",
            ));
        }
    }
    for node in &failed {
        let why = node
            .error
            .as_ref()
            .map(|error| error.message.clone())
            .or_else(|| node.detail.clone())
            .unwrap_or_default();
        crate::warn!("node {} did not finish: {why}", node.node);
    }
    for node in &result.nodes {
        for target in &node.missing_targets {
            crate::warn!(
                "container {target} was not found on {}; not traced",
                node.node
            );
        }
        for target in &node.gone_targets {
            crate::warn!(
                "container {target} on {} went away during the trace (exited or restarted)",
                node.node
            );
        }
    }
    for error in &result.script_errors {
        if error.handler == "events" {
            // The node's cap on the handlers' time, not a failing handler.
            crate::warn!(
                "node {}: {} events were not handed to the script: {}",
                error.node,
                error.count,
                error.message
            );
            continue;
        }
        let place = match (error.line, script) {
            (0, _) => "the script".to_owned(),
            (line, Some(script)) if error.column > 0 => {
                format!("{}:{line}:{}", script.name, error.column)
            }
            (line, Some(script)) => format!("{}:{line}", script.name),
            (line, None) => format!("line {line}:{}", error.column),
        };
        let stopped = if error.disabled {
            "; it was stopped for the rest of the trace"
        } else {
            ""
        };
        crate::warn!(
            "node {}: {} at {place} failed {} times: {}{stopped}",
            error.node,
            error.handler,
            error.count,
            error.message
        );
        // The failing line with a caret, as `--check` shows a compile error.
        if let Some(text) = script.and_then(|script| {
            let index = usize::try_from(error.line).ok()?.checked_sub(1)?;
            script.source.lines().nth(index)
        }) {
            eprint!("{}", excerpt(error.line, error.column, text));
        }
    }
    if result.lost > 0 {
        crate::warn!(
            "{} events were lost in the kernel; the result undercounts",
            result.lost
        );
    }
    if result.malformed_lines > 0 {
        crate::warn!(
            "{} lines from tracers could not be read and were skipped",
            result.malformed_lines
        );
    }
    if let Some(line) = crate::version::skew_warning(&result.nodes) {
        crate::warn!("{line}");
    }
    if let Some(line) = render::overhead::line(result) {
        eprintln!("{line}");
    }
    Ok(if result.partial {
        exit::PARTIAL
    } else {
        exit::SUCCESS
    })
}

fn write_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let failed = |err: std::io::Error| {
        CliError::failure(
            format!("cannot write {}: {err}", path.display()),
            "check the path and that its directory exists and is writable",
        )
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(failed)?);
    write(&mut out).and_then(|()| out.flush()).map_err(failed)
}
