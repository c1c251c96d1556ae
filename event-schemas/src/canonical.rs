//! Canonical JSON: object keys in sorted order, whatever `serde_json` features the build
//! unified (`preserve_order` keeps insertion order, and another crate in the workspace may
//! turn it on). Every `Value` Cutover writes out goes through [`sort_keys`], so the same
//! input gives the same bytes in every build.

use serde_json::Value;

/// `value` with the keys of every object, at every depth, in sorted order.
pub fn sort_keys(mut value: Value) -> Value {
    sort_in_place(&mut value);
    value
}

/// Sorts the keys of every object in `value`, at every depth, where they stand: nothing is
/// moved or allocated again, and an object already in order (as Cutover writes its own) is
/// only read.
pub fn sort_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if !map.keys().is_sorted() {
                map.sort_keys();
            }
            map.values_mut().for_each(sort_in_place);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_in_place),
        _ => {}
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
