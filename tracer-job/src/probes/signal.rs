//! `signal`: one event per signal generated where the sender or the receiver is a
//! target: the signal, who sent it to whom, its origin and what became of it.

use aya::EbpfLoader;
use ebpf_common::signal::SignalEvent;
use serde_json::json;
use tracer_protocol::EventFilter;

use super::{
    attach_raw_tracepoint,
    events::{self, EventProbe, Fields},
    filter::FilterGlobals,
    kernel_filter, load, task,
};
use crate::{btf::Btf, failure::Failure, names, targets::ResolvedTargets};

const NAME: &str = "signal";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/signal"));

pub fn attach(wanted: &EventFilter, targets: &ResolvedTargets) -> Result<EventProbe, Failure> {
    let task = task::Offsets::from_kernel();
    let (errno, code) = siginfo_offsets();
    let filter = FilterGlobals::new(targets);
    let mut loader = EbpfLoader::new();
    filter.apply(&mut loader);
    task.apply(&mut loader);
    loader
        .override_global("SIGINFO_ERRNO_OFFSET", &errno, true)
        .override_global("SIGINFO_CODE_OFFSET", &code, true);
    let wanted = kernel_filter(wanted);
    loader.override_global("SIGNAL_FILTER", &wanted, true);
    let mut ebpf = load(loader, OBJECT, NAME, targets)?;
    attach_raw_tracepoint(&mut ebpf, "signal_generate", "signal_generate")?;
    EventProbe::new(ebpf, NAME, decode)
}

/// Where `struct kernel_siginfo` keeps `si_errno` and `si_code`. The uapi layout (errno
/// before code) holds everywhere but MIPS; the kernel's BTF says for sure.
fn siginfo_offsets() -> (u32, u32) {
    Btf::from_sys_fs()
        .ok()
        .and_then(|btf| {
            let errno = btf.member("kernel_siginfo", &["si_errno"]).ok()?;
            let code = btf.member("kernel_siginfo", &["si_code"]).ok()?;
            Some((errno.offset, code.offset))
        })
        .unwrap_or((4, 8))
}

/// What the kernel did with the signal (`enum trace_signal_deliver_result`).
fn result_name(result: i32) -> String {
    match result {
        0 => "delivered".to_owned(),
        1 => "ignored".to_owned(),
        2 => "already_pending".to_owned(),
        3 => "overflow_fail".to_owned(),
        4 => "lose_info".to_owned(),
        other => format!("result {other}"),
    }
}

/// `si_code` as C spells it: who sent the signal (`SI_USER` for kill, `SI_TKILL` for
/// tgkill, `SI_KERNEL`...), or for a signal the kernel raises, why (`SEGV_MAPERR`).
pub fn code_name(sig: i32, code: i32) -> String {
    let generic = match code {
        0 => Some("SI_USER"),
        0x80 => Some("SI_KERNEL"),
        -1 => Some("SI_QUEUE"),
        -2 => Some("SI_TIMER"),
        -3 => Some("SI_MESGQ"),
        -4 => Some("SI_ASYNCIO"),
        -5 => Some("SI_SIGIO"),
        -6 => Some("SI_TKILL"),
        -7 => Some("SI_DETHREAD"),
        -60 => Some("SI_ASYNCNL"),
        _ => None,
    };
    if let Some(name) = generic {
        return name.to_owned();
    }
    let per_signal: &[&str] = match sig {
        libc::SIGCHLD => &[
            "CLD_EXITED",
            "CLD_KILLED",
            "CLD_DUMPED",
            "CLD_TRAPPED",
            "CLD_STOPPED",
            "CLD_CONTINUED",
        ],
        libc::SIGSEGV => &[
            "SEGV_MAPERR",
            "SEGV_ACCERR",
            "SEGV_BNDERR",
            "SEGV_PKUERR",
            "SEGV_ACCADI",
            "SEGV_ADIDERR",
            "SEGV_ADIPERR",
            "SEGV_MTEAERR",
            "SEGV_MTESERR",
            "SEGV_CPERR",
        ],
        libc::SIGBUS => &[
            "BUS_ADRALN",
            "BUS_ADRERR",
            "BUS_OBJERR",
            "BUS_MCEERR_AR",
            "BUS_MCEERR_AO",
        ],
        libc::SIGILL => &[
            "ILL_ILLOPC",
            "ILL_ILLOPN",
            "ILL_ILLADR",
            "ILL_ILLTRP",
            "ILL_PRVOPC",
            "ILL_PRVREG",
            "ILL_COPROC",
            "ILL_BADSTK",
            "ILL_BADIADDR",
        ],
        libc::SIGFPE => &[
            "FPE_INTDIV",
            "FPE_INTOVF",
            "FPE_FLTDIV",
            "FPE_FLTOVF",
            "FPE_FLTUND",
            "FPE_FLTRES",
            "FPE_FLTINV",
            "FPE_FLTSUB",
        ],
        libc::SIGTRAP => &["TRAP_BRKPT", "TRAP_TRACE", "TRAP_BRANCH", "TRAP_HWBKPT"],
        libc::SIGIO => &[
            "POLL_IN", "POLL_OUT", "POLL_MSG", "POLL_ERR", "POLL_PRI", "POLL_HUP",
        ],
        libc::SIGSYS => &["SYS_SECCOMP", "SYS_USER_DISPATCH"],
        _ => &[],
    };
    usize::try_from(code)
        .ok()
        .and_then(|code| code.checked_sub(1))
        .and_then(|index| per_signal.get(index))
        .map_or_else(|| format!("code {code}"), |name| (*name).to_owned())
}

fn decode(bytes: &[u8]) -> Option<Fields> {
    let event: SignalEvent = events::read(bytes)?;
    let mut fields = Fields::new();
    fields.insert("signal".into(), json!(names::signal(i64::from(event.sig))));
    if event.target_pid != 0 {
        fields.insert("target_pid".into(), json!(event.target_pid));
        fields.insert("target_tid".into(), json!(event.target_tid));
        fields.insert(
            "target_comm".into(),
            json!(events::text(&event.target_comm)),
        );
    }
    if event.target_cgroup != 0 {
        fields.insert("target_cgroup".into(), json!(event.target_cgroup));
    }
    fields.insert(
        "scope".into(),
        json!(if event.group != 0 {
            "process"
        } else {
            "thread"
        }),
    );
    fields.insert("code".into(), json!(code_name(event.sig, event.code)));
    if event.errno != 0 {
        fields.insert("errno".into(), json!(names::errno(i64::from(event.errno))));
    }
    fields.insert("result".into(), json!(result_name(event.result)));
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_origins() {
        assert_eq!(code_name(libc::SIGUSR1, 0), "SI_USER");
        assert_eq!(code_name(libc::SIGKILL, 0x80), "SI_KERNEL");
        assert_eq!(code_name(libc::SIGUSR1, -6), "SI_TKILL");
        assert_eq!(code_name(libc::SIGCHLD, 1), "CLD_EXITED");
        assert_eq!(code_name(libc::SIGSEGV, 2), "SEGV_ACCERR");
        assert_eq!(code_name(libc::SIGUSR1, 3), "code 3");
        assert_eq!(code_name(libc::SIGCHLD, 99), "code 99");
        assert_eq!(result_name(2), "already_pending");
    }

    #[test]
    fn finds_siginfo_fields_inside_the_anonymous_struct() {
        let btf = Btf::from_sys_fs().expect("these machines have BTF");
        let code = btf.member("kernel_siginfo", &["si_code"]).expect("si_code");
        assert_eq!(code.offset, 8);
        assert_eq!(siginfo_offsets(), (4, 8));
    }
}
