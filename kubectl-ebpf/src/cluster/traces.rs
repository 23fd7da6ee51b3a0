//! `kubectl ebpf list` and `kubectl ebpf delete`: the traces found on the cluster by
//! their labels, whoever started them.

use std::{collections::BTreeMap, io::Write};

use serde::Serialize;

use k8s_openapi::{api::batch::v1::Job, jiff::Timestamp};
use kube::{Api, api::ListParams};

use super::{
    connect::{api_error, connect},
    manifest::{MANAGED_BY, MANAGED_BY_LABEL, PROBE_ANNOTATION, TARGET_ANNOTATION, TRACE_ID_LABEL},
    objects,
};
use crate::{
    cli::{ClusterArgs, DeleteArgs, ListArgs, ListFormat},
    exit::{self, CliError},
};

/// One trace as its Jobs describe it.
#[derive(Debug, Default)]
struct TraceRow {
    oldest: Option<Timestamp>,
    nodes: usize,
    probe: String,
    target: String,
    active: usize,
    succeeded: usize,
    failed: usize,
    deleting: usize,
}

pub const TRACES_SCHEMA: &str = "kubectl-ebpf/traces/v1";

/// One trace of `list -o json`.
#[derive(Serialize)]
struct ListedTrace<'a> {
    id: &'a str,
    /// When its first Job was created (RFC 3339).
    created: Option<String>,
    age_seconds: Option<i64>,
    nodes: usize,
    probe: &'a str,
    target: &'a str,
    running: usize,
    done: usize,
    failed: usize,
    deleting: usize,
}

pub async fn list(cluster: ClusterArgs, args: ListArgs) -> Result<u8, CliError> {
    let client = connect(&cluster).await?.client;
    let rows = traces(&client, &cluster.job_namespace).await?;
    let now = Timestamp::now();
    let age = |row: &TraceRow| row.oldest.map(|t| now.as_second() - t.as_second());
    match args.output {
        ListFormat::Json | ListFormat::Yaml => {
            let traces: Vec<ListedTrace> = rows
                .iter()
                .map(|(id, row)| ListedTrace {
                    id,
                    created: row.oldest.map(|t| t.to_string()),
                    age_seconds: age(row),
                    nodes: row.nodes,
                    probe: &row.probe,
                    target: &row.target,
                    running: row.active,
                    done: row.succeeded,
                    failed: row.failed,
                    deleting: row.deleting,
                })
                .collect();
            let document = serde_json::json!({ "schema": TRACES_SCHEMA, "traces": traces });
            let mut stdout = std::io::stdout().lock();
            let written = if args.output == ListFormat::Json {
                serde_json::to_writer_pretty(&mut stdout, &document)
                    .map_err(std::io::Error::other)
                    .and_then(|()| writeln!(stdout))
            } else {
                crate::render::write_yaml(&document, &mut stdout)
            };
            if let Err(err) = written
                && err.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(CliError::failure(
                    format!("cannot write the list: {err}"),
                    "",
                ));
            }
        }
        ListFormat::Table | ListFormat::Wide => {
            if rows.is_empty() {
                eprintln!("No traces in namespace {}.", cluster.job_namespace);
                return Ok(exit::SUCCESS);
            }
            let wide = args.output == ListFormat::Wide;
            let mut header = vec!["ID", "AGE", "NODES", "PROBE", "TARGET", "STATE"];
            if wide {
                header.push("CREATED");
            }
            let mut table = crate::render::table(header);
            for (id, row) in &rows {
                let mut cells = vec![
                    id.clone(),
                    age(row).map(format_age).unwrap_or_default(),
                    row.nodes.to_string(),
                    row.probe.clone(),
                    row.target.clone(),
                    row.state(),
                ];
                if wide {
                    cells.push(row.oldest.map(|t| t.to_string()).unwrap_or_default());
                }
                table.add_row(cells);
            }
            println!("{table}");
        }
    }
    Ok(exit::SUCCESS)
}

pub async fn delete(cluster: ClusterArgs, args: DeleteArgs) -> Result<u8, CliError> {
    let client = connect(&cluster).await?.client;
    let namespace = &cluster.job_namespace;
    let existing = traces(&client, namespace).await?;
    let ids: Vec<String> = if args.all {
        existing.keys().cloned().collect()
    } else {
        args.ids.clone()
    };
    for id in &args.ids {
        if !existing.contains_key(id) {
            return Err(CliError::usage(
                format!("no trace {id} in namespace {namespace}"),
                "`kubectl ebpf list` shows the traces",
            ));
        }
    }
    for id in &ids {
        objects::delete_trace(&client, namespace, id).await?;
    }
    for id in &ids {
        let left =
            objects::wait_gone(&client, namespace, id, std::time::Duration::from_secs(60)).await?;
        if left == 0 {
            eprintln!("trace {id} deleted");
        } else {
            eprintln!("trace {id}: {left} object(s) are still being deleted");
        }
    }
    Ok(exit::SUCCESS)
}

async fn traces(
    client: &kube::Client,
    namespace: &str,
) -> Result<BTreeMap<String, TraceRow>, CliError> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let listed = jobs
        .list(&ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}")))
        .await
        .map_err(|err| api_error(&format!("listing traces in namespace {namespace}"), err))?;
    let mut rows: BTreeMap<String, TraceRow> = BTreeMap::new();
    for job in listed.items {
        let Some(id) = job
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(TRACE_ID_LABEL))
        else {
            continue;
        };
        let row = rows.entry(id.clone()).or_default();
        row.nodes += 1;
        let annotations = job.metadata.annotations.clone().unwrap_or_default();
        row.probe = annotations
            .get(PROBE_ANNOTATION)
            .cloned()
            .unwrap_or_default();
        row.target = annotations
            .get(TARGET_ANNOTATION)
            .cloned()
            .unwrap_or_default();
        if let Some(created) = &job.metadata.creation_timestamp {
            let created = created.0;
            row.oldest = Some(row.oldest.map_or(created, |t| t.min(created)));
        }
        let status = job.status.unwrap_or_default();
        if job.metadata.deletion_timestamp.is_some() {
            row.deleting += 1;
        } else if status.failed.unwrap_or(0) > 0 {
            row.failed += 1;
        } else if status.succeeded.unwrap_or(0) > 0 {
            row.succeeded += 1;
        } else {
            row.active += 1;
        }
    }
    Ok(rows)
}

impl TraceRow {
    fn state(&self) -> String {
        let parts = [
            (self.active, "running"),
            (self.succeeded, "done"),
            (self.failed, "failed"),
            (self.deleting, "deleting"),
        ];
        parts
            .iter()
            .filter(|(count, _)| *count > 0)
            .map(|(count, what)| format!("{count} {what}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// kubectl's age format: 45s, 3m12s, 2h5m, 4d.
fn format_age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..120 => format!("{s}s"),
        120..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(format_age(5), "5s");
        assert_eq!(format_age(192), "3m12s");
        assert_eq!(format_age(7500), "2h5m");
        assert_eq!(format_age(400_000), "4d");
        assert_eq!(format_age(-3), "0s");
    }

    #[test]
    fn state_counts_jobs() {
        let row = TraceRow {
            active: 2,
            failed: 1,
            ..TraceRow::default()
        };
        assert_eq!(row.state(), "2 running, 1 failed");
    }
}
