//! Just enough of the Kubernetes protobuf encoding to read what kubectl's generators send
//! (`kubectl create namespace|configmap|job|deployment`, `run`): they POST
//! `application/vnd.kubernetes.protobuf` whatever the server prefers, and client-go does
//! not fall back to JSON. Bodies are decoded into the JSON the rest of the double uses;
//! fields outside these schemas are skipped.

use serde_json::{Map, Value, json};

#[derive(Clone, Copy)]
enum Ty {
    Str,
    Int,
    Bool,
    Msg(&'static [F]),
    StrMap,
    /// map<string, Quantity>: Quantity is a message holding one string.
    QtyMap,
}

struct F(u32, &'static str, Ty, bool);

use Ty::*;

static TYPE_META: &[F] = &[F(1, "apiVersion", Str, false), F(2, "kind", Str, false)];
static OBJECT_META: &[F] = &[
    F(1, "name", Str, false),
    F(2, "generateName", Str, false),
    F(3, "namespace", Str, false),
    F(11, "labels", StrMap, false),
    F(12, "annotations", StrMap, false),
    F(14, "finalizers", Str, true),
];
static REQUIREMENT: &[F] = &[
    F(1, "key", Str, false),
    F(2, "operator", Str, false),
    F(3, "values", Str, true),
];
static LABEL_SELECTOR: &[F] = &[
    F(1, "matchLabels", StrMap, false),
    F(2, "matchExpressions", Msg(REQUIREMENT), true),
];
static RESOURCES: &[F] = &[
    F(1, "limits", QtyMap, false),
    F(2, "requests", QtyMap, false),
];
static PORT: &[F] = &[
    F(1, "name", Str, false),
    F(3, "containerPort", Int, false),
    F(4, "protocol", Str, false),
];
static ENV: &[F] = &[F(1, "name", Str, false), F(2, "value", Str, false)];
static CONTAINER: &[F] = &[
    F(1, "name", Str, false),
    F(2, "image", Str, false),
    F(3, "command", Str, true),
    F(4, "args", Str, true),
    F(5, "workingDir", Str, false),
    F(6, "ports", Msg(PORT), true),
    F(7, "env", Msg(ENV), true),
    F(8, "resources", Msg(RESOURCES), false),
    F(13, "terminationMessagePath", Str, false),
    F(14, "imagePullPolicy", Str, false),
    F(16, "stdin", Bool, false),
    F(17, "stdinOnce", Bool, false),
    F(18, "tty", Bool, false),
    F(20, "terminationMessagePolicy", Str, false),
];
static POD_SPEC: &[F] = &[
    F(2, "containers", Msg(CONTAINER), true),
    F(3, "restartPolicy", Str, false),
    F(4, "terminationGracePeriodSeconds", Int, false),
    F(5, "activeDeadlineSeconds", Int, false),
    F(6, "dnsPolicy", Str, false),
    F(7, "nodeSelector", StrMap, false),
    F(8, "serviceAccountName", Str, false),
    F(10, "nodeName", Str, false),
    F(11, "hostNetwork", Bool, false),
    F(12, "hostPID", Bool, false),
    F(19, "schedulerName", Str, false),
];
static POD_TEMPLATE: &[F] = &[
    F(1, "metadata", Msg(OBJECT_META), false),
    F(2, "spec", Msg(POD_SPEC), false),
];
static JOB_SPEC: &[F] = &[
    F(1, "parallelism", Int, false),
    F(2, "completions", Int, false),
    F(3, "activeDeadlineSeconds", Int, false),
    F(4, "selector", Msg(LABEL_SELECTOR), false),
    F(6, "template", Msg(POD_TEMPLATE), false),
    F(7, "backoffLimit", Int, false),
    F(8, "ttlSecondsAfterFinished", Int, false),
    F(9, "completionMode", Str, false),
    F(10, "suspend", Bool, false),
];
static DEPLOYMENT_SPEC: &[F] = &[
    F(1, "replicas", Int, false),
    F(2, "selector", Msg(LABEL_SELECTOR), false),
    F(3, "template", Msg(POD_TEMPLATE), false),
    F(6, "revisionHistoryLimit", Int, false),
    F(9, "progressDeadlineSeconds", Int, false),
];
static NAMESPACE_SPEC: &[F] = &[F(1, "finalizers", Str, true)];
static OBJECTS: &[(&str, &[F])] = &[
    (
        "Namespace",
        &[
            F(1, "metadata", Msg(OBJECT_META), false),
            F(2, "spec", Msg(NAMESPACE_SPEC), false),
        ],
    ),
    (
        "ConfigMap",
        &[
            F(1, "metadata", Msg(OBJECT_META), false),
            F(2, "data", StrMap, false),
            F(4, "immutable", Bool, false),
        ],
    ),
    (
        "Pod",
        &[
            F(1, "metadata", Msg(OBJECT_META), false),
            F(2, "spec", Msg(POD_SPEC), false),
        ],
    ),
    (
        "Job",
        &[
            F(1, "metadata", Msg(OBJECT_META), false),
            F(2, "spec", Msg(JOB_SPEC), false),
        ],
    ),
    (
        "Deployment",
        &[
            F(1, "metadata", Msg(OBJECT_META), false),
            F(2, "spec", Msg(DEPLOYMENT_SPEC), false),
        ],
    ),
];

const MAGIC: &[u8] = b"k8s\0";

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.buf.len())
            .ok_or("truncated field")?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The next (field number, wire type), or None at the end.
    fn key(&mut self) -> Result<Option<(u32, u8)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let k = self.varint()?;
        Ok(Some(((k >> 3) as u32, (k & 7) as u8)))
    }

    fn skip(&mut self, wire: u8) -> Result<(), String> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.advance(8),
            2 => self.bytes().map(drop),
            5 => self.advance(4),
            _ => Err(format!("unsupported wire type {wire}")),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), String> {
        if self.pos + n > self.buf.len() {
            return Err("truncated field".into());
        }
        self.pos += n;
        Ok(())
    }
}

fn text(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "string field is not UTF-8".to_string())
}

fn map_entry(b: &[u8], quantity: bool) -> Result<(String, String), String> {
    let mut r = Reader { buf: b, pos: 0 };
    let (mut k, mut v) = (String::new(), String::new());
    while let Some((num, wire)) = r.key()? {
        match (num, wire) {
            (1, 2) => k = text(r.bytes()?)?,
            (2, 2) if quantity => v = map_entry(r.bytes()?, false)?.0,
            (2, 2) => v = text(r.bytes()?)?,
            _ => r.skip(wire)?,
        }
    }
    Ok((k, v))
}

fn message(b: &[u8], schema: &[F], depth: u32) -> Result<Value, String> {
    if depth > 16 {
        return Err("message nested too deeply".into());
    }
    let mut r = Reader { buf: b, pos: 0 };
    let mut out = Map::new();
    while let Some((num, wire)) = r.key()? {
        let Some(F(_, name, ty, repeated)) = schema.iter().find(|f| f.0 == num) else {
            r.skip(wire)?;
            continue;
        };
        let value = match (ty, wire) {
            (Str, 2) => json!(text(r.bytes()?)?),
            (Int, 0) => json!(r.varint()? as i64),
            (Bool, 0) => json!(r.varint()? != 0),
            (Msg(s), 2) => message(r.bytes()?, s, depth + 1)?,
            (StrMap | QtyMap, 2) => {
                let (k, v) = map_entry(r.bytes()?, matches!(ty, QtyMap))?;
                let m = out.entry(name.to_string()).or_insert_with(|| json!({}));
                m[k] = json!(v);
                continue;
            }
            _ => {
                r.skip(wire)?;
                continue;
            }
        };
        if value.as_str() == Some("") {
            // Non-pointer strings are always encoded; empty means unset.
            continue;
        }
        if *repeated {
            let list = out.entry(name.to_string()).or_insert_with(|| json!([]));
            if let Some(l) = list.as_array_mut() {
                l.push(value);
            }
        } else {
            out.insert(name.to_string(), value);
        }
    }
    Ok(Value::Object(out))
}

pub fn is_protobuf(content_type: &str) -> bool {
    content_type.starts_with("application/vnd.kubernetes.protobuf")
}

/// Decodes a `k8s\0`-framed object into JSON, for the kinds kubectl's generators create.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let inner = body
        .strip_prefix(MAGIC)
        .ok_or("missing the k8s protobuf magic")?;
    let mut r = Reader { buf: inner, pos: 0 };
    let (mut type_meta, mut raw) = (Value::Null, &[][..]);
    while let Some((num, wire)) = r.key()? {
        match (num, wire) {
            (1, 2) => type_meta = message(r.bytes()?, TYPE_META, 0)?,
            (2, 2) => raw = r.bytes()?,
            _ => r.skip(wire)?,
        }
    }
    let kind = type_meta["kind"].as_str().unwrap_or_default().to_string();
    let schema = OBJECTS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, s)| *s)
        .ok_or_else(|| format!("protobuf bodies of kind {kind:?} are not supported; send JSON"))?;
    let mut obj = message(raw, schema, 0)?;
    obj["kind"] = json!(kind);
    obj["apiVersion"] = type_meta["apiVersion"].clone();
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![((num << 3) | 2) as u8, payload.len() as u8];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn decodes_a_configmap() {
        let meta = field(1, b"cfg");
        let entry = [field(1, b"k"), field(2, b"v")].concat();
        let raw = [field(1, &meta), field(2, &entry)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &raw)].concat();
        let obj = decode(&body).expect("decodes");
        assert_eq!(
            obj,
            json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cfg"}, "data": {"k": "v"}})
        );
        assert!(decode(b"k8s\0\x0a\xff").is_err());
        assert!(decode(b"{}").is_err());
    }
}
