//! A Kubernetes API server double for tests: the REST protocol over plain HTTP, an object
//! store with watches, simple controllers (scheduler, ReplicaSet, Deployment, StatefulSet,
//! DaemonSet, Job, garbage collector, namespaces) and simulated kubelets that run each
//! container as a real local process inside a real cgroup v2 directory laid out as kubelet
//! lays it out.
//!
//! Start it as a child process with [`spawn::Double::start`], or in this process with
//! [`server::start`].

pub mod api;
pub mod body;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod controllers;
pub mod defaults;
pub mod discovery;
pub mod faults;
pub mod ids;
pub mod kubeconfig;
pub mod kubelet;
pub mod openapi;
pub mod patch;
pub mod proto;
pub mod qos;
pub mod query;
pub mod resources;
pub mod selectors;
pub mod server;
pub mod shape;
pub mod spawn;
pub mod status;
pub mod store;
pub mod table;
pub mod watch;
