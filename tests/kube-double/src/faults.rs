//! Injected failures, set with `--fault JSON` or `POST /double/faults`.

use std::{
    sync::{Mutex, MutexGuard},
    time::Instant,
};

use serde::Deserialize;

use crate::status::ApiError;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// The next `times` requests that match get `status` as a `Status` body.
    Http {
        method: Option<String>,
        path_contains: Option<String>,
        status: u16,
        #[serde(default = "one")]
        times: u32,
        message: Option<String>,
    },
    /// Pods on `node` stay Pending with PodScheduled=False.
    Pending {
        node: String,
        reason: Option<String>,
        message: Option<String>,
    },
    /// Containers whose image contains the text never start: ImagePullBackOff.
    ImagePullBackoff { image_contains: String },
    /// The Job controller cannot create pods in `namespace` (all namespaces when absent).
    JobPodsForbidden {
        namespace: Option<String>,
        message: Option<String>,
    },
    /// `after_ms` after the fault arrives the node stops: NotReady (Unknown), processes
    /// killed, log streams cut, pods left as they were.
    NodeLost {
        node: String,
        #[serde(default)]
        after_ms: u64,
    },
    /// The first follow stream of a matching pod is cut after `after_bytes`.
    LogCut {
        pod_contains: String,
        after_bytes: usize,
    },
    /// The first watch whose path contains the text ends after `after_events` events;
    /// with `expire`, the watch that resumes it from a resourceVersion is told 410
    /// Expired, so the client must list again.
    WatchCut {
        path_contains: String,
        after_events: usize,
        #[serde(default)]
        expire: bool,
    },
    /// Set by an expiring `WatchCut`: the next resumed watch of the path gets 410.
    #[serde(skip)]
    ExpireResume { path_contains: String },
}

fn one() -> u32 {
    1
}

#[derive(Debug)]
struct Active {
    fault: Fault,
    remaining: u32,
    #[expect(dead_code, reason = "kept for debugging output")]
    since: Instant,
}

#[derive(Debug, Default)]
pub struct Faults {
    active: Mutex<Vec<Active>>,
}

pub fn parse(json: &str) -> Result<Fault, String> {
    let fault: Fault =
        serde_json::from_str(json).map_err(|e| format!("invalid fault {json}: {e}"))?;
    if let Fault::Http { status, .. } = &fault
        && !(400..=599).contains(status)
    {
        return Err(format!("fault status {status} is not an HTTP error code"));
    }
    Ok(fault)
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, Vec<Active>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(&self, fault: Fault) {
        let remaining = match &fault {
            Fault::Http { times, .. } => *times,
            _ => 1,
        };
        self.lock().push(Active {
            fault,
            remaining,
            since: Instant::now(),
        });
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn list(&self) -> Vec<Fault> {
        self.lock().iter().map(|a| a.fault.clone()).collect()
    }

    /// Consumes one matching HTTP fault and returns the error to answer with.
    pub fn http(&self, method: &str, path: &str) -> Option<ApiError> {
        let mut active = self.lock();
        let (idx, err) = active.iter().enumerate().find_map(|(i, a)| {
            let Fault::Http {
                method: m,
                path_contains,
                status,
                message,
                ..
            } = &a.fault
            else {
                return None;
            };
            let hit = a.remaining > 0
                && m.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
                && path_contains.as_deref().is_none_or(|p| path.contains(p));
            hit.then(|| (i, http_error(*status, message.clone())))
        })?;
        active[idx].remaining -= 1;
        if active[idx].remaining == 0 {
            active.remove(idx);
        }
        Some(err)
    }

    pub fn pending(&self, node: &str) -> Option<(String, String)> {
        self.lock().iter().find_map(|a| match &a.fault {
            Fault::Pending {
                node: n,
                reason,
                message,
            } if n == node => Some((
                reason.clone().unwrap_or_else(|| "Unschedulable".into()),
                message.clone().unwrap_or_else(|| {
                    "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.".into()
                }),
            )),
            _ => None,
        })
    }

    pub fn image_pull_backoff(&self, image: &str) -> bool {
        self.lock().iter().any(|a| {
            matches!(&a.fault, Fault::ImagePullBackoff { image_contains } if image.contains(image_contains.as_str()))
        })
    }

    /// `Some(message)` when Job pods may not be created in `namespace`.
    pub fn job_pods_forbidden(&self, namespace: &str) -> Option<Option<String>> {
        self.lock().iter().find_map(|a| match &a.fault {
            Fault::JobPodsForbidden {
                namespace: ns,
                message,
            } if ns.as_deref().is_none_or(|ns| ns == namespace) => Some(message.clone()),
            _ => None,
        })
    }

    /// Consumes a log-cut fault for this pod, returning the byte budget.
    pub fn take_log_cut(&self, pod: &str) -> Option<usize> {
        let mut active = self.lock();
        let idx = active.iter().position(|a| {
            matches!(&a.fault, Fault::LogCut { pod_contains, .. } if pod.contains(pod_contains.as_str()))
        })?;
        match active.remove(idx).fault {
            Fault::LogCut { after_bytes, .. } => Some(after_bytes),
            _ => None,
        }
    }
}

impl Faults {
    /// Consumes a watch-cut fault for this watch path: how many events it may carry.
    pub fn take_watch_cut(&self, path: &str) -> Option<usize> {
        let mut active = self.lock();
        let idx = active.iter().position(|a| {
            matches!(&a.fault, Fault::WatchCut { path_contains, .. } if path.contains(path_contains.as_str()))
        })?;
        let Fault::WatchCut {
            path_contains,
            after_events,
            expire,
        } = active.remove(idx).fault
        else {
            return None;
        };
        if expire {
            active.push(Active {
                fault: Fault::ExpireResume { path_contains },
                remaining: 1,
                since: Instant::now(),
            });
        }
        Some(after_events)
    }

    /// Consumes the expiry a cut watch left for the watch that resumes it.
    pub fn take_expired_resume(&self, path: &str) -> bool {
        let mut active = self.lock();
        let Some(idx) = active.iter().position(|a| {
            matches!(&a.fault, Fault::ExpireResume { path_contains } if path.contains(path_contains.as_str()))
        }) else {
            return false;
        };
        active.remove(idx);
        true
    }
}

fn http_error(status: u16, message: Option<String>) -> ApiError {
    let (reason, default): (&'static str, &str) = match status {
        403 => (
            "Forbidden",
            "jobs.batch is forbidden: User \"kube-double\" cannot create resource \"jobs\" in API group \"batch\" in the namespace \"default\"",
        ),
        404 => (
            "NotFound",
            "the server could not find the requested resource",
        ),
        409 => (
            "Conflict",
            "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
        ),
        410 => ("Expired", "too old resource version"),
        422 => ("Invalid", "the request is invalid"),
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted",
        ),
        400 => (
            "BadRequest",
            "the server rejected our request for an unknown reason",
        ),
        _ => (
            "InternalError",
            "Internal error occurred: the server encountered an unexpected condition",
        ),
    };
    let mut err = ApiError::new(
        status,
        reason,
        message.unwrap_or_else(|| default.to_string()),
    );
    if status == 429 {
        err.retry_after = Some(1);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_fault_counts_down() {
        let faults = Faults::default();
        faults.add(
            parse(
                r#"{"kind":"http","method":"POST","path_contains":"/jobs","status":429,"times":2}"#,
            )
            .expect("valid"),
        );
        assert!(faults.http("GET", "/apis/batch/v1/jobs").is_none());
        let err = faults
            .http("POST", "/apis/batch/v1/namespaces/x/jobs")
            .expect("hit");
        assert_eq!(
            (err.code, err.reason, err.retry_after),
            (429, "TooManyRequests", Some(1))
        );
        assert!(faults.http("POST", "/jobs").is_some());
        assert!(faults.http("POST", "/jobs").is_none());
        assert!(parse(r#"{"kind":"nope"}"#).is_err());
    }

    #[test]
    fn an_expiring_watch_cut_expires_the_resume_once() {
        let faults = Faults::default();
        faults.add(
            parse(r#"{"kind":"watch-cut","path_contains":"/pods","after_events":1,"expire":true}"#)
                .expect("valid"),
        );
        assert!(!faults.take_expired_resume("/api/v1/pods"));
        assert_eq!(faults.take_watch_cut("/api/v1/pods"), Some(1));
        assert_eq!(faults.take_watch_cut("/api/v1/pods"), None);
        assert!(faults.take_expired_resume("/api/v1/pods"));
        assert!(!faults.take_expired_resume("/api/v1/pods"));
        assert!(parse(r#"{"kind":"expire-resume","path_contains":"/pods"}"#).is_err());
    }
}
