//! Simulated kubelets: cgroup layouts per driver and runtime, QoS classes, environment,
//! volumes and restarts.

use std::time::Duration;

use serde_json::json;

use super::*;

fn resources(class: &str) -> Value {
    match class {
        "Guaranteed" => json!({"limits": {"cpu": "100m", "memory": "64Mi"}}),
        "Burstable" => json!({"requests": {"cpu": "50m"}}),
        _ => json!({}),
    }
}

fn expected_path(driver: &str, runtime: &str, class: &str, uid: &str, cid: &str) -> String {
    let q = class.to_ascii_lowercase();
    match driver {
        "systemd" => {
            let u = uid.replace('-', "_");
            let pod = if class == "Guaranteed" {
                format!("kubepods.slice/kubepods-pod{u}.slice")
            } else {
                format!("kubepods.slice/kubepods-{q}.slice/kubepods-{q}-pod{u}.slice")
            };
            let scope = match runtime {
                "containerd" => format!("cri-containerd-{cid}.scope"),
                "crio" => format!("crio-{cid}.scope"),
                _ => format!("docker-{cid}.scope"),
            };
            format!("{pod}/{scope}")
        }
        _ => {
            let pod = if class == "Guaranteed" {
                format!("kubepods/pod{uid}")
            } else {
                format!("kubepods/{q}/pod{uid}")
            };
            format!("{pod}/{cid}")
        }
    }
}

fn check_layout(driver: &str, runtime: &str) {
    let d = start(1, &["--cgroup-driver", driver, "--runtime", runtime]);
    let mount = kube_double::kubelet::cgroups::cgroup2_mount().expect("cgroup2 mount");
    for class in ["Guaranteed", "Burstable", "BestEffort"] {
        let name = format!("q-{}", class.to_ascii_lowercase());
        let mut p = pod(&name, "echo pid=$$; exec sleep 1000", "Always");
        p["spec"]["containers"][0]["resources"] = resources(class);
        let made = create(&d, "/api/v1/namespaces/default/pods", p);
        assert_eq!(made["status"]["qosClass"], class);
        let running = wait_phase(&d, &name, "Running");
        let uid = running["metadata"]["uid"].as_str().expect("uid");
        let cid_full = running["status"]["containerStatuses"][0]["containerID"]
            .as_str()
            .expect("containerID");
        let scheme = match runtime {
            "containerd" => "containerd://",
            "crio" => "cri-o://",
            _ => "docker://",
        };
        let cid = cid_full
            .strip_prefix(scheme)
            .unwrap_or_else(|| panic!("{cid_full} has scheme {scheme}"));
        assert!(
            cid.len() == 64
                && cid
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let pid = printed_pid(&d, &name);
        let want = format!(
            "/kube-double-{}/node-1/{}",
            d.pid(),
            expected_path(driver, runtime, class, uid, cid)
        );
        assert_eq!(cgroup_of(pid), want, "{driver} {runtime} {class}");
        if driver == "systemd" && runtime == "crio" {
            let scope = mount.join(want.trim_start_matches('/'));
            let conmon = scope.with_file_name(format!("crio-conmon-{cid}.scope"));
            assert!(conmon.is_dir(), "{} exists", conmon.display());
        }
    }
}

#[test]
fn layout_systemd_containerd() {
    check_layout("systemd", "containerd");
}

#[test]
fn layout_systemd_crio() {
    check_layout("systemd", "crio");
}

#[test]
fn layout_systemd_docker() {
    check_layout("systemd", "docker");
}

#[test]
fn layout_cgroupfs_containerd() {
    check_layout("cgroupfs", "containerd");
}

#[test]
fn layout_cgroupfs_crio() {
    check_layout("cgroupfs", "crio");
}

#[test]
fn layout_cgroupfs_docker() {
    check_layout("cgroupfs", "docker");
}

#[test]
fn env_volumes_and_restarts() {
    let d = start(2, &[]);
    create(
        &d,
        "/api/v1/namespaces/default/configmaps",
        json!({"metadata": {"name": "spec"}, "data": {"spec.json": "{\"probe\":1}", "greeting": "hi"}}),
    );
    let p = json!({
        "metadata": {"name": "envy"},
        "spec": {
            "restartPolicy": "Never",
            "nodeName": "node-2",
            "volumes": [
                {"name": "spec", "configMap": {"name": "spec", "items": [{"key": "spec.json", "path": "s/spec.json"}]}},
                {"name": "host", "hostPath": {"path": "/proc"}},
            ],
            "containers": [{
                "name": "main", "image": "busybox",
                "command": ["/bin/sh", "-c"],
                "args": ["cat /etc/spec/s/spec.json; echo; echo $POD $NS $NODE $GREETING $IP; test -f /host-proc/self/status && echo hostpath; echo err >&2"],
                "env": [
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                    {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "spec", "key": "greeting"}}},
                ],
                "volumeMounts": [{"name": "spec", "mountPath": "/etc/spec"}, {"name": "host", "mountPath": "/host-proc"}],
            }],
        },
    });
    create(&d, "/api/v1/namespaces/default/pods", p);
    let done = wait_phase(&d, "envy", "Succeeded");
    let status = &done["status"]["containerStatuses"][0];
    assert_eq!(status["state"]["terminated"]["reason"], "Completed");
    assert_eq!(status["state"]["terminated"]["exitCode"], 0);
    let out = logs(&d, "envy", "");
    let ip = done["status"]["hostIP"].as_str().expect("hostIP");
    assert!(out.contains("{\"probe\":1}"), "{out}");
    assert!(
        out.contains(&format!("envy default node-2 hi {ip}")),
        "{out}"
    );
    assert!(out.contains("err"), "stderr is in the log: {out}");
    assert!(
        out.contains("hostpath"),
        "hostPath mount paths lead to the host path: {out}"
    );
    // Always: a failing container restarts with a count and a last state.
    create(
        &d,
        "/api/v1/namespaces/default/pods",
        pod("crash", "echo once; exit 3", "Always"),
    );
    let p = wait_for("a restart", Duration::from_secs(20), || {
        let p = get(&d, &pod_path("crash"));
        (p["status"]["containerStatuses"][0]["restartCount"].as_u64() >= Some(1)).then_some(p)
    });
    assert_eq!(
        p["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
        3
    );
    // Never: a failure is final, with the output as message.
    create(
        &d,
        "/api/v1/namespaces/default/pods",
        pod("fail", "echo boom; exit 2", "Never"),
    );
    let p = wait_phase(&d, "fail", "Failed");
    let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(
        (t["exitCode"].as_i64(), t["reason"].as_str()),
        (Some(2), Some("Error"))
    );
    assert!(t["message"].as_str().unwrap_or_default().contains("boom"));
    // Logs: tail and timestamps.
    let tail = logs(&d, "envy", "tailLines=1");
    assert_eq!(tail.lines().count(), 1);
    let ts = logs(&d, "envy", "timestamps=true");
    let first = ts.lines().next().expect("a line");
    let stamp = first.split(' ').next().expect("stamp");
    assert!(
        kube_double::clock::parse_rfc3339(stamp).is_some(),
        "{first}"
    );
}
