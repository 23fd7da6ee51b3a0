//! A simulated cluster for end-to-end tests: the Kubernetes API double with N nodes,
//! driven through the real `kubectl` and the real plugin.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use kube_double::spawn::Double;
use serde_json::Value;

use crate::binaries;

/// Where kubectl is expected on the machines that run these tests.
pub const KUBECTL: &str = "kubectl";

pub struct Cluster {
    double: Double,
    /// A private directory for trigger files and manifests.
    pub dir: PathBuf,
}

impl Cluster {
    /// Starts the double with `nodes` nodes and extra arguments (faults).
    pub fn start(nodes: usize, extra: &[&str]) -> Cluster {
        let double = Double::start_with(&binaries::path("kube-double"), nodes, extra)
            .expect("start kube-double");
        let dir = double
            .kubeconfig
            .parent()
            .expect("kubeconfig in a directory")
            .join("work");
        std::fs::create_dir_all(&dir).expect("work directory");
        Cluster { double, dir }
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.double.kubeconfig
    }

    pub fn base_url(&self) -> &str {
        &self.double.base_url
    }

    /// `kubectl ARGS` against the double.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(KUBECTL)
            .env("KUBECONFIG", self.kubeconfig())
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// `kubectl ARGS`, which must succeed; its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl(args);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `kubectl apply -f -` of a manifest.
    pub fn apply(&self, manifest: &str) {
        let mut child = Command::new(KUBECTL)
            .env("KUBECONFIG", self.kubeconfig())
            .args(["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl apply");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(manifest.as_bytes())
            .expect("write manifest");
        let output = child.wait_with_output().expect("kubectl apply");
        assert!(
            output.status.success(),
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Pods matching `selector` in `namespace`, once `count` of them run.
    pub fn wait_running(&self, namespace: &str, selector: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let pods = self.get_json(&["get", "pods", "-n", namespace, "-l", selector]);
            let running: Vec<Value> = pods["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|pod| pod["status"]["phase"] == "Running")
                .collect();
            if running.len() >= count {
                return running;
            }
            assert!(
                Instant::now() < deadline,
                "{count} pods matching {selector} never ran: {pods}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn get_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&all)).expect("kubectl printed JSON")
    }

    /// Names of the Jobs and pods (all a trace makes) any trace left in the jobs namespace.
    pub fn trace_objects(&self) -> Vec<String> {
        let listed = self.get_json(&[
            "get",
            "jobs,pods",
            "-n",
            "kubectl-ebpf",
            "-l",
            "app.kubernetes.io/managed-by=kubectl-ebpf",
        ]);
        let mut names: Vec<String> = listed["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|item| format!("{}/{}", item["kind"], item["metadata"]["name"]))
            .collect();
        // Pods carry the trace labels from their Job's template.
        let pods = self.get_json(&["get", "pods", "-n", "kubectl-ebpf"]);
        names.extend(
            pods["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|pod| format!("Pod/{}", pod["metadata"]["name"])),
        );
        names.sort();
        names.dedup();
        names
    }

    /// The plugin, run with this cluster's kubeconfig.
    pub fn plugin(&self) -> Command {
        let mut command = Command::new(binaries::plugin());
        command.env("KUBECONFIG", self.kubeconfig());
        command
    }

    /// A file whose creation starts every workload waiting on it.
    pub fn trigger(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// A Deployment whose pods each make `calls` getppid calls once `trigger` exists.
pub fn workload_deployment(name: &str, replicas: u32, calls: u64, trigger: &Path) -> String {
    deployment(name, replicas, calls, trigger, None)
}

/// The same, each pod then running `program` once.
pub fn execing_deployment(name: &str, replicas: u32, trigger: &Path, program: &str) -> String {
    deployment(name, replicas, 0, trigger, Some(program))
}

fn deployment(
    name: &str,
    replicas: u32,
    calls: u64,
    trigger: &Path,
    program: Option<&str>,
) -> String {
    let workload = binaries::path("syscall-workload");
    let exec = program.map_or_else(String::new, |program| format!(r#", "--exec", "{program}""#));
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: default
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: app
        image: example.com/workload:1
        command: ["{workload}", "{calls}", "--after", "{trigger}"{exec}]
"#,
        workload = workload.display(),
        trigger = trigger.display(),
    )
}

/// A Deployment whose pods run the profiler's workload (built with frame pointers):
/// `mode` (`spin`, `read`) for `millis` once `trigger` exists, then sleep.
pub fn profile_deployment(
    name: &str,
    replicas: u32,
    mode: &str,
    millis: u64,
    trigger: &Path,
) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: default
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: app
        image: example.com/profiled:1
        command: ["{workload}", "{mode}", "{millis}", "--after", "{trigger}"]
"#,
        workload = env!("PROFILE_WORKLOAD_FP"),
        trigger = trigger.display(),
    )
}

/// A Pod pinned to `node` running the profiler's workload as `profile_deployment` does.
pub fn profile_pod(name: &str, node: &str, mode: &str, millis: u64, trigger: &Path) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
  labels:
    app: {name}
spec:
  nodeName: {node}
  containers:
  - name: app
    image: example.com/profiled:1
    command: ["{workload}", "{mode}", "{millis}", "--after", "{trigger}"]
"#,
        workload = env!("PROFILE_WORKLOAD_FP"),
        trigger = trigger.display(),
    )
}

/// A Pod pinned to `node` making getppid calls as `workload_deployment` pods do.
pub fn workload_pod(name: &str, node: &str, calls: u64, trigger: &Path) -> String {
    let workload = binaries::path("syscall-workload");
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
  labels:
    app: {name}
spec:
  nodeName: {node}
  containers:
  - name: app
    image: example.com/workload:1
    command: ["{workload}", "{calls}", "--after", "{trigger}"]
"#,
        workload = workload.display(),
        trigger = trigger.display(),
    )
}

impl Cluster {
    /// Injects a fault while the double runs (`POST /double/faults`).
    pub fn inject(&self, fault: &str) {
        self.control("POST", "faults", fault);
    }

    /// Removes every injected fault (`DELETE /double/faults`).
    pub fn clear_faults(&self) {
        self.control("DELETE", "faults", "");
    }

    /// Every API request the double served since it started or since
    /// `forget_requests`, as `METHOD path?query` (`GET /double/requests`).
    pub fn requests(&self) -> Vec<String> {
        let body = self.control("GET", "requests", "");
        let answer: Value = serde_json::from_str(&body).expect("requests as JSON");
        answer["requests"]
            .as_array()
            .expect("a list of requests")
            .iter()
            .map(|request| request.as_str().expect("a request line").to_owned())
            .collect()
    }

    pub fn forget_requests(&self) {
        self.control("DELETE", "requests", "");
    }

    /// One call to the double's own control endpoint `/double/PATH`, which must succeed;
    /// the answer's body.
    fn control(&self, method: &str, path: &str, body: &str) -> String {
        use std::io::Read;
        let address = self
            .base_url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let mut stream = std::net::TcpStream::connect(&address).expect("connect to kube-double");
        let request = format!(
            "{method} /double/{path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .expect("send to kube-double");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        assert!(
            response.starts_with("HTTP/1.1 2"),
            "kube-double refused {method} /double/{path} {body}: {response}"
        );
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default()
    }
}
