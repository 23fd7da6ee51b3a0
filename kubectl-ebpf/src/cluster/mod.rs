//! Cluster mode: resolve targets to nodes and containers, run one tracer Job per node,
//! follow and merge their streams, and delete everything the trace created.

pub mod connect;
pub mod follow;
pub mod manifest;
pub mod objects;
pub mod rate_limit;
pub mod resolve;
pub mod target;
mod traces;

use std::{collections::BTreeMap, io::Write, time::Instant};

use kube::Client;
use tokio::sync::mpsc;
use tracer_protocol::{Targets, TraceSpec};

pub use traces::{delete, list};

use crate::{
    cli::{ClusterArgs, OutputFormat, TraceArgs},
    exit::{self, CliError},
    interrupt::{self, Interrupts},
    render, request,
    session::{self, Tracers},
};
use manifest::TraceLaunch;
use resolve::{Plan, Scope};

/// How long the plugin waits for the cluster to delete a trace's objects.
const CLEANUP_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn trace(cluster: &ClusterArgs, args: &TraceArgs) -> Result<u8, CliError> {
    let targets = target::parse_all(&args.targets)?;
    let base = request::base_spec(args, Targets::default())?;
    let mut scope = Scope {
        namespace: String::new(),
        all_namespaces: args.all_namespaces,
        selector: args.selector.clone(),
        container: args.container.clone(),
        all_nodes: args.all_nodes,
    };
    // Refuse what kubectl would refuse before reaching for a kubeconfig.
    resolve::check_combination(&scope, &targets)?;
    let connection = connect::connect(cluster).await?;
    let client = connection.client;
    scope.namespace = cluster
        .namespace
        .clone()
        .unwrap_or(connection.default_namespace);
    let plan = resolve::resolve(&client, &scope, &targets).await?;
    for warning in &plan.warnings {
        crate::warn!("{warning}");
    }
    let launch = plan_launch(cluster, args, &base, &plan);
    if let Some((node, size)) = launch.oversized_spec() {
        return Err(CliError::usage(
            format!(
                "the trace's spec for node {node} is {} KiB; a Job carries at most {} KiB",
                size / 1024,
                manifest::MAX_SPEC_ANNOTATION_BYTES / 1024
            ),
            "trace fewer pods at once (a narrower selector or one namespace), or shorten the script",
        ));
    }
    if args.dry_run {
        return print_objects(&launch, args.output);
    }
    // From here on something exists on the cluster: an interrupt must clean it up, not
    // kill the process where it stands.
    let mut interrupts = interrupt::listen();
    if !objects::create(&client, &launch, &mut interrupts).await? {
        eprintln!("Interrupted while starting; the trace's Jobs were deleted.");
        return Ok(exit::INTERRUPTED);
    }
    eprintln!(
        "Trace {} started: {} on {} node(s), Jobs in namespace {}.",
        launch.trace_id,
        launch.probe,
        launch.specs.len(),
        launch.job_namespace
    );
    let (events, incoming) = mpsc::channel(1024);
    let follow = follow::Follow {
        namespace: launch.job_namespace.clone(),
        trace_id: launch.trace_id.clone(),
        jobs: launch.job_names(),
        start_timeout: args.start_timeout,
    };
    let started = Instant::now();
    let follower = follow::spawn(client.clone(), follow, events);
    let mut jobs = ClusterTracers {
        client: client.clone(),
        launch: &launch,
        stopping: false,
    };
    let merged = session::collect(
        incoming,
        launch.specs.len(),
        &mut jobs,
        &base,
        args,
        &mut interrupts,
    )
    .await;
    follower.abort();
    let abandoned = merged.is_none();
    cleanup(&client, &launch, abandoned, &mut interrupts).await;
    let Some(merger) = merged else {
        return Ok(exit::INTERRUPTED);
    };
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    session::show(&merger.result(&args.probe, elapsed), args)
}

/// The trace's objects: one spec per node, filled from the plan.
fn plan_launch(
    cluster: &ClusterArgs,
    args: &TraceArgs,
    base: &TraceSpec,
    plan: &Plan,
) -> TraceLaunch {
    let trace_id = manifest::new_trace_id();
    let specs: BTreeMap<String, TraceSpec> = plan
        .nodes
        .iter()
        .map(|(node, node_plan)| {
            let mut spec = base.clone();
            spec.trace_id = Some(trace_id.clone());
            spec.node = Some(node.clone());
            if !node_plan.node_wide {
                spec.targets.containers = node_plan.containers.clone();
            }
            spec.node_containers = node_plan.node_containers.clone();
            (node.clone(), spec)
        })
        .collect();
    let mut target: Vec<String> = args.targets.clone();
    if let Some(selector) = &args.selector {
        target.push(format!("-l {selector}"));
    }
    if args.all_nodes {
        target.push("--all-nodes".to_owned());
    }
    TraceLaunch {
        trace_id,
        job_namespace: cluster.job_namespace.clone(),
        image: args.image.clone().unwrap_or_else(manifest::default_image),
        privileged: args.privileged,
        probe: args.probe.clone(),
        target: target.join(" "),
        specs,
    }
}

/// `--dry-run`: every object the trace would create, as one kubectl-style List.
fn print_objects(launch: &TraceLaunch, format: OutputFormat) -> Result<u8, CliError> {
    let items: Vec<serde_json::Value> = launch
        .jobs()
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(|err| CliError::failure(format!("cannot encode the objects: {err}"), ""))?;
    let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
    let mut stdout = std::io::stdout().lock();
    let written = match format {
        OutputFormat::Json => serde_json::to_writer_pretty(&mut stdout, &list)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(stdout)),
        // The objects are the result of a dry run; YAML is what kubectl users read.
        OutputFormat::Yaml
        | OutputFormat::Table
        | OutputFormat::Wide
        | OutputFormat::Svg
        | OutputFormat::Ndjson => render::write_yaml(&list, &mut stdout),
    };
    written.map_err(|err| CliError::failure(format!("cannot write the objects: {err}"), ""))?;
    Ok(exit::SUCCESS)
}

/// The Jobs of one trace, as the collection loop stops them: deleting a Job deletes its
/// pod, whose tracer gets SIGTERM and flushes its final snapshot into the log we follow.
struct ClusterTracers<'a> {
    client: Client,
    launch: &'a TraceLaunch,
    stopping: bool,
}

impl Tracers for ClusterTracers<'_> {
    fn stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        let client = self.client.clone();
        let namespace = self.launch.job_namespace.clone();
        let trace_id = self.launch.trace_id.clone();
        tokio::spawn(async move {
            if let Err(err) = objects::delete_trace(&client, &namespace, &trace_id).await {
                crate::warn!("stopping the tracers failed: {err}");
            }
        });
    }

    fn abandon(&mut self) {
        self.stop();
    }
}

/// Deletes the trace's objects and waits until they are gone; Ctrl-C (or an abandoned
/// trace) skips the wait, since deadlines and TTLs finish the job anyway.
async fn cleanup(
    client: &Client,
    launch: &TraceLaunch,
    skip_wait: bool,
    interrupts: &mut Interrupts,
) {
    let namespace = &launch.job_namespace;
    let id = &launch.trace_id;
    if let Err(err) = objects::delete_trace(client, namespace, id).await {
        crate::warn!("cleaning up trace {id} failed: {err}");
        eprintln!(
            "  its objects expire by themselves; `kubectl ebpf delete {id}` removes them now"
        );
        return;
    }
    if skip_wait {
        return;
    }
    let waited = tokio::select! {
        left = objects::wait_gone(client, namespace, id, CLEANUP_WAIT) => Some(left),
        () = interrupts.next() => None,
    };
    match waited {
        Some(Ok(0)) => {}
        Some(Ok(left)) => crate::warn!(
            "{left} object(s) of trace {id} are still being deleted; \
             `kubectl ebpf list` shows them"
        ),
        Some(Err(err)) => crate::warn!("could not check that trace {id} is gone: {err}"),
        None => eprintln!("Not waiting for the cleanup of trace {id}; it goes on in the cluster."),
    }
}
