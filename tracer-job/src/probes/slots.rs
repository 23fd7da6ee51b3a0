//! How many entries a map of what the node's threads have in flight (a syscall, a wait
//! for a CPU, a block request, a sleep) gets.
//!
//! The kernel preallocates these maps when it creates them: 65,536 entries took it about
//! 2.5 ms and 5 MiB, most of a probe's time to attach. So they are sized to the node:
//! twice the threads it runs now, and never fewer than 4,096 or 256 per CPU (an LRU map
//! hands its free entries to each CPU in batches), up to the most the probe object
//! declares. On a node that outgrows that, an LRU map drops its oldest entries, which
//! only leaves those waits unmeasured, and `open`'s plain map counts the opens it had no
//! room for as lost.

/// The fewest entries a map gets.
const FLOOR: u32 = 4_096;
/// Entries per possible CPU that a map gets at least.
const PER_CPU: u32 = 256;

/// Entries for a map of things in flight, at most `most`.
pub fn in_flight(most: u32) -> u32 {
    let threads = threads_now().unwrap_or(u32::MAX / 2);
    let cpus = aya::util::nr_cpus().map_or(u32::MAX, |n| n.get());
    entries(threads, cpus, most)
}

fn entries(threads: u32, cpus: u32, most: u32) -> u32 {
    threads
        .saturating_mul(2)
        .max(FLOOR)
        .max(cpus.saturating_mul(PER_CPU))
        .checked_next_power_of_two()
        .unwrap_or(most)
        .min(most)
}

/// The threads on the node, from the kernel's count in `/proc/loadavg` (the number after
/// the slash).
fn threads_now() -> Option<u32> {
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    threads_in(&loadavg)
}

fn threads_in(loadavg: &str) -> Option<u32> {
    let (_, total) = loadavg.split_whitespace().nth(3)?.split_once('/')?;
    total.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_thread_count_of_loadavg() {
        assert_eq!(threads_in("0.19 0.15 0.54 2/88 879\n"), Some(88));
        assert_eq!(threads_in("0.19 0.15 0.54\n"), None);
        assert_eq!(threads_in("0.19 0.15 0.54 2-88 879\n"), None);
    }

    #[test]
    fn gives_twice_the_threads_within_the_floor_and_the_most() {
        assert_eq!(entries(88, 2, 65_536), 4_096);
        assert_eq!(entries(3_000, 2, 65_536), 8_192);
        assert_eq!(entries(88, 64, 65_536), 16_384);
        assert_eq!(entries(100_000, 2, 65_536), 65_536);
        assert_eq!(entries(88, 2, 2_048), 2_048);
        assert_eq!(entries(u32::MAX / 2, u32::MAX, 65_536), 65_536);
    }
}
