//! Jobs: pods from the template until `completions` succeed or `backoffLimit` is exceeded;
//! `activeDeadlineSeconds` and `ttlSecondsAfterFinished`. Pods carry the
//! `batch.kubernetes.io/job-tracking` finalizer until the Job has counted them.

use std::{
    collections::HashMap,
    time::{Duration, Instant, SystemTime},
};

use serde_json::{Value, json};

use super::{
    condition_true, is_active, is_deleting, meta, pod_from_template, pod_ready, record_event,
    set_condition, set_count,
};
use crate::{
    clock,
    cluster::Cluster,
    resources,
    store::{DeleteOptions, Propagation, add_finalizer, remove_finalizer},
};

pub const TRACKING: &str = "batch.kubernetes.io/job-tracking";

#[derive(Default)]
pub struct State {
    /// When pod creation last failed per Job uid, so a forbidden namespace is retried
    /// about once a second rather than on every pass.
    failed_create: HashMap<String, Instant>,
}

fn finished(job: &Value) -> bool {
    let c = &job["status"]["conditions"];
    condition_true(c, "Complete") || condition_true(c, "Failed")
}

fn since(timestamp: &Value) -> Option<Duration> {
    let t = clock::parse_rfc3339(timestamp.as_str()?)?;
    SystemTime::now().duration_since(t).ok()
}

fn finish_time(job: &Value) -> Option<&Value> {
    if !job["status"]["completionTime"].is_null() {
        return Some(&job["status"]["completionTime"]);
    }
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Failed" && c["status"] == "True")
        .map(|c| &c["lastTransitionTime"])
}

pub fn reconcile(cluster: &Cluster, state: &mut State) {
    let store = &cluster.store;
    let pods_res = resources::by_plural("pods");
    // Count and release finished pods, including those whose Job is gone.
    let tracked = store.scan("pods", |p| {
        let has = p["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == TRACKING));
        (has && (crate::store::is_terminal_pod(p) || is_deleting(p))).then(|| p.clone())
    });
    let mut counted: HashMap<String, (usize, usize)> = HashMap::new();
    for p in tracked {
        let released = store.mutate("pods", meta(&p, "namespace"), meta(&p, "name"), |p| {
            remove_finalizer(p, TRACKING);
        });
        if released.is_some()
            && let Some(uid) = super::controller_uid(&p)
        {
            let entry = counted.entry(uid.to_string()).or_default();
            if p["status"]["phase"] == "Succeeded" {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
    }
    // Finished Jobs need a look only when their TTL is up.
    let jobs = store.scan("jobs", |j| {
        let ttl_due = j["spec"]["ttlSecondsAfterFinished"]
            .as_u64()
            .zip(finish_time(j).and_then(since))
            .is_some_and(|(ttl, elapsed)| elapsed >= cluster.opts.job_seconds(ttl));
        (!finished(j) || ttl_due || counted.contains_key(meta(j, "uid"))).then(|| j.clone())
    });
    let index = super::pods_by_controller(store);
    for job in &jobs {
        let (ns, name, uid) = (meta(job, "namespace"), meta(job, "name"), meta(job, "uid"));
        let (new_ok, new_failed) = counted.get(uid).copied().unwrap_or_default();
        let job = if new_ok + new_failed > 0 {
            match store.mutate("jobs", ns, name, |j| {
                let s = &mut j["status"];
                let ok = s["succeeded"].as_u64().unwrap_or(0) as usize + new_ok;
                let failed = s["failed"].as_u64().unwrap_or(0) as usize + new_failed;
                set_count(s, "succeeded", ok);
                set_count(s, "failed", failed);
            }) {
                Some(j) => j,
                None => continue,
            }
        } else {
            job.clone()
        };
        if is_deleting(&job) {
            continue;
        }
        if finished(&job) {
            let ttl = job["spec"]["ttlSecondsAfterFinished"].as_u64();
            if let (Some(ttl), Some(elapsed)) = (ttl, finish_time(&job).and_then(since))
                && elapsed >= cluster.opts.job_seconds(ttl)
            {
                let opts = DeleteOptions {
                    propagation: Some(Propagation::Background),
                    ..Default::default()
                };
                let _ = store.delete(resources::by_plural("jobs"), ns, name, &opts);
            }
            continue;
        }
        if job["spec"]["suspend"] == true {
            continue;
        }
        let mut pods = index.get(uid).cloned().unwrap_or_default();
        let active: Vec<&Value> = pods.iter().filter(|p| is_active(p)).collect();
        let status = &job["status"];
        let succeeded = status["succeeded"].as_u64().unwrap_or(0);
        let failed = status["failed"].as_u64().unwrap_or(0);
        let completions = job["spec"]["completions"].as_u64().unwrap_or(1);
        let parallelism = job["spec"]["parallelism"].as_u64().unwrap_or(1);
        let backoff_limit = job["spec"]["backoffLimit"].as_u64().unwrap_or(6);
        let deadline = job["spec"]["activeDeadlineSeconds"].as_u64();
        let kill_active = |reason: &str| {
            for p in &active {
                let _ = store.delete(pods_res, ns, meta(p, "name"), &DeleteOptions::default());
            }
            record_event(
                store,
                &job,
                "Warning",
                reason,
                &failure_message(reason),
                "job-controller",
            );
        };
        let failure = if deadline.is_some_and(|d| {
            since(&status["startTime"]).is_some_and(|e| e >= cluster.opts.job_seconds(d))
        }) {
            Some("DeadlineExceeded")
        } else if failed > backoff_limit {
            Some("BackoffLimitExceeded")
        } else {
            None
        };
        if let Some(reason) = failure {
            kill_active(reason);
            store.mutate("jobs", ns, name, |j| {
                set_count(&mut j["status"], "active", 0);
                j["status"]["ready"] = json!(0);
                set_condition(j, "FailureTarget", "True", reason, &failure_message(reason));
                set_condition(j, "Failed", "True", reason, &failure_message(reason));
            });
            continue;
        }
        if succeeded >= completions {
            let now = clock::now();
            store.mutate("jobs", ns, name, |j| {
                set_count(&mut j["status"], "active", 0);
                j["status"]["ready"] = json!(0);
                j["status"]["completionTime"] = json!(now);
                set_condition(
                    j,
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                );
                set_condition(
                    j,
                    "Complete",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                );
            });
            record_event(
                store,
                &job,
                "Normal",
                "Completed",
                "Job completed",
                "job-controller",
            );
            continue;
        }
        let mut active_count = active.len() as u64;
        let wanted = parallelism.min(completions.saturating_sub(succeeded));
        let retry_ok = state
            .failed_create
            .get(uid)
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        while active_count < wanted && retry_ok {
            let mut pod = pod_from_template(&job, &job["spec"]["template"], None);
            add_finalizer(&mut pod, TRACKING);
            if let Some(message) = cluster.faults.job_pods_forbidden(ns) {
                state.failed_create.insert(uid.to_string(), Instant::now());
                let message = message.unwrap_or_else(|| forbidden_message(&job));
                record_event(
                    store,
                    &job,
                    "Warning",
                    "FailedCreate",
                    &message,
                    "job-controller",
                );
                break;
            }
            match store.create(pods_res, ns, pod) {
                Ok(p) => {
                    record_event(
                        store,
                        &job,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {}", meta(&p, "name")),
                        "job-controller",
                    );
                    active_count += 1;
                    pods.push(p);
                }
                Err(_) => break,
            }
        }
        let active: Vec<&Value> = pods.iter().filter(|p| is_active(p)).collect();
        let ready = active.iter().filter(|p| pod_ready(p)).count();
        let now = clock::now();
        store.mutate("jobs", ns, name, |j| {
            let s = &mut j["status"];
            if s["startTime"].is_null() {
                s["startTime"] = json!(now);
            }
            set_count(s, "active", active.len());
            s["ready"] = json!(ready);
            s["terminating"] = json!(pods.iter().filter(|p| is_deleting(p)).count());
            s["uncountedTerminatedPods"] = json!({});
        });
    }
}

fn failure_message(reason: &str) -> String {
    match reason {
        "DeadlineExceeded" => "Job was active longer than specified deadline".into(),
        _ => "Job has reached the specified backoff limit".into(),
    }
}

/// What Pod Security admission says about a privileged tracer pod.
fn forbidden_message(job: &Value) -> String {
    let spec = &job["spec"]["template"]["spec"];
    let mut violations = Vec::new();
    if spec["hostPID"] == true {
        violations.push("host namespaces (hostPID=true)".to_string());
    }
    let host_paths: Vec<String> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| !v["hostPath"].is_null())
        .map(|v| format!("\"{}\"", v["name"].as_str().unwrap_or_default()))
        .collect();
    if !host_paths.is_empty() {
        violations.push(format!(
            "hostPath volumes (volumes {})",
            host_paths.join(", ")
        ));
    }
    for c in spec["containers"].as_array().into_iter().flatten() {
        if c["securityContext"]["privileged"] == true {
            violations.push(format!(
                "privileged (container \"{}\" must not set securityContext.privileged=true)",
                c["name"].as_str().unwrap_or_default()
            ));
        }
    }
    if violations.is_empty() {
        violations.push("host namespaces (hostPID=true)".into());
    }
    format!(
        "Error creating: pods \"{}-{}\" is forbidden: violates PodSecurity \"baseline:latest\": {}",
        meta(job, "name"),
        crate::ids::name_suffix(),
        violations.join(", ")
    )
}
