//! The profiler's workload: known functions that use known shares of a CPU.
//!
//! `profile-workload spin MILLIS`: for MILLIS of wall time, rounds of `hot_long` then
//! `hot_short`, the first doing twice the work of the second, both called from `spin`;
//! after `done` it prints `rounds N`, the work it did in units of the shortest round
//! (for benchmarks). Rounds vary in length (1 to 4 units, a fixed pseudo-random
//! sequence) so that they never beat in step with a fixed sampling frequency, which
//! would credit one function with more than its share.
//! `profile-workload read MILLIS`: for MILLIS, reads of /dev/zero (time in the kernel).
//! `profile-workload sleep MILLIS`: for MILLIS, `sleepy` sleeps 10 ms at a time (time
//! off the CPU).
//! `profile-workload branches MILLIS`: for MILLIS, walks down `LEVELS` levels of `left`
//! and `right` to `leaf` by every path in turn: thousands of distinct stacks.
//!
//! Both print `ready`, wait for a line on stdin, work, print `done`, then wait for stdin
//! to close and exit. The hot functions are never inlined, so they keep their frames.
//!
//! With `--after FILE` (for pods, which have no stdin), they wait until FILE exists
//! instead of for a line, and after `done` sleep until killed.

use std::{
    hint::black_box,
    io::{BufRead, Read, Write},
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// Iterations of `hot_short` per unit of a round; `hot_long` does twice as many.
const ROUND: u64 = 200_000;

/// Units of work `spin` did.
static ROUNDS: AtomicU64 = AtomicU64::new(0);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let millis: u64 = args
        .get(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or_else(|| usage());
    let until = Duration::from_millis(millis);
    let work: fn(Duration) = match args.first().map(String::as_str) {
        Some("spin") => spin,
        Some("read") => read_zero,
        Some("sleep") => sleepy,
        Some("branches") => branches,
        _ => usage(),
    };
    let trigger = match (args.get(2).map(String::as_str), args.get(3)) {
        (None, _) => None,
        (Some("--after"), Some(file)) => Some(PathBuf::from(file)),
        _ => usage(),
    };
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    let mut line = String::new();
    match &trigger {
        Some(file) => {
            while !file.exists() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        None => {
            let _ = std::io::stdin().lock().read_line(&mut line);
        }
    }
    work(until);
    let _ = writeln!(stdout, "done");
    let rounds = ROUNDS.load(Ordering::Relaxed);
    if rounds > 0 {
        let _ = writeln!(stdout, "rounds {rounds}");
    }
    let _ = stdout.flush();
    if trigger.is_some() {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    while std::io::stdin()
        .lock()
        .read_line(&mut line)
        .is_ok_and(|n| n > 0)
    {}
}

#[inline(never)]
fn spin(until: Duration) {
    let started = Instant::now();
    let mut x = 1u64;
    let mut units_done = 0;
    let mut lengths = 0x9e37_79b9_7f4a_7c15_u64;
    while started.elapsed() < until {
        // xorshift: the same sequence every run, so runs do comparable work.
        lengths ^= lengths << 13;
        lengths ^= lengths >> 7;
        lengths ^= lengths << 17;
        let units = 1 + lengths % 4;
        x = hot_long(x, units);
        x = hot_short(x, units);
        units_done += units;
    }
    ROUNDS.store(units_done, Ordering::Relaxed);
    black_box(x);
}

#[inline(never)]
fn hot_long(seed: u64, units: u64) -> u64 {
    let mut x = seed;
    for _ in 0..2 * ROUND * units {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
    x
}

#[inline(never)]
fn hot_short(seed: u64, units: u64) -> u64 {
    let mut x = seed;
    for _ in 0..ROUND * units {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
    x
}

#[inline(never)]
fn read_zero(until: Duration) {
    let started = Instant::now();
    let mut zero = std::fs::File::open("/dev/zero").unwrap_or_else(|err| {
        eprintln!("open /dev/zero: {err}");
        std::process::exit(1)
    });
    let mut buffer = vec![0u8; 1 << 20];
    while started.elapsed() < until {
        if zero.read_exact(&mut buffer).is_err() {
            break;
        }
    }
    black_box(&buffer);
}

#[inline(never)]
fn sleepy(until: Duration) {
    let started = Instant::now();
    while started.elapsed() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Levels of `branches`: 2^11 = 2,048 paths from the top to a leaf.
const LEVELS: u32 = 11;

#[inline(never)]
fn branches(until: Duration) {
    let started = Instant::now();
    let mut path = 0u64;
    let mut x = 1u64;
    while started.elapsed() < until {
        x = step(LEVELS, path, x);
        path = path.wrapping_add(1);
    }
    black_box(x);
}

/// Goes down `left` or `right` by the path's lowest bit; at the bottom, `leaf`. The
/// result goes through `black_box` after each call, so no call becomes a jump and every
/// level keeps its frame.
#[inline(never)]
fn step(depth: u32, path: u64, x: u64) -> u64 {
    if depth == 0 {
        return black_box(leaf(x));
    }
    let y = if path & 1 == 0 {
        left(depth - 1, path >> 1, x)
    } else {
        right(depth - 1, path >> 1, x)
    };
    black_box(y)
}

#[inline(never)]
fn left(depth: u32, path: u64, x: u64) -> u64 {
    black_box(step(depth, path, x)) ^ 1
}

#[inline(never)]
fn right(depth: u32, path: u64, x: u64) -> u64 {
    black_box(step(depth, path, x)) ^ 2
}

#[inline(never)]
fn leaf(seed: u64) -> u64 {
    let mut x = seed;
    for _ in 0..2_000 {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
    x
}

fn usage() -> ! {
    eprintln!("usage: profile-workload spin|read|sleep|branches MILLIS [--after FILE]");
    std::process::exit(2)
}
