//! Waiting for SIGINT/SIGTERM without a handler: the signals are blocked and collected
//! with `sigtimedwait`, so a stop request is never lost between two checks.

use std::{mem::MaybeUninit, time::Duration};

pub struct StopSignals {
    set: libc::sigset_t,
}

impl StopSignals {
    /// Blocks SIGINT and SIGTERM for this (single-threaded) process.
    pub fn block() -> Self {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `sigemptyset` initializes the set before it is read.
        let set = unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            let mut set = set.assume_init();
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            // An ignored signal is discarded even while blocked, and background jobs of a
            // non-interactive shell start with SIGINT ignored: restore the default (which
            // cannot fire while blocked) so `sigtimedwait` sees it.
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            set
        };
        StopSignals { set }
    }

    /// Waits up to `timeout`; returns the signal's name if one arrived.
    pub fn wait(&self, timeout: Duration) -> Option<&'static str> {
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: valid set and timeout; no siginfo wanted.
        let signal = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &timeout) };
        match signal {
            libc::SIGINT => Some("SIGINT"),
            libc::SIGTERM => Some("SIGTERM"),
            _ => None,
        }
    }
}
