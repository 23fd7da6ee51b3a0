//! A process that keeps CPUs busy, or sleeps, when told to: the workload of the
//! scheduler probes.
//!
//! `sched-workload spin THREADS MILLIS`: THREADS threads each spin until they have used
//! MILLIS of CPU time (their own clock, so a busy machine only makes it take longer).
//! `sched-workload sleep COUNT MICROS`: one thread sleeps COUNT times for MICROS each,
//! each sleep ending in one wakeup.
//!
//! Both print `ready`, wait for a line on stdin, do their work, print `done`, then wait
//! for stdin to close and exit.

use std::{
    io::{BufRead, Write},
    time::Duration,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |index: usize| -> u64 {
        args.get(index)
            .and_then(|arg| arg.parse().ok())
            .unwrap_or_else(|| usage())
    };
    let work: Box<dyn FnOnce()> = match args.first().map(String::as_str) {
        Some("spin") => {
            let (threads, millis) = (number(1), number(2));
            Box::new(move || spin(threads, Duration::from_millis(millis)))
        }
        Some("sleep") => {
            let (count, micros) = (number(1), number(2));
            Box::new(move || {
                for _ in 0..count {
                    std::thread::sleep(Duration::from_micros(micros));
                }
            })
        }
        _ => usage(),
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    work();
    let _ = writeln!(stdout, "done");
    let _ = stdout.flush();
    while std::io::stdin()
        .lock()
        .read_line(&mut line)
        .is_ok_and(|n| n > 0)
    {}
}

fn spin(threads: u64, cpu_time: Duration) {
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let mut x: u64 = 1;
                while thread_cpu_time() < cpu_time {
                    for _ in 0..10_000 {
                        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005) + 1);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn usage() -> ! {
    eprintln!("usage: sched-workload spin THREADS MILLIS | sleep COUNT MICROS");
    std::process::exit(2)
}
