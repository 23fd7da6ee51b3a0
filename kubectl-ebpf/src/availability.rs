//! Whether this machine's kernel has the hooks a probe attaches to, read from tracefs.
//! The plugin never loads anything: a hook is there when tracefs lists its tracepoint.
//! On a cluster, each node's tracer checks for itself and reports what it lacks.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::catalogue::ProbeInfo;

/// Where tracefs is mounted, newest convention first.
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Availability {
    /// Every hook exists here.
    Available,
    /// These hooks do not exist here.
    Missing { hooks: Vec<String> },
    /// This machine cannot tell (no tracefs, or not readable without root).
    Unknown { why: String },
}

impl Availability {
    pub fn short(&self) -> &'static str {
        match self {
            Availability::Available => "yes",
            Availability::Missing { .. } => "no",
            Availability::Unknown { .. } => "unknown",
        }
    }
}

/// Checks a probe against the local tracefs.
pub fn check(probe: &ProbeInfo) -> Availability {
    match events_dir() {
        Ok(events) => check_in(&events, probe),
        Err(why) => Availability::Unknown { why },
    }
}

/// Checks a probe against a tracefs `events` directory.
pub fn check_in(events: &Path, probe: &ProbeInfo) -> Availability {
    let missing: Vec<String> = probe
        .hooks
        .iter()
        .filter(|hook| {
            let (category, name) = hook.split_once(':').unwrap_or(("", hook));
            !events.join(category).join(name).is_dir()
        })
        .map(|hook| (*hook).to_owned())
        .collect();
    if missing.is_empty() {
        Availability::Available
    } else {
        Availability::Missing { hooks: missing }
    }
}

fn events_dir() -> Result<PathBuf, String> {
    if !cfg!(target_os = "linux") {
        return Err("not a Linux machine; each node's tracer checks for itself".to_owned());
    }
    for root in TRACEFS {
        let events = Path::new(root).join("events");
        match std::fs::read_dir(&events) {
            Ok(_) => return Ok(events),
            Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(format!("{} is readable by root only", events.display()));
            }
            Err(_) => {}
        }
    }
    Err("tracefs is not mounted here".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{self, Kind};

    #[test]
    fn names_the_missing_hooks() {
        let dir = std::env::temp_dir().join(format!("kubectl-ebpf-tracefs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sched/sched_switch")).expect("create");
        let probe = ProbeInfo {
            name: "p",
            kind: Kind::Events,
            summary: "",
            hooks: &["sched:sched_switch", "sock:inet_sock_set_state"],
            fields: &[],
        };
        assert_eq!(
            check_in(&dir, &probe),
            Availability::Missing {
                hooks: vec!["sock:inet_sock_set_state".into()]
            }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_catalogue_hook_is_category_and_name() {
        for probe in catalogue::PROBES {
            assert!(!probe.hooks.is_empty(), "{} has no hooks", probe.name);
            for hook in probe.hooks {
                assert!(hook.split_once(':').is_some(), "{}: {hook}", probe.name);
            }
        }
    }
}
