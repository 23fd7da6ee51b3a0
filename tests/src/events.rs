//! The `event` records of one probe, flattened for assertions.

use serde_json::{Map, Value};
use tracer_protocol::Record;

/// One event: who (the header) and the probe's own fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    pub cgroup: u64,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    pub fields: Map<String, Value>,
}

impl Event {
    /// A field's value; `Value::Null` when absent, so comparisons fail with a message.
    pub fn field(&self, name: &str) -> &Value {
        self.fields.get(name).unwrap_or(&Value::Null)
    }
}

/// Every event `probe` sent, in order.
pub fn of_probe(records: &[Record], probe: &str) -> Vec<Event> {
    records
        .iter()
        .filter_map(|record| match record {
            Record::Event {
                probe: name,
                pid,
                tid,
                comm,
                cgroup,
                namespace,
                pod,
                container,
                fields,
                ..
            } if name == probe => Some(Event {
                pid: *pid,
                tid: *tid,
                comm: comm.clone(),
                cgroup: *cgroup,
                namespace: namespace.clone(),
                pod: pod.clone(),
                container: container.clone(),
                fields: fields.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The last value of `probe`'s loss counter, if it was reported.
pub fn lost(records: &[Record], probe: &str) -> Option<u64> {
    records.iter().rev().find_map(|record| match record {
        Record::Lost { probe: name, count } if name == probe => Some(*count),
        _ => None,
    })
}
