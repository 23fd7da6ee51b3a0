//! PATCH bodies: JSON merge patch (also used for strategic merge and apply patches) and
//! JSON patch.

use serde_json::Value;

use crate::status::ApiError;

/// RFC 7386.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// RFC 6902: add, remove, replace, test, move, copy.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    for op in ops {
        let path = op["path"].as_str().unwrap_or_default();
        let bad = |what: &str| {
            ApiError::new(
                422,
                "Invalid",
                format!(
                    "the server rejected our request due to an error in our request: {what}: {path}"
                ),
            )
        };
        match op["op"].as_str() {
            Some("add") => add(target, path, op["value"].clone()).ok_or_else(|| bad("add"))?,
            Some("remove") => {
                remove(target, path).ok_or_else(|| bad("remove: missing path"))?;
            }
            Some("replace") => {
                remove(target, path).ok_or_else(|| bad("replace: missing path"))?;
                add(target, path, op["value"].clone()).ok_or_else(|| bad("replace"))?;
            }
            Some("test") => {
                if target.pointer(path) != Some(&op["value"]) {
                    return Err(bad("testing value failed"));
                }
            }
            Some(kind @ ("move" | "copy")) => {
                let from = op["from"].as_str().unwrap_or_default();
                let value = if kind == "move" {
                    remove(target, from)
                } else {
                    target.pointer(from).cloned()
                }
                .ok_or_else(|| bad("missing from"))?;
                add(target, path, value).ok_or_else(|| bad(kind))?;
            }
            _ => return Err(ApiError::bad_request("unknown json patch operation")),
        }
    }
    Ok(())
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split(path: &str) -> Option<(&str, String)> {
    let idx = path.rfind('/')?;
    Some((&path[..idx], unescape(&path[idx + 1..])))
}

fn add(target: &mut Value, path: &str, value: Value) -> Option<()> {
    if path.is_empty() {
        *target = value;
        return Some(());
    }
    let (parent, last) = split(path)?;
    match target.pointer_mut(parent)? {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last.parse().ok()?;
                if i > a.len() {
                    return None;
                }
                a.insert(i, value);
            }
        }
        _ => return None,
    }
    Some(())
}

fn remove(target: &mut Value, path: &str) -> Option<Value> {
    let (parent, last) = split(path)?;
    match target.pointer_mut(parent)? {
        Value::Object(m) => m.remove(&last),
        Value::Array(a) => {
            let i: usize = last.parse().ok()?;
            (i < a.len()).then(|| a.remove(i))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_and_json_patch() {
        let mut v = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge(&mut v, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(v, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
        json_patch(
            &mut v,
            &json!([{"op": "add", "path": "/l/-", "value": 4}, {"op": "replace", "path": "/a/c", "value": 9}, {"op": "remove", "path": "/a/d"}]),
        )
        .expect("patch applies");
        assert_eq!(v, json!({"a": {"c": 9}, "l": [3, 4]}));
    }
}
