//! What a container needs before it starts: configMap and downward API volumes written to
//! a per-pod directory, mount paths of those and of hostPath volumes rewritten to where
//! their files really are, and the environment resolved.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::store::Store;

/// Volume mount paths of one container and where their files really are.
pub type Mounts = Vec<(String, PathBuf)>;

/// Writes every configMap volume of the pod under `dir` and returns where each configMap
/// and hostPath volume really is; `Err` names what is missing.
pub fn materialize(
    store: &Store,
    pod: &Value,
    dir: &Path,
) -> Result<Vec<(String, PathBuf)>, String> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    for vol in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let name = vol["name"].as_str().unwrap_or_default();
        // Same host: a hostPath volume is its path, with no copy.
        if let Some(path) = vol["hostPath"]["path"].as_str() {
            out.push((name.to_string(), PathBuf::from(path)));
            continue;
        }
        if !vol["downwardAPI"].is_null() {
            let target = dir.join("volumes").join(name);
            write_downward_api(pod, &vol["downwardAPI"], &target)?;
            out.push((name.to_string(), target));
            continue;
        }
        let cm = &vol["configMap"];
        if cm.is_null() {
            continue;
        }
        let cm_name = cm["name"].as_str().unwrap_or_default();
        let target = dir.join("volumes").join(name);
        std::fs::create_dir_all(&target)
            .map_err(|e| format!("create {}: {e}", target.display()))?;
        let data = match store.try_get("configmaps", ns, cm_name) {
            Some(obj) => obj["data"].clone(),
            None if cm["optional"] == true => Value::Null,
            None => return Err(format!("configmap \"{cm_name}\" not found")),
        };
        let items: Vec<(String, String)> = match cm["items"].as_array() {
            Some(items) => items
                .iter()
                .filter_map(|i| {
                    Some((
                        i["key"].as_str()?.to_string(),
                        i["path"].as_str()?.to_string(),
                    ))
                })
                .collect(),
            None => data
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| (k.clone(), k.clone()))
                .collect(),
        };
        for (key, path) in items {
            let Some(text) = data[&key].as_str() else {
                continue;
            };
            if path.split('/').any(|seg| seg == "..") {
                continue;
            }
            let file = target.join(&path);
            if let Some(parent) = file.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            std::fs::write(&file, text).map_err(|e| format!("write {}: {e}", file.display()))?;
        }
        out.push((name.to_string(), target));
    }
    Ok(out)
}

/// Writes a downward API volume's items (fields of the pod) as files under `target`.
fn write_downward_api(pod: &Value, source: &Value, target: &Path) -> Result<(), String> {
    std::fs::create_dir_all(target).map_err(|e| format!("create {}: {e}", target.display()))?;
    for item in source["items"].as_array().into_iter().flatten() {
        let (Some(path), Some(field_path)) = (
            item["path"].as_str(),
            item["fieldRef"]["fieldPath"].as_str(),
        ) else {
            continue;
        };
        if path.starts_with('/') || path.split('/').any(|seg| seg == "..") {
            return Err(format!(
                "downward API path {path} must be relative, without .."
            ));
        }
        let file = target.join(path);
        if let Some(parent) = file.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(&file, field(pod, field_path))
            .map_err(|e| format!("write {}: {e}", file.display()))?;
    }
    Ok(())
}

/// The container's configMap and hostPath mounts, longest mount path first.
pub fn mounts(container: &Value, volumes: &[(String, PathBuf)]) -> Mounts {
    let mut m: Mounts = container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|vm| {
            let (_, dir) = volumes.iter().find(|(n, _)| vm["name"] == n.as_str())?;
            let mut dir = dir.clone();
            if let Some(sub) = vm["subPath"].as_str().filter(|s| !s.is_empty()) {
                dir.push(sub);
            }
            Some((
                vm["mountPath"].as_str()?.trim_end_matches('/').to_string(),
                dir,
            ))
        })
        .collect();
    m.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    m
}

/// Rewrites mount paths where they start a path in the value: at its start or after
/// whitespace, `=`, `:` or a quote (`/etc/spec/x`, `--spec=/etc/spec/x`, `cat /etc/spec/x`).
pub fn rewrite(value: &str, mounts: &Mounts) -> String {
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    let bytes = value.as_bytes();
    'scan: while i < value.len() {
        let boundary = i == 0
            || matches!(
                bytes[i - 1],
                b' ' | b'\t' | b'\n' | b'=' | b':' | b'"' | b'\''
            );
        if boundary {
            for (mount, dir) in mounts {
                if mount.is_empty() || !value[i..].starts_with(mount.as_str()) {
                    continue;
                }
                let end = i + mount.len();
                let ends_path = end == value.len()
                    || matches!(
                        bytes[end],
                        b'/' | b' ' | b'\t' | b'\n' | b'"' | b'\'' | b';' | b':'
                    );
                if ends_path {
                    out.push_str(&dir.display().to_string());
                    i = end;
                    continue 'scan;
                }
            }
        }
        let ch = value[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// A downward API field of the pod: `metadata.labels['KEY']`,
/// `metadata.annotations['KEY']` or a dotted path such as `metadata.name`.
fn field(pod: &Value, path: &str) -> String {
    for map in ["labels", "annotations"] {
        if let Some(key) = path
            .strip_prefix(&format!("metadata.{map}['"))
            .and_then(|p| p.strip_suffix("']"))
        {
            return pod["metadata"][map][key]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
    }
    let mut v = pod;
    for seg in path.split('.') {
        v = &v[seg];
    }
    v.as_str().unwrap_or_default().to_string()
}

/// The container's environment (`value`, `valueFrom` fieldRef/configMapKeyRef, `envFrom`
/// configMapRef); `Err` names a missing ConfigMap or key.
pub fn env(
    store: &Store,
    pod: &Value,
    container: &Value,
    mounts: &Mounts,
) -> Result<Vec<(String, String)>, String> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let Some(name) = from["configMapRef"]["name"].as_str() else {
            continue;
        };
        match store.try_get("configmaps", ns, name) {
            Some(cm) => {
                let prefix = from["prefix"].as_str().unwrap_or_default();
                for (k, v) in cm["data"].as_object().into_iter().flatten() {
                    out.push((
                        format!("{prefix}{k}"),
                        v.as_str().unwrap_or_default().to_string(),
                    ));
                }
            }
            None if from["configMapRef"]["optional"] == true => {}
            None => return Err(format!("configmap \"{name}\" not found")),
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let Some(name) = e["name"].as_str() else {
            continue;
        };
        let value = if let Some(v) = e["value"].as_str() {
            v.to_string()
        } else if let Some(path) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            field(pod, path)
        } else if !e["valueFrom"]["configMapKeyRef"].is_null() {
            let r = &e["valueFrom"]["configMapKeyRef"];
            let cm_name = r["name"].as_str().unwrap_or_default();
            let key = r["key"].as_str().unwrap_or_default();
            match store
                .try_get("configmaps", ns, cm_name)
                .and_then(|cm| cm["data"][key].as_str().map(str::to_string))
            {
                Some(v) => v,
                None if r["optional"] == true => continue,
                None => {
                    return Err(format!(
                        "couldn't find key {key} in ConfigMap {ns}/{cm_name}"
                    ));
                }
            }
        } else {
            String::new()
        };
        out.push((name.to_string(), rewrite(&value, mounts)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_mount_paths() {
        let m: Mounts = vec![("/etc/spec".into(), PathBuf::from("/tmp/x/spec"))];
        assert_eq!(rewrite("/etc/spec/spec.json", &m), "/tmp/x/spec/spec.json");
        assert_eq!(rewrite("--spec=/etc/spec/a", &m), "--spec=/tmp/x/spec/a");
        assert_eq!(rewrite("/etc/specs", &m), "/etc/specs");
        assert_eq!(
            rewrite("cat /etc/spec/a; x/etc/spec", &m),
            "cat /tmp/x/spec/a; x/etc/spec"
        );
    }
}
