//! `kubectl ebpf version`, and the warning every trace gives when its tracers' version
//! differs from the plugin's.
//!
//! A tracer says its version in the `hello` record that opens its stream. Every trace
//! checks it as the stream comes; `version` reads the `hello` of the tracers running on
//! the cluster now, from the first line of their pods' logs.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api,
    api::{ListParams, LogParams},
};
use serde::Serialize;
use tracer_protocol::{Decoded, Record, SCHEMA_VERSION, decode_line};

use crate::{
    cli::{ClusterArgs, VersionArgs, VersionFormat},
    cluster::{
        connect::{api_error, connect},
        manifest::{MANAGED_BY, MANAGED_BY_LABEL, TRACE_ID_LABEL, TRACER_CONTAINER, default_image},
    },
    exit::{self, CliError},
    launch::local,
    merge::NodeSummary,
};

pub const PLUGIN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Enough of a tracer's log for its `hello` line.
const HELLO_BYTES: i64 = 4096;

/// The warning (without its label) when some node's tracer is not the plugin's version; `None` when
/// all that said agree. Tracers from before version reporting count as different.
pub fn skew_warning(nodes: &[NodeSummary]) -> Option<String> {
    let mut differing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in nodes.iter().filter(|node| node.kernel.is_some()) {
        let version = node.tracer_version.as_deref().unwrap_or("unknown");
        if version != PLUGIN_VERSION {
            differing.entry(version).or_default().push(&node.node);
        }
    }
    if differing.is_empty() {
        return None;
    }
    let found: Vec<String> = differing
        .iter()
        .map(|(version, nodes)| format!("{version} on {}", nodes.join(", ")))
        .collect();
    Some(format!(
        "tracer-job version {} differs from this plugin's {PLUGIN_VERSION}; \
         use the tracer image of the plugin's version (the default, {})",
        found.join("; "),
        default_image()
    ))
}

#[derive(Serialize)]
struct Versions {
    plugin: &'static str,
    protocol: u32,
    default_image: String,
    /// With --local: the tracer-job this machine would run.
    #[serde(skip_serializing_if = "Option::is_none")]
    local_tracer: Option<String>,
    /// The tracers running on the cluster now, as their `hello` said.
    #[serde(skip_serializing_if = "Option::is_none")]
    tracers: Option<Vec<RunningTracer>>,
}

#[derive(Serialize)]
struct RunningTracer {
    trace_id: String,
    node: String,
    pod: String,
    /// `unknown` for a tracer from before version reporting.
    version: String,
    kernel: String,
}

pub async fn run(cluster: ClusterArgs, args: VersionArgs) -> Result<u8, CliError> {
    let mut versions = Versions {
        plugin: PLUGIN_VERSION,
        protocol: SCHEMA_VERSION,
        default_image: default_image(),
        local_tracer: None,
        tracers: None,
    };
    if args.local {
        versions.local_tracer = Some(local_tracer_version()?);
    }
    let text = args.output == VersionFormat::Text;
    if text {
        // The plugin's own lines come first, whatever the cluster answers, as kubectl's.
        print_plugin(&versions);
    }
    if !args.local && !args.client {
        versions.tracers = Some(running_tracers(&cluster).await?);
    }
    match args.output {
        VersionFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&versions)
                .map_err(|err| CliError::failure(format!("cannot write JSON: {err}"), ""))?
        ),
        VersionFormat::Yaml => {
            crate::render::write_yaml(&versions, &mut std::io::stdout())
                .map_err(|err| CliError::failure(format!("cannot write YAML: {err}"), ""))?;
        }
        VersionFormat::Text => print_tracers(&versions),
    }
    let local_skew = versions
        .local_tracer
        .as_deref()
        .is_some_and(|local| local.split_whitespace().nth(1) != Some(PLUGIN_VERSION));
    let cluster_skew = versions
        .tracers
        .iter()
        .flatten()
        .any(|tracer| tracer.version != PLUGIN_VERSION);
    if local_skew || cluster_skew {
        crate::warn!(
            "some tracer-job is not version {PLUGIN_VERSION}; use the tracer of the \
             plugin's version (image {})",
            versions.default_image
        );
    }
    Ok(exit::SUCCESS)
}

fn print_plugin(versions: &Versions) {
    println!(
        "Plugin: kubectl-ebpf {} (protocol {})",
        versions.plugin, versions.protocol
    );
    println!("Default tracer image: {}", versions.default_image);
    if let Some(local) = &versions.local_tracer {
        println!("Local tracer: {local}");
    }
}

fn print_tracers(versions: &Versions) {
    match versions.tracers.as_deref() {
        None => {}
        Some([]) => println!(
            "Tracers: none running on the cluster (every trace checks its tracers' version as it starts)"
        ),
        Some(tracers) => {
            let mut table = crate::render::table(["TRACE", "NODE", "POD", "TRACER", "KERNEL"]);
            for tracer in tracers {
                table.add_row([
                    &tracer.trace_id,
                    &tracer.node,
                    &tracer.pod,
                    &tracer.version,
                    &tracer.kernel,
                ]);
            }
            println!("Tracers running on the cluster:\n{table}");
        }
    }
}

/// `tracer-job X.Y.Z (PATH)` of the tracer `--local` would run.
fn local_tracer_version() -> Result<String, CliError> {
    let path = local::find_tracer(None)?;
    let output = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .map_err(|err| {
            CliError::failure(
                format!("cannot run {}: {err}", path.display()),
                "reinstall the plugin with its tracer-job",
            )
        })?;
    let said = String::from_utf8_lossy(&output.stdout);
    Ok(format!("{} ({})", said.trim(), path.display()))
}

/// The tracers of the traces on the cluster now, from the `hello` line of each tracer
/// pod's log. A pod whose log has no `hello` yet (still starting) is left out.
async fn running_tracers(cluster: &ClusterArgs) -> Result<Vec<RunningTracer>, CliError> {
    let client = connect(cluster).await?.client;
    let pods: Api<Pod> = Api::namespaced(client, &cluster.job_namespace);
    let listed = pods
        .list(&ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}")))
        .await
        .map_err(|err| api_error(&format!("listing pods in {}", cluster.job_namespace), err))?;
    let params = LogParams {
        container: Some(TRACER_CONTAINER.to_owned()),
        limit_bytes: Some(HELLO_BYTES),
        ..LogParams::default()
    };
    let mut tracers = Vec::new();
    for pod in listed.items {
        let Some(name) = pod.metadata.name.clone() else {
            continue;
        };
        let Ok(log) = pods.logs(&name, &params).await else {
            continue;
        };
        let Some(Decoded::Record(Record::Hello {
            node,
            kernel,
            tracer_version,
            ..
        })) = log.lines().next().map(decode_line)
        else {
            continue;
        };
        let trace_id = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(TRACE_ID_LABEL))
            .cloned()
            .unwrap_or_default();
        tracers.push(RunningTracer {
            trace_id,
            node,
            pod: name,
            version: tracer_version.unwrap_or_else(|| "unknown".to_owned()),
            kernel,
        });
    }
    tracers.sort_by(|a, b| (&a.trace_id, &a.node).cmp(&(&b.trace_id, &b.node)));
    Ok(tracers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::NodeStatus;

    fn node(name: &str, version: Option<&str>) -> NodeSummary {
        NodeSummary {
            node: name.into(),
            kernel: Some("6.18".into()),
            tracer_version: version.map(str::to_owned),
            status: NodeStatus::Done,
            detail: None,
            attach_ms: None,
            lost: 0,
            malformed_lines: 0,
            first_malformed: None,
            error: None,
            missing_targets: Vec::new(),
            gone_targets: Vec::new(),
        }
    }

    #[test]
    fn skew_is_named_by_version_and_node() {
        assert_eq!(skew_warning(&[node("a", Some(PLUGIN_VERSION))]), None);
        let warning = skew_warning(&[
            node("a", Some(PLUGIN_VERSION)),
            node("b", Some("0.0.1")),
            node("c", Some("0.0.1")),
            node("d", None),
        ])
        .expect("a warning");
        assert!(
            warning.starts_with(&format!(
                "tracer-job version 0.0.1 on b, c; unknown on d differs from this plugin's {PLUGIN_VERSION}; "
            )),
            "{warning}"
        );
    }
}
