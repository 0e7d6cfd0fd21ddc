//! Checks JSON values against the schemas of `openapi.json` with the `jsonschema` crate (JSON
//! Schema 2020-12, the dialect of OpenAPI 3.1). A schema is validated with the document's
//! `components` beside it, so its local `$ref`s (`#/components/schemas/...`) resolve.

use serde_json::{json, Value};

/// Every way `value` breaks `schema`, each prefixed by its JSON pointer; `doc` resolves `$ref`.
pub fn violations(doc: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let Some(fields) = schema.as_object() else {
        return vec![format!("schema is not an object: {schema}")];
    };
    let mut root = fields.clone();
    root.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    root.insert("components".into(), doc["components"].clone());
    let validator = match jsonschema::validator_for(&Value::Object(root)) {
        Ok(v) => v,
        Err(e) => return vec![format!("the schema does not compile: {e}")],
    };
    validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::violations;

    fn document() -> Value {
        serde_json::from_str(rampart_server::OPENAPI).expect("openapi.json is JSON")
    }

    #[test]
    fn every_schema_of_the_document_compiles() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        assert!(schemas.len() > 30, "{}", schemas.len());
        for (name, schema) in schemas {
            let bad = violations(&doc, schema, &json!(null));
            assert!(
                !bad.iter().any(|b| b.contains("does not compile")),
                "{name}: {bad:?}"
            );
        }
    }

    #[test]
    fn the_validator_reads_the_documents_limits() {
        let doc = document();
        let assign = json!({"$ref": "#/components/schemas/AssignRequest"});
        // Lengths count characters: seven accented letters are 14 bytes and pass.
        assert_eq!(
            violations(&doc, &assign, &json!({"model": "m", "unit": "éèêëàâä"})),
            Vec::<String>::new()
        );
        let long = "é".repeat(257);
        let bad = violations(&doc, &assign, &json!({"model": "m", "unit": long}));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].starts_with("/unit: "), "{bad:?}");
        let bad = violations(&doc, &assign, &json!({"model": "m", "colour": "red"}));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].contains("colour"), "{bad:?}");
        let bad = violations(&doc, &assign, &json!([{"model": "m"}]));
        assert_eq!(bad.len(), 1, "an array is not an object: {bad:?}");
        let events = json!({"$ref": "#/components/schemas/EventsRequest"});
        let bad = violations(&doc, &events, &json!({"events": []}));
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].starts_with("/events: "), "{bad:?}");
    }
}
