//! The `programs` inventory: every eBPF program loaded on the node, anyone's, with what
//! each ran while the inventory was taken, its memory, who holds it and where it is
//! attached.
//!
//! The kernel lists programs by id (CAP_SYS_ADMIN). Who holds one and where it is
//! attached the kernel tells only through the holders' descriptors, so every process's
//! `/proc/PID/fdinfo` is read (CAP_SYS_PTRACE for other users' processes): a program
//! descriptor names its program, a link's fdinfo names its program and attach point, and
//! a perf event with a program (tracepoints, uprobes, sampling) is asked with
//! BPF_TASK_FD_QUERY. Programs attached without a descriptor anyone keeps (pinned
//! links, cgroup programs attached the old way, XDP and tc set up by netlink) show no
//! owner, and their attach point stays unknown.

use std::{
    collections::HashMap,
    fs,
    os::fd::{AsFd, AsRawFd},
    path::{Path, PathBuf},
    time::UNIX_EPOCH,
};

use aya::{
    maps::MapInfo,
    programs::{ProgramInfo, loaded_programs},
};
use tracer_protocol::{ErrorCode, LoadedProgram, ProgramOwner};

use crate::{bpf_command, containers::Naming, failure::Failure, probes::netns, targets};

/// Processes whose descriptors are read, at most, so a node with a huge process table
/// still answers.
const MAX_PROCESSES: usize = 65_536;

/// Programs read at the start, so the end can tell what each ran in between.
pub struct Baseline {
    runs: HashMap<u32, (u64, u64)>,
}

impl Baseline {
    pub fn take() -> Result<Baseline, Failure> {
        let runs = list()?
            .iter()
            .map(|info| (info.id(), run_stats(info)))
            .collect();
        Ok(Baseline { runs })
    }
}

/// Every program loaded now. With `counted`, each carries the runs and run time since
/// `baseline` (programs loaded since count from zero).
pub fn take(
    baseline: &Baseline,
    counted: bool,
    naming: &Naming,
) -> Result<Vec<LoadedProgram>, Failure> {
    let holders = Holders::scan(naming);
    let mut map_bytes: HashMap<u32, Option<u64>> = HashMap::new();
    let mut programs = Vec::new();
    for info in list()? {
        let id = info.id();
        let (time, count) = run_stats(&info);
        let (time_before, count_before) = baseline.runs.get(&id).copied().unwrap_or_default();
        let map_ids = info.map_ids().ok().flatten().unwrap_or_default();
        let maps: Option<u64> = map_ids
            .iter()
            .map(|map| *map_bytes.entry(*map).or_insert_with(|| map_memory(*map)))
            .sum();
        programs.push(LoadedProgram {
            id,
            kind: program_type(&info),
            name: info.name_as_str().unwrap_or_default().to_owned(),
            tag: format!("{:016x}", info.tag()),
            loaded_at: info
                .loaded_at()
                .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                .map(|since| since.as_secs()),
            uid: info.created_by_uid(),
            attached: holders.attached.get(&id).cloned().unwrap_or_default(),
            owners: holders.owners.get(&id).cloned().unwrap_or_default(),
            run_count: counted.then(|| count.saturating_sub(count_before)),
            run_time_ns: counted.then(|| time.saturating_sub(time_before)),
            program_bytes: info.memory_locked().ok().map(u64::from),
            map_bytes: maps.filter(|_| !map_ids.is_empty()),
            map_ids,
        });
    }
    programs.sort_by_key(|program| program.id);
    Ok(programs)
}

fn list() -> Result<Vec<ProgramInfo>, Failure> {
    let mut programs = Vec::new();
    for info in loaded_programs() {
        match info {
            Ok(info) => programs.push(info),
            // A program unloaded between listing and reading it.
            Err(aya::programs::ProgramError::SyscallError(err))
                if err.io_error.raw_os_error() == Some(libc::ENOENT) => {}
            Err(err) => {
                return Err(Failure::new(
                    ErrorCode::PermissionDenied,
                    format!("listing the node's eBPF programs failed: {err}"),
                    "the kernel lists programs to CAP_SYS_ADMIN only; the Job of \
                     `kubectl ebpf programs` adds it (or use --privileged)",
                ));
            }
        }
    }
    Ok(programs)
}

fn run_stats(info: &ProgramInfo) -> (u64, u64) {
    let time = u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX);
    (time, info.run_count())
}

/// `tracepoint`, `raw_tracepoint`, `perf_event`... as bpftool names them.
fn program_type(info: &ProgramInfo) -> String {
    type_name(&format!("{:?}", info.program_type()))
}

/// `BPF_PROG_TYPE_RAW_TRACEPOINT` → `raw_tracepoint`.
fn type_name(kernel_name: &str) -> String {
    kernel_name
        .strip_prefix("BPF_PROG_TYPE_")
        .unwrap_or(kernel_name)
        .to_ascii_lowercase()
}

/// A map's kernel memory, as its fdinfo's `memlock` says.
fn map_memory(id: u32) -> Option<u64> {
    let info = MapInfo::from_id(id).ok()?;
    let fd = info.fd().ok()?;
    let text = fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_fd().as_raw_fd())).ok()?;
    field(&text, "memlock")?.parse().ok()
}

/// Who holds each program, and where it is attached, from every process's descriptors.
#[derive(Default)]
struct Holders {
    owners: HashMap<u32, Vec<ProgramOwner>>,
    attached: HashMap<u32, Vec<String>>,
}

impl Holders {
    fn scan(naming: &Naming) -> Holders {
        let mut holders = Holders::default();
        let mount = targets::cgroup2_mount().ok();
        let own = std::process::id();
        for pid in processes().into_iter().take(MAX_PROCESSES) {
            if pid == own {
                // Our own descriptors are the maps and programs this scan opened.
                continue;
            }
            let held = held_by(pid);
            if held.is_empty() {
                continue;
            }
            let owner = owner(pid, mount.as_deref(), naming);
            let mut ids: Vec<u32> = Vec::new();
            for (id, attach) in held {
                if let Some(attach) = attach {
                    let places = holders.attached.entry(id).or_default();
                    if !places.contains(&attach) {
                        places.push(attach);
                    }
                }
                if !ids.contains(&id) {
                    ids.push(id);
                    holders.owners.entry(id).or_default().push(owner.clone());
                }
            }
        }
        holders
    }
}

fn processes() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// The programs process `pid` holds, each with the attach point its descriptor tells.
fn held_by(pid: u32) -> Vec<(u32, Option<String>)> {
    let fd_dir = PathBuf::from(format!("/proc/{pid}/fd"));
    let Ok(entries) = fs::read_dir(&fd_dir) else {
        return Vec::new();
    };
    let mut held = Vec::new();
    for entry in entries.flatten() {
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|fd| fd.parse::<u32>().ok())
        else {
            continue;
        };
        match target.as_ref() {
            "anon_inode:bpf-prog" | "anon_inode:bpf_link" => {
                let Ok(text) = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
                    continue;
                };
                if let Some(id) = field(&text, "prog_id").and_then(|id| id.parse().ok()) {
                    held.push((id, link_attach_point(&text)));
                }
            }
            "anon_inode:[perf_event]" => {
                if let Some((id, attach)) = perf_event_program(pid, fd) {
                    held.push((id, Some(attach)));
                }
            }
            _ => {}
        }
    }
    held
}

/// Where a link's fdinfo says it attaches: `raw_tracepoint:sched_switch`,
/// `tracepoint:sys_enter_read` (a perf link says its event's kind), `uprobe:PATH+0xOFF`,
/// `perf_event:type=1,config=0`, `cgroup:ID:ATTACH_TYPE`, or the link type alone. None
/// for a program's own descriptor (no `link_type`).
fn link_attach_point(fdinfo: &str) -> Option<String> {
    let link = field(fdinfo, "link_type")?;
    let kind = match field(fdinfo, "event_type") {
        Some("event") => {
            let kind = field(fdinfo, "type").unwrap_or("?");
            let config = field(fdinfo, "config").unwrap_or("?");
            return Some(format!("perf_event:type={kind},config={config}"));
        }
        Some(event) => event,
        None => link,
    };
    let mut detail = ["tp_name", "name", "target_name", "func_name", "path"]
        .iter()
        .find_map(|key| field(fdinfo, key))
        .map(str::to_owned)
        .or_else(|| {
            let cgroup = field(fdinfo, "cgroup_id")?;
            let attach = field(fdinfo, "attach_type").unwrap_or("?");
            Some(format!("{cgroup}:{attach}"))
        })
        .or_else(|| field(fdinfo, "ifindex").map(|index| format!("ifindex {index}")));
    if let (Some(detail), Some(offset)) = (detail.as_mut(), field(fdinfo, "offset")) {
        detail.push('+');
        detail.push_str(offset);
    }
    Some(match detail {
        Some(detail) => format!("{kind}:{detail}"),
        None => kind.to_owned(),
    })
}

/// The value of `key:\tvalue` in an fdinfo text.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == key).then(|| value.trim())
    })
}

/// The pid's name and pod container, as far as the node knows.
fn owner(pid: u32, mount: Option<&Path>, naming: &Naming) -> ProgramOwner {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let mut owner = ProgramOwner {
        pid,
        comm: comm.trim_end().to_owned(),
        ..ProgramOwner::default()
    };
    if let Some(found) = mount
        .and_then(|mount| netns::cgroup_of(mount, &pid.to_string()))
        .and_then(|cgroup| naming.lookup(cgroup))
    {
        owner.namespace = found.namespace.clone();
        owner.pod = found.pod.clone();
        owner.container = found.container.clone();
    }
    owner
}

/// BPF_TASK_FD_QUERY's part of `union bpf_attr` (include/uapi/linux/bpf.h).
#[repr(C)]
#[derive(Default)]
struct TaskFdQuery {
    pid: u32,
    fd: u32,
    flags: u32,
    buf_len: u32,
    buf: u64,
    prog_id: u32,
    fd_type: u32,
    probe_offset: u64,
    probe_addr: u64,
}

/// The program on perf event descriptor `fd` of process `pid`, and what the event is:
/// `tracepoint:NAME`, `uprobe:FILE+0xOFFSET`... A perf event without a program, or
/// one the kernel does not describe (a sampling event), gives its program alone.
fn perf_event_program(pid: u32, fd: u32) -> Option<(u32, String)> {
    let mut name = [0u8; 256];
    let mut query = TaskFdQuery {
        pid,
        fd,
        buf_len: name.len() as u32,
        buf: name.as_mut_ptr() as u64,
        ..TaskFdQuery::default()
    };
    // SAFETY: `query` is the command's part of bpf_attr, and `buf` points to `buf_len`
    // writable bytes that outlive the call.
    if !unsafe { bpf_command::run(bpf_command::TASK_FD_QUERY, &mut query) } {
        return None;
    }
    let len = name.iter().position(|b| *b == 0).unwrap_or(name.len());
    let name = String::from_utf8_lossy(&name[..len]);
    let attach = match query.fd_type {
        0 => format!("raw_tracepoint:{name}"),
        1 => format!("tracepoint:{name}"),
        2 | 3 => {
            let kind = if query.fd_type == 2 {
                "kprobe"
            } else {
                "kretprobe"
            };
            if name.is_empty() {
                format!("{kind}:{:#x}", query.probe_addr)
            } else {
                format!("{kind}:{name}+{:#x}", query.probe_offset)
            }
        }
        4 => format!("uprobe:{name}+{:#x}", query.probe_offset),
        5 => format!("uretprobe:{name}+{:#x}", query.probe_offset),
        _ => "perf_event".to_owned(),
    };
    Some((query.prog_id, attach))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_fdinfo_names_the_attach_point() {
        let raw = "pos:\t0\nlink_type:\traw_tracepoint\nlink_id:\t7\nprog_tag:\tab\nprog_id:\t42\ntp_name:\tsched_switch\n";
        assert_eq!(field(raw, "prog_id"), Some("42"));
        assert_eq!(
            link_attach_point(raw).as_deref(),
            Some("raw_tracepoint:sched_switch")
        );
        let cgroup =
            "link_type:\tcgroup\nlink_id:\t3\nprog_id:\t9\ncgroup_id:\t1234\nattach_type:\t1\n";
        assert_eq!(link_attach_point(cgroup).as_deref(), Some("cgroup:1234:1"));
        let perf = "link_type:\tperf\nlink_id:\t3\nprog_id:\t9\n";
        assert_eq!(link_attach_point(perf).as_deref(), Some("perf"));
        let tracepoint =
            "link_type:\tperf\nprog_id:\t9\ntp_name:\tsys_enter_read\nevent_type:\ttracepoint\n";
        assert_eq!(
            link_attach_point(tracepoint).as_deref(),
            Some("tracepoint:sys_enter_read")
        );
        let sampling = "link_type:\tperf\nprog_id:\t9\ntype:\t1\nconfig:\t0\nevent_type:\tevent\n";
        assert_eq!(
            link_attach_point(sampling).as_deref(),
            Some("perf_event:type=1,config=0")
        );
        let program = "prog_type:\t5\nprog_jited:\t1\nprog_id:\t9\n";
        assert_eq!(link_attach_point(program), None);
    }

    #[test]
    fn program_types_read_as_bpftool_writes_them() {
        assert_eq!(type_name("BPF_PROG_TYPE_RAW_TRACEPOINT"), "raw_tracepoint");
        assert_eq!(type_name("BPF_PROG_TYPE_CGROUP_SKB"), "cgroup_skb");
    }
}
