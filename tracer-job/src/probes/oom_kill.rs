//! `oom-kill`: one event per process the OOM killer chooses, named after the victim's
//! cgroup, with its memory as the kernel reported it and the task whose allocation
//! failed.

use aya::EbpfLoader;
use ebpf_common::oom_kill::{
    KNOWN_MEMORY, KNOWN_OOM_SCORE_ADJ, KNOWN_UID, OomKillEvent, PART_VICTIM_TASK,
};
use serde_json::json;

use super::{
    attach_raw_tracepoint, attach_tracepoint,
    events::{self, EventProbe, Fields},
    filter::FilterGlobals,
    load, task,
};
use crate::{failure::Failure, targets::ResolvedTargets, tracefs::Format};

const NAME: &str = "oom-kill";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/oom-kill"));

pub fn attach(targets: &ResolvedTargets) -> Result<EventProbe, Failure> {
    let format = Format::load("oom", "mark_victim")?;
    let optional = |name: &str, size: u32| format.offset(name, size).unwrap_or(0);
    let offsets = [
        ("PID_OFFSET", format.offset("pid", 4)?),
        ("COMM_OFFSET", optional("comm", 4)),
        ("TOTAL_VM_OFFSET", optional("total_vm", 8)),
        ("ANON_RSS_OFFSET", optional("anon_rss", 8)),
        ("FILE_RSS_OFFSET", optional("file_rss", 8)),
        ("SHMEM_RSS_OFFSET", optional("shmem_rss", 8)),
        ("PGTABLES_OFFSET", optional("pgtables", 8)),
        ("UID_OFFSET", optional("uid", 4)),
        ("OOM_SCORE_ADJ_OFFSET", optional("oom_score_adj", 2)),
    ];
    let task = task::Offsets::from_kernel();
    // The hook has been handed the victim's task (rather than its pid) since the
    // change that added `uid` and the memory fields to its record.
    let join =
        u8::from(format.field("uid").is_ok() && task.knows_identity() && task.knows_cgroup());
    let filter = FilterGlobals::new(targets);
    let mut loader = EbpfLoader::new();
    filter.apply(&mut loader);
    task.apply(&mut loader);
    for (name, offset) in &offsets {
        loader.override_global(name, offset, true);
    }
    loader.override_global("JOIN_VICTIM_TASK", &join, true);
    let mut ebpf = load(loader, OBJECT, NAME, targets)?;
    if join != 0 {
        attach_raw_tracepoint(&mut ebpf, "oom_kill_mark_victim_task", "mark_victim")?;
    }
    attach_tracepoint(&mut ebpf, "oom_kill_mark_victim", "oom", "mark_victim")?;
    EventProbe::new(ebpf, NAME, decode)
}

fn decode(bytes: &[u8]) -> Option<Fields> {
    let event: OomKillEvent = events::read(bytes)?;
    let mut fields = Fields::new();
    fields.insert("trigger_pid".into(), json!(event.trigger_pid));
    fields.insert(
        "trigger_comm".into(),
        json!(events::text(&event.trigger_comm)),
    );
    if event.parts & PART_VICTIM_TASK == 0 {
        // The cgroup is the trigger's, which in a global OOM may not be the victim's.
        fields.insert("cgroup_of".into(), json!("trigger"));
    } else if event.trigger_cgroup != event.header.cgroup {
        fields.insert("trigger_cgroup".into(), json!(event.trigger_cgroup));
    }
    if event.known & KNOWN_MEMORY != 0 {
        fields.insert("total_vm_kb".into(), json!(event.total_vm_kb));
        fields.insert("anon_rss_kb".into(), json!(event.anon_rss_kb));
        fields.insert("file_rss_kb".into(), json!(event.file_rss_kb));
        fields.insert("shmem_rss_kb".into(), json!(event.shmem_rss_kb));
        fields.insert("pgtables_kb".into(), json!(event.pgtables_kb));
    }
    if event.known & KNOWN_UID != 0 {
        fields.insert("uid".into(), json!(event.uid));
    }
    if event.known & KNOWN_OOM_SCORE_ADJ != 0 {
        fields.insert("oom_score_adj".into(), json!(event.oom_score_adj));
    }
    Some(fields)
}
