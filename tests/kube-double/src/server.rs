//! The HTTP server: binds 127.0.0.1:0 and serves the API until shut down.

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use hyper::{server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::{cluster::Cluster, controllers, faults::Fault, kubelet};

/// A running double inside this process.
pub struct Running {
    pub cluster: Arc<Cluster>,
    pub addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
    loops: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving, kills every process the simulated kubelets started and removes their
    /// cgroups.
    pub async fn shutdown(self) {
        self.accept.abort();
        for l in &self.loops {
            l.abort();
        }
        self.cluster.kubelet.shutdown().await;
    }
}

/// Starts the API server, controllers and kubelets on the current tokio runtime.
pub async fn start(cluster: Arc<Cluster>, faults: Vec<Fault>) -> anyhow::Result<Running> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    for fault in faults {
        kubelet::on_fault(&cluster, &fault);
        cluster.faults.add(fault);
    }
    let loops = vec![
        tokio::spawn(controllers::run(cluster.clone())),
        tokio::spawn(kubelet::run(cluster.clone())),
    ];
    let server = addr.to_string();
    let c = cluster.clone();
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let cluster = c.clone();
            let server = server.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let cluster = cluster.clone();
                    let server = server.clone();
                    async move { Ok::<_, Infallible>(crate::api::handle(cluster, req, server).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Running {
        cluster,
        addr,
        accept,
        loops,
    })
}
