//! The kube-rs client (as the plugin uses it) against the double.

use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};
use kube::{
    Api, Client, Config,
    api::{DeleteParams, ListParams, LogParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::{
        WatchStreamExt,
        wait::{await_condition, conditions},
        watcher,
    },
};

use super::jobs::job;
use super::*;

async fn client(d: &Double) -> Client {
    let kc = Kubeconfig::read_from(&d.kubeconfig).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is usable");
    Client::try_from(config).expect("client")
}

#[test]
fn kube_rs_create_watch_logs_wait_delete() {
    let d = start(2, &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = client(&d).await;
        assert_eq!(client.default_namespace(), "default");
        let pods: Api<Pod> = Api::default_namespaced(client.clone());
        let jobs: Api<Job> = Api::default_namespaced(client.clone());
        let mut events = watcher(pods.clone(), watcher::Config::default().labels("test=kr"))
            .applied_objects()
            .boxed();
        let p: Pod = serde_json::from_value(pod(
            "kr",
            "sleep 0.5; echo hi; sleep 0.5; echo bye",
            "Never",
        ))
        .expect("pod");
        pods.create(&PostParams::default(), &p)
            .await
            .expect("create pod");
        let seen = tokio::time::timeout(Duration::from_secs(10), events.try_next())
            .await
            .expect("watch event in time")
            .expect("watch ok")
            .expect("an object");
        assert_eq!(seen.metadata.name.as_deref(), Some("kr"));
        tokio::time::timeout(
            Duration::from_secs(20),
            await_condition(pods.clone(), "kr", conditions::is_pod_running()),
        )
        .await
        .expect("running in time")
        .expect("wait ok");
        let lines: Vec<String> = pods
            .log_stream(
                "kr",
                &LogParams {
                    follow: true,
                    ..Default::default()
                },
            )
            .await
            .expect("log stream")
            .lines()
            .try_collect()
            .await
            .expect("read log");
        assert_eq!(lines, ["hi", "bye"]);
        let listed = pods
            .list(&ListParams::default().labels("test=kr"))
            .await
            .expect("list");
        assert_eq!(listed.items.len(), 1);
        assert!(listed.metadata.resource_version.is_some());
        let j: Job =
            serde_json::from_value(job("kj", "echo done", serde_json::json!({}))).expect("job");
        jobs.create(&PostParams::default(), &j)
            .await
            .expect("create job");
        tokio::time::timeout(
            Duration::from_secs(20),
            await_condition(jobs.clone(), "kj", conditions::is_job_completed()),
        )
        .await
        .expect("complete in time")
        .expect("wait ok");
        let dp = DeleteParams::background();
        jobs.delete("kj", &dp).await.expect("delete job");
        match pods.get("missing").await {
            Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (404, "NotFound")),
            other => panic!("expected a 404 Status, got {other:?}"),
        }
        match pods.create(&PostParams::default(), &p).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"))
            }
            other => panic!("expected a 409 Status, got {other:?}"),
        }
        let deleted = pods
            .delete("kr", &DeleteParams::default())
            .await
            .expect("delete pod");
        assert!(deleted.is_left() || deleted.is_right());
        tokio::time::timeout(
            Duration::from_secs(20),
            await_condition(
                pods.clone(),
                "kr",
                conditions::is_deleted(&seen.metadata.uid.clone().unwrap_or_default()),
            ),
        )
        .await
        .expect("deleted in time")
        .expect("wait ok");
    });
}
