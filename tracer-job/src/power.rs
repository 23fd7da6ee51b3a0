//! The node's energy use, where the CPU packages report it through RAPL counters
//! (`/sys/class/powercap/intel-rapl:N/energy_uj`; AMD's packages use the same names),
//! and how busy its CPUs were meanwhile (`/proc/stat`), for estimating a process's
//! share of that energy. Many machines, virtual ones especially, have no RAPL counters:
//! then there is no reading and no estimate.

use std::{fs, path::PathBuf};

const POWERCAP: &str = "/sys/class/powercap";

/// What the node used since the meter started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub energy_uj: u64,
    /// CPU time spent on anything but idle and I/O wait, over all CPUs.
    pub busy_ns: u64,
}

/// One package's counter: where it is, its wrap-around range, and the last value read.
struct Package {
    energy: PathBuf,
    range_uj: u64,
    last_uj: u64,
}

pub struct Meter {
    packages: Vec<Package>,
    energy_uj: u64,
    busy_start_ns: u64,
}

impl Meter {
    /// Starts measuring, or `None` when the node has no readable RAPL package counter.
    pub fn start() -> Option<Meter> {
        let mut packages = Vec::new();
        for entry in fs::read_dir(POWERCAP).ok()?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Packages only (`intel-rapl:0`): their subzones (`intel-rapl:0:0`, cores,
            // dram) are inside the package's figure already.
            if !name.starts_with("intel-rapl:") || name.matches(':').count() != 1 {
                continue;
            }
            let energy = entry.path().join("energy_uj");
            let Some(last_uj) = read_u64(&energy) else {
                continue;
            };
            let range_uj = read_u64(&entry.path().join("max_energy_range_uj")).unwrap_or(0);
            packages.push(Package {
                energy,
                range_uj,
                last_uj,
            });
        }
        if packages.is_empty() {
            return None;
        }
        Some(Meter {
            packages,
            energy_uj: 0,
            busy_start_ns: busy_ns()?,
        })
    }

    /// The energy and busy time since `start`.
    pub fn read(&mut self) -> Option<Reading> {
        for package in &mut self.packages {
            let Some(now) = read_u64(&package.energy) else {
                continue;
            };
            let used = if now >= package.last_uj {
                now - package.last_uj
            } else {
                // The counter wrapped.
                package
                    .range_uj
                    .saturating_sub(package.last_uj)
                    .saturating_add(now)
            };
            package.last_uj = now;
            self.energy_uj = self.energy_uj.saturating_add(used);
        }
        Some(Reading {
            energy_uj: self.energy_uj,
            busy_ns: busy_ns()?.saturating_sub(self.busy_start_ns),
        })
    }
}

fn read_u64(path: &std::path::Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Busy CPU time of the whole node since boot, from the `cpu` line of /proc/stat.
fn busy_ns() -> Option<u64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    busy_ns_in(&stat, u64::try_from(ticks_per_second).ok()?)
}

fn busy_ns_in(stat: &str, ticks_per_second: u64) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map_while(|field| field.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(index, _)| *index != 3 && *index != 4)
        .map(|(_, value)| *value)
        .sum();
    if ticks_per_second == 0 {
        return None;
    }
    Some(busy.saturating_mul(1_000_000_000 / ticks_per_second))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_leaves_idle_and_iowait_out() {
        let stat = "cpu  100 5 50 1000 20 3 2 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        // 100 + 5 + 50 + 3 + 2 + 0 ticks at 100 Hz.
        assert_eq!(busy_ns_in(stat, 100), Some(160 * 10_000_000));
        assert_eq!(busy_ns_in("intr 1 2", 100), None);
    }

    #[test]
    fn no_meter_without_rapl() {
        if !std::path::Path::new(POWERCAP).exists() {
            assert!(Meter::start().is_none());
        }
    }
}
