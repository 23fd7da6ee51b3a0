//! The event sources a script may name: the built-in event probes, the fields their
//! events carry, and the kernel-side parameters they take.

use serde_json::{Map, Value};
use tracer_protocol::{EventFilter, ProbeSpec, names};

/// One built-in probe as a script source.
#[derive(Debug)]
pub struct Source {
    pub name: &'static str,
    /// The probe's own fields (beyond the common ones every event has).
    pub fields: &'static [&'static str],
}

/// Fields every event has.
pub const COMMON_FIELDS: &[&str] = &[
    "probe",
    "time",
    "pid",
    "tid",
    "comm",
    "cgroup",
    "node",
    "namespace",
    "pod",
    "container",
];

pub const SOURCES: &[Source] = &[
    Source {
        name: "exec",
        fields: &["ppid", "filename", "args", "args_truncated", "ret", "error"],
    },
    Source {
        name: "exit",
        fields: &["ppid", "code", "signal", "core_dumped", "lifetime_ns"],
    },
    Source {
        name: "open",
        fields: &[
            "syscall",
            "path",
            "path_unreadable",
            "path_read_at_exit",
            "dirfd",
            "flags",
            "ret",
            "error",
            "latency_ns",
        ],
    },
    Source {
        name: "signal",
        fields: &[
            "signal",
            "target_pid",
            "target_tid",
            "target_comm",
            "target_cgroup",
            "target_pod",
            "target_container",
            "scope",
            "code",
            "errno",
            "result",
        ],
    },
    Source {
        name: "oom-kill",
        fields: &[
            "trigger_pid",
            "trigger_comm",
            "cgroup_of",
            "trigger_cgroup",
            "total_vm_kb",
            "anon_rss_kb",
            "file_rss_kb",
            "shmem_rss_kb",
            "pgtables_kb",
            "uid",
            "oom_score_adj",
        ],
    },
    Source {
        name: "packet-drop",
        fields: &[
            "reason", "protocol", "src", "dst", "location", "netns", "by",
        ],
    },
    Source {
        name: "tcp-connect",
        fields: &["src", "dst", "latency_ns", "result", "state", "error"],
    },
    Source {
        name: "tcp-reset",
        fields: &["direction", "src", "dst", "state", "reason", "socket"],
    },
    Source {
        name: "tcp-life",
        fields: &[
            "direction",
            "src",
            "dst",
            "duration_ns",
            "tx_bytes",
            "rx_bytes",
            "close_state",
        ],
    },
    Source {
        name: "tcp-retransmit",
        fields: &["src", "dst", "state", "error"],
    },
];

/// The generic source: any tracepoint, `on("tracepoint:CATEGORY:NAME", ...)`. Its
/// fields are the tracepoint's own, known on the node from tracefs.
pub static TRACEPOINT: Source = Source {
    name: "tracepoint",
    fields: &["tracepoint"],
};

/// How a script names a tracepoint as a source.
pub const TRACEPOINT_PREFIX: &str = "tracepoint:";

/// The generic user-space source: `on("uprobe:/PATH:FUNCTION", ...)` at a function's
/// entry, `on("uretprobe:/PATH:FUNCTION", ...)` at its return.
pub static UPROBE: Source = Source {
    name: "uprobe",
    fields: &[
        "uprobe", "function", "arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "ret", "data",
    ],
};

/// Whether a source's fields are known only from its events (the generic ones).
pub fn is_generic(source: &Source) -> bool {
    std::ptr::eq(source, &TRACEPOINT) || std::ptr::eq(source, &UPROBE)
}

/// A built-in source by name, or the generic one for `tracepoint` events.
pub fn find(name: &str) -> Option<&'static Source> {
    if name == TRACEPOINT.name {
        return Some(&TRACEPOINT);
    }
    if name == UPROBE.name {
        return Some(&UPROBE);
    }
    SOURCES.iter().find(|source| source.name == name)
}

impl Source {
    /// Whether events of this source may carry `field`.
    pub fn has_field(&self, field: &str) -> bool {
        COMMON_FIELDS.contains(&field) || self.fields.contains(&field)
    }

    /// The probe to attach for this source, with its kernel-side filter.
    pub fn probe_spec(&self, filter: &EventFilter) -> Option<ProbeSpec> {
        let filter = filter.clone();
        Some(match self.name {
            "exec" => ProbeSpec::Exec { filter },
            "exit" => ProbeSpec::Exit { filter },
            "open" => ProbeSpec::Open { filter },
            "signal" => ProbeSpec::Signal { filter },
            "oom-kill" => ProbeSpec::OomKill {},
            "packet-drop" => ProbeSpec::PacketDrop { filter },
            "tcp-connect" => ProbeSpec::TcpConnect { filter },
            "tcp-reset" => ProbeSpec::TcpReset { filter },
            "tcp-life" => ProbeSpec::TcpLife { filter },
            "tcp-retransmit" => ProbeSpec::TcpRetransmit { filter },
            _ => return None,
        })
    }
}

/// Whether an event of `probe` passes `filter`: what the kernel checked for the probe's
/// loosest filter, checked again for one handler's own.
pub fn admits(filter: &EventFilter, probe: &str, fields: &Map<String, Value>) -> bool {
    if filter.is_none() {
        return true;
    }
    let number = |name: &str| fields.get(name).and_then(Value::as_i64);
    let text = |name: &str| fields.get(name).and_then(Value::as_str).unwrap_or("");
    if filter.min_latency_ns > 0
        && number("latency_ns").is_none_or(|ns| (ns as u64) < filter.min_latency_ns)
    {
        return false;
    }
    if filter.failed {
        let failed = match probe {
            "tcp-connect" => text("result") != "connected",
            "exit" => number("code").is_none_or(|code| code != 0),
            _ => number("ret").is_some_and(|ret| ret < 0),
        };
        if !failed {
            return false;
        }
    }
    let path = if probe == "exec" { "filename" } else { "path" };
    if !filter.path_prefix.is_empty() && !text(path).starts_with(&filter.path_prefix) {
        return false;
    }
    if filter.port != 0 {
        let port = |field: &str| {
            text(field)
                .rsplit(':')
                .next()
                .and_then(|p| p.parse::<u16>().ok())
        };
        // A connect's port is the remote one; the other probes' is either end.
        let matches = port("dst") == Some(filter.port)
            || (probe != "tcp-connect" && port("src") == Some(filter.port));
        if !matches {
            return false;
        }
    }
    if filter.signal != 0 && text("signal") != names::signal(i64::from(filter.signal)) {
        return false;
    }
    true
}

/// The candidate closest to `word` by edit distance, when close enough to be a typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (distance(word, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 2).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_is_a_probe() {
        for source in SOURCES {
            let spec = source.probe_spec(&EventFilter::default()).expect("a probe");
            assert_eq!(spec.name(), source.name);
        }
    }

    #[test]
    fn suggests_near_names_only() {
        let names = SOURCES.iter().map(|source| source.name);
        assert_eq!(nearest("opne", names.clone()), Some("open"));
        assert_eq!(nearest("oom", names.clone()), None);
        assert_eq!(nearest("oomkill", names.clone()), Some("oom-kill"));
        assert_eq!(nearest("tcp-retransmits", names), Some("tcp-retransmit"));
    }

    #[test]
    fn a_handler_filter_is_checked_on_the_event_fields() {
        let open = |path: &str, ret: i64, latency: u64| {
            serde_json::json!({"path": path, "ret": ret, "latency_ns": latency})
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        let slow_etc = EventFilter {
            min_latency_ns: 1000,
            path_prefix: "/etc/".into(),
            ..EventFilter::default()
        };
        assert!(admits(&slow_etc, "open", &open("/etc/hosts", 3, 1000)));
        assert!(!admits(&slow_etc, "open", &open("/etc/hosts", 3, 999)));
        assert!(!admits(&slow_etc, "open", &open("/tmp/x", 3, 5000)));
        let failed = EventFilter {
            failed: true,
            ..EventFilter::default()
        };
        assert!(admits(&failed, "open", &open("/x", -2, 1)));
        assert!(!admits(&failed, "open", &open("/x", 0, 1)));
        let connect = |dst: &str, result: &str| {
            serde_json::json!({"dst": dst, "result": result, "latency_ns": 10})
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        let port = EventFilter {
            port: 443,
            failed: true,
            ..EventFilter::default()
        };
        assert!(admits(
            &port,
            "tcp-connect",
            &connect("[::1]:443", "refused")
        ));
        assert!(!admits(
            &port,
            "tcp-connect",
            &connect("10.0.0.1:443", "connected")
        ));
        assert!(!admits(
            &port,
            "tcp-connect",
            &connect("10.0.0.1:80", "refused")
        ));
    }
}
