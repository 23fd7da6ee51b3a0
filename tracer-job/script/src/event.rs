//! An event as a script sees it: the common fields and its probe's own, by name.

use std::sync::Arc;

use rhai::{Dynamic, EvalAltResult, ImmutableString, Position};
use serde_json::Value;

use crate::{
    fault::Fault,
    sources::{self, COMMON_FIELDS, Source},
};

/// Cheap to clone: scripts receive it by value.
#[derive(Clone, Debug)]
pub struct Event(pub Arc<EventData>);

#[derive(Debug)]
pub struct EventData {
    pub source: &'static Source,
    pub node: ImmutableString,
    pub time_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    pub cgroup: u64,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    pub fields: serde_json::Map<String, Value>,
}

impl Event {
    /// `e.NAME`: a common field, the probe's field, `()` when this event lacks it, and an
    /// error naming the nearest field when the probe has no such field.
    pub fn get(&self, name: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        let data = &*self.0;
        let optional = |text: &Option<String>| shared(text.as_deref().unwrap_or_default());
        Ok(match name {
            "probe" => Dynamic::from(data.source.name),
            "time" => Dynamic::from(data.time_ns as i64),
            "pid" => Dynamic::from(i64::from(data.pid)),
            "tid" => Dynamic::from(i64::from(data.tid)),
            "comm" => shared(&data.comm),
            "cgroup" => Dynamic::from(data.cgroup as i64),
            "node" => Dynamic::from(data.node.clone()),
            "namespace" => optional(&data.namespace),
            "pod" => optional(&data.pod),
            "container" => optional(&data.container),
            _ => return self.field(name),
        })
    }

    /// `e.NAME` for a name that is not a common field: the probe's own.
    pub fn field(&self, name: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        let data = &*self.0;
        match data.fields.get(name) {
            Some(value) => Ok(dynamic(value)),
            None if data.source.has_field(name) => Ok(Dynamic::UNIT),
            None => Err(self.unknown(name)),
        }
    }

    /// Whether this event carries `name`.
    pub fn has(&self, name: &str) -> bool {
        COMMON_FIELDS.contains(&name) || self.0.fields.contains_key(name)
    }

    fn unknown(&self, name: &str) -> Box<EvalAltResult> {
        let source = self.0.source;
        // A tracepoint's fields are what its record has.
        let own: Vec<&str> = if sources::is_generic(source) {
            self.0.fields.keys().map(String::as_str).collect()
        } else {
            source.fields.to_vec()
        };
        let generic = ["tracepoint", "uprobe"]
            .iter()
            .find_map(|field| self.0.fields.get(*field).and_then(|t| t.as_str()));
        let (what, verb) = match generic {
            Some(name) if source.name == "tracepoint" => (format!("tracepoint {name}"), "has"),
            Some(name) => (name.to_owned(), "has"),
            None => (format!("{} events", source.name), "have"),
        };
        let names = COMMON_FIELDS.iter().copied().chain(own.iter().copied());
        let hint = match sources::nearest(name, names) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!(
                "{what} {verb} {}, and {}",
                own.join(", "),
                COMMON_FIELDS.join(", ")
            ),
        };
        Fault::new(format!("{what} {verb} no field `{name}`"), hint).at(Position::NONE)
    }
}

/// Text as a script string, made straight from the borrowed text, without an owned copy
/// first.
fn shared(text: &str) -> Dynamic {
    Dynamic::from(ImmutableString::from(text))
}

/// A JSON field as a script value: integers as `i64`, other numbers as `f64`.
pub fn dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from(i),
            None => Dynamic::from(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => shared(s),
        Value::Array(items) => Dynamic::from_array(items.iter().map(dynamic).collect()),
        Value::Object(map) => Dynamic::from_map(
            map.iter()
                .map(|(name, value)| (name.as_str().into(), dynamic(value)))
                .collect(),
        ),
    }
}

/// A script value as JSON, for table rows.
pub fn json(value: &Dynamic) -> Value {
    if value.is_unit() {
        Value::Null
    } else if let Ok(b) = value.as_bool() {
        Value::Bool(b)
    } else if let Ok(i) = value.as_int() {
        Value::from(i)
    } else if let Ok(f) = value.as_float() {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    } else if let Some(array) = value.read_lock::<rhai::Array>() {
        Value::Array(array.iter().map(json).collect())
    } else if let Some(map) = value.read_lock::<rhai::Map>() {
        Value::Object(
            map.iter()
                .map(|(name, value)| (name.to_string(), json(value)))
                .collect(),
        )
    } else {
        Value::String(crate::maps::text(value))
    }
}
