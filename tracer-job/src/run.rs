//! One trace from spec to `done`: hello, attach, periodic snapshots, final snapshot.

use std::{
    io::Write,
    os::fd::RawFd,
    time::{Duration, Instant},
};

use tracer_protocol::{
    ErrorCode, ProbeSpec, Record, SCHEMA_VERSION, ScriptSpec, TargetState, TraceSpec,
};
use tracer_script::Script;

use crate::{
    containers::{FoundContainer, Naming},
    emit::Emitter,
    failure::Failure,
    host, inventory,
    overhead::{Counting, RunTimeStats},
    probes::{self, Probe},
    signals::{StopSignals, Wake},
    targets,
};

/// How often the event rings are drained. Events wake the tracer only once many wait
/// (`ebpf/probes/src/events.rs`), so this bounds how late an event shows.
const DRAIN_EVERY: Duration = Duration::from_millis(25);

/// Most batches of events one drain writes while the trace runs (a batch is up to 4,096
/// events per probe), so a flood cannot starve snapshots and signals.
const BATCHES: usize = 16;

/// Most batches the drain at the end writes: everything that happened before the end and
/// still waits (event streams stop at the first event stamped later, so a flood after the
/// end is not followed).
const LAST_BATCHES: usize = 256;

/// Runs the trace and returns the process exit code. Every failure is written as one
/// `error` record first.
pub fn run<W: Write>(spec: Result<TraceSpec, Failure>, out: &mut Emitter<W>) -> u8 {
    let started = Instant::now();
    // Blocked before anything else, so an early Ctrl-C is kept for the loop.
    let signals = StopSignals::block();
    let spec = match spec {
        Ok(spec) => spec,
        Err(failure) => return fail(out, &failure),
    };
    let kernel = host::kernel_release();
    let node = spec.node.clone().unwrap_or_else(host::hostname);
    let hello = Record::Hello {
        version: SCHEMA_VERSION,
        node: node.clone(),
        kernel: kernel.clone(),
        btf: host::has_btf(),
        features: ["raw_tracepoint", "tracepoint", "ringbuf", "btf_offsets"]
            .map(String::from)
            .to_vec(),
        trace_id: spec.trace_id.clone(),
        tracer_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
    };
    if out.emit(hello).is_err() {
        return 1;
    }
    if let Some(warning) = host::raise_memlock_if_needed(&kernel) {
        eprintln!("warning: {warning}");
    }
    match trace(&spec, &node, &signals, started, out) {
        Ok(()) => 0,
        Err(failure) => fail(out, &failure),
    }
}

fn fail<W: Write>(out: &mut Emitter<W>, failure: &Failure) -> u8 {
    // The reader may be gone; the exit code still tells.
    let _ = out.emit(failure.record());
    failure.exit_code()
}

fn trace<W: Write>(
    spec: &TraceSpec,
    node: &str,
    signals: &StopSignals,
    started: Instant,
    out: &mut Emitter<W>,
) -> Result<(), Failure> {
    // A script that does not compile fails before anything is attached.
    let mut script = match &spec.script {
        Some(script) => Some(load_script(script, spec, node)?),
        None => None,
    };
    let targets = targets::resolve(&spec.targets, &spec.node_containers)?;
    if out.emit_all(&targets.containers.records()).is_err() {
        return Ok(());
    }
    targets.require_some(node)?;
    if spec.probes == [ProbeSpec::Programs {}] {
        return inventory(spec, signals, started, &targets.naming, out);
    }
    let mut watched = Watched::new(&targets.containers.found);
    // Counted whole, the run time is on before the first program runs; sampled, it goes
    // on once the attached record is out.
    let mut run_time = RunTimeStats::start(Counting::of(spec));
    let mut attached: Vec<Box<dyn Probe>> = Vec::with_capacity(spec.probes.len());
    for probe in &spec.probes {
        attached.push(probes::attach(probe, &targets)?);
    }
    let attached_at = Instant::now();
    let names = attached.iter().map(|p| p.name().to_owned()).collect();
    let ms = u64::try_from(attached_at.duration_since(started).as_millis()).unwrap_or(u64::MAX);
    if out.emit(Record::Attached { probes: names, ms }).is_err() {
        return Ok(());
    }
    run_time.attached(&attached);

    let deadline = spec
        .duration_ms
        .map(|ms| attached_at + Duration::from_millis(ms));
    let interval = Duration::from_millis(spec.interval_ms);
    let mut next_snapshot = attached_at + interval;
    let mut next_drain = attached_at + DRAIN_EVERY;
    let reason = loop {
        let now = Instant::now();
        if deadline.is_some_and(|deadline| now >= deadline) {
            break "duration".to_owned();
        }
        let fds: Vec<RawFd> = attached
            .iter_mut()
            .filter_map(|probe| probe.event_fd())
            .collect();
        let mut wake = deadline.map_or(next_snapshot, |deadline| deadline.min(next_snapshot));
        if !fds.is_empty() {
            wake = wake.min(next_drain);
        }
        if let Some(switch) = run_time.next_switch() {
            wake = wake.min(switch);
        }
        let ready = match signals.wait(wake.saturating_duration_since(now), &fds) {
            Wake::Signal(signal) => break signal.to_owned(),
            Wake::Ready => true,
            Wake::Timeout => false,
        };
        // Events wake the tracer only when many wait; otherwise it drains them here.
        if ready || (!fds.is_empty() && Instant::now() >= next_drain) {
            let naming = &targets.naming;
            let Ok(more) = drain_and_emit(&mut attached, naming, script.as_mut(), out, BATCHES)
            else {
                return Ok(());
            };
            // Left over from a flood: taken at the next turn, after signals and snapshots.
            next_drain = if more {
                Instant::now()
            } else {
                Instant::now() + DRAIN_EVERY
            };
        }
        run_time.switch_if_due(&attached);
        if Instant::now() >= next_snapshot {
            next_snapshot += interval;
            // Probes that pair events (http) also give records when time passes.
            let naming = &targets.naming;
            if drain_and_emit(&mut attached, naming, script.as_mut(), out, BATCHES).is_err() {
                return Ok(());
            }
            let mut records = watched.gone();
            records.extend(snapshot(&mut attached, false)?);
            if let Some(script) = script.as_mut() {
                let elapsed = attached_at.elapsed().as_nanos();
                script.tick(u64::try_from(elapsed).unwrap_or(u64::MAX));
                script.snapshot(false, &mut records);
            }
            if out.emit_all(&records).is_err() {
                // Nobody reads any more (the plugin went away): stop quietly.
                return Ok(());
            }
        }
    };
    for probe in attached.iter_mut() {
        probe.end();
    }
    let naming = &targets.naming;
    if drain_and_emit(&mut attached, naming, script.as_mut(), out, LAST_BATCHES).is_err() {
        return Ok(());
    }
    let mut last = watched.gone();
    last.extend(snapshot(&mut attached, true)?);
    if let Some(script) = script.as_mut() {
        script.finish();
        script.snapshot(true, &mut last);
    }
    let lost = last
        .iter()
        .map(|record| match record {
            Record::Lost { count, .. } => *count,
            _ => 0,
        })
        .sum();
    last.push(run_time.record(&attached, lost, attached_at.elapsed()));
    last.push(Record::Done { reason });
    // Detach before the last write, so nothing runs in the kernel after `done`.
    drop(attached);
    let _ = out.emit_all(&last);
    Ok(())
}

/// The `programs` inventory: a baseline, then the wait (the trace's duration, or a
/// signal), then every program with what it ran meanwhile. Loads nothing.
fn inventory<W: Write>(
    spec: &TraceSpec,
    signals: &StopSignals,
    started: Instant,
    naming: &Naming,
    out: &mut Emitter<W>,
) -> Result<(), Failure> {
    // Counted throughout: what every program ran is the inventory's point.
    let counting = match Counting::of(spec) {
        Counting::Off => Counting::Off,
        Counting::Sampled | Counting::Whole => Counting::Whole,
    };
    let run_time = RunTimeStats::start(counting);
    let baseline = inventory::Baseline::take()?;
    let attached_at = Instant::now();
    let ms = u64::try_from(attached_at.duration_since(started).as_millis()).unwrap_or(u64::MAX);
    let probes = vec!["programs".to_owned()];
    if out.emit(Record::Attached { probes, ms }).is_err() {
        return Ok(());
    }
    let reason = match spec.duration_ms {
        Some(ms) => match signals.wait(Duration::from_millis(ms), &[]) {
            Wake::Signal(signal) => signal.to_owned(),
            _ => "duration".to_owned(),
        },
        None => loop {
            if let Wake::Signal(signal) = signals.wait(Duration::from_secs(3600), &[]) {
                break signal.to_owned();
            }
        },
    };
    let programs = inventory::take(&baseline, run_time.counted(), naming)?;
    let mut last: Vec<Record> = programs
        .into_iter()
        .map(|program| Record::Program(Box::new(program)))
        .collect();
    last.push(run_time.record(&[], 0, attached_at.elapsed()));
    last.push(Record::Done { reason });
    let _ = out.emit_all(&last);
    Ok(())
}

/// Compiles the spec's script and checks that the spec attaches every probe it handles.
fn load_script(script: &ScriptSpec, spec: &TraceSpec, node: &str) -> Result<Script, Failure> {
    let loaded = Script::load(script, node).map_err(|diagnostic| {
        Failure::new(
            ErrorCode::InvalidSpec,
            format!("{}: {}", diagnostic.place(), diagnostic.message),
            diagnostic.hint,
        )
    })?;
    if let Some(missing) = loaded
        .probes()
        .into_iter()
        .find(|probe| !spec.probes.contains(probe))
    {
        return Err(Failure::new(
            ErrorCode::InvalidSpec,
            format!(
                "script {} handles {} events, but the spec does not attach that probe",
                script.name,
                missing.name()
            ),
            "the plugin fills the probes from the script; use the plugin of the tracer's version",
        ));
    }
    Ok(loaded)
}

/// With a script, events go to it and its printed lines and rows come out instead.
fn to_script(records: Vec<Record>, script: Option<&mut Script>) -> Vec<Record> {
    let Some(script) = script else {
        return records;
    };
    let mut rest = Vec::new();
    for record in records {
        if matches!(record, Record::Event { .. }) {
            script.handle(record);
        } else {
            rest.push(record);
        }
    }
    rest.extend(script.take_output());
    rest
}

/// Drains the probes' waiting events and writes them, through the script if there is
/// one, a batch at a time, for up to `batches` batches; so the tracer holds one batch
/// however many wait, and a flood cannot starve snapshots and signals. True when more
/// may wait.
fn drain_and_emit<W: Write>(
    probes: &mut [Box<dyn Probe>],
    naming: &Naming,
    mut script: Option<&mut Script>,
    out: &mut Emitter<W>,
    batches: usize,
) -> std::io::Result<bool> {
    for _ in 0..batches {
        let (records, more) = drain(probes, naming);
        out.emit_all(&to_script(records, script.as_deref_mut()))?;
        if !more {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A batch of waiting events of every probe, named after its container where known, and
/// whether more may wait.
fn drain(probes: &mut [Box<dyn Probe>], naming: &Naming) -> (Vec<Record>, bool) {
    let mut records = Vec::new();
    let mut more = false;
    for probe in probes {
        more |= probe.drain_events(&mut records);
    }
    for record in &mut records {
        if let Record::Event {
            cgroup,
            namespace,
            pod,
            container,
            fields,
            ..
        } = record
        {
            if let Some(owner) = naming.lookup(*cgroup) {
                namespace.clone_from(&owner.namespace);
                pod.clone_from(&owner.pod);
                container.clone_from(&owner.container);
            }
            name_other_task(fields, naming);
        }
    }
    (records, more)
}

/// Names the pod and container of the other task an event is about (the receiver of a
/// signal), from the `target_cgroup` field a probe gives.
fn name_other_task(fields: &mut serde_json::Map<String, serde_json::Value>, naming: &Naming) {
    let Some(owner) = fields
        .get("target_cgroup")
        .and_then(serde_json::Value::as_u64)
        .and_then(|id| naming.lookup(id))
    else {
        return;
    };
    let pod = match (&owner.namespace, &owner.pod) {
        (Some(namespace), Some(pod)) => format!("{namespace}/{pod}"),
        (None, Some(pod)) => pod.clone(),
        _ => return,
    };
    fields.insert("target_pod".into(), pod.into());
    if let Some(container) = &owner.container {
        fields.insert("target_container".into(), container.clone().into());
    }
}

fn snapshot(probes: &mut [Box<dyn Probe>], complete: bool) -> Result<Vec<Record>, Failure> {
    let mut records = Vec::new();
    for probe in probes {
        probe.snapshot(complete, &mut records)?;
    }
    Ok(records)
}

/// The found target containers, each reported `gone` once when its cgroup goes away.
/// A container that exits or restarts is not fatal: the others, or its pod's next
/// trace, go on.
struct Watched<'a> {
    containers: Vec<(&'a FoundContainer, bool)>,
}

impl<'a> Watched<'a> {
    fn new(found: &'a [FoundContainer]) -> Self {
        Watched {
            containers: found.iter().map(|container| (container, false)).collect(),
        }
    }

    /// `target` records for the containers gone since the last call.
    fn gone(&mut self) -> Vec<Record> {
        let mut records = Vec::new();
        for (container, reported) in &mut self.containers {
            if !*reported && !container.is_present() {
                *reported = true;
                records.push(container.record(TargetState::Gone));
            }
        }
        records
    }
}
