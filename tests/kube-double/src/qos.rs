//! A pod's QoS class, computed from its containers' resources as the kubelet does.

use serde_json::Value;

/// Parses a resource quantity (`100m`, `1Gi`, `2`, `1e3`) into a number of base units.
pub fn quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let suffixes: [(&str, f64); 14] = [
        ("Ki", 1024.0),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
    ];
    for (suffix, scale) in suffixes {
        if let Some(num) = text.strip_suffix(suffix) {
            return num.parse::<f64>().ok().map(|n| n * scale);
        }
    }
    text.parse().ok()
}

fn value_quantity(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => quantity(s),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// `Guaranteed`, `Burstable` or `BestEffort` for a pod spec.
pub fn class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().into_iter().flatten())
        .collect();
    let mut any_set = false;
    let mut guaranteed = true;
    for c in &containers {
        let requests = &c["resources"]["requests"];
        let limits = &c["resources"]["limits"];
        for resource in ["cpu", "memory"] {
            let request = value_quantity(&requests[resource]);
            let limit = value_quantity(&limits[resource]);
            if request.is_some_and(|r| r != 0.0) || limit.is_some_and(|l| l != 0.0) {
                any_set = true;
            }
            // A missing request defaults to the limit.
            match (request.or(limit), limit) {
                (Some(r), Some(l)) if r == l => {}
                _ => guaranteed = false,
            }
        }
    }
    if !any_set {
        "BestEffort"
    } else if guaranteed && !containers.is_empty() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classes() {
        let be = json!({"containers": [{"name": "a"}]});
        assert_eq!(class(&be), "BestEffort");
        let g = json!({"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}}}]});
        assert_eq!(class(&g), "Guaranteed");
        let g2 = json!({"containers": [{"name": "a", "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}]});
        assert_eq!(class(&g2), "Guaranteed");
        let b = json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]});
        assert_eq!(class(&b), "Burstable");
        let mixed = json!({"containers": [g2["containers"][0].clone(), {"name": "b"}]});
        assert_eq!(class(&mixed), "Burstable");
    }
}
