//! The published JSON Schemas of the plugin's documents (docs/schemas), to check real
//! output against them as a consumer would.

use std::path::PathBuf;

use serde_json::Value;

pub fn schema(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/schemas")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The ways `document` breaks the schema `name`, one line each.
pub fn violations(name: &str, document: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&schema(name))
        .unwrap_or_else(|err| panic!("{name} is not a valid schema: {err}"));
    validator
        .iter_errors(document)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect()
}

pub fn assert_valid(name: &str, document: &Value) {
    let found = violations(name, document);
    assert!(
        found.is_empty(),
        "not {name}:\n{}\n{document:#}",
        found.join("\n")
    );
}
