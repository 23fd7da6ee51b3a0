//! `exit`: one event per process of a target that ends: its exit status or the signal
//! that killed it, whether it dumped core, its parent and how long it lived.

use aya::EbpfLoader;
use ebpf_common::exit::{ExitEvent, KNOWN_EXIT_CODE, KNOWN_LIFETIME, KNOWN_PPID};
use serde_json::json;
use tracer_protocol::EventFilter;

use super::{
    attach_tracepoint,
    events::{self, EventProbe, Fields},
    filter::FilterGlobals,
    kernel_filter, load, task,
};
use crate::{failure::Failure, names, targets::ResolvedTargets, tracefs::Format};

const NAME: &str = "exit";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/exit"));

pub fn attach(wanted: &EventFilter, targets: &ResolvedTargets) -> Result<EventProbe, Failure> {
    let format = Format::load("sched", "sched_process_exit")?;
    // Added in Linux 6.16; without it the main thread's exit stands for the process.
    let group_dead = format.offset("group_dead", 1).unwrap_or(0);
    let task = task::Offsets::from_kernel();
    let filter = FilterGlobals::new(targets);
    let mut loader = EbpfLoader::new();
    filter.apply(&mut loader);
    task.apply(&mut loader);
    loader.override_global("GROUP_DEAD_OFFSET", &group_dead, true);
    let wanted = kernel_filter(wanted);
    loader.override_global("EXIT_FILTER", &wanted, true);
    let mut ebpf = load(loader, OBJECT, NAME, targets)?;
    attach_tracepoint(
        &mut ebpf,
        "exit_sched_process_exit",
        "sched",
        "sched_process_exit",
    )?;
    EventProbe::new(ebpf, NAME, decode)
}

/// How a process ended, from the kernel's `exit_code` (the wait status).
fn status_fields(exit_code: i32, fields: &mut Fields) {
    let signal = exit_code & 0x7f;
    if signal == 0 {
        fields.insert("code".into(), json!((exit_code >> 8) & 0xff));
    } else {
        fields.insert("signal".into(), json!(names::signal(i64::from(signal))));
        fields.insert("core_dumped".into(), json!(exit_code & 0x80 != 0));
    }
}

fn decode(bytes: &[u8]) -> Option<Fields> {
    let event: ExitEvent = events::read(bytes)?;
    let mut fields = Fields::new();
    if event.known & KNOWN_PPID != 0 {
        fields.insert("ppid".into(), json!(event.ppid));
    }
    if event.known & KNOWN_EXIT_CODE != 0 {
        status_fields(event.exit_code, &mut fields);
    }
    if event.known & KNOWN_LIFETIME != 0 {
        fields.insert("lifetime_ns".into(), json!(event.lifetime_ns));
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(exit_code: i32) -> Fields {
        let mut fields = Fields::new();
        status_fields(exit_code, &mut fields);
        fields
    }

    #[test]
    fn reads_the_wait_status() {
        assert_eq!(
            status(3 << 8),
            json!({"code": 3}).as_object().cloned().unwrap_or_default()
        );
        assert_eq!(
            status(0),
            json!({"code": 0}).as_object().cloned().unwrap_or_default()
        );
        assert_eq!(
            status(9),
            json!({"signal": "SIGKILL", "core_dumped": false})
                .as_object()
                .cloned()
                .unwrap_or_default()
        );
        assert_eq!(
            status(6 | 0x80),
            json!({"signal": "SIGABRT", "core_dumped": true})
                .as_object()
                .cloned()
                .unwrap_or_default()
        );
    }
}
