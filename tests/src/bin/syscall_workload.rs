//! A process that makes an exact number of `getppid` syscalls when told to.
//!
//! `syscall-workload COUNT`: prints `ready`, waits for a line on stdin, makes COUNT
//! getppid calls, prints `done`, then waits for stdin to close and exits.

use std::io::{BufRead, Write};

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: syscall-workload COUNT");
            std::process::exit(2)
        });
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    let mut line = String::new();
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    let _ = stdin.lock().read_line(&mut line);
    for _ in 0..count {
        // SAFETY: getppid has no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    let _ = writeln!(stdout, "done");
    let _ = stdout.flush();
    while stdin.lock().read_line(&mut line).is_ok_and(|n| n > 0) {}
}
