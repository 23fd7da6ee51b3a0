//! A process that does one process-level thing the tests can watch: exit, die of a
//! signal, open files, send a signal, or use memory until it is killed.
//!
//! proc-workload exit CODE [AFTER_MS]     exits with CODE, after AFTER_MS milliseconds
//! proc-workload exit-threads CODE N      starts N threads; one of them exits the process
//! proc-workload raise SIGNAL             sends itself SIGNAL (a number)
//! proc-workload sleep                    prints `ready`, then sleeps until killed
//! proc-workload open PATH...             opens each read-only; prints `fd N` or `errno N`
//! proc-workload create PATH              creates (truncates) PATH for writing; prints as open
//! proc-workload open-mapped FILE         opens the path written in FILE, NUL-terminated,
//!                                        read through a fresh mapping of FILE that nothing
//!                                        has touched yet; prints as open
//! proc-workload kill PID SIGNAL          sends SIGNAL to PID; prints `sent` or `errno N`
//! proc-workload hog                      prints `ready`, waits for a line on stdin, then
//!                                        allocates and touches memory until it is killed

use std::{
    ffi::CString,
    fs::File,
    io::{BufRead, Write},
    os::{fd::IntoRawFd, unix::ffi::OsStrExt},
    time::Duration,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["exit", code] => std::process::exit(number(code)),
        ["exit", code, after_ms] => {
            std::thread::sleep(Duration::from_millis(number(after_ms)));
            std::process::exit(number(code))
        }
        ["exit-threads", code, threads] => exit_from_a_thread(number(code), number(threads)),
        ["raise", signal] => {
            // SAFETY: signalling this process.
            unsafe { libc::kill(libc::getpid(), number(signal)) };
            // A signal whose action is to ignore would end up here.
            std::process::exit(100)
        }
        ["sleep"] => {
            say("ready");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        ["open", paths @ ..] if !paths.is_empty() => {
            for path in paths {
                say(&outcome(File::open(path)));
            }
        }
        ["create", path] => say(&outcome(File::create(path))),
        ["open-mapped", file] => say(&open_mapped(file)),
        ["kill", pid, signal] => {
            // SAFETY: kill has no memory preconditions.
            let sent = unsafe { libc::kill(number(pid), number(signal)) };
            if sent == 0 {
                say("sent");
            } else {
                say(&format!("errno {}", errno()));
            }
        }
        ["hog"] => hog(),
        _ => {
            eprintln!("usage: see the comment at the top of tests/src/bin/proc_workload.rs");
            std::process::exit(2)
        }
    }
}

fn number<T: std::str::FromStr>(text: &str) -> T {
    text.parse().unwrap_or_else(|_| {
        eprintln!("not a number: {text}");
        std::process::exit(2)
    })
}

fn say(line: &str) {
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `fd N` (the file stays open until the process ends) or `errno N`.
fn outcome(result: std::io::Result<File>) -> String {
    match result {
        Ok(file) => format!("fd {}", file.into_raw_fd()),
        Err(err) => format!("errno {}", err.raw_os_error().unwrap_or(0)),
    }
}

fn exit_from_a_thread(code: i32, threads: usize) -> ! {
    for index in 0..threads {
        std::thread::spawn(move || {
            if index == threads - 1 {
                // Let the others start first, so they are there to be ended.
                std::thread::sleep(Duration::from_millis(50));
                std::process::exit(code);
            }
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        });
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Opens a path the kernel can read but a probe at syscall entry cannot: it lies in a
/// page of a private file mapping that has never been touched, so it is not mapped yet.
fn open_mapped(file: &str) -> String {
    let Ok(name) = CString::new(std::path::Path::new(file).as_os_str().as_bytes()) else {
        return "bad file name".to_owned();
    };
    // SAFETY: plain syscalls on a path we own; the mapping is only read by the kernel.
    unsafe {
        let fd = libc::open(name.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return format!("errno {}", errno());
        }
        let map = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            fd,
            0,
        );
        if map == libc::MAP_FAILED {
            return format!("errno {}", errno());
        }
        let opened = libc::open(map.cast(), libc::O_RDONLY);
        if opened < 0 {
            format!("errno {}", errno())
        } else {
            format!("fd {opened}")
        }
    }
}

fn hog() -> ! {
    say("ready");
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    const CHUNK: usize = 1 << 20;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        // Touch every page so it is really charged, not just reserved.
        for page in chunk.iter_mut().step_by(4096) {
            *page = 1;
        }
        chunks.push(std::hint::black_box(chunk));
    }
}
