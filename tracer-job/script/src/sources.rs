//! The event sources a script may name: the built-in event probes, the fields their
//! events carry, and the kernel-side parameters they take.

use tracer_protocol::ProbeSpec;

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
];

pub fn find(name: &str) -> Option<&'static Source> {
    SOURCES.iter().find(|source| source.name == name)
}

impl Source {
    /// Whether events of this source may carry `field`.
    pub fn has_field(&self, field: &str) -> bool {
        COMMON_FIELDS.contains(&field) || self.fields.contains(&field)
    }

    /// The probe to attach for this source.
    pub fn probe_spec(&self) -> Option<ProbeSpec> {
        Some(match self.name {
            "exec" => ProbeSpec::Exec {},
            "exit" => ProbeSpec::Exit {},
            "open" => ProbeSpec::Open {},
            "signal" => ProbeSpec::Signal {},
            "oom-kill" => ProbeSpec::OomKill {},
            "packet-drop" => ProbeSpec::PacketDrop {},
            _ => return None,
        })
    }
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
            let spec = source.probe_spec().expect("a probe");
            assert_eq!(spec.name(), source.name);
        }
    }

    #[test]
    fn suggests_near_names_only() {
        let names = SOURCES.iter().map(|source| source.name);
        assert_eq!(nearest("opne", names.clone()), Some("open"));
        assert_eq!(nearest("oom", names.clone()), None);
        assert_eq!(nearest("oomkill", names.clone()), Some("oom-kill"));
        assert_eq!(nearest("tcp-retransmit", names), None);
    }
}
