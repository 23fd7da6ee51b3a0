//! A process that makes an exact number of `getppid` syscalls when told to.
//!
//! `syscall-workload COUNT`: prints `ready`, waits for a line on stdin, makes COUNT
//! getppid calls, prints `done`, then waits for stdin to close and exits.
//!
//! `syscall-workload COUNT --after FILE [--exec PROGRAM]`: for pods, which have no stdin:
//! prints `ready`, waits until FILE exists, makes COUNT getppid calls, runs PROGRAM once
//! (when given) and waits for it, prints `done`, then sleeps until it is killed.
//!
//! `syscall-workload COUNT --failing-opens N`: as the first, and after the getppid calls
//! makes N openat calls of a path that does not exist, each failing with ENOENT.

use std::{
    io::{BufRead, Write},
    path::PathBuf,
    time::Duration,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: u64 = args
        .first()
        .and_then(|arg| arg.parse().ok())
        .unwrap_or_else(|| usage());
    let mut failing_opens: u64 = 0;
    let trigger = match args.get(1).map(String::as_str) {
        None => None,
        Some("--after") => Some(PathBuf::from(args.get(2).unwrap_or_else(|| usage()))),
        Some("--failing-opens") => {
            failing_opens = args
                .get(2)
                .and_then(|arg| arg.parse().ok())
                .unwrap_or_else(|| usage());
            None
        }
        Some(_) => usage(),
    };
    let program = match args.get(3).map(String::as_str) {
        None => None,
        Some("--exec") if trigger.is_some() => Some(args.get(4).unwrap_or_else(|| usage()).clone()),
        Some(_) => usage(),
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    match &trigger {
        Some(file) => {
            while !file.exists() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        None => {
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
        }
    }
    for _ in 0..count {
        // SAFETY: getppid has no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    if let Some(program) = program {
        let ran = std::process::Command::new(&program).status();
        if !ran.as_ref().is_ok_and(|status| status.success()) {
            eprintln!("{program} did not run: {ran:?}");
        }
    }
    let missing = c"/nonexistent/kubectl-ebpf-workload-missing";
    for _ in 0..failing_opens {
        // SAFETY: a NUL-terminated path; the call fails without side effects.
        unsafe {
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                missing.as_ptr(),
                libc::O_RDONLY,
            )
        };
    }
    let _ = writeln!(stdout, "done");
    let _ = stdout.flush();
    match trigger {
        Some(_) => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        None => {
            let mut line = String::new();
            while std::io::stdin()
                .lock()
                .read_line(&mut line)
                .is_ok_and(|n| n > 0)
            {}
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: syscall-workload COUNT [--after FILE [--exec PROGRAM] | --failing-opens N]");
    std::process::exit(2)
}
