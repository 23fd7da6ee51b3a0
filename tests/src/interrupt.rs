//! Stopping a tracer as Ctrl-C would, without hanging on one that missed the signal.

use std::{
    process::{Child, ExitStatus},
    time::{Duration, Instant},
};

/// How long a tracer gets to exit after each SIGINT before it is sent another.
const GRACE: Duration = Duration::from_secs(10);

/// Sends SIGINT and waits for the exit. A signal that lands while the process is still
/// setting itself up can go unnoticed (bpftrace, now and then), so it is sent again
/// after each `GRACE`; after three tries the process is killed.
pub fn interrupt(child: &mut Child) -> ExitStatus {
    for _ in 0..3 {
        // SAFETY: signalling our own child, which has not been reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let sent = Instant::now();
        while sent.elapsed() < GRACE {
            match child.try_wait() {
                Ok(Some(status)) => return status,
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(err) => panic!("wait for {}: {err}", child.id()),
            }
        }
        eprint!(" (pid {} ignored SIGINT; sending it again)", child.id());
    }
    let _ = child.kill();
    child.wait().expect("reap a killed child")
}
