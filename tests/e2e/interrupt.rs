//! Nothing left behind: a cluster trace interrupted at a random moment, once each way
//! (none, Ctrl-C, SIGTERM, SIGKILL of the plugin, SIGKILL of
//! its tracers), leaves no Job
//! or pod once the plugin exits (when it lives to clean up) or once the Jobs' deadline
//! and TTL have passed (when it does not). `interrupt-trials` runs a hundred of these.

use std::time::{SystemTime, UNIX_EPOCH};

use e2e::trials::{Interruption, Trials};

#[test]
fn a_trace_interrupted_each_way_at_a_random_moment_leaves_nothing() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |t| t.as_nanos() as u64);
    let mut trials = Trials::start(seed);
    for interruption in Interruption::ALL {
        let trial = trials.run(interruption);
        assert!(
            trial.fault().is_none(),
            "seed {seed}: {} at {} ms: {:?}",
            interruption.name(),
            trial.after_ms,
            trial
        );
    }
}
