//! `exec`: one event per execve/execveat of a target: path, arguments (bounded), parent
//! pid and the result.

use aya::EbpfLoader;
use ebpf_common::exec::{ExecEvent, MAX_ARGS, MAX_IN_FLIGHT};
use serde_json::{Value, json};
use tracer_protocol::EventFilter;

use super::{
    attach_tracepoint,
    events::{self, EventProbe, Fields},
    filter::FilterGlobals,
    kernel_filter, load, slots, task,
};
use crate::{failure::Failure, names, targets::ResolvedTargets, tracefs::Format};

const NAME: &str = "exec";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/exec"));

pub fn attach(wanted: &EventFilter, targets: &ResolvedTargets) -> Result<EventProbe, Failure> {
    let execve = Format::load("syscalls", "sys_enter_execve")?;
    let execveat = Format::load("syscalls", "sys_enter_execveat")?;
    let exit = Format::load("syscalls", "sys_exit_execve")?;
    let sched_exec = Format::load("sched", "sched_process_exec")?;
    let offsets = [
        ("EXECVE_FILENAME_OFFSET", execve.offset("filename", 8)?),
        ("EXECVE_ARGV_OFFSET", execve.offset("argv", 8)?),
        ("EXECVEAT_FILENAME_OFFSET", execveat.offset("filename", 8)?),
        ("EXECVEAT_ARGV_OFFSET", execveat.offset("argv", 8)?),
        ("EXIT_RET_OFFSET", exit.offset("ret", 8)?),
        (
            "SCHED_EXEC_FILENAME_OFFSET",
            sched_exec.offset("filename", 4)?,
        ),
    ];
    let task = task::Offsets::from_kernel();
    let filter = FilterGlobals::new(targets);
    let mut loader = EbpfLoader::new();
    filter.apply(&mut loader);
    task.apply(&mut loader);
    for (name, offset) in &offsets {
        loader.override_global(name, offset, true);
    }
    let wanted = kernel_filter(wanted);
    loader
        .override_global("EXEC_FILTER", &wanted, true)
        .map_max_entries("IN_FLIGHT", slots::in_flight(MAX_IN_FLIGHT));
    let mut ebpf = load(loader, OBJECT, NAME, targets)?;
    // Exits first, so no entry waits for an exit program not yet attached.
    for (program, tracepoint) in [
        ("exec_exit_execve", "sys_exit_execve"),
        ("exec_exit_execveat", "sys_exit_execveat"),
        ("exec_sched_process_exec", "sched_process_exec"),
        ("exec_enter_execve", "sys_enter_execve"),
        ("exec_enter_execveat", "sys_enter_execveat"),
    ] {
        let category = if tracepoint.starts_with("sched") {
            "sched"
        } else {
            "syscalls"
        };
        attach_tracepoint(&mut ebpf, program, category, tracepoint)?;
    }
    EventProbe::new(ebpf, NAME, decode)
}

fn decode(bytes: &[u8]) -> Option<Fields> {
    let event: ExecEvent = events::read(bytes)?;
    let argc = (event.argc as usize).min(MAX_ARGS);
    let args: Vec<Value> = event.args[..argc]
        .iter()
        .map(|arg| Value::String(events::text(arg)))
        .collect();
    let mut fields = Fields::new();
    if event.ppid != 0 {
        fields.insert("ppid".into(), json!(event.ppid));
    }
    fields.insert("filename".into(), json!(events::text(&event.filename)));
    fields.insert("args".into(), Value::Array(args));
    if event.more_args != 0 {
        fields.insert("args_truncated".into(), json!(true));
    }
    fields.insert("ret".into(), json!(event.ret));
    if event.ret < 0 {
        fields.insert("error".into(), json!(names::errno(-event.ret)));
    }
    Some(fields)
}
