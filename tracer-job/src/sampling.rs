//! When a sampled trace has the kernel count eBPF run time.
//!
//! Counting is a node-wide switch: while it is on, every eBPF program run on the node,
//! ours and anyone else's, reads the clock twice more. So by default a trace counts for
//! the first `WINDOW` after attaching, then for one `WINDOW` in every following `PERIOD`,
//! and scales what was counted up to the whole trace. Each window starts at a random
//! moment of its period, so a load that comes and goes with the period is neither always
//! met nor always missed.

use std::time::{Duration, Instant};

/// How long each window of counting lasts.
pub const WINDOW: Duration = Duration::from_millis(100);

/// One window in every period: counting is on a tenth of the time.
pub const PERIOD: Duration = Duration::from_secs(1);

/// What the schedule asks of the switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
}

/// The windows of one trace, from the moment it attached.
pub struct Schedule {
    start: Instant,
    on: bool,
    next: Instant,
    random: u64,
}

impl Schedule {
    /// Counting is on from `start` for the first window; `seed` places the later ones.
    pub fn new(start: Instant, seed: u64) -> Self {
        Schedule {
            start,
            on: true,
            next: start + WINDOW,
            // xorshift must not start from zero, or it stays there.
            random: seed | 1,
        }
    }

    /// When the first window opened.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// When the next switch is due.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// The switch due at `now`, if any; the schedule moves past it. A window that starts
    /// late (the tracer was busy) still lasts `WINDOW`; the next one falls in the period
    /// after the one `now` is in.
    pub fn due(&mut self, now: Instant) -> Option<Switch> {
        if now < self.next {
            return None;
        }
        if self.on {
            self.on = false;
            let periods_done = now.duration_since(self.start).as_nanos() / PERIOD.as_nanos();
            let next_period = u32::try_from(periods_done + 1).unwrap_or(u32::MAX);
            let slack = (PERIOD - WINDOW).as_nanos() as u64;
            let offset = Duration::from_nanos(self.random() % (slack + 1));
            self.next = self.start + PERIOD * next_period + offset;
            Some(Switch::Off)
        } else {
            self.on = true;
            self.next = now + WINDOW;
            Some(Switch::On)
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64: plenty to place a window, and no dependency for it.
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        self.random
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the schedule over `length`, switching exactly when due; the time it was on.
    fn counted_over(seed: u64, length: Duration) -> Duration {
        let start = Instant::now();
        let end = start + length;
        let mut schedule = Schedule::new(start, seed);
        let mut on_since = Some(start);
        let mut counted = Duration::ZERO;
        while schedule.next() < end {
            let now = schedule.next();
            match schedule.due(now) {
                Some(Switch::Off) => counted += now - on_since.take().expect("was on"),
                Some(Switch::On) => {
                    assert!(on_since.is_none(), "switched on twice");
                    on_since = Some(now);
                }
                None => panic!("nothing due at the time it said"),
            }
        }
        counted + on_since.map_or(Duration::ZERO, |since| end - since)
    }

    #[test]
    fn it_counts_the_first_window_then_one_in_every_period() {
        let start = Instant::now();
        let mut schedule = Schedule::new(start, 7);
        assert_eq!(schedule.due(start), None);
        assert_eq!(schedule.next(), start + WINDOW);
        assert_eq!(schedule.due(start + WINDOW), Some(Switch::Off));
        for period in 1..50u32 {
            let on = schedule.next();
            assert!(
                on >= start + PERIOD * period,
                "period {period} started early"
            );
            assert!(
                on + WINDOW <= start + PERIOD * (period + 1),
                "period {period}'s window spills into the next"
            );
            assert_eq!(schedule.due(on), Some(Switch::On));
            assert_eq!(schedule.next(), on + WINDOW);
            assert_eq!(schedule.due(on + WINDOW), Some(Switch::Off));
        }
    }

    #[test]
    fn a_tenth_of_the_time_is_counted() {
        let counted = counted_over(12345, Duration::from_secs(100));
        assert_eq!(counted, WINDOW * 100);
    }

    #[test]
    fn windows_start_at_different_moments() {
        let start = Instant::now();
        let mut schedule = Schedule::new(start, 99);
        let mut offsets = std::collections::BTreeSet::new();
        schedule.due(start + WINDOW);
        for period in 1..20u32 {
            let on = schedule.next();
            offsets.insert(on - (start + PERIOD * period));
            schedule.due(on);
            schedule.due(on + WINDOW);
        }
        assert!(offsets.len() > 15, "{offsets:?}");
    }

    #[test]
    fn a_late_tracer_keeps_whole_windows_and_skips_the_periods_it_missed() {
        let start = Instant::now();
        let mut schedule = Schedule::new(start, 3);
        // Busy until well into the third period: the first window ends late, and the
        // next one falls in the period after.
        let late = start + PERIOD * 2 + Duration::from_millis(500);
        assert_eq!(schedule.due(late), Some(Switch::Off));
        assert!(
            schedule.next() >= start + PERIOD * 3,
            "{:?}",
            schedule.next() - start
        );
        let on_late = schedule.next() + Duration::from_millis(30);
        assert_eq!(schedule.due(on_late), Some(Switch::On));
        assert_eq!(schedule.next(), on_late + WINDOW);
    }
}
