use crate::cluster::Cluster;
use std::sync::Arc;
pub async fn run(_: Arc<Cluster>) {}
