//! The objects one trace creates: one Job per node that runs `tracer-job` pinned to that
//! node, each carrying its node's spec in its pod's annotation (read through a downward
//! API volume). Cleanup never depends on the plugin: each Job has a deadline and a TTL,
//! and a Job is the only object a trace makes, so a plugin killed at any moment leaves
//! nothing those do not remove. Everything carries the trace id as a label.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        batch::v1::{Job, JobSpec},
        core::v1::{
            Capabilities, Container, DownwardAPIVolumeFile, DownwardAPIVolumeSource,
            HostPathVolumeSource, Namespace, ObjectFieldSelector, PodSpec, PodTemplateSpec,
            ResourceRequirements, SeccompProfile, SecurityContext, Toleration, Volume, VolumeMount,
        },
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};
use tracer_protocol::{ProbeSpec, TraceSpec};

/// Labels every object of every trace carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "kubectl-ebpf";
/// Label naming the trace an object belongs to.
pub const TRACE_ID_LABEL: &str = "kubectl-ebpf.io/trace-id";
/// Annotations for `kubectl ebpf list`.
pub const NODE_ANNOTATION: &str = "kubectl-ebpf.io/node";
pub const TARGET_ANNOTATION: &str = "kubectl-ebpf.io/target";
pub const PROBE_ANNOTATION: &str = "kubectl-ebpf.io/probe";
/// The pod annotation holding the node's trace spec, as JSON.
pub const SPEC_ANNOTATION: &str = "kubectl-ebpf.io/spec";
/// Most bytes of spec one Job carries: the API server allows 256 KiB of annotations per
/// object, and the other annotations need room too.
pub const MAX_SPEC_ANNOTATION_BYTES: usize = 240 * 1024;

/// The tracer's container name, and where its spec is mounted.
pub const TRACER_CONTAINER: &str = "tracer";
const SPEC_DIR: &str = "/etc/kubectl-ebpf";
const SPEC_FILE: &str = "spec.json";

/// Time a tracer gets beyond its duration to start, flush and exit before its Job's
/// deadline ends it.
pub const DEADLINE_GRACE_SECS: i64 = 120;
/// Deadline of a trace that runs until Ctrl-C.
pub const OPEN_ENDED_DEADLINE_SECS: i64 = 3600;
/// How long a finished Job (and, through ownership, its pod) stays.
pub const TTL_AFTER_FINISHED_SECS: i32 = 120;

/// The tracer image this build of the plugin was released with.
pub fn default_image() -> String {
    format!("ghcr.io/kubectl-ebpf/tracer:v{}", env!("CARGO_PKG_VERSION"))
}

/// Everything the manifests are made from.
#[derive(Clone, Debug)]
pub struct TraceLaunch {
    pub trace_id: String,
    pub job_namespace: String,
    pub image: String,
    pub privileged: bool,
    pub probe: String,
    /// The targets as the user typed them, for `list`.
    pub target: String,
    /// One spec per node.
    pub specs: BTreeMap<String, TraceSpec>,
}

impl TraceLaunch {
    /// Job names use the node's index: node names can be too long for a Job's name.
    pub fn job_name(&self, index: usize) -> String {
        format!("kubectl-ebpf-{}-{index}", self.trace_id)
    }

    /// Every node's Job name.
    pub fn job_names(&self) -> BTreeMap<String, String> {
        self.specs
            .keys()
            .enumerate()
            .map(|(index, node)| (node.clone(), self.job_name(index)))
            .collect()
    }

    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
            (TRACE_ID_LABEL.to_owned(), self.trace_id.clone()),
        ])
    }

    fn deadline_secs(&self) -> i64 {
        let longest_ms = self
            .specs
            .values()
            .map(|spec| spec.duration_ms)
            .max()
            .flatten();
        match longest_ms {
            Some(ms) => {
                i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX / 2) + DEADLINE_GRACE_SECS
            }
            None => OPEN_ENDED_DEADLINE_SECS,
        }
    }

    /// The first node whose spec is too big for its Job to carry, with the spec's size.
    pub fn oversized_spec(&self) -> Option<(String, usize)> {
        self.specs.iter().find_map(|(node, spec)| {
            let size = serde_json::to_string(spec).map_or(0, |json| json.len());
            (size > MAX_SPEC_ANNOTATION_BYTES).then(|| (node.clone(), size))
        })
    }

    fn annotations(&self, node: Option<&str>) -> BTreeMap<String, String> {
        let mut annotations = BTreeMap::from([
            (PROBE_ANNOTATION.to_owned(), self.probe.clone()),
            (TARGET_ANNOTATION.to_owned(), self.target.clone()),
        ]);
        if let Some(node) = node {
            annotations.insert(NODE_ANNOTATION.to_owned(), node.to_owned());
        }
        annotations
    }

    /// One Job per node, in node order.
    pub fn jobs(&self) -> Vec<Job> {
        self.specs
            .iter()
            .enumerate()
            .map(|(index, (node, spec))| {
                let json = serde_json::to_string(spec).unwrap_or_default();
                self.job(index, node, json)
            })
            .collect()
    }

    fn job(&self, index: usize, node: &str, spec_json: String) -> Job {
        let mut pod_annotations = self.annotations(Some(node));
        pod_annotations.insert(SPEC_ANNOTATION.to_owned(), spec_json);
        let metadata = ObjectMeta {
            name: Some(self.job_name(index)),
            namespace: Some(self.job_namespace.clone()),
            labels: Some(self.labels()),
            annotations: Some(self.annotations(Some(node))),
            ..ObjectMeta::default()
        };
        Job {
            metadata: metadata.clone(),
            spec: Some(JobSpec {
                backoff_limit: Some(0),
                active_deadline_seconds: Some(self.deadline_secs()),
                ttl_seconds_after_finished: Some(TTL_AFTER_FINISHED_SECS),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(self.labels()),
                        annotations: Some(pod_annotations),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(self.pod_spec(node)),
                },
                ..JobSpec::default()
            }),
            ..Job::default()
        }
    }

    fn pod_spec(&self, node: &str) -> PodSpec {
        PodSpec {
            node_name: Some(node.to_owned()),
            // Tracing a node that is cordoned or tainted is the point of an incident tool.
            tolerations: Some(vec![Toleration {
                operator: Some("Exists".to_owned()),
                ..Toleration::default()
            }]),
            restart_policy: Some("Never".to_owned()),
            host_pid: Some(true),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(30),
            priority_class_name: None,
            containers: vec![Container {
                name: TRACER_CONTAINER.to_owned(),
                image: Some(self.image.clone()),
                image_pull_policy: Some("IfNotPresent".to_owned()),
                command: Some(vec!["/tracer-job".to_owned()]),
                args: Some(vec![format!("{SPEC_DIR}/{SPEC_FILE}")]),
                security_context: Some(self.security_context(self.specs.get(node))),
                resources: Some(ResourceRequirements {
                    requests: Some(BTreeMap::from([
                        ("cpu".to_owned(), Quantity("10m".to_owned())),
                        ("memory".to_owned(), Quantity("32Mi".to_owned())),
                    ])),
                    // BPF maps are charged to the container's memory cgroup.
                    limits: Some(BTreeMap::from([(
                        "memory".to_owned(),
                        Quantity("512Mi".to_owned()),
                    )])),
                    ..ResourceRequirements::default()
                }),
                volume_mounts: Some(vec![
                    mount("spec", SPEC_DIR),
                    mount("cgroup", "/sys/fs/cgroup"),
                    mount("tracefs", "/sys/kernel/tracing"),
                ]),
                termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
                ..Container::default()
            }],
            volumes: Some(vec![
                Volume {
                    name: "spec".to_owned(),
                    downward_api: Some(DownwardAPIVolumeSource {
                        items: Some(vec![DownwardAPIVolumeFile {
                            path: SPEC_FILE.to_owned(),
                            field_ref: Some(ObjectFieldSelector {
                                field_path: format!("metadata.annotations['{SPEC_ANNOTATION}']"),
                                api_version: None,
                            }),
                            ..DownwardAPIVolumeFile::default()
                        }]),
                        ..DownwardAPIVolumeSource::default()
                    }),
                    ..Volume::default()
                },
                host_path("cgroup", "/sys/fs/cgroup"),
                host_path("tracefs", "/sys/kernel/tracing"),
            ]),
            ..PodSpec::default()
        }
    }

    fn security_context(&self, spec: Option<&TraceSpec>) -> SecurityContext {
        if self.privileged {
            return SecurityContext {
                privileged: Some(true),
                read_only_root_filesystem: Some(true),
                run_as_user: Some(0),
                ..SecurityContext::default()
            };
        }
        SecurityContext {
            privileged: Some(false),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_user: Some(0),
            capabilities: Some(Capabilities {
                add: Some(capabilities(spec)),
                drop: Some(vec!["ALL".to_owned()]),
            }),
            // Runtime default profiles of older runtimes refuse bpf() without SYS_ADMIN.
            seccomp_profile: Some(SeccompProfile {
                type_: "Unconfined".to_owned(),
                localhost_profile: None,
            }),
            ..SecurityContext::default()
        }
    }

    /// The namespace Jobs run in, when it has to be created.
    pub fn namespace(&self) -> Namespace {
        jobs_namespace(&self.job_namespace)
    }
}

/// What the tracer of `spec` needs and nothing more. BPF loads programs and maps,
/// PERFMON attaches tracing programs, SYS_RESOURCE lets kernels before 5.11 raise the
/// memlock limit. The profiler symbolizes on the node: user frames need SYS_PTRACE (to
/// read other processes' /proc/PID/maps and their files through /proc/PID/root), kernel
/// frames need SYSLOG (/proc/kallsyms shows addresses only to it once kptr_restrict is
/// set or perf_event_paranoid is above 1). A script's uprobes find their binaries
/// through /proc/PID/root too, so they need SYS_PTRACE as well, and so do `http` and
/// `http-red` for the OpenSSL libraries of the targets (TLS). The programs inventory
/// lists every program by id and turns on the kernel's run time counting, which only
/// SYS_ADMIN may, and reads other processes' descriptors (SYS_PTRACE).
fn capabilities(spec: Option<&TraceSpec>) -> Vec<String> {
    let mut caps = vec!["BPF", "PERFMON", "SYS_RESOURCE"];
    for probe in spec.map(|spec| spec.probes.as_slice()).unwrap_or_default() {
        let needs: &[(bool, &str)] = match probe {
            ProbeSpec::Profile { user, kernel, .. } => {
                &[(*user, "SYS_PTRACE"), (*kernel, "SYSLOG")]
            }
            ProbeSpec::Uprobe { .. } | ProbeSpec::Http { .. } | ProbeSpec::HttpRed { .. } => {
                &[(true, "SYS_PTRACE")]
            }
            ProbeSpec::Programs {} => &[(true, "SYS_ADMIN"), (true, "SYS_PTRACE")],
            _ => &[],
        };
        for (needed, cap) in needs {
            if *needed && !caps.contains(cap) {
                caps.push(cap);
            }
        }
    }
    caps.into_iter().map(str::to_owned).collect()
}

/// The namespace tracer Jobs run in: the tracer needs host PID and host paths, which
/// only the privileged Pod Security level admits.
pub fn jobs_namespace(name: &str) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
                (
                    "pod-security.kubernetes.io/enforce".to_owned(),
                    "privileged".to_owned(),
                ),
            ])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

fn host_path(name: &str, path: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        host_path: Some(HostPathVolumeSource {
            path: path.to_owned(),
            // No type check: a node without tracefs mounted still starts the tracer,
            // which then says what it lacks.
            type_: None,
        }),
        ..Volume::default()
    }
}

/// A short random trace id (8 hex digits), usable in object names and label values.
pub fn new_trace_id() -> String {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        // Without an entropy source, the clock is unique enough for one user's traces.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use tracer_protocol::Targets;

    use super::*;

    fn launch(privileged: bool, duration_ms: Option<u64>) -> TraceLaunch {
        let mut spec = TraceSpec::new(
            vec![ProbeSpec::SyscallLatency {
                by_syscall: false,
                min_latency_ns: 0,
                per_pod: false,
            }],
            Targets::default(),
        );
        spec.duration_ms = duration_ms;
        let specs = ["node-b", "node-a"]
            .iter()
            .map(|node| {
                let mut spec = spec.clone();
                spec.node = Some((*node).to_owned());
                ((*node).to_owned(), spec)
            })
            .collect();
        TraceLaunch {
            trace_id: "0a1b2c3d".to_owned(),
            job_namespace: "kubectl-ebpf".to_owned(),
            image: "example.com/tracer:v1".to_owned(),
            privileged,
            probe: "syscall-latency".to_owned(),
            target: "deploy/checkout".to_owned(),
            specs,
        }
    }

    #[test]
    fn one_job_per_node_pinned_and_self_expiring() {
        let launch = launch(false, Some(30_000));
        let jobs = launch.jobs();
        assert_eq!(jobs.len(), 2);
        let job = &jobs[0];
        assert_eq!(
            job.metadata.name.as_deref(),
            Some("kubectl-ebpf-0a1b2c3d-0")
        );
        let labels = job.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[TRACE_ID_LABEL], "0a1b2c3d");
        assert_eq!(labels[MANAGED_BY_LABEL], "kubectl-ebpf");
        assert_eq!(
            job.metadata.annotations.as_ref().unwrap()[NODE_ANNOTATION],
            "node-a"
        );
        let spec = job.spec.as_ref().unwrap();
        assert_eq!(spec.backoff_limit, Some(0));
        assert_eq!(spec.active_deadline_seconds, Some(30 + DEADLINE_GRACE_SECS));
        assert_eq!(
            spec.ttl_seconds_after_finished,
            Some(TTL_AFTER_FINISHED_SECS)
        );
        let template_labels = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert_eq!(template_labels[TRACE_ID_LABEL], "0a1b2c3d");
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.node_name.as_deref(), Some("node-a"));
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.host_pid, Some(true));
        assert_eq!(pod.automount_service_account_token, Some(false));
        let toleration = &pod.tolerations.as_ref().unwrap()[0];
        assert_eq!(toleration.operator.as_deref(), Some("Exists"));
        assert!(toleration.key.is_none() && toleration.effect.is_none());
    }

    #[test]
    fn least_privilege_unless_asked() {
        let launch = launch(false, None);
        let job = &launch.jobs()[0];
        let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        let container = &pod.containers[0];
        let security = container.security_context.as_ref().unwrap();
        assert_eq!(security.privileged, Some(false));
        assert_eq!(security.read_only_root_filesystem, Some(true));
        let caps = security.capabilities.as_ref().unwrap();
        assert_eq!(
            caps.add.as_deref().unwrap(),
            ["BPF", "PERFMON", "SYS_RESOURCE"]
        );
        assert_eq!(caps.drop.as_deref().unwrap(), ["ALL"]);
        for mount in container.volume_mounts.as_ref().unwrap() {
            assert_eq!(
                mount.read_only,
                Some(true),
                "{} must be read-only",
                mount.name
            );
        }
        assert_eq!(
            job.spec.as_ref().unwrap().active_deadline_seconds,
            Some(OPEN_ENDED_DEADLINE_SECS)
        );

        let privileged = launch_privileged_pod();
        let security = privileged.containers[0].security_context.as_ref().unwrap();
        assert_eq!(security.privileged, Some(true));
        assert!(security.capabilities.is_none());
    }

    /// The capabilities the unprivileged tracer container of `probe`'s first Job adds.
    fn added_capabilities(probe: ProbeSpec) -> Vec<String> {
        let mut launch = launch(false, None);
        for spec in launch.specs.values_mut() {
            spec.probes = vec![probe.clone()];
        }
        let job = launch.jobs().remove(0);
        let pod = job.spec.unwrap().template.spec.unwrap();
        let security = pod.containers[0].security_context.clone().unwrap();
        security.capabilities.unwrap().add.unwrap()
    }

    #[test]
    fn the_programs_inventory_adds_listing_and_reading_descriptors() {
        assert_eq!(
            added_capabilities(ProbeSpec::Programs {}),
            ["BPF", "PERFMON", "SYS_RESOURCE", "SYS_ADMIN", "SYS_PTRACE"]
        );
    }

    #[test]
    fn the_profiler_adds_what_symbolizing_needs_and_only_it() {
        let profile = |user, kernel| ProbeSpec::Profile {
            frequency_hz: 99,
            user,
            kernel,
            off_cpu: false,
            min_block_ns: 0,
        };
        assert_eq!(
            added_capabilities(profile(true, true)),
            ["BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "SYSLOG"]
        );
        assert_eq!(
            added_capabilities(profile(true, false)),
            ["BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE"]
        );
        assert_eq!(
            added_capabilities(profile(false, true)),
            ["BPF", "PERFMON", "SYS_RESOURCE", "SYSLOG"]
        );
        assert_eq!(
            added_capabilities(ProbeSpec::Exec {
                filter: Default::default()
            }),
            ["BPF", "PERFMON", "SYS_RESOURCE"]
        );
        let uprobe = ProbeSpec::Uprobe {
            functions: vec![tracer_protocol::UprobeFunction {
                binary: "/app/server".into(),
                function: "handle".into(),
                at_return: false,
                read_arg: None,
            }],
        };
        assert_eq!(
            added_capabilities(uprobe),
            ["BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE"]
        );
    }

    fn launch_privileged_pod() -> PodSpec {
        let job = launch(true, None).jobs().remove(0);
        job.spec.unwrap().template.spec.unwrap()
    }

    #[test]
    fn each_job_carries_its_own_spec_and_mounts_it() {
        let launch = launch(false, Some(1000));
        for (index, job) in launch.jobs().iter().enumerate() {
            let template = &job.spec.as_ref().unwrap().template;
            let pod = template.spec.as_ref().unwrap();
            let volume = &pod.volumes.as_ref().unwrap()[0];
            let item = &volume
                .downward_api
                .as_ref()
                .unwrap()
                .items
                .as_ref()
                .unwrap()[0];
            assert_eq!(item.path, "spec.json");
            assert_eq!(
                item.field_ref.as_ref().unwrap().field_path,
                "metadata.annotations['kubectl-ebpf.io/spec']"
            );
            let annotations = template
                .metadata
                .as_ref()
                .unwrap()
                .annotations
                .as_ref()
                .unwrap();
            let spec =
                TraceSpec::parse(annotations[SPEC_ANNOTATION].as_bytes()).expect("valid spec");
            let node = job.metadata.annotations.as_ref().unwrap()[NODE_ANNOTATION].clone();
            assert_eq!(spec.node.as_deref(), Some(node.as_str()), "job {index}");
            assert_eq!(
                pod.containers[0].args.as_deref().unwrap(),
                ["/etc/kubectl-ebpf/spec.json"]
            );
        }
    }

    #[test]
    fn manifests_serialize_as_the_api_expects() {
        let launch = launch(false, Some(1000));
        let job = serde_json::to_value(&launch.jobs()[0]).unwrap();
        assert_eq!(job["apiVersion"], "batch/v1");
        assert_eq!(job["kind"], "Job");
        assert_eq!(job["spec"]["template"]["spec"]["hostPID"], true);
        assert_eq!(
            job["spec"]["template"]["spec"]["volumes"][0]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
            "metadata.annotations['kubectl-ebpf.io/spec']"
        );
    }

    #[test]
    fn a_spec_too_big_for_an_annotation_names_its_node() {
        let mut launch = launch(false, Some(1000));
        let spec = launch.specs.get_mut("node-b").unwrap();
        spec.targets.cgroup_paths = vec!["/a".repeat(MAX_SPEC_ANNOTATION_BYTES / 2)];
        assert_eq!(
            launch.oversized_spec().map(|(node, _)| node).as_deref(),
            Some("node-b")
        );
    }

    #[test]
    fn trace_ids_are_short_hex() {
        let id = new_trace_id();
        assert_eq!(id.len(), 8);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
