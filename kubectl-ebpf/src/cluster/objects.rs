//! Creating a trace's objects, and deleting them again. Creation is all or nothing: when
//! one object is refused, the ones already made are deleted before the error is shown.

use std::time::Duration;

use k8s_openapi::api::{
    batch::v1::Job,
    core::v1::{Namespace, Pod},
};
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, ListParams, PostParams},
};

use super::{
    connect::{api_error, is_already_exists, is_not_found, retry},
    manifest::{MANAGED_BY, MANAGED_BY_LABEL, TRACE_ID_LABEL, TraceLaunch},
};
use crate::{
    exit::{self, CliError},
    interrupt::Interrupts,
};

/// Creates the namespace (when missing) and every Job. An interrupt stops it between two
/// Jobs (a request under way is finished, so no Job appears after the cleanup has
/// listed them); the Jobs made are deleted and the answer is `false`.
pub async fn create(
    client: &Client,
    launch: &TraceLaunch,
    interrupts: &mut Interrupts,
) -> Result<bool, CliError> {
    ensure_namespace(client, launch).await?;
    let namespace = launch.job_namespace.as_str();
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    for job in launch.jobs() {
        if interrupts.take() {
            delete_trace(client, namespace, &launch.trace_id).await?;
            return Ok(false);
        }
        if let Err(err) = create_once(&jobs, &job).await {
            let name = job.metadata.name.unwrap_or_default();
            let error = refusal(&format!("creating Job {name}"), namespace, err);
            // Nothing half-created: take back what was made.
            let _ = delete_trace(client, namespace, &launch.trace_id).await;
            return Err(error);
        }
    }
    Ok(true)
}

/// Creates an object, retrying transient failures. Our names are unique to the trace, so
/// an AlreadyExists after a failed attempt means that attempt did create it.
async fn create_once<K>(api: &Api<K>, object: &K) -> Result<K, kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug + Resource,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let mut attempts = 0;
    retry(|| {
        attempts += 1;
        let first = attempts == 1;
        let name = name.clone();
        async move {
            match api.create(&PostParams::default(), object).await {
                Err(err) if !first && is_already_exists(&err) => api.get(&name).await,
                other => other,
            }
        }
    })
    .await
}

/// The jobs namespace must exist; when it does not and we may create it, we do (it is
/// shared by every trace and stays).
async fn ensure_namespace(client: &Client, launch: &TraceLaunch) -> Result<(), CliError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.get(&launch.job_namespace).await {
        Ok(_) => Ok(()),
        Err(err) if is_not_found(&err) => namespaces
            .create(&PostParams::default(), &launch.namespace())
            .await
            .map(|_| ())
            .map_err(|err| {
                let mut error = api_error(
                    &format!("creating the jobs namespace {}", launch.job_namespace),
                    err,
                );
                error.hint = format!(
                    "ask an admin to create namespace {} with the label \
                     pod-security.kubernetes.io/enforce=privileged, or pick one with --job-namespace",
                    launch.job_namespace
                );
                error
            }),
        // Reading namespaces may be forbidden while creating Jobs in one is allowed.
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(()),
        Err(err) => Err(api_error("looking up the jobs namespace", err)),
    }
}

/// A refused create, explained: RBAC (who may do what) or admission (Pod Security).
fn refusal(doing: &str, namespace: &str, err: kube::Error) -> CliError {
    let mut error = api_error(doing, err);
    if error.code == exit::PERMISSION {
        error.hint = if error.message.contains("PodSecurity") {
            format!(
                "the tracer needs host PID and host paths: label namespace {namespace} with \
                 pod-security.kubernetes.io/enforce=privileged, or use --job-namespace"
            )
        } else {
            format!(
                "you need create/delete on jobs in namespace {namespace} \
                 (docs/rbac.md), or pick another with --job-namespace"
            )
        };
    }
    error
}

/// Deletes every Job of one trace, with its pods (foreground).
pub async fn delete_trace(
    client: &Client,
    namespace: &str,
    trace_id: &str,
) -> Result<(), CliError> {
    let selector = format!("{TRACE_ID_LABEL}={trace_id},{MANAGED_BY_LABEL}={MANAGED_BY}");
    let params = ListParams::default().labels(&selector);
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let listed = retry(|| jobs.list(&params))
        .await
        .map_err(|err| api_error("listing the trace's Jobs", err))?;
    for job in listed.items {
        let name = job.metadata.name.unwrap_or_default();
        // Foreground: the pods go first, so their tracers get SIGTERM and flush.
        let foreground = DeleteParams::foreground();
        match retry(|| jobs.delete(&name, &foreground)).await {
            Ok(_) => {}
            Err(err) if is_not_found(&err) => {}
            Err(err) => return Err(api_error(&format!("deleting Job {name}"), err)),
        }
    }
    Ok(())
}

/// How many of the trace's Jobs and pods still exist.
pub async fn remaining(
    client: &Client,
    namespace: &str,
    trace_id: &str,
) -> Result<usize, CliError> {
    let params = ListParams::default().labels(&format!("{TRACE_ID_LABEL}={trace_id}"));
    let jobs = Api::<Job>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .map_err(|err| api_error("listing the trace's Jobs", err))?;
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&params)
        .await
        .map_err(|err| api_error("listing the trace's pods", err))?;
    Ok(jobs.items.len() + pods.items.len())
}

/// Waits until nothing of the trace is left, or `timeout` passes. Returns what is left.
pub async fn wait_gone(
    client: &Client,
    namespace: &str,
    trace_id: &str,
    timeout: Duration,
) -> Result<usize, CliError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = remaining(client, namespace, trace_id).await?;
        if left == 0 || tokio::time::Instant::now() >= deadline {
            return Ok(left);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
