//! Waiting for SIGINT/SIGTERM without a handler: the signals are blocked and read from a
//! signalfd, so a stop request is never lost between two checks, and one epoll waits for
//! a signal and for probe events together.
//!
//! Event rings are watched edge-triggered. A ring reports readable whenever anything
//! waits in it, so a plain poll returned at once under any load and the tracer woke for
//! every handful of events; edge-triggered, it wakes only when the kernel wakes the ring's
//! waiters, which the probes do once a good amount waits (`ebpf/probes/src/events.rs`).
//! The rest is drained on a timer.

use std::{cell::RefCell, mem::MaybeUninit, os::fd::RawFd, time::Duration};

pub struct StopSignals {
    set: libc::sigset_t,
    /// A signalfd for the set, or -1 when none could be made (then `sigtimedwait`).
    fd: RawFd,
    /// An epoll holding `fd` and the event rings, or -1 when none could be made (then
    /// `poll`, which wakes more often).
    epoll: RawFd,
    /// The event rings added to `epoll` so far.
    watched: RefCell<Vec<RawFd>>,
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
        let epoll = if fd >= 0 { epoll_with(fd) } else { -1 };
        StopSignals {
            set,
            fd,
            epoll,
            watched: RefCell::new(Vec::new()),
        }
    }

    /// Waits up to `timeout` for a stop signal or for the kernel to wake the waiters of
    /// one of the event rings `fds`.
    pub fn wait(&self, timeout: Duration, fds: &[RawFd]) -> Wake {
        if self.fd < 0 {
            return self.wait_signal_only(timeout);
        }
        if self.epoll < 0 || !self.watch(fds) {
            return self.poll(timeout, fds);
        }
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
        // SAFETY: `events` has room for the count passed.
        let ready = unsafe {
            libc::epoll_wait(
                self.epoll,
                events.as_mut_ptr(),
                events.len() as i32,
                millis(timeout),
            )
        };
        let ready = &events[..usize::try_from(ready).unwrap_or(0)];
        let signalled = ready.iter().any(|event| event.u64 == self.fd as u64);
        if signalled && let Some(signal) = self.read_signal() {
            return Wake::Signal(signal);
        }
        if ready.iter().any(|event| event.u64 != self.fd as u64) {
            Wake::Ready
        } else {
            Wake::Timeout
        }
    }

    /// Adds the rings not yet in the epoll, edge-triggered; false when one cannot be.
    fn watch(&self, fds: &[RawFd]) -> bool {
        let mut watched = self.watched.borrow_mut();
        for &fd in fds {
            if watched.contains(&fd) {
                continue;
            }
            let mut event = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLET) as u32,
                u64: fd as u64,
            };
            // SAFETY: valid descriptors and event.
            if unsafe { libc::epoll_ctl(self.epoll, libc::EPOLL_CTL_ADD, fd, &mut event) } != 0 {
                return false;
            }
            watched.push(fd);
        }
        true
    }

    /// Waits with `poll`, which reports a ring readable whenever anything waits in it.
    fn poll(&self, timeout: Duration, fds: &[RawFd]) -> Wake {
        let mut polled: Vec<libc::pollfd> = std::iter::once(self.fd)
            .chain(fds.iter().copied())
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `polled` is a valid array of `polled.len()` entries.
        let ready = unsafe {
            libc::poll(
                polled.as_mut_ptr(),
                polled.len() as libc::nfds_t,
                millis(timeout),
            )
        };
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

/// A wait's timeout in milliseconds, rounded up: a remainder under a millisecond must not
/// become a busy wait.
fn millis(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
}

/// A new epoll watching the signalfd `fd`, or -1.
fn epoll_with(fd: RawFd) -> RawFd {
    // SAFETY: plain flags.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epoll < 0 {
        return -1;
    }
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: fd as u64,
    };
    // SAFETY: valid descriptors and event.
    if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) } != 0 {
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(epoll) };
        return -1;
    }
    epoll
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
        for fd in [self.epoll, self.fd] {
            if fd >= 0 {
                // SAFETY: our own descriptor, closed once.
                unsafe { libc::close(fd) };
            }
        }
    }
}
