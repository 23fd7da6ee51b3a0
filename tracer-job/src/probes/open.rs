//! `open`: one event per open/openat/openat2 of a target: path, flags, result and time
//! spent in the call.

use aya::EbpfLoader;
use ebpf_common::open::{
    MAX_IN_FLIGHT, OpenEvent, PATH_AT_EXIT, PATH_UNREADABLE, SYSCALL_OPEN, SYSCALL_OPENAT,
    SYSCALL_OPENAT2,
};
use serde_json::json;
use tracer_protocol::EventFilter;

use super::{
    attach_tracepoint,
    events::{self, EventProbe, Fields},
    filter::FilterGlobals,
    kernel_filter, load, slots,
};
use crate::{
    failure::Failure,
    names,
    targets::ResolvedTargets,
    tracefs::{Format, has_tracepoint},
};

const NAME: &str = "open";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/open"));

/// The kernel's `O_LARGEFILE`, which 64-bit C libraries define as 0 but 32-bit
/// programs pass.
const O_LARGEFILE: u64 = if cfg!(target_arch = "aarch64") {
    0o400000
} else {
    0o100000
};

/// `AT_FDCWD`: resolve a relative path from the working directory.
const AT_FDCWD: i32 = -100;

pub fn attach(wanted: &EventFilter, targets: &ResolvedTargets) -> Result<EventProbe, Failure> {
    // Plain open exists only on older architectures (x86_64 has it, arm64 not);
    // openat2 since Linux 5.6.
    let has_open = has_tracepoint("syscalls", "sys_enter_open");
    let has_openat2 = has_tracepoint("syscalls", "sys_enter_openat2");
    let openat = Format::load("syscalls", "sys_enter_openat")?;
    let exit = Format::load("syscalls", "sys_exit_openat")?;
    let mut offsets = vec![
        ("OPENAT_DFD_OFFSET", openat.offset("dfd", 8)?),
        ("OPENAT_FILENAME_OFFSET", openat.offset("filename", 8)?),
        ("OPENAT_FLAGS_OFFSET", openat.offset("flags", 8)?),
        ("EXIT_RET_OFFSET", exit.offset("ret", 8)?),
    ];
    if has_open {
        let open = Format::load("syscalls", "sys_enter_open")?;
        offsets.push(("OPEN_FILENAME_OFFSET", open.offset("filename", 8)?));
        offsets.push(("OPEN_FLAGS_OFFSET", open.offset("flags", 8)?));
    }
    if has_openat2 {
        let openat2 = Format::load("syscalls", "sys_enter_openat2")?;
        offsets.push(("OPENAT2_DFD_OFFSET", openat2.offset("dfd", 8)?));
        offsets.push(("OPENAT2_FILENAME_OFFSET", openat2.offset("filename", 8)?));
        offsets.push(("OPENAT2_HOW_OFFSET", openat2.offset("how", 8)?));
    }
    let filter = FilterGlobals::new(targets);
    let mut loader = EbpfLoader::new();
    filter.apply(&mut loader);
    for (name, offset) in &offsets {
        loader.override_global(name, offset, true);
    }
    let wanted = kernel_filter(wanted);
    loader
        .override_global("OPEN_FILTER", &wanted, true)
        .map_max_entries("IN_FLIGHT", slots::in_flight(MAX_IN_FLIGHT));
    let mut ebpf = load(loader, OBJECT, NAME, targets)?;
    let mut syscalls = vec![("openat", "open_enter_openat", "open_exit_openat")];
    if has_open {
        syscalls.push(("open", "open_enter_open", "open_exit_open"));
    }
    if has_openat2 {
        syscalls.push(("openat2", "open_enter_openat2", "open_exit_openat2"));
    }
    // Exits first, so no entry waits for an exit program not yet attached.
    for (syscall, _, exit) in &syscalls {
        attach_tracepoint(&mut ebpf, exit, "syscalls", &format!("sys_exit_{syscall}"))?;
    }
    for (syscall, enter, _) in &syscalls {
        attach_tracepoint(
            &mut ebpf,
            enter,
            "syscalls",
            &format!("sys_enter_{syscall}"),
        )?;
    }
    EventProbe::new(ebpf, NAME, decode)
}

/// `O_RDONLY|O_CREAT|O_CLOEXEC`: the access mode, then every flag set, in this
/// architecture's numbering; bits no name covers stay as a hex remainder.
pub fn flag_names(flags: u64) -> String {
    let access = match flags & libc::O_ACCMODE as u64 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let mut names = vec![access.to_owned()];
    let mut rest = flags & !(libc::O_ACCMODE as u64);
    // Multi-bit flags before the single bits they include.
    let known = [
        (libc::O_TMPFILE, "O_TMPFILE"),
        (libc::O_SYNC, "O_SYNC"),
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_NOCTTY, "O_NOCTTY"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_DSYNC, "O_DSYNC"),
        (libc::O_ASYNC, "O_ASYNC"),
        (libc::O_DIRECT, "O_DIRECT"),
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_NOATIME, "O_NOATIME"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
        (libc::O_PATH, "O_PATH"),
    ]
    .map(|(bits, name)| (bits as u64, name))
    .into_iter()
    .chain([(O_LARGEFILE, "O_LARGEFILE")]);
    for (bits, name) in known {
        if bits != 0 && rest & bits == bits {
            names.push(name.to_owned());
            rest &= !bits;
        }
    }
    if rest != 0 {
        names.push(format!("{rest:#x}"));
    }
    names.join("|")
}

fn decode(bytes: &[u8]) -> Option<Fields> {
    let event: OpenEvent = events::read(bytes)?;
    let mut fields = Fields::new();
    let syscall = match event.syscall {
        SYSCALL_OPEN => "open",
        SYSCALL_OPENAT => "openat",
        SYSCALL_OPENAT2 => "openat2",
        _ => "unknown",
    };
    fields.insert("syscall".into(), json!(syscall));
    let path = events::text(&event.path);
    match event.path_read {
        PATH_UNREADABLE => {
            // Say so rather than show an empty path as if it were one.
            fields.insert(
                "path_unreadable".into(),
                json!("not in memory at entry or exit"),
            );
        }
        PATH_AT_EXIT => {
            fields.insert("path_read_at_exit".into(), json!(true));
        }
        _ => {}
    }
    if event.path_read != PATH_UNREADABLE {
        if event.dirfd != AT_FDCWD && !path.starts_with('/') {
            fields.insert("dirfd".into(), json!(event.dirfd));
        }
        fields.insert("path".into(), json!(path));
    }
    fields.insert("flags".into(), json!(flag_names(event.flags)));
    fields.insert("ret".into(), json!(event.ret));
    if event.ret < 0 {
        fields.insert("error".into(), json!(names::errno(-event.ret)));
    }
    fields.insert("latency_ns".into(), json!(event.latency_ns));
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_flags_as_c_spells_them() {
        assert_eq!(flag_names(0), "O_RDONLY");
        let flags = (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC) as u64;
        assert_eq!(flag_names(flags), "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC");
        assert_eq!(
            flag_names((libc::O_RDWR | libc::O_TMPFILE) as u64),
            "O_RDWR|O_TMPFILE"
        );
        assert_eq!(flag_names((libc::O_SYNC) as u64), "O_RDONLY|O_SYNC");
        assert_eq!(flag_names(1 << 40), "O_RDONLY|0x10000000000");
    }
}
