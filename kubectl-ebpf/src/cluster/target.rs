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
                    format!(
                        "'{}' in '{}' is not a kind of target",
                        shown(kind),
                        shown(word)
                    ),
                    "use pod/, deploy/, sts/, ds/, rs/, job/ or node/",
                )
            })?;
            (kind, name)
        }
        None => (Kind::Pod, word),
    };
    if name.len() > MAX_NAME_LEN {
        return Err(CliError::usage(
            format!(
                "the {} name '{}' is {} bytes long",
                kind.as_str(),
                shown(name),
                name.len()
            ),
            format!("Kubernetes names are at most {MAX_NAME_LEN} characters"),
        ));
    }
    if !is_object_name(name) {
        return Err(CliError::usage(
            format!("'{}' does not name a {}", shown(word), kind.as_str()),
            "names are lowercase letters, digits, '-' and '.', as in pod/api-7d9f",
        ));
    }
    Ok(TargetRef {
        kind,
        name: name.to_owned(),
    })
}

/// How an error message quotes what the user typed: on one line, and short, so a pasted
/// page of text does not bury the message.
fn shown(word: &str) -> String {
    const MAX_SHOWN: usize = 64;
    let mut escaped: String = word.chars().flat_map(char::escape_debug).collect();
    if escaped.chars().count() > MAX_SHOWN {
        escaped = escaped.chars().take(MAX_SHOWN).collect();
        escaped.push_str("...");
    }
    escaped
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

    mod fuzz {
        use proptest::prelude::*;

        use super::super::*;

        const KINDS: &[&str] = &[
            "pod",
            "po",
            "pods",
            "deploy",
            "deployment",
            "deployments.apps",
            "sts",
            "ds",
            "rs",
            "job",
            "jobs.batch",
            "node",
            "no",
            "Deploy",
            "svc",
            "",
            "pod.apps",
        ];

        fn check(word: &str) {
            match parse(word) {
                Ok(target) => {
                    assert!(is_object_name(&target.name), "{word} gave {target:?}");
                    let again = parse(&target.to_string()).expect("a parsed target parses again");
                    assert_eq!(again, target);
                }
                Err(err) => {
                    assert_eq!(err.code, crate::exit::USAGE);
                    let line = err.to_string();
                    assert!(!line.contains('\n'), "{line:?}");
                    assert!(line.len() <= 512, "a message of {} bytes", line.len());
                }
            }
        }

        proptest! {
                // FUZZ_CASES=N runs a longer campaign than the suite's 300 cases per property.
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(300)
        ))]

                #[test]
                fn any_text(word in ".{0,300}") {
                    check(&word);
                }

                #[test]
                fn kind_and_name(
                    kind in prop::sample::select(KINDS),
                    name in "[a-z0-9.-]{0,300}|.{0,20}",
                    slashes in 0usize..3,
                ) {
                    check(&format!("{kind}{}{name}", "/".repeat(slashes)));
                    check(&name);
                }
            }

        #[test]
        fn a_huge_argument_gets_a_short_message() {
            let err = parse(&format!("deploy/{}", "a".repeat(1 << 20))).expect_err("too long");
            assert!(
                err.message.contains("1048576 bytes long"),
                "{}",
                err.message
            );
            assert!(err.hint.contains("at most 253"), "{}", err.hint);
            assert!(err.to_string().len() < 200, "{err}");
        }
    }
}
