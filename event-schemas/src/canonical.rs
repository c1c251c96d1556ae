//! Canonical JSON: object keys in sorted order, whatever `serde_json` features the build
//! unified (`preserve_order` keeps insertion order, and another crate in the workspace may
//! turn it on). Every `Value` Cutover writes out goes through [`sort_keys`], so the same
//! input gives the same bytes in every build.

use serde_json::{Map, Value};

/// `value` with the keys of every object, at every depth, in sorted order.
pub fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sort_keys(v))).collect::<Map<String, Value>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let v = serde_json::json!({"b": 1, "a": {"z": [{"y": 1, "x": 2}], "c": 3}});
        assert_eq!(sort_keys(v).to_string(), r#"{"a":{"c":3,"z":[{"x":2,"y":1}]},"b":1}"#);
    }
}
