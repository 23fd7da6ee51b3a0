//! kubectl's own completion of `kubectl ebpf ...`: the real kubectl finds
//! `kubectl_complete-ebpf` on PATH and shows what it prints, with names from the cluster
//! of the current context (the API double).

use std::process::Command;

use e2e::{
    binaries,
    cluster::{Cluster, KUBECTL, workload_deployment},
};

/// What `kubectl __complete ebpf WORDS...` offers (values only), and its directive.
fn complete(cluster: &Cluster, words: &[&str]) -> (Vec<String>, String) {
    let bin = binaries::path("kubectl_complete-ebpf");
    let dir = bin.parent().expect("in a directory");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new(KUBECTL)
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("PATH", path)
        .args(["__complete", "ebpf"])
        .args(words)
        .output()
        .expect("run kubectl __complete");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut values = Vec::new();
    let mut directive = String::new();
    for line in stdout.lines() {
        match line.strip_prefix(':') {
            Some(rest) => directive = rest.to_owned(),
            None => values.push(line.split('\t').next().unwrap_or_default().to_owned()),
        }
    }
    (values, directive)
}

#[test]
fn kubectl_completes_subcommands_probes_and_targets_from_the_cluster() {
    let cluster = Cluster::start(2, &[]);
    let trigger = cluster.trigger("go");
    cluster.apply(&workload_deployment("checkout", 1, 10, &trigger));
    cluster.kubectl_ok(&["create", "namespace", "shop"]);
    cluster.apply(
        &workload_deployment("cart", 1, 10, &trigger)
            .replace("namespace: default", "namespace: shop"),
    );
    let pods = cluster.wait_running("default", "app=checkout", 1);
    let pod = pods[0]["metadata"]["name"]
        .as_str()
        .expect("a name")
        .to_owned();

    let (subcommands, _) = complete(&cluster, &["tr"]);
    assert_eq!(subcommands, ["trace"]);

    let (probes, directive) = complete(&cluster, &["trace", ""]);
    assert!(probes.contains(&"syscall-latency".to_owned()), "{probes:?}");
    assert_eq!(directive, "4", "no file names among probes");

    let (kinds, directive) = complete(&cluster, &["trace", "exec", ""]);
    assert!(kinds.contains(&"deploy/".to_owned()), "{kinds:?}");
    assert_eq!(directive, "6", "no space after a kind");

    let (deployments, _) = complete(&cluster, &["trace", "exec", "deploy/"]);
    assert_eq!(
        deployments,
        ["deploy/checkout"],
        "the context's namespace only"
    );
    let (elsewhere, _) = complete(&cluster, &["-n", "shop", "trace", "exec", "deploy/"]);
    assert_eq!(elsewhere, ["deploy/cart"]);

    let (nodes, _) = complete(&cluster, &["trace", "exec", "node/"]);
    assert_eq!(nodes, ["node/node-1", "node/node-2"]);

    let typed = &pod[..3];
    let (bare, _) = complete(&cluster, &["trace", "exec", typed]);
    assert!(bare.contains(&pod), "a bare name is a pod: {bare:?}");

    let (namespaces, _) = complete(&cluster, &["trace", "exec", "-n", ""]);
    assert!(
        namespaces.contains(&"shop".to_owned()) && namespaces.contains(&"default".to_owned()),
        "{namespaces:?}"
    );

    let (flags, _) = complete(&cluster, &["trace", "exec", "--per-"]);
    assert!(flags.contains(&"--per-node".to_owned()), "{flags:?}");
}
