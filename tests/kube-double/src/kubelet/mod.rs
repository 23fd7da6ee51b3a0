//! Simulated kubelets, one per node, all on this machine: each bound pod gets a QoS class,
//! real cgroup v2 directories laid out as kubelet lays them out, and its containers run as
//! real local processes whose output becomes the container log.

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::{
    clock,
    cluster::{self, CgroupDriver, Cluster, Options, Runtime},
    controllers::{record_event, set_condition},
    faults::Fault,
    ids, qos, resources,
    store::{DeleteOptions, is_terminal_pod},
};

pub mod cgroups;
pub mod logs;
mod process;
mod volumes;

use logs::LogBuf;

/// Images containing this run the tracer binary given to the double.
pub const TRACER_IMAGE: &str = "kubectl-ebpf/tracer";
/// Longest a deleted pod's processes get between SIGTERM and SIGKILL.
const MAX_GRACE: Duration = Duration::from_secs(3);

pub struct Kubelet {
    driver: CgroupDriver,
    runtime: Runtime,
    tracer_job: PathBuf,
    replay: Option<Arc<Vec<String>>>,
    /// `<cgroup2 mount>/kube-double-<pid>`, when cgroups can be made here.
    root: Option<PathBuf>,
    scratch: PathBuf,
    pods: Mutex<HashMap<String, Arc<PodRuntime>>>,
    lost: Mutex<HashSet<String>>,
    next_ip: Mutex<HashMap<String, u32>>,
}

struct Ctr {
    name: String,
    image: String,
    cid: Option<String>,
    state: Value,
    last_state: Value,
    restart_count: u32,
    log: Option<Arc<LogBuf>>,
    previous_log: Option<Arc<LogBuf>>,
    pid: Option<u32>,
    /// Will not run again.
    done: bool,
}

struct PodRuntime {
    uid: String,
    ns: String,
    name: String,
    node: String,
    restart_policy: String,
    pod_ip: String,
    host_ip: String,
    start_time: String,
    qos: String,
    cgroup: Option<PathBuf>,
    scratch: PathBuf,
    containers: Mutex<Vec<Ctr>>,
    killing: AtomicBool,
    cleaned: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn waiting(reason: &str, message: Option<&str>) -> Value {
    let mut w = json!({"reason": reason});
    if let Some(m) = message {
        w["message"] = json!(m);
    }
    json!({ "waiting": w })
}

impl Kubelet {
    pub fn new(opts: &Options) -> anyhow::Result<Self> {
        // `<pid>` for the first double of a process, `<pid>-<n>` for more in the same one.
        static INSTANCES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let pid = match INSTANCES.fetch_add(1, Ordering::SeqCst) {
            0 => std::process::id().to_string(),
            n => format!("{}-{n}", std::process::id()),
        };
        let root = match cgroups::cgroup2_mount() {
            Some(mount) => {
                cgroups::remove_stale(&mount);
                let root = mount.join(format!("{}{pid}", cgroups::ROOT_PREFIX));
                match std::fs::create_dir_all(&root) {
                    Ok(()) => Some(root),
                    Err(e) => {
                        eprintln!(
                            "kube-double: cannot create {} ({e}); containers run without cgroups (run as root for kubelet layouts)",
                            root.display()
                        );
                        None
                    }
                }
            }
            None => {
                eprintln!("kube-double: no cgroup2 mount found; containers run without cgroups");
                None
            }
        };
        Ok(Kubelet {
            driver: opts.cgroup_driver,
            runtime: opts.runtime,
            tracer_job: opts.tracer_job.clone(),
            replay: opts.replay.clone().map(Arc::new),
            root,
            scratch: std::env::temp_dir().join(format!("kube-double-{pid}")),
            pods: Mutex::default(),
            lost: Mutex::default(),
            next_ip: Mutex::default(),
        })
    }

    /// The private cgroup root of this double, if cgroups are in use.
    pub fn cgroup_root(&self) -> Option<&PathBuf> {
        self.root.as_ref()
    }

    pub fn is_lost(&self, node: &str) -> bool {
        lock(&self.lost).contains(node)
    }

    pub(crate) fn log(&self, uid: &str, container: &str, previous: bool) -> Option<Arc<LogBuf>> {
        let rt = lock(&self.pods).get(uid)?.clone();
        let ctrs = lock(&rt.containers);
        let c = ctrs.iter().find(|c| c.name == container)?;
        if previous {
            c.previous_log.clone()
        } else {
            c.log.clone()
        }
    }

    /// Kills every process this double started and removes its cgroups and files.
    pub async fn shutdown(&self) {
        let pods: Vec<Arc<PodRuntime>> = lock(&self.pods).values().cloned().collect();
        for rt in &pods {
            rt.killing.store(true, Ordering::SeqCst);
        }
        if let Some(root) = &self.root {
            cgroups::kill(root);
        }
        for rt in &pods {
            for c in lock(&rt.containers).iter() {
                if let Some(pid) = c.pid {
                    // SAFETY: kill(2) of a process we started, in case it escaped its cgroup.
                    unsafe {
                        libc::kill(pid as i32, libc::SIGKILL);
                    }
                }
            }
        }
        for rt in &pods {
            let tasks: Vec<JoinHandle<()>> = lock(&rt.tasks).drain(..).collect();
            for t in tasks {
                let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
            }
        }
        if let Some(root) = &self.root {
            cgroups::remove_tree(root);
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }

    fn pod_ip(&self, node_index: usize, node: &str) -> String {
        let mut ips = lock(&self.next_ip);
        let n = ips.entry(node.to_string()).or_insert(1);
        *n = *n % 250 + 1;
        format!("10.244.{}.{}", node_index + 1, *n + 1)
    }
}

/// Reacts to a fault when it arrives (only node-lost needs a timer).
pub fn on_fault(cluster: &Arc<Cluster>, fault: &Fault) {
    if let Fault::NodeLost { node, after_ms } = fault {
        let cluster = cluster.clone();
        let node = node.clone();
        let after = Duration::from_millis(*after_ms);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            lose_node(&cluster, &node);
        });
    }
}

fn lose_node(cluster: &Cluster, node: &str) {
    if !lock(&cluster.kubelet.lost).insert(node.to_string()) {
        return;
    }
    let now = clock::now();
    cluster.store.mutate("nodes", "", node, |n| {
        for c in n["status"]["conditions"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            c["status"] = json!("Unknown");
            c["reason"] = json!("NodeStatusUnknown");
            c["message"] = json!("Kubelet stopped posting node status.");
            c["lastTransitionTime"] = json!(now);
        }
        n["spec"]["taints"] = json!([
            {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": now},
            {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": now},
        ]);
    });
    let pods: Vec<Arc<PodRuntime>> = lock(&cluster.kubelet.pods)
        .values()
        .filter(|rt| rt.node == node)
        .cloned()
        .collect();
    for rt in pods {
        // Logs first: a process killed before its log is marked aborted would end the
        // stream cleanly, as if the container had exited, instead of cutting it.
        for c in lock(&rt.containers).iter() {
            if let Some(log) = &c.log {
                log.abort();
            }
        }
        if let Some(dir) = &rt.cgroup {
            cgroups::kill(dir);
        }
        for c in lock(&rt.containers).iter() {
            if let Some(pid) = c.pid {
                // SAFETY: kill(2) of a process we started.
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
        }
    }
}

pub async fn run(cluster: Arc<Cluster>) {
    let mut changed = cluster.store.changed();
    loop {
        sync(&cluster);
        tokio::select! {
            _ = changed.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}

fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

fn sync(cluster: &Arc<Cluster>) {
    let kubelet = &cluster.kubelet;
    let known: HashMap<String, bool> = lock(&kubelet.pods)
        .values()
        .map(|rt| (rt.uid.clone(), rt.killing.load(Ordering::SeqCst)))
        .collect();
    let mut seen = HashSet::new();
    // Only pods that need something done are copied out of the store.
    let pods = cluster.store.scan("pods", |p| {
        let node = p["spec"]["nodeName"].as_str()?;
        cluster.node_index(node)?;
        let uid = meta(p, "uid");
        seen.insert(uid.to_string());
        let deleting = !p["metadata"]["deletionTimestamp"].is_null();
        let act = match known.get(uid) {
            Some(killing) => deleting && !killing,
            None => deleting || !is_terminal_pod(p),
        };
        act.then(|| p.clone())
    });
    for pod in pods {
        let uid = meta(&pod, "uid").to_string();
        let node = pod["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if kubelet.is_lost(&node) {
            continue;
        }
        let rt = lock(&kubelet.pods).get(&uid).cloned();
        if !pod["metadata"]["deletionTimestamp"].is_null() {
            match rt {
                Some(rt) if !rt.killing.swap(true, Ordering::SeqCst) => {
                    let grace = pod["metadata"]["deletionGracePeriodSeconds"]
                        .as_u64()
                        .unwrap_or(30);
                    tokio::spawn(terminate(
                        cluster.clone(),
                        rt,
                        Duration::from_secs(grace).min(MAX_GRACE),
                        true,
                    ));
                }
                Some(_) => {}
                None => final_delete(cluster, &pod),
            }
            continue;
        }
        if rt.is_some() || is_terminal_pod(&pod) {
            continue;
        }
        if let Some((reason, message)) = cluster.faults.pending(&node) {
            cluster
                .store
                .mutate("pods", meta(&pod, "namespace"), meta(&pod, "name"), |p| {
                    set_condition(p, "PodScheduled", "False", &reason, &message);
                });
            continue;
        }
        start(cluster, &pod, &node);
    }
    let gone: Vec<Arc<PodRuntime>> = lock(&kubelet.pods)
        .values()
        .filter(|rt| !seen.contains(&rt.uid))
        .cloned()
        .collect();
    for rt in gone {
        if !rt.killing.swap(true, Ordering::SeqCst) {
            tokio::spawn(terminate(cluster.clone(), rt, Duration::ZERO, false));
        } else if rt.cleaned.load(Ordering::SeqCst) {
            lock(&kubelet.pods).remove(&rt.uid);
        }
    }
}

/// The kubelet's last word on a pod: delete it for good (finalizers permitting).
fn final_delete(cluster: &Cluster, pod: &Value) {
    let opts = DeleteOptions {
        grace_period_seconds: Some(0),
        precondition_uid: Some(meta(pod, "uid").to_string()),
        ..Default::default()
    };
    let _ = cluster.store.delete(
        resources::by_plural("pods"),
        meta(pod, "namespace"),
        meta(pod, "name"),
        &opts,
    );
}

fn start(cluster: &Arc<Cluster>, pod: &Value, node: &str) {
    let kubelet = &cluster.kubelet;
    let uid = meta(pod, "uid").to_string();
    let ns = meta(pod, "namespace").to_string();
    let name = meta(pod, "name").to_string();
    let scratch = kubelet.scratch.join(&uid);
    let volumes = match volumes::materialize(&cluster.store, pod, &scratch) {
        Ok(v) => v,
        Err(msg) => {
            record_event(
                &cluster.store,
                pod,
                "Warning",
                "FailedMount",
                &format!("MountVolume.SetUp failed: {msg}"),
                "kubelet",
            );
            return;
        }
    };
    let qos = pod["status"]["qosClass"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| qos::class(&pod["spec"]).to_string());
    let cgroup = kubelet.root.as_ref().and_then(|root| {
        let dir = root
            .join(node)
            .join(cgroups::pod_dir(kubelet.driver, &qos, &uid));
        std::fs::create_dir_all(&dir).ok().map(|_| dir)
    });
    let node_index = cluster.node_index(node).unwrap_or(0);
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let rt = Arc::new(PodRuntime {
        uid: uid.clone(),
        ns,
        name,
        node: node.to_string(),
        restart_policy: pod["spec"]["restartPolicy"]
            .as_str()
            .unwrap_or("Always")
            .to_string(),
        pod_ip: kubelet.pod_ip(node_index, node),
        host_ip: cluster::host_ip(node_index),
        start_time: clock::now(),
        qos,
        cgroup,
        scratch,
        containers: Mutex::new(
            containers
                .iter()
                .map(|c| Ctr {
                    name: c["name"].as_str().unwrap_or_default().to_string(),
                    image: c["image"].as_str().unwrap_or_default().to_string(),
                    cid: None,
                    state: waiting("ContainerCreating", None),
                    last_state: json!({}),
                    restart_count: 0,
                    log: None,
                    previous_log: None,
                    pid: None,
                    done: false,
                })
                .collect(),
        ),
        killing: AtomicBool::new(false),
        cleaned: AtomicBool::new(false),
        tasks: Mutex::default(),
    });
    lock(&kubelet.pods).insert(uid, rt.clone());
    publish(cluster, &rt);
    let mut tasks = lock(&rt.tasks);
    for (idx, spec) in containers.into_iter().enumerate() {
        tasks.push(tokio::spawn(run_container(
            cluster.clone(),
            rt.clone(),
            idx,
            spec,
            pod.clone(),
            volumes.clone(),
        )));
    }
}

/// `command` + `args` with Kubernetes semantics (no image: args alone when command is
/// empty; nothing at all runs as a long sleep, like a server image would).
fn argv(kubelet: &Kubelet, spec: &Value, mounts: &volumes::Mounts) -> Vec<String> {
    let strings = |k: &str| -> Vec<String> {
        spec[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .map(|v| volumes::rewrite(v, mounts))
            .collect()
    };
    let (command, args) = (strings("command"), strings("args"));
    if is_tracer(spec) {
        let mut v = vec![kubelet.tracer_job.display().to_string()];
        v.extend(args);
        return v;
    }
    let mut v = command;
    v.extend(args);
    if v.is_empty() {
        v = vec!["sleep".into(), "infinity".into()];
    }
    v
}

fn is_tracer(spec: &Value) -> bool {
    spec["image"]
        .as_str()
        .is_some_and(|i| i.contains(TRACER_IMAGE))
}

fn set_ctr(cluster: &Cluster, rt: &PodRuntime, idx: usize, f: impl FnOnce(&mut Ctr)) {
    {
        let mut ctrs = lock(&rt.containers);
        if let Some(c) = ctrs.get_mut(idx) {
            f(c);
        }
    }
    publish(cluster, rt);
}

async fn run_container(
    cluster: Arc<Cluster>,
    rt: Arc<PodRuntime>,
    idx: usize,
    spec: Value,
    pod: Value,
    volumes: Vec<(String, PathBuf)>,
) {
    let kubelet = &cluster.kubelet;
    let image = spec["image"].as_str().unwrap_or_default().to_string();
    let gone = |rt: &PodRuntime| rt.killing.load(Ordering::SeqCst) || kubelet.is_lost(&rt.node);
    let mounts = volumes::mounts(&spec, &volumes);
    // What the downward API can see by the time containers start.
    let mut pod = pod;
    pod["status"]["hostIP"] = json!(rt.host_ip);
    pod["status"]["podIP"] = json!(rt.pod_ip);
    // Wait out image-pull and configuration problems, as kubelet retries them.
    let env = loop {
        if gone(&rt) {
            set_ctr(&cluster, &rt, idx, |c| c.done = true);
            return;
        }
        if cluster.faults.image_pull_backoff(&image) {
            let msg = format!("Back-off pulling image \"{image}\"");
            set_ctr(&cluster, &rt, idx, |c| {
                c.state = waiting("ImagePullBackOff", Some(&msg))
            });
        } else {
            match volumes::env(&cluster.store, &pod, &spec, &mounts) {
                Ok(env) => break env,
                Err(msg) => {
                    set_ctr(&cluster, &rt, idx, |c| {
                        c.state = waiting("CreateContainerConfigError", Some(&msg))
                    });
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let argv = argv(kubelet, &spec, &mounts);
    let mut env = env;
    env.insert(0, ("HOSTNAME".into(), rt.name.clone()));
    env.insert(1, ("HOME".into(), "/root".into()));
    loop {
        if gone(&rt) {
            break;
        }
        let cid = ids::container_id();
        let ctr_cgroup = rt.cgroup.as_ref().map(|pod_dir| {
            let dir = pod_dir.join(cgroups::container_dir(
                kubelet.driver,
                kubelet.runtime,
                &cid,
            ));
            let _ = std::fs::create_dir_all(&dir);
            if let Some(conmon) = cgroups::conmon_dir(kubelet.driver, kubelet.runtime, &cid) {
                let _ = std::fs::create_dir_all(pod_dir.join(conmon));
            }
            dir
        });
        let log = Arc::new(LogBuf::default());
        let started_at = clock::now();
        let replay = is_tracer(&spec).then(|| kubelet.replay.clone()).flatten();
        let exit_code = if let Some(lines) = replay {
            for l in lines.iter() {
                log.push(format!("{}\n", l.replace("{{node}}", &rt.node)));
            }
            set_ctr(&cluster, &rt, idx, |c| {
                c.previous_log = c.log.replace(log.clone());
                c.cid = Some(cid.clone());
                c.state = json!({"running": {"startedAt": started_at}});
            });
            0
        } else {
            let spawned = process::spawn(&argv, &env, ctr_cgroup.as_deref(), &log);
            match spawned {
                Err(e) => {
                    log.push(format!("failed to start {:?}: {e}\n", argv.first()));
                    set_ctr(&cluster, &rt, idx, |c| {
                        c.previous_log = c.log.replace(log.clone());
                        c.cid = Some(cid.clone());
                    });
                    128
                }
                Ok(mut running) => {
                    let pid = running.child.id();
                    set_ctr(&cluster, &rt, idx, |c| {
                        c.previous_log = c.log.replace(log.clone());
                        c.cid = Some(cid.clone());
                        c.pid = pid;
                        c.state = json!({"running": {"startedAt": started_at}});
                    });
                    let status = running.child.wait().await;
                    // The container's first process is gone: so is everything else in it.
                    if let Some(dir) = &ctr_cgroup {
                        cgroups::kill(dir);
                    }
                    for p in running.pumps {
                        let _ = tokio::time::timeout(Duration::from_secs(2), p).await;
                    }
                    status.map(process::exit_code).unwrap_or(255)
                }
            }
        };
        log.close();
        if let Some(dir) = &ctr_cgroup {
            let dir = dir.clone();
            let conmon = cgroups::conmon_dir(kubelet.driver, kubelet.runtime, &cid)
                .and_then(|c| rt.cgroup.as_ref().map(|p| p.join(c)));
            let _ = tokio::task::spawn_blocking(move || {
                cgroups::remove_tree(&dir);
                if let Some(c) = conmon {
                    cgroups::remove_tree(&c);
                }
            })
            .await;
        }
        if kubelet.is_lost(&rt.node) {
            return;
        }
        let finished_at = clock::now();
        let mut terminated = json!({
            "exitCode": exit_code,
            "reason": if exit_code == 0 { "Completed" } else { "Error" },
            "startedAt": started_at, "finishedAt": finished_at,
            "containerID": format!("{}://{cid}", kubelet.runtime.scheme()),
        });
        if exit_code != 0 {
            terminated["message"] = json!(log.tail_text(10));
        }
        let restart = !gone(&rt)
            && (rt.restart_policy == "Always"
                || (rt.restart_policy == "OnFailure" && exit_code != 0));
        if !restart {
            set_ctr(&cluster, &rt, idx, |c| {
                c.state = json!({ "terminated": terminated });
                c.pid = None;
                c.done = true;
            });
            return;
        }
        let msg = format!(
            "back-off 1s restarting failed container={} pod={}_{}({})",
            spec["name"].as_str().unwrap_or_default(),
            rt.name,
            rt.ns,
            rt.uid
        );
        set_ctr(&cluster, &rt, idx, |c| {
            c.last_state = json!({ "terminated": terminated });
            c.state = waiting("CrashLoopBackOff", Some(&msg));
            c.restart_count += 1;
            c.pid = None;
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    set_ctr(&cluster, &rt, idx, |c| {
        c.pid = None;
        c.done = true;
    });
}

async fn terminate(cluster: Arc<Cluster>, rt: Arc<PodRuntime>, grace: Duration, delete: bool) {
    for c in lock(&rt.containers).iter() {
        if let Some(pid) = c.pid {
            // SAFETY: kill(2) of a process we started.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
    }
    let all_done = |rt: &PodRuntime| lock(&rt.tasks).iter().all(JoinHandle::is_finished);
    let deadline = tokio::time::Instant::now() + grace;
    while !all_done(&rt) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(dir) = &rt.cgroup {
        cgroups::kill(dir);
    }
    let tasks: Vec<JoinHandle<()>> = lock(&rt.tasks).drain(..).collect();
    for t in tasks {
        if tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .is_err()
        {
            eprintln!(
                "kube-double: a container of pod {}/{} did not stop",
                rt.ns, rt.name
            );
        }
    }
    if let Some(dir) = rt.cgroup.clone() {
        let _ = tokio::task::spawn_blocking(move || cgroups::remove_tree(&dir)).await;
    }
    let _ = std::fs::remove_dir_all(&rt.scratch);
    if delete && !cluster.kubelet.is_lost(&rt.node) {
        let pod = json!({"metadata": {"uid": rt.uid, "namespace": rt.ns, "name": rt.name}});
        final_delete(&cluster, &pod);
    }
    rt.cleaned.store(true, Ordering::SeqCst);
}

/// Writes the pod's status as the kubelet sees it.
fn publish(cluster: &Cluster, rt: &PodRuntime) {
    if cluster.kubelet.is_lost(&rt.node) {
        return;
    }
    let ctrs = lock(&rt.containers);
    let scheme = cluster.kubelet.runtime.scheme();
    let statuses: Vec<Value> = ctrs
        .iter()
        .map(|c| {
            let running = !c.state["running"].is_null();
            let mut s = json!({
                "name": c.name, "image": c.image,
                "imageID": format!("docker.io/library/{}@sha256:{}", c.image, &ids::fnv32a(c.image.as_bytes()).to_string()),
                "state": c.state, "lastState": c.last_state,
                "ready": running, "started": running, "restartCount": c.restart_count,
            });
            if let Some(cid) = &c.cid {
                s["containerID"] = json!(format!("{scheme}://{cid}"));
            }
            s
        })
        .collect();
    let all_final = ctrs
        .iter()
        .all(|c| c.done && !c.state["terminated"].is_null());
    let any_failed = ctrs.iter().any(|c| {
        c.state["terminated"]["exitCode"]
            .as_i64()
            .is_some_and(|e| e != 0)
    });
    let any_started = ctrs.iter().any(|c| c.cid.is_some());
    let phase = if all_final && !ctrs.is_empty() {
        if any_failed { "Failed" } else { "Succeeded" }
    } else if any_started {
        "Running"
    } else {
        "Pending"
    };
    let unready: Vec<String> = ctrs
        .iter()
        .filter(|c| c.state["running"].is_null())
        .map(|c| c.name.clone())
        .collect();
    // Still holding the containers lock: status writes of one pod stay in order.
    let uid = rt.uid.clone();
    cluster.store.mutate("pods", &rt.ns, &rt.name, |p| {
        if p["metadata"]["uid"] != uid.as_str() {
            return;
        }
        let s = &mut p["status"];
        s["phase"] = json!(phase);
        s["hostIP"] = json!(rt.host_ip);
        s["hostIPs"] = json!([{"ip": rt.host_ip}]);
        s["podIP"] = json!(rt.pod_ip);
        s["podIPs"] = json!([{"ip": rt.pod_ip}]);
        s["startTime"] = json!(rt.start_time);
        s["qosClass"] = json!(rt.qos);
        s["containerStatuses"] = json!(statuses);
        set_condition(p, "PodReadyToStartContainers", "True", "", "");
        set_condition(p, "Initialized", "True", "", "");
        let (ready, reason, message) = if phase == "Succeeded" || phase == "Failed" {
            ("False", "PodCompleted", String::new())
        } else if unready.is_empty() {
            ("True", "", String::new())
        } else {
            (
                "False",
                "ContainersNotReady",
                format!("containers with unready status: [{}]", unready.join(" ")),
            )
        };
        set_condition(p, "Ready", ready, reason, &message);
        set_condition(p, "ContainersReady", ready, reason, &message);
        set_condition(p, "PodScheduled", "True", "", "");
    });
    drop(ctrs);
}
