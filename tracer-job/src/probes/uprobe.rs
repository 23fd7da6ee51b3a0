//! `uprobe`: the generic user-space source of scripts. A function of a binary inside the
//! target containers, found through a target process's `/proc/PID/root`, at entry (its
//! arguments, and a string at one of them when asked) or at return (its value).

use std::{
    collections::BTreeSet,
    fs::File,
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::{Path, PathBuf},
};

use aya::{
    EbpfLoader,
    programs::{
        UProbe,
        uprobe::{UProbeAttachLocation, UProbeScope},
    },
};
use ebpf_common::uprobe::{DATA_LEN, MAX_PER_KIND, UprobeEvent};
use object::{Object, ObjectSegment, ReadCache};
use serde_json::json;
use tracer_protocol::{ErrorCode, UprobeFunction, spec::UprobeLocation};

use super::{
    events::{ContextProbe, Fields},
    filter::FilterGlobals,
    load, missing_program,
};
use crate::{failure::Failure, in_root::open_in_root, targets::ResolvedTargets};

const NAME: &str = "uprobe";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/uprobe"));

/// Processes looked at per target cgroup to find the binaries: one per distinct root is
/// enough, and containers seldom have many roots.
const PROCESSES_PER_CGROUP: usize = 64;

pub type Uprobes = ContextProbe<Vec<Option<UprobeFunction>>>;

pub fn attach(functions: &[UprobeFunction], targets: &ResolvedTargets) -> Result<Uprobes, Failure> {
    let mut slots: Vec<Option<UprobeFunction>> = vec![None; 2 * MAX_PER_KIND];
    let mut read_args = [0u32; MAX_PER_KIND];
    // Entry programs take slots 0..MAX_PER_KIND, return programs the ones after.
    let mut used = [0usize; 2];
    for function in functions {
        let kind = usize::from(function.at_return);
        if used[kind] == MAX_PER_KIND {
            // The spec's validation keeps to this; a tracer never indexes past it.
            return Err(Failure::new(
                ErrorCode::InvalidSpec,
                format!("more than {MAX_PER_KIND} uprobes of one kind"),
                "split the question over two scripts",
            ));
        }
        let slot = kind * MAX_PER_KIND + used[kind];
        used[kind] += 1;
        if let (Some(arg), false) = (function.read_arg, function.at_return) {
            read_args[slot] = u32::from(arg) + 1;
        }
        slots[slot] = Some(function.clone());
    }
    let filter = FilterGlobals::new(targets);
    let mut loader = EbpfLoader::new();
    filter.apply(&mut loader);
    loader.override_global("READ_ARG", &read_args, true);
    let mut ebpf = load(loader, OBJECT, NAME, targets)?;
    for (slot, function) in slots.iter().enumerate() {
        let Some(function) = function else {
            continue;
        };
        let program_name = if slot < MAX_PER_KIND {
            format!("uprobe_{slot}")
        } else {
            format!("uretprobe_{}", slot - MAX_PER_KIND)
        };
        let what = format!("attaching to {}", function.source_name());
        let program: &mut UProbe = ebpf
            .program_mut(&program_name)
            .ok_or_else(|| missing_program(&program_name))?
            .try_into()
            .map_err(|err| Failure::from_kernel(&what, &err))?;
        program
            .load()
            .map_err(|err| Failure::from_kernel(&what, &err))?;
        let location = function.location().ok_or_else(|| {
            Failure::new(
                ErrorCode::InvalidSpec,
                format!("{} names no symbol or address", function.source_name()),
                "give SYMBOL, SYMBOL+OFFSET or 0xADDRESS",
            )
        })?;
        for binary in binaries(&function.binary, targets)? {
            let at = match location {
                UprobeLocation::Symbol(symbol) => UProbeAttachLocation::Symbol(symbol),
                UprobeLocation::SymbolOffset(symbol, offset) => {
                    UProbeAttachLocation::SymbolOffset(symbol, offset)
                }
                UprobeLocation::Address(address) => {
                    UProbeAttachLocation::AbsoluteOffset(file_offset(&binary, address)?)
                }
            };
            program
                .attach([at], binary.attach_path(), UProbeScope::AllProcesses)
                .map_err(|err| {
                    Failure::new(
                        ErrorCode::InvalidTarget,
                        format!(
                            "cannot attach to {} in {}: {err}",
                            function.function,
                            binary.display()
                        ),
                        "check the symbol with `nm -D BINARY` (Rust and C++ names are mangled), or the address with `objdump -d`",
                    )
                })?;
        }
    }
    ContextProbe::new(ebpf, NAME, slots, decode)
}

/// Where a virtual address of `binary` (as its symbol table and disassembly show it) is
/// in the file: the loadable segment that holds it says.
fn file_offset(binary: &Binary, address: u64) -> Result<u64, Failure> {
    let unreadable = |err: &dyn std::fmt::Display| {
        Failure::new(
            ErrorCode::InvalidTarget,
            format!("cannot read {} as an ELF file: {err}", binary.display()),
            "give the path of an executable or shared library",
        )
    };
    // Read on demand: only the headers, not a binary that may be hundreds of MiB.
    let file = File::open(binary.attach_path()).map_err(|err| unreadable(&err))?;
    let cache = ReadCache::new(file);
    let elf = object::File::parse(&cache).map_err(|err| unreadable(&err))?;
    elf.segments()
        .find_map(|segment| {
            let (start, size) = (segment.address(), segment.size());
            let (offset, file_size) = segment.file_range();
            let inside = address >= start && address - start < size.min(file_size);
            inside.then(|| offset + (address - start))
        })
        .ok_or_else(|| {
            Failure::new(
                ErrorCode::InvalidTarget,
                format!(
                    "address {address:#x} is in no loaded part of {}",
                    binary.display()
                ),
                "give an address `nm` or `objdump -d` shows for this very file",
            )
        })
}

/// A binary to attach to: the host's own file, or one opened inside a target's root.
pub(super) struct Binary {
    /// Where it is, for messages.
    path: PathBuf,
    /// Kept open so the attach reaches this very file through `/proc/self/fd`.
    _file: Option<File>,
    /// `/proc/self/fd/N` of `file`, or `path` itself.
    attach: PathBuf,
}

impl Binary {
    pub(super) fn attach_path(&self) -> &Path {
        &self.attach
    }

    pub(super) fn display(&self) -> std::path::Display<'_> {
        self.path.display()
    }
}

/// The files `binary` names for the targets: the same path inside the root of target
/// processes (one per distinct file), or the host's own file for a node-wide trace. A
/// path is resolved inside each root, so a symlink in a container cannot name a host file.
fn binaries(binary: &str, targets: &ResolvedTargets) -> Result<Vec<Binary>, Failure> {
    let mut pids: Vec<u32> = targets.pids.clone();
    for dir in &targets.cgroup_dirs {
        pids.extend(cgroup_processes(dir, PROCESSES_PER_CGROUP));
    }
    if targets.pids.is_empty() && targets.cgroup_dirs.is_empty() {
        return Ok(vec![Binary {
            path: PathBuf::from(binary),
            _file: None,
            attach: PathBuf::from(binary),
        }]);
    }
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for pid in pids {
        let root = PathBuf::from(format!("/proc/{pid}/root"));
        let Ok(file) = open_in_root(&root, binary) else {
            continue;
        };
        let Ok(metadata) = file.metadata() else {
            continue;
        };
        if metadata.is_file() && seen.insert((metadata.dev(), metadata.ino())) {
            let attach = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
            found.push(Binary {
                path: root.join(binary.trim_start_matches('/')),
                _file: Some(file),
                attach,
            });
        }
    }
    if found.is_empty() {
        return Err(Failure::new(
            ErrorCode::InvalidTarget,
            format!("no target process has {binary}"),
            "give the path as the container sees it, of a binary or library its processes run; a target must be running when the trace starts",
        ));
    }
    Ok(found)
}

/// Every distinct file the target processes map whose name `wanted` accepts (shared
/// libraries, such as OpenSSL's), and of `usual` (paths where such a library is usually
/// installed) those present in the targets' roots, for processes that start later; each
/// opened inside its process's root. A node-wide trace looks at the host's `usual` paths.
pub(super) fn mapped_files(
    targets: &ResolvedTargets,
    wanted: impl Fn(&str) -> bool,
    usual: &[&str],
) -> Vec<Binary> {
    let mut pids: Vec<u32> = targets.pids.clone();
    for dir in &targets.cgroup_dirs {
        pids.extend(cgroup_processes(dir, PROCESSES_PER_CGROUP));
    }
    let node_wide = targets.pids.is_empty() && targets.cgroup_dirs.is_empty();
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    let mut add = |root: &Path, path: &str| {
        let Ok(file) = open_in_root(root, path) else {
            return;
        };
        let Ok(metadata) = file.metadata() else {
            return;
        };
        if metadata.is_file() && seen.insert((metadata.dev(), metadata.ino())) {
            let attach = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
            found.push(Binary {
                path: root.join(path.trim_start_matches('/')),
                _file: Some(file),
                attach,
            });
        }
    };
    if node_wide {
        for path in usual {
            add(Path::new("/"), path);
        }
    }
    for pid in pids {
        let root = PathBuf::from(format!("/proc/{pid}/root"));
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        let mapped: BTreeSet<&str> = maps
            .lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .filter(|path| path.starts_with('/'))
            .filter(|path| path.rsplit('/').next().is_some_and(&wanted))
            .collect();
        for path in mapped.into_iter().chain(usual.iter().copied()) {
            add(&root, path);
        }
    }
    found
}

/// Up to `limit` processes of a cgroup and its child cgroups.
fn cgroup_processes(dir: &Path, limit: usize) -> Vec<u32> {
    let mut pids = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(
                text.lines()
                    .filter_map(|line| line.trim().parse::<u32>().ok()),
            );
        }
        if pids.len() >= limit {
            break;
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            dirs.extend(
                entries
                    .flatten()
                    .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|entry| entry.path()),
            );
        }
    }
    pids.truncate(limit);
    pids
}

/// The function's name as the script gave it, its arguments or return value, and the
/// string read at an argument.
#[expect(
    clippy::ptr_arg,
    reason = "a ContextProbe decoder takes its context as stored"
)]
fn decode(functions: &Vec<Option<UprobeFunction>>, bytes: &[u8]) -> Option<Fields> {
    let event: UprobeEvent = super::events::read(bytes)?;
    let function = functions.get(usize::try_from(event.slot).ok()?)?.as_ref()?;
    let mut fields = Fields::new();
    fields.insert("uprobe".into(), json!(function.source_name()));
    fields.insert("function".into(), json!(function.function));
    if function.at_return {
        fields.insert("ret".into(), json!(event.ret as i64));
    } else {
        for (i, arg) in event.args.iter().enumerate() {
            fields.insert(format!("arg{i}"), json!(*arg as i64));
        }
        if function.read_arg.is_some() {
            let len = (event.data_len as usize).min(DATA_LEN);
            fields.insert(
                "data".into(),
                json!(super::events::text(&event.data[..len])),
            );
        }
    }
    Some(fields)
}
