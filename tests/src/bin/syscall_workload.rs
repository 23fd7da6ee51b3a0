//! A process that makes an exact number of `getppid` syscalls when told to.
//!
//! `syscall-workload COUNT`: prints `ready`, waits for a line on stdin, makes COUNT
//! getppid calls, prints `done`, then waits for stdin to close and exits.
//!
//! `syscall-workload COUNT --after FILE`: for pods, which have no stdin: prints `ready`,
//! waits until FILE exists, makes COUNT getppid calls, prints `done`, then sleeps until
//! it is killed.

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
    let trigger = match args.get(1).map(String::as_str) {
        None => None,
        Some("--after") => Some(PathBuf::from(args.get(2).unwrap_or_else(|| usage()))),
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
    eprintln!("usage: syscall-workload COUNT [--after FILE]");
    std::process::exit(2)
}
