//! A small JSON Schema checker for the keywords `openapi.json` uses: `$ref` (local), `type` (one
//! or several, `null` for nullable), `properties`, `required`, `items`, `additionalProperties`,
//! `enum` and `oneOf`. Any other keyword is reported, so the document cannot rely on a keyword
//! this checker would silently ignore.

use serde_json::Value;

/// Keywords that only describe.
const ANNOTATIONS: &[&str] = &["description", "title"];
const KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "enum",
    "oneOf",
];

/// Every way `value` breaks `schema`, each prefixed by its JSON pointer; `doc` resolves `$ref`.
pub fn violations(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(doc, schema, value, "", &mut out);
    out
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

fn check(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        out.push(format!("{at}: schema is not an object: {schema}"));
        return;
    };
    for key in schema.keys() {
        if !KEYWORDS.contains(&key.as_str()) && !ANNOTATIONS.contains(&key.as_str()) {
            out.push(format!("{at}: unsupported keyword {key:?}"));
        }
    }
    if let Some(r) = schema.get("$ref") {
        let target = r
            .as_str()
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| doc.pointer(p));
        match target {
            Some(t) => check(doc, t, value, at, out),
            None => out.push(format!("{at}: unresolvable $ref {r}")),
        }
    }
    if let Some(t) = schema.get("type") {
        let names: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.iter().any(|n| type_matches(n, value)) {
            out.push(format!("{at}: expected type {t}, found {value}"));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.contains(value) {
            out.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(Value::Array(options)) = schema.get("oneOf") {
        let matching = options
            .iter()
            .filter(|o| violations(doc, o, value).is_empty())
            .count();
        if matching != 1 {
            out.push(format!(
                "{at}: {value} matches {matching} of the oneOf options, not exactly one"
            ));
        }
    }
    if let Value::Object(fields) = value {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = schema.get("required") {
            for r in required.iter().filter_map(Value::as_str) {
                if !fields.contains_key(r) {
                    out.push(format!("{at}: missing required property {r:?}"));
                }
            }
        }
        for (k, v) in fields {
            let path = format!("{at}/{k}");
            match (
                props.and_then(|p| p.get(k)),
                schema.get("additionalProperties"),
            ) {
                (Some(s), _) => check(doc, s, v, &path, out),
                (None, Some(Value::Bool(false))) => {
                    out.push(format!("{at}: property {k:?} is not in the schema"))
                }
                (None, Some(s @ Value::Object(_))) => check(doc, s, v, &path, out),
                (None, _) => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            check(doc, item_schema, v, &format!("{at}/{i}"), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::violations;

    #[test]
    fn the_checker_catches_each_keyword() {
        let doc = json!({"components": {"schemas": {
            "Point": {"type": "object", "required": ["x"], "additionalProperties": false,
                "properties": {"x": {"type": "integer"}, "tag": {"type": ["string", "null"], "enum": ["a", "b", null]}}}
        }}});
        let point = json!({"$ref": "#/components/schemas/Point"});
        let list = json!({"type": "array", "items": point.clone()});
        assert!(violations(&doc, &point, &json!({"x": 1, "tag": null})).is_empty());
        assert!(violations(&doc, &list, &json!([{"x": 1}, {"x": 2, "tag": "b"}])).is_empty());

        let bad = violations(&doc, &list, &json!([{"x": 1.5}, {"tag": "c", "y": 1}]));
        assert_eq!(
            bad,
            [
                "/0/x: expected type \"integer\", found 1.5",
                "/1: missing required property \"x\"",
                "/1/tag: \"c\" is not one of [String(\"a\"), String(\"b\"), Null]",
                "/1: property \"y\" is not in the schema",
            ]
        );
        let one_of = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
        assert_eq!(violations(&doc, &one_of, &json!(1.5)).len(), 0);
        assert_eq!(
            violations(&doc, &one_of, &json!(2)).len(),
            1,
            "matches both"
        );
        assert_eq!(
            violations(&doc, &one_of, &json!("2")).len(),
            1,
            "matches none"
        );
        let map = json!({"type": "object", "additionalProperties": {"type": "boolean"}});
        assert_eq!(violations(&doc, &map, &json!({"a": true, "b": 1})).len(), 1);
        assert_eq!(
            violations(&doc, &json!({"minimum": 3}), &json!(1)),
            [": unsupported keyword \"minimum\""]
        );
        assert_eq!(
            violations(&doc, &json!({"$ref": "#/nowhere"}), &json!(1)),
            [": unresolvable $ref \"#/nowhere\""]
        );
    }
}
