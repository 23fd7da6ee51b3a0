//! Simulated kubelets (stub).
use crate::{
    cluster::{Cluster, Options},
    faults::Fault,
};
use std::sync::Arc;
pub mod logs;
pub struct Kubelet;
impl Kubelet {
    pub fn new(_: &Options) -> anyhow::Result<Self> {
        Ok(Kubelet)
    }
    pub async fn shutdown(&self) {}
}
pub fn on_fault(_: &Cluster, _: &Fault) {}
pub async fn run(_: Arc<Cluster>) {}
