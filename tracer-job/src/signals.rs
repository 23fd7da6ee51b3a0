//! Waiting for SIGINT/SIGTERM without a handler: the signals are blocked and read from a
//! signalfd, so a stop request is never lost between two checks, and one `poll` waits for
//! a signal and for probe events together.

use std::{mem::MaybeUninit, os::fd::RawFd, time::Duration};

pub struct StopSignals {
    set: libc::sigset_t,
    /// A signalfd for the set, or -1 when none could be made (then `sigtimedwait`).
    fd: RawFd,
}

/// Why `wait` returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// A stop signal, by name.
    Signal(&'static str),
    /// One of the watched descriptors has data.
    Ready,
    /// The timeout passed.
    Timeout,
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
            // cannot fire while blocked) so the signalfd sees it.
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            set
        };
        // SAFETY: a valid set; the flags are plain.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        StopSignals { set, fd }
    }

    /// Waits up to `timeout` for a stop signal or for data on one of `fds`.
    pub fn wait(&self, timeout: Duration, fds: &[RawFd]) -> Wake {
        if self.fd < 0 {
            return self.wait_signal_only(timeout);
        }
        let mut polled: Vec<libc::pollfd> = std::iter::once(self.fd)
            .chain(fds.iter().copied())
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // Rounded up: a remainder under a millisecond must not become a busy poll.
        let millis = i32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        // SAFETY: `polled` is a valid array of `polled.len()` entries.
        let ready =
            unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, millis) };
        if ready <= 0 {
            return Wake::Timeout;
        }
        if polled[0].revents & libc::POLLIN != 0
            && let Some(signal) = self.read_signal()
        {
            return Wake::Signal(signal);
        }
        if polled[1..].iter().any(|fd| fd.revents != 0) {
            Wake::Ready
        } else {
            Wake::Timeout
        }
    }

    fn read_signal(&self) -> Option<&'static str> {
        let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
        let size = size_of::<libc::signalfd_siginfo>();
        // SAFETY: reads at most `size` bytes into `info`.
        let read = unsafe { libc::read(self.fd, info.as_mut_ptr().cast(), size) };
        if read != size as isize {
            return None;
        }
        // SAFETY: the kernel filled the whole struct.
        name(unsafe { info.assume_init() }.ssi_signo as i32)
    }

    fn wait_signal_only(&self, timeout: Duration) -> Wake {
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: valid set and timeout; no siginfo wanted.
        let signal = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &timeout) };
        name(signal).map_or(Wake::Timeout, Wake::Signal)
    }
}

fn name(signal: i32) -> Option<&'static str> {
    match signal {
        libc::SIGINT => Some("SIGINT"),
        libc::SIGTERM => Some("SIGTERM"),
        _ => None,
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        if self.fd >= 0 {
            // SAFETY: our own descriptor, closed once.
            unsafe { libc::close(self.fd) };
        }
    }
}
