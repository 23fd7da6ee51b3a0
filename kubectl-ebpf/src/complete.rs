//! `kubectl_complete-ebpf`: what kubectl (1.26 and later) runs to complete `kubectl ebpf
//! ...`. It is called with the words after `kubectl ebpf`, the last one being the word
//! under the cursor (maybe empty), and prints one candidate per line (`value<TAB>help`)
//! followed by `:DIRECTIVE`, as cobra's `__complete` does.
//!
//! Subcommands, flags, probe names and flag values come from the clap definitions;
//! namespaces, targets (pods, deployments, ... and nodes), contexts and trace ids come
//! from the cluster of the current context, asked with a short timeout. Completion never
//! fails: whatever cannot be learnt is simply not offered.

use std::time::Duration;

use clap::{Arg, Command as ClapCommand, CommandFactory};
use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
    batch::v1::Job,
    core::v1::{Namespace, Node, Pod},
};
use kube::{Api, Client, Resource, api::ListParams, config::Kubeconfig};
use serde::de::DeserializeOwned;

use crate::{
    catalogue,
    cli::{Cli, ClusterArgs},
    cluster::{
        connect::connect,
        manifest::{MANAGED_BY, MANAGED_BY_LABEL, TRACE_ID_LABEL},
        target::Kind,
    },
    scripts,
};

/// Cobra's directives: complete with files as the shell would, leave no space after the
/// candidate, offer no files.
const DEFAULT: u8 = 0;
const NO_SPACE: u8 = 2;
const NO_FILES: u8 = 4;

/// How long the cluster may take to answer, so a dead cluster never hangs the shell.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(3);

/// The kinds a target may start with, as kubectl spells them short.
const TARGET_KINDS: &[&str] = &["pod/", "deploy/", "sts/", "ds/", "rs/", "job/", "node/"];

#[derive(Debug, PartialEq)]
pub struct Candidate {
    pub value: String,
    pub help: Option<String>,
}

/// What the word under the cursor should become.
#[derive(Debug, PartialEq)]
enum Want {
    /// Known without the cluster.
    Fixed(Vec<Candidate>, u8),
    Namespaces,
    Contexts,
    /// A target: `KIND/NAME`, or a bare pod name.
    Target,
    TraceIds,
    Files,
    Nothing,
}

/// The words the user typed so far, read far enough to complete the last one.
struct Line {
    cluster: ClusterArgs,
    all_namespaces: bool,
    /// The subcommand, once typed.
    subcommand: Option<String>,
    /// Positional words after the subcommand.
    positionals: usize,
    /// The flag whose value is being typed, when the cursor is on one.
    value_of: Option<Arg>,
}

/// Completions for `words` (the last is the word under the cursor), printed lines.
pub fn complete(words: &[String]) -> String {
    let (partial, typed) = match words.split_last() {
        Some((partial, typed)) => (partial.as_str(), typed),
        None => ("", &[][..]),
    };
    let mut command = Cli::command();
    command.build();
    let line = read_line(&command, typed);
    // `--flag=value` completes the value, keeping the flag in front.
    let (prefix, partial, want) = match partial.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => {
            let arg = find_flag(&command, line.subcommand.as_deref(), flag);
            let want = arg.map_or(Want::Nothing, |arg| value_want(&arg));
            (format!("{flag}="), value, want)
        }
        _ => (String::new(), partial, want(&command, &line, partial)),
    };
    let (candidates, directive) = match want {
        Want::Fixed(candidates, directive) => (candidates, directive),
        Want::Files => (Vec::new(), DEFAULT),
        Want::Nothing => (Vec::new(), NO_FILES),
        Want::Contexts => (contexts(&line.cluster), NO_FILES),
        Want::Namespaces => (from_cluster(&line, Query::Namespaces), NO_FILES),
        Want::TraceIds => (from_cluster(&line, Query::TraceIds), NO_FILES),
        Want::Target => targets(&line, partial),
    };
    let mut out = String::new();
    for candidate in candidates
        .iter()
        .filter(|candidate| candidate.value.starts_with(partial))
    {
        out.push_str(&prefix);
        out.push_str(&candidate.value);
        if let Some(help) = &candidate.help {
            out.push('\t');
            out.push_str(help);
        }
        out.push('\n');
    }
    out.push_str(&format!(":{directive}\n"));
    out
}

fn read_line(command: &ClapCommand, typed: &[String]) -> Line {
    let mut line = Line {
        cluster: ClusterArgs::default(),
        all_namespaces: false,
        subcommand: None,
        positionals: 0,
        value_of: None,
    };
    let mut words = typed.iter();
    while let Some(word) = words.next() {
        if word.starts_with('-') && word.len() > 1 {
            let (flag, inline) = match word.split_once('=') {
                Some((flag, value)) => (flag, Some(value.to_owned())),
                None => (word.as_str(), None),
            };
            let Some(arg) = find_flag(command, line.subcommand.as_deref(), flag) else {
                continue;
            };
            if !arg.get_action().takes_values() {
                if arg.get_id() == "all_namespaces" {
                    line.all_namespaces = true;
                }
                continue;
            }
            let value = match inline {
                Some(value) => value,
                None => match words.next() {
                    Some(value) => value.clone(),
                    None => {
                        line.value_of = Some(arg);
                        break;
                    }
                },
            };
            remember(&mut line.cluster, arg.get_id().as_str(), value);
        } else if line.subcommand.is_none() {
            line.subcommand = Some(word.clone());
        } else {
            line.positionals += 1;
        }
    }
    line
}

/// Keeps what says which cluster and namespace to ask.
fn remember(cluster: &mut ClusterArgs, id: &str, value: String) {
    match id {
        "kubeconfig" => cluster.kubeconfig = Some(value.into()),
        "context" => cluster.context = Some(value),
        "cluster" => cluster.cluster = Some(value),
        "user" => cluster.user = Some(value),
        "namespace" => cluster.namespace = Some(value),
        "job_namespace" => cluster.job_namespace = value,
        _ => {}
    }
}

/// The flag `-x` / `--name` of the subcommand (or of the plugin, for global flags).
fn find_flag(command: &ClapCommand, subcommand: Option<&str>, flag: &str) -> Option<Arg> {
    let scope = subcommand
        .and_then(|name| command.find_subcommand(name))
        .unwrap_or(command);
    scope
        .get_arguments()
        .find(|arg| match flag.strip_prefix("--") {
            Some(long) => arg.get_long() == Some(long),
            None => flag.len() == 2 && arg.get_short() == flag.chars().nth(1),
        })
        .cloned()
}

fn want(command: &ClapCommand, line: &Line, partial: &str) -> Want {
    if let Some(arg) = &line.value_of {
        return value_want(arg);
    }
    let subcommand = line
        .subcommand
        .as_deref()
        .and_then(|name| command.find_subcommand(name));
    if partial.starts_with('-') {
        return Want::Fixed(flags(subcommand.unwrap_or(command)), NO_FILES);
    }
    let Some(subcommand) = subcommand else {
        let subcommands = command
            .get_subcommands()
            .map(|sub| candidate(sub.get_name(), sub.get_about().map(ToString::to_string)))
            .collect();
        return Want::Fixed(subcommands, NO_FILES);
    };
    match (subcommand.get_name(), line.positionals) {
        ("trace" | "probes", 0) => Want::Fixed(probes(), NO_FILES),
        ("trace" | "profile" | "programs", _) => Want::Target,
        // A stdlib script by name; a path completes as files do.
        ("run", 0) => Want::Fixed(stdlib_scripts(), DEFAULT),
        ("scripts", 0) => Want::Fixed(stdlib_scripts(), NO_FILES),
        ("run", _) => Want::Target,
        ("delete", _) => Want::TraceIds,
        _ => {
            // A positional with fixed values (the shell of `completion`).
            let positional = subcommand.get_positionals().nth(line.positionals);
            positional.map_or(Want::Nothing, value_want)
        }
    }
}

/// What the value of `arg` can be.
fn value_want(arg: &Arg) -> Want {
    match arg.get_id().as_str() {
        "namespace" | "job_namespace" => return Want::Namespaces,
        "context" => return Want::Contexts,
        "kubeconfig" | "tracer" | "cgroup" | "output_file" => return Want::Files,
        _ => {}
    }
    let values: Vec<Candidate> = arg
        .get_possible_values()
        .iter()
        .filter(|value| !value.is_hide_set())
        .map(|value| candidate(value.get_name(), value.get_help().map(ToString::to_string)))
        .collect();
    if values.is_empty() {
        Want::Nothing
    } else {
        Want::Fixed(values, NO_FILES)
    }
}

fn flags(command: &ClapCommand) -> Vec<Candidate> {
    command
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| {
            let long = arg.get_long()?;
            Some(candidate(
                &format!("--{long}"),
                arg.get_help().map(ToString::to_string),
            ))
        })
        .collect()
}

fn probes() -> Vec<Candidate> {
    catalogue::PROBES
        .iter()
        .map(|probe| candidate(probe.name, Some(probe.summary.to_owned())))
        .collect()
}

fn stdlib_scripts() -> Vec<Candidate> {
    scripts::STDLIB
        .iter()
        .map(|script| candidate(script.name, Some(scripts::summary(script.source))))
        .collect()
}

fn candidate(value: &str, help: Option<String>) -> Candidate {
    Candidate {
        value: value.to_owned(),
        // The first line only: a tab-separated help must stay on its line.
        help: help.and_then(|help| help.lines().next().map(str::to_owned)),
    }
}

fn contexts(cluster: &ClusterArgs) -> Vec<Candidate> {
    let kubeconfig = match &cluster.kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    };
    kubeconfig
        .map(|config| {
            config
                .contexts
                .iter()
                .map(|context| candidate(&context.name, None))
                .collect()
        })
        .unwrap_or_default()
}

/// Candidates for a target: `KIND/` first, then `KIND/NAME` from the cluster; a bare
/// name is a pod, offered once the user starts typing one.
fn targets(line: &Line, partial: &str) -> (Vec<Candidate>, u8) {
    match partial.split_once('/') {
        Some((kind, _)) => {
            let found = Kind::parse(kind)
                .map(|parsed| from_cluster(line, Query::Objects(parsed, format!("{kind}/"))));
            (found.unwrap_or_default(), NO_FILES)
        }
        None => {
            let mut candidates: Vec<Candidate> = TARGET_KINDS
                .iter()
                .map(|kind| candidate(kind, None))
                .collect();
            if !partial.is_empty() {
                candidates.extend(from_cluster(line, Query::Objects(Kind::Pod, String::new())));
            }
            (candidates, NO_SPACE | NO_FILES)
        }
    }
}

/// What to ask the cluster for.
enum Query {
    Namespaces,
    TraceIds,
    /// Objects of a kind, each written after a prefix (`deploy/`).
    Objects(Kind, String),
}

/// Asks the cluster, within `CLUSTER_TIMEOUT`; nothing when it cannot answer.
fn from_cluster(line: &Line, query: Query) -> Vec<Candidate> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let asked =
        runtime.block_on(async { tokio::time::timeout(CLUSTER_TIMEOUT, ask(line, query)).await });
    asked.ok().flatten().unwrap_or_default()
}

async fn ask(line: &Line, query: Query) -> Option<Vec<Candidate>> {
    let connection = connect(&line.cluster).await.ok()?;
    let client = connection.client;
    let namespace = (!line.all_namespaces).then(|| {
        line.cluster
            .namespace
            .clone()
            .unwrap_or(connection.default_namespace)
    });
    Some(match query {
        Query::Namespaces => names::<Namespace>(Api::all(client), "").await,
        Query::Objects(kind, prefix) => objects(client, kind, namespace.as_deref(), &prefix).await,
        Query::TraceIds => {
            let jobs: Api<Job> = Api::namespaced(client, &line.cluster.job_namespace);
            let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
            let listed = jobs
                .list(&ListParams::default().labels(&selector))
                .await
                .ok()?;
            let mut ids: Vec<String> = listed
                .items
                .iter()
                .filter_map(|job| job.metadata.labels.as_ref()?.get(TRACE_ID_LABEL).cloned())
                .collect();
            ids.sort();
            ids.dedup();
            ids.iter().map(|id| candidate(id, None)).collect()
        }
    })
}

/// Names of the objects of `kind` in `namespace` (every namespace when `None`), each
/// after `prefix`.
async fn objects(
    client: Client,
    kind: Kind,
    namespace: Option<&str>,
    prefix: &str,
) -> Vec<Candidate> {
    fn api<K>(client: Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match namespace {
            Some(namespace) => Api::namespaced(client, namespace),
            None => Api::all(client),
        }
    }
    match kind {
        Kind::Pod => names::<Pod>(api(client, namespace), prefix).await,
        Kind::Deployment => names::<Deployment>(api(client, namespace), prefix).await,
        Kind::StatefulSet => names::<StatefulSet>(api(client, namespace), prefix).await,
        Kind::DaemonSet => names::<DaemonSet>(api(client, namespace), prefix).await,
        Kind::ReplicaSet => names::<ReplicaSet>(api(client, namespace), prefix).await,
        Kind::Job => names::<Job>(api(client, namespace), prefix).await,
        Kind::Node => names::<Node>(Api::all(client), prefix).await,
    }
}

async fn names<K>(api: Api<K>, prefix: &str) -> Vec<Candidate>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let Ok(listed) = api.list(&ListParams::default()).await else {
        return Vec::new();
    };
    let mut names: Vec<String> = listed
        .items
        .iter()
        .filter_map(|object| object.meta().name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
        .iter()
        .map(|name| candidate(&format!("{prefix}{name}"), None))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(words: &[&str]) -> Vec<String> {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        complete(&words).lines().map(str::to_owned).collect()
    }

    fn values(words: &[&str]) -> Vec<String> {
        lines(words)
            .iter()
            .filter(|line| !line.starts_with(':'))
            .map(|line| line.split('\t').next().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn subcommands_first_with_their_help() {
        let all = lines(&[""]);
        assert!(
            all.iter()
                .any(|l| l.starts_with("trace\tRun a built-in probe")),
            "{all:?}"
        );
        assert_eq!(all.last().map(String::as_str), Some(":4"));
        assert_eq!(values(&["pro"]), ["profile", "probes", "programs"]);
        assert_eq!(values(&["prob"]), ["probes"]);
    }

    #[test]
    fn probe_names_after_trace_and_probes() {
        let probes = values(&["trace", ""]);
        assert!(probes.contains(&"syscall-latency".to_owned()), "{probes:?}");
        assert!(probes.contains(&"exec".to_owned()));
        assert_eq!(
            values(&["probes", "sysc"]).len(),
            2,
            "syscall-latency and -count"
        );
        // Global flags before the subcommand do not shift the positions.
        assert!(values(&["-n", "shop", "trace", "ex"]).contains(&"exec".to_owned()));
    }

    #[test]
    fn flags_of_the_subcommand_and_the_global_ones() {
        let flags = values(&["trace", "exec", "--"]);
        assert!(flags.contains(&"--duration".to_owned()), "{flags:?}");
        assert!(flags.contains(&"--namespace".to_owned()));
        assert!(flags.contains(&"--all-nodes".to_owned()));
        assert_eq!(values(&["trace", "exec", "--dry"]), ["--dry-run"]);
        assert!(values(&["profile", "--"]).contains(&"--frequency".to_owned()));
    }

    #[test]
    fn values_of_flags_with_fixed_values() {
        assert_eq!(values(&["trace", "exec", "-o", "y"]), ["yaml"]);
        assert_eq!(values(&["programs", "-o", "w"]), ["wide"]);
        assert_eq!(values(&["trace", "exec", "--output=j"]), ["--output=json"]);
        assert_eq!(values(&["completion", "fi"]), ["fish"]);
        // A free-form value offers nothing, and no files either.
        assert_eq!(lines(&["trace", "exec", "--duration", ""]), [":4"]);
        // A path lets the shell complete files.
        assert_eq!(lines(&["--kubeconfig", ""]), [":0"]);
        assert_eq!(lines(&["profile", "--output-file", ""]), [":0"]);
        assert_eq!(values(&["run", "crash"]), ["crash-loop"]);
    }

    #[test]
    fn target_kinds_without_a_cluster() {
        let missing = std::env::temp_dir().join("kubectl-ebpf-no-such-kubeconfig");
        let kubeconfig = missing.to_string_lossy().into_owned();
        let all = lines(&["--kubeconfig", &kubeconfig, "trace", "exec", ""]);
        assert!(all.contains(&"deploy/".to_owned()), "{all:?}");
        assert_eq!(all.last().map(String::as_str), Some(":6"));
        // No cluster to ask: nothing, rather than an error.
        assert_eq!(
            lines(&["--kubeconfig", &kubeconfig, "trace", "exec", "deploy/"]),
            [":4"]
        );
    }
}
