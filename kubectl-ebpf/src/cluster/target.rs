//! What the user names on the command line, spelled as kubectl spells it: `pod/NAME` (or a
//! bare NAME), `deploy/NAME`, `sts/NAME`, `ds/NAME`, `rs/NAME`, `job/NAME`, `node/NAME`.

use std::{collections::BTreeSet, fmt};

use crate::exit::CliError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    Node,
}

impl Kind {
    /// kubectl's names and short names for each kind, with the API group suffix it also
    /// accepts (`deployment.apps`).
    pub fn parse(word: &str) -> Option<Kind> {
        let word = word.to_ascii_lowercase();
        let bare = word
            .strip_suffix(".apps")
            .or_else(|| word.strip_suffix(".batch"))
            .unwrap_or(&word);
        Some(match bare {
            "pod" | "pods" | "po" => Kind::Pod,
            "deploy" | "deployment" | "deployments" => Kind::Deployment,
            "sts" | "statefulset" | "statefulsets" => Kind::StatefulSet,
            "ds" | "daemonset" | "daemonsets" => Kind::DaemonSet,
            "rs" | "replicaset" | "replicasets" => Kind::ReplicaSet,
            "job" | "jobs" => Kind::Job,
            "node" | "nodes" | "no" => Kind::Node,
            _ => return None,
        })
    }

    /// The short form kubectl prints (`deployment`, not `deploy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pod => "pod",
            Kind::Deployment => "deployment",
            Kind::StatefulSet => "statefulset",
            Kind::DaemonSet => "daemonset",
            Kind::ReplicaSet => "replicaset",
            Kind::Job => "job",
            Kind::Node => "node",
        }
    }
}

/// One named target, as in `deployment/checkout`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TargetRef {
    pub kind: Kind,
    pub name: String,
}

impl fmt::Display for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.name)
    }
}

/// Longest object name Kubernetes allows (a DNS subdomain).
const MAX_NAME_LEN: usize = 253;

/// Parses every target; duplicates (`deploy/a` and `deployment/a`) collapse.
pub fn parse_all(words: &[String]) -> Result<Vec<TargetRef>, CliError> {
    let parsed: BTreeSet<TargetRef> = words
        .iter()
        .map(|word| parse(word))
        .collect::<Result<_, _>>()?;
    Ok(parsed.into_iter().collect())
}

pub fn parse(word: &str) -> Result<TargetRef, CliError> {
    let (kind, name) = match word.split_once('/') {
        Some((kind, name)) => {
            let kind = Kind::parse(kind).ok_or_else(|| {
                CliError::usage(
                    format!("'{kind}' in '{word}' is not a kind of target"),
                    "use pod/, deploy/, sts/, ds/, rs/, job/ or node/",
                )
            })?;
            (kind, name)
        }
        None => (Kind::Pod, word),
    };
    if !is_object_name(name) {
        return Err(CliError::usage(
            format!("'{word}' does not name a {}", kind.as_str()),
            "names are lowercase letters, digits, '-' and '.', as in pod/api-7d9f",
        ));
    }
    Ok(TargetRef {
        kind,
        name: name.to_owned(),
    })
}

/// A DNS subdomain, the widest rule Kubernetes applies to the names we accept.
fn is_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn accepts_kubectl_spellings() {
        let cases = [
            ("api-7d9f", Kind::Pod),
            ("pod/api", Kind::Pod),
            ("po/api", Kind::Pod),
            ("deploy/api", Kind::Deployment),
            ("deployment/api", Kind::Deployment),
            ("deployments.apps/api", Kind::Deployment),
            ("sts/api", Kind::StatefulSet),
            ("statefulset/api", Kind::StatefulSet),
            ("ds/api", Kind::DaemonSet),
            ("daemonset/api", Kind::DaemonSet),
            ("rs/api", Kind::ReplicaSet),
            ("replicaset/api", Kind::ReplicaSet),
            ("job/api", Kind::Job),
            ("jobs.batch/api", Kind::Job),
            ("node/api", Kind::Node),
            ("no/api", Kind::Node),
            ("Deploy/api", Kind::Deployment),
        ];
        for (word, kind) in cases {
            let target = parse(word).unwrap_or_else(|err| panic!("{word}: {err}"));
            assert_eq!(target.kind, kind, "{word}");
        }
    }

    #[test]
    fn duplicates_collapse_and_order_is_stable() {
        let parsed = parse_all(&words(&[
            "deploy/a",
            "deployment/a",
            "a",
            "pod/a",
            "node/n1",
        ]))
        .unwrap();
        let shown: Vec<String> = parsed.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["pod/a", "deployment/a", "node/n1"]);
    }

    #[test]
    fn refuses_what_is_not_a_target() {
        for (word, expected) in [
            ("svc/api", "not a kind of target"),
            ("pod/", "does not name a pod"),
            ("deploy/API", "does not name a deployment"),
            ("pod/a/b", "does not name a pod"),
            ("-api", "does not name a pod"),
        ] {
            let err = parse(word).expect_err(word);
            assert_eq!(err.code, crate::exit::USAGE);
            assert!(err.message.contains(expected), "{word}: {}", err.message);
        }
    }
}
