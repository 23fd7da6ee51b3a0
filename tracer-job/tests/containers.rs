//! Container → cgroup resolution against fixture trees laid out as kubelet and the
//! runtimes lay them out. Plain directories stand in for cgroups: the search only reads
//! names and inode numbers.

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

use tracer_job::containers::{self, Limits, Naming, Resolution};
use tracer_protocol::{ContainerTarget, QosClass, Record, TargetState};

const UID: &str = "5f1c2a3b-7d4e-4f60-9a8b-0c1d2e3f4a5b";
const UID_UNDERSCORED: &str = "5f1c2a3b_7d4e_4f60_9a8b_0c1d2e3f4a5b";
const OTHER_UID: &str = "00112233-4455-4677-8899-aabbccddeeff";
const CID: &str = "3e7f0c4a9b8d2e1f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f";
const OTHER_CID: &str = "aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999";

/// A scratch directory, removed when dropped.
struct Fixture {
    root: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "tracer-job-containers-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("create fixture root");
        Fixture { root }
    }

    /// Creates `relative` with its parents and returns its path.
    fn dir(&self, relative: &str) -> PathBuf {
        let path = self.root.join(relative);
        fs::create_dir_all(&path).unwrap_or_else(|err| panic!("create {relative}: {err}"));
        path
    }

    fn roots(&self) -> Vec<PathBuf> {
        vec![self.root.clone()]
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn target(uid: &str, cid: &str, qos: Option<QosClass>) -> ContainerTarget {
    ContainerTarget {
        pod_uid: uid.to_owned(),
        container_id: cid.to_owned(),
        qos,
        namespace: "shop".to_owned(),
        pod: "checkout-7d9f".to_owned(),
        container: "app".to_owned(),
    }
}

fn ino(path: &Path) -> u64 {
    fs::metadata(path).expect("fixture exists").ino()
}

fn resolve(fixture: &Fixture, targets: &[ContainerTarget]) -> Resolution {
    containers::resolve(&fixture.roots(), targets, &Limits::default())
}

/// Resolves one target and checks it is found at `expected`.
fn assert_found_at(fixture: &Fixture, target: ContainerTarget, expected: &Path) {
    let resolution = resolve(fixture, std::slice::from_ref(&target));
    assert!(resolution.missing.is_empty(), "{resolution:?}");
    let found = &resolution.found[0];
    assert_eq!(found.path, expected);
    assert_eq!(found.id, ino(expected));
    assert_eq!(found.ids, vec![ino(expected)]);
    assert_eq!(found.target, target);
}

/// Every systemd-driver layout: runtime × QoS class.
#[test]
fn systemd_driver_every_runtime_and_qos() {
    let runtimes = ["cri-containerd", "crio", "docker"];
    let qos_classes = [
        (
            QosClass::Guaranteed,
            "kubepods.slice/kubepods-pod{uid}.slice",
        ),
        (
            QosClass::Burstable,
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid}.slice",
        ),
        (
            QosClass::BestEffort,
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid}.slice",
        ),
    ];
    for runtime in runtimes {
        for (qos, pod) in qos_classes {
            let fixture = Fixture::new();
            let pod = pod.replace("{uid}", UID_UNDERSCORED);
            let scope = fixture.dir(&format!("{pod}/{runtime}-{CID}.scope"));
            fixture.dir(&format!("{pod}/{runtime}-{OTHER_CID}.scope"));
            assert_found_at(&fixture, target(UID, CID, Some(qos)), &scope);
        }
    }
}

/// Every cgroupfs-driver layout: QoS class × plain or runtime-prefixed container names.
#[test]
fn cgroupfs_driver_every_qos_and_naming() {
    let pods = [
        (QosClass::Guaranteed, "kubepods"),
        (QosClass::Burstable, "kubepods/burstable"),
        (QosClass::BestEffort, "kubepods/besteffort"),
    ];
    for (qos, parent) in pods {
        for container in [CID.to_owned(), format!("crio-{CID}")] {
            let fixture = Fixture::new();
            let path = fixture.dir(&format!("{parent}/pod{UID}/{container}"));
            fixture.dir(&format!("{parent}/pod{UID}/{OTHER_CID}"));
            assert_found_at(&fixture, target(UID, CID, Some(qos)), &path);
        }
    }
}

#[test]
fn skips_the_crio_monitor_beside_the_container() {
    let fixture = Fixture::new();
    let pod = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid}.slice"
        .replace("{uid}", UID_UNDERSCORED);
    // The monitor sorts first and ends with the same id.
    fixture.dir(&format!("{pod}/crio-conmon-{CID}.scope"));
    let scope = fixture.dir(&format!("{pod}/crio-{CID}.scope"));
    assert_found_at(
        &fixture,
        target(UID, CID, Some(QosClass::Burstable)),
        &scope,
    );

    // The monitor alone is not the container.
    let fixture = Fixture::new();
    fixture.dir(&format!("kubepods/pod{UID}/crio-conmon-{CID}"));
    let resolution = resolve(&fixture, &[target(UID, CID, None)]);
    assert!(resolution.found.is_empty(), "{resolution:?}");
}

/// crun moves the container's processes into `<scope>/container`: the task's cgroup id
/// is the child's, so the filter must hold both, while the record names the scope.
#[test]
fn crun_container_child_is_filtered_on_too() {
    let fixture = Fixture::new();
    let scope = fixture.dir(&format!(
        "kubepods.slice/kubepods-pod{UID_UNDERSCORED}.slice/crio-{CID}.scope"
    ));
    let child = fixture.dir(&format!(
        "kubepods.slice/kubepods-pod{UID_UNDERSCORED}.slice/crio-{CID}.scope/container"
    ));
    let resolution = resolve(&fixture, &[target(UID, CID, Some(QosClass::Guaranteed))]);
    let found = &resolution.found[0];
    assert_eq!(found.path, scope);
    assert_eq!(found.id, ino(&scope));
    assert_eq!(found.ids, vec![ino(&scope), ino(&child)]);
    let naming = resolution.naming();
    assert_eq!(naming.len(), 2);
    assert_eq!(
        naming
            .lookup(ino(&child))
            .and_then(|o| o.container.as_deref()),
        Some("app")
    );
}

#[test]
fn ids_below_a_container_are_bounded() {
    let fixture = Fixture::new();
    let scope = fixture.dir(&format!("kubepods/pod{UID}/{CID}"));
    for n in 0..40 {
        fixture.dir(&format!("kubepods/pod{UID}/{CID}/sub{n:02}/deeper"));
    }
    let limits = Limits::default();
    let resolution = containers::resolve(&fixture.roots(), &[target(UID, CID, None)], &limits);
    let found = &resolution.found[0];
    assert_eq!(found.ids[0], ino(&scope));
    assert_eq!(found.ids.len(), limits.max_ids_per_container + 1);
}

/// On v1+v2 hybrid hosts the v1 controllers carry the same names; only the unified
/// mount's directories are cgroup v2 ids.
#[test]
fn hybrid_hosts_use_only_the_unified_roots() {
    let fixture = Fixture::new();
    let relative = format!("kubepods.slice/kubepods-pod{UID_UNDERSCORED}.slice/docker-{CID}.scope");
    fixture.dir(&format!("cpu,cpuacct/{relative}"));
    fixture.dir(&format!("memory/{relative}"));
    let unified = fixture.root.join("unified");
    let scope = fixture.dir(&format!("unified/{relative}"));
    let resolution = containers::resolve(
        std::slice::from_ref(&unified),
        &[target(UID, CID, None)],
        &Limits::default(),
    );
    assert_eq!(resolution.found[0].path, scope);
    assert_eq!(resolution.searched, vec![unified]);
}

/// `--cgroup-root` (systemd: `kubelet.slice/kubelet-kubepods.slice/...`; cgroupfs: any
/// parent), a node inside a container (kind), and a test harness's private prefix.
#[test]
fn custom_roots_and_nested_prefixes() {
    let layouts = [
        format!(
            "kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod{UID_UNDERSCORED}.slice/cri-containerd-{CID}.scope"
        ),
        format!("custom/root/kubepods/besteffort/pod{UID}/{CID}"),
        format!(
            "system.slice/docker-0123abcd.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod{UID_UNDERSCORED}.slice/cri-containerd-{CID}.scope"
        ),
        format!(
            "kube-double-1234/node-1/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_UNDERSCORED}.slice/cri-containerd-{CID}.scope"
        ),
    ];
    for layout in layouts {
        let fixture = Fixture::new();
        // Unrelated trees around it: another node of the harness and the host's own.
        fixture.dir(&format!(
            "kube-double-1234/node-2/kubepods.slice/kubepods-pod{}.slice/cri-containerd-{OTHER_CID}.scope",
            OTHER_UID.replace('-', "_")
        ));
        fixture.dir("system.slice/sshd.service");
        fixture.dir("user.slice/user-1000.slice/session-1.scope");
        let path = fixture.dir(&layout);
        assert_found_at(&fixture, target(UID, CID, Some(QosClass::Burstable)), &path);
    }
}

/// The API server writes uids with `-`; systemd slices with `_`. Either spelling in the
/// target finds either spelling on disk.
#[test]
fn pod_uid_with_either_separator() {
    for on_disk in [
        format!("kubepods/pod{UID}/{CID}"),
        format!("kubepods.slice/kubepods-pod{UID_UNDERSCORED}.slice/cri-containerd-{CID}.scope"),
    ] {
        for given in [UID, UID_UNDERSCORED, &UID.to_ascii_uppercase()] {
            let fixture = Fixture::new();
            let path = fixture.dir(&on_disk);
            assert_found_at(&fixture, target(given, CID, None), &path);
        }
        // A container id that kept its scheme is still that container.
        let fixture = Fixture::new();
        let path = fixture.dir(&on_disk);
        let resolution = resolve(
            &fixture,
            &[target(UID, &format!("containerd://{CID}"), None)],
        );
        assert_eq!(resolution.found[0].path, path);
    }
}

/// A wrong QoS hint (the pod was recreated with other resources) only costs time.
#[test]
fn qos_is_only_a_hint() {
    let fixture = Fixture::new();
    let path = fixture.dir(&format!(
        "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_UNDERSCORED}.slice/cri-containerd-{CID}.scope"
    ));
    fixture.dir("kubepods.slice/kubepods-burstable.slice");
    assert_found_at(
        &fixture,
        target(UID, CID, Some(QosClass::Guaranteed)),
        &path,
    );
    assert_found_at(&fixture, target(UID, CID, Some(QosClass::Burstable)), &path);
}

#[test]
fn missing_containers_and_pods_are_reported_in_order() {
    let fixture = Fixture::new();
    let found_path = fixture.dir(&format!("kubepods/burstable/pod{UID}/{CID}"));
    let targets = [
        target(UID, CID, None),
        // The pod is there, the container (restarted: new id) is not.
        target(UID, OTHER_CID, None),
        // No such pod on this node.
        target(OTHER_UID, CID, None),
        // Nonsense never matches everything.
        target("", "", None),
        target(UID, "", None),
        target(UID, "../..", None),
    ];
    let resolution = resolve(&fixture, &targets);
    assert_eq!(resolution.found.len(), 1);
    assert_eq!(resolution.missing, targets[1..].to_vec());
    let records = resolution.records();
    assert_eq!(records.len(), targets.len());
    assert_eq!(
        records[0],
        Record::Target {
            namespace: "shop".into(),
            pod: "checkout-7d9f".into(),
            container: "app".into(),
            state: TargetState::Found,
            cgroup: Some(ino(&found_path)),
        }
    );
    assert!(records[1..].iter().all(|record| matches!(
        record,
        Record::Target {
            state: TargetState::Missing,
            cgroup: None,
            ..
        }
    )));
}

#[test]
fn nothing_to_search_finds_nothing() {
    let fixture = Fixture::new();
    let gone = fixture.root.join("no-such-mount");
    let resolution = containers::resolve(&[gone], &[target(UID, CID, None)], &Limits::default());
    assert_eq!(resolution.missing.len(), 1);
    let resolution = containers::resolve(&[], &[target(UID, CID, None)], &Limits::default());
    assert_eq!(resolution.missing.len(), 1);
    assert!(Naming::for_node(&[], &[], &Limits::default()).is_empty());
}

/// The same hierarchy reached twice (a host cgroupfs bind-mounted beside the
/// container's own view) yields the container once.
#[test]
fn the_same_tree_twice_is_walked_once() {
    let fixture = Fixture::new();
    fixture.dir(&format!("kubepods/pod{UID}/{CID}"));
    let roots = vec![fixture.root.clone(), fixture.root.join("kubepods")];
    let resolution = containers::resolve(&roots, &[target(UID, CID, None)], &Limits::default());
    assert_eq!(resolution.found.len(), 1);
}

#[test]
fn the_walk_is_bounded() {
    let fixture = Fixture::new();
    for n in 0..50 {
        fixture.dir(&format!("wide/d{n}"));
    }
    fixture.dir(&format!("wide/kubepods/pod{UID}/{CID}"));
    let few_dirs = Limits {
        max_dirs: 10,
        ..Limits::default()
    };
    let resolution = containers::resolve(&fixture.roots(), &[target(UID, CID, None)], &few_dirs);
    // The kubepods branch is walked first, so it is still found...
    assert_eq!(resolution.found.len(), 1, "{resolution:?}");

    let fixture = Fixture::new();
    for n in 0..50 {
        fixture.dir(&format!("wide/d{n}"));
    }
    fixture.dir(&format!("wide/zz/pod{UID}/{CID}"));
    let resolution = containers::resolve(&fixture.roots(), &[target(UID, CID, None)], &few_dirs);
    // ...but a pod behind more directories than allowed is not, and the walk says so.
    assert!(resolution.found.is_empty());
    assert!(resolution.truncated);

    let fixture = Fixture::new();
    let deep = (0..20)
        .map(|n| format!("l{n}"))
        .collect::<Vec<_>>()
        .join("/");
    fixture.dir(&format!("{deep}/kubepods/pod{UID}/{CID}"));
    let resolution = resolve(&fixture, &[target(UID, CID, None)]);
    assert!(resolution.found.is_empty(), "found below the depth limit");
}

/// Odd names (not UTF-8, look-alikes, files where directories belong) are skipped.
#[test]
fn odd_names_are_skipped() {
    use std::{ffi::OsStr, os::unix::ffi::OsStrExt};
    let fixture = Fixture::new();
    fs::create_dir_all(
        fixture
            .root
            .join("kubepods")
            .join(OsStr::from_bytes(b"pod\xff\xfe")),
    )
    .expect("non-UTF-8 name");
    fixture.dir("kubepods/podman");
    fixture.dir("kubepods/pod");
    fixture.dir("kubepods/pod-----------------");
    fs::write(fixture.root.join(format!("kubepods/pod{OTHER_UID}")), "").expect("file");
    let path = fixture.dir(&format!("kubepods/pod{UID}/{CID}"));
    fs::write(
        fixture.root.join(format!("kubepods/pod{UID}/{OTHER_CID}")),
        "",
    )
    .expect("file");
    assert_found_at(&fixture, target(UID, CID, None), &path);
    let resolution = resolve(&fixture, &[target(OTHER_UID, CID, None)]);
    assert_eq!(resolution.missing.len(), 1);
    let resolution = resolve(&fixture, &[target(UID, OTHER_CID, None)]);
    assert_eq!(resolution.missing.len(), 1);
}

/// Pods come and go while the walk runs: no panic, and the stable target is found.
#[test]
fn survives_directories_vanishing_mid_walk() {
    let fixture = Fixture::new();
    let path = fixture.dir(&format!("kubepods/burstable/pod{UID}/{CID}"));
    let churn = fixture.root.join("kubepods/besteffort");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churner = {
        let stop = stop.clone();
        let churn = churn.clone();
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let pod = churn.join(format!("pod{n:08x}-0000-4000-8000-000000000000"));
                let _ = fs::create_dir_all(pod.join(CID).join("container"));
                let _ = fs::remove_dir_all(&pod);
                n = n.wrapping_add(1);
            }
        })
    };
    for _ in 0..200 {
        let resolution = resolve(&fixture, &[target(UID, CID, Some(QosClass::BestEffort))]);
        assert_eq!(resolution.found.len(), 1);
        assert_eq!(resolution.found[0].path, path);
        let _ = Naming::for_node(&fixture.roots(), &[], &Limits::default());
    }
    stop.store(true, Ordering::Relaxed);
    churner.join().expect("churner ends");
}

#[test]
fn a_removed_container_is_no_longer_present() {
    let fixture = Fixture::new();
    let path = fixture.dir(&format!("kubepods/pod{UID}/{CID}"));
    let resolution = resolve(&fixture, &[target(UID, CID, None)]);
    let found = &resolution.found[0];
    assert!(found.is_present());
    fs::remove_dir(&path).expect("remove");
    assert!(!found.is_present());
    // Recreated under the same name (a new cgroup): still not the one traced.
    fs::create_dir(&path).expect("recreate");
    let replaced = ino(&path) != found.id;
    assert_eq!(found.is_present(), !replaced);
    assert!(matches!(
        found.record(TargetState::Gone),
        Record::Target {
            state: TargetState::Gone,
            cgroup: Some(id),
            ..
        } if id == found.id
    ));
}

/// Node-wide traces name every container cgroup they meet through `node_containers`.
#[test]
fn node_wide_naming_covers_every_pod() {
    let fixture = Fixture::new();
    let pod = format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_UNDERSCORED}.slice"
    );
    let app = fixture.dir(&format!("{pod}/crio-{CID}.scope"));
    let app_child = fixture.dir(&format!("{pod}/crio-{CID}.scope/container"));
    let conmon = fixture.dir(&format!("{pod}/crio-conmon-{CID}.scope"));
    let pause = fixture.dir(&format!("{pod}/crio-{OTHER_CID}.scope"));
    // A pod the plugin did not list (created after it looked).
    let stranger = fixture.dir(&format!(
        "kubepods.slice/kubepods-pod{OTHER_UID}.slice/{CID}"
    ));
    let outside = fixture.dir("system.slice/kubelet.service");

    let known = [target(UID, CID, Some(QosClass::Burstable))];
    let naming = Naming::for_node(&fixture.roots(), &known, &Limits::default());

    for id in [ino(&app), ino(&app_child)] {
        let owner = naming.lookup(id).expect("the app container is named");
        assert_eq!(owner.pod_uid, UID);
        assert_eq!(owner.container_id, CID);
        assert_eq!(owner.namespace.as_deref(), Some("shop"));
        assert_eq!(owner.pod.as_deref(), Some("checkout-7d9f"));
        assert_eq!(owner.container.as_deref(), Some("app"));
    }
    let sandbox = naming
        .lookup(ino(&pause))
        .expect("the sandbox is the pod's");
    assert_eq!(sandbox.pod.as_deref(), Some("checkout-7d9f"));
    assert_eq!(sandbox.container, None);
    let unknown = naming
        .lookup(ino(&stranger))
        .expect("an unknown pod by uid");
    assert_eq!(unknown.pod_uid, OTHER_UID);
    assert_eq!(unknown.container_id, CID);
    assert_eq!(unknown.pod, None);
    assert!(naming.lookup(ino(&conmon)).is_none());
    assert!(naming.lookup(ino(&outside)).is_none());
    assert_eq!(naming.len(), 4);
}
