//! The shape checks that keep the store well-formed: the fields the double writes into or
//! walks must be objects or lists of objects, so no client body can trip a controller.

use serde_json::Value;

use crate::{resources::Resource, status::ApiError};

fn expect_object(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::Null | Value::Object(_) => Ok(()),
        _ => Err(format!("{path}: Invalid value: must be an object")),
    }
}

fn expect_objects(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::Null => Ok(()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| match item {
                Value::Object(_) => Ok(()),
                _ => Err(format!("{path}[{i}]: Invalid value: must be an object")),
            }),
        _ => Err(format!("{path}: Invalid value: must be a list")),
    }
}

fn meta(v: &Value, path: &str) -> Result<(), String> {
    expect_object(v, path)?;
    for field in ["labels", "annotations"] {
        expect_object(&v[field], &format!("{path}.{field}"))?;
    }
    expect_objects(&v["ownerReferences"], &format!("{path}.ownerReferences"))
}

fn pod_spec(spec: &Value, path: &str) -> Result<(), String> {
    expect_object(spec, path)?;
    for list in ["containers", "initContainers", "volumes"] {
        expect_objects(&spec[list], &format!("{path}.{list}"))?;
    }
    for list in ["containers", "initContainers"] {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            let p = format!("{path}.{list}[{i}]");
            expect_object(&c["resources"], &format!("{p}.resources"))?;
            for l in ["env", "envFrom", "volumeMounts"] {
                expect_objects(&c[l], &format!("{p}.{l}"))?;
            }
        }
    }
    expect_object(&spec["nodeSelector"], &format!("{path}.nodeSelector"))?;
    expect_object(&spec["affinity"], &format!("{path}.affinity"))
}

/// Checks a body about to be stored.
pub fn check(res: &Resource, obj: &Value) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let result = (|| {
        meta(&obj["metadata"], "metadata")?;
        expect_object(&obj["spec"], "spec")?;
        expect_object(&obj["status"], "status")?;
        expect_objects(&obj["status"]["conditions"], "status.conditions")?;
        let spec = &obj["spec"];
        match res.plural {
            "pods" => pod_spec(spec, "spec"),
            "deployments" | "replicasets" | "statefulsets" | "daemonsets" | "jobs" => {
                expect_object(&spec["selector"], "spec.selector")?;
                expect_object(
                    &spec["selector"]["matchLabels"],
                    "spec.selector.matchLabels",
                )?;
                expect_objects(
                    &spec["selector"]["matchExpressions"],
                    "spec.selector.matchExpressions",
                )?;
                expect_object(&spec["template"], "spec.template")?;
                meta(&spec["template"]["metadata"], "spec.template.metadata")?;
                pod_spec(&spec["template"]["spec"], "spec.template.spec")
            }
            "configmaps" => expect_object(&obj["data"], "data"),
            "events" => expect_object(&obj["involvedObject"], "involvedObject"),
            _ => Ok(()),
        }
    })();
    result.map_err(|e| ApiError::invalid(res, name, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::by_plural;
    use serde_json::json;

    #[test]
    fn rejects_what_would_trip_the_controllers() {
        let jobs = by_plural("jobs");
        assert!(check(jobs, &json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}})).is_ok());
        for bad in [
            json!({"metadata": "x"}),
            json!({"metadata": {"name": "j"}, "spec": "x"}),
            json!({"metadata": {"name": "j"}, "spec": {"template": {"metadata": {"labels": []}}}}),
            json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": ["c"]}}}}),
        ] {
            let err = check(jobs, &bad).expect_err("rejected");
            assert_eq!(err.code, 422);
        }
    }
}
