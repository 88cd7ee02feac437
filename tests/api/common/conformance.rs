//! Every response the black-box suite receives through [`super::TestServer::send`] is checked
//! against the OpenAPI document: its status must be documented for the operation, and a JSON
//! body must satisfy the documented schema. The fuzzer (`.ci/fuzz_api.py`) only reaches what
//! random input can; this reaches every success path the suite walks (checkout, payments,
//! delivery, refunds, …). The validator covers the JSON Schema the document uses: `$ref`,
//! `type` (with `null`), `enum`, `required`, `properties`, `additionalProperties`, `items`,
//! `allOf`/`oneOf`/`anyOf`, `minimum`/`maximum` and the `uuid`/`date-time` formats.

use std::sync::OnceLock;

use serde_json::Value;

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(markethub::http::openapi::document_json()).unwrap_or(Value::Null)
    })
}

/// The documented path template that `path` matches (literal segments win over parameters).
fn template_for(doc: &Value, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, &String)> = None;
    for template in doc["paths"].as_object()?.keys() {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let matches = parts.iter().zip(&segments).all(|(t, s)| {
            if t.starts_with('{') && t.ends_with('}') {
                !s.is_empty()
            } else {
                literal += 1;
                t == s
            }
        });
        if matches && best.is_none_or(|(n, _)| literal > n) {
            best = Some((literal, template));
        }
    }
    best.map(|(_, t)| t.clone())
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => {
            let mut node = doc;
            for part in r.trim_start_matches("#/").split('/') {
                node = &node[part];
            }
            node
        }
        None => v,
    }
}

/// Checks one response; `Err` says what does not match the document.
pub fn check(
    method: &str,
    path: &str,
    status: u16,
    content_type: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let doc = document();
    let Some(template) = template_for(doc, path) else {
        return Ok(()); // not an API path (console files, unknown routes)
    };
    let op = &doc["paths"][&template][method.to_ascii_lowercase()];
    if op.is_null() {
        return Ok(()); // a method the route does not have: the router's 405
    }
    let responses = &op["responses"];
    let response = &responses[status.to_string()];
    let response = if response.is_null() {
        &responses["default"]
    } else {
        response
    };
    if response.is_null() {
        return Err(format!(
            "{method} {template}: status {status} is not documented (documented: {:?})",
            responses
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        ));
    }
    let response = resolve(doc, response);
    let Some(content) = response["content"].as_object() else {
        return Ok(());
    };
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if bytes.is_empty() && status == 304 {
        return Ok(());
    }
    let Some(media) = content
        .iter()
        .find(|(k, _)| k.split(';').next().unwrap_or("").trim() == essence)
        .map(|(_, v)| v)
    else {
        return Err(format!(
            "{method} {template} {status}: content type {content_type:?} is not documented \
             (documented: {:?})",
            content.keys().collect::<Vec<_>>()
        ));
    };
    if essence != "application/json" {
        return Ok(());
    }
    let body: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("{method} {template} {status}: body is not JSON: {e}"))?;
    let mut errors = Vec::new();
    validate(doc, &media["schema"], &body, "$", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{method} {template} {status}: the body does not match the document:\n  {}\nbody: {body}",
            errors.join("\n  ")
        ))
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn validate(doc: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    if schema.is_null() || schema.as_bool() == Some(true) {
        return;
    }
    let schema = resolve(doc, schema);
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            validate(doc, s, v, at, errors);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            let ok = options.iter().any(|s| {
                let mut e = Vec::new();
                validate(doc, s, v, at, &mut e);
                e.is_empty()
            });
            if !ok {
                errors.push(format!("{at}: matches none of {key} ({v})"));
            }
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, v)) {
        errors.push(format!("{at}: expected {types:?}, got {v}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(v)
    {
        errors.push(format!("{at}: {v} is not one of {allowed:?}"));
    }
    if let Some(s) = v.as_str() {
        match schema["format"].as_str() {
            Some("uuid") if !is_uuid(s) => errors.push(format!("{at}: {s:?} is not a uuid")),
            Some("date-time")
                if time::OffsetDateTime::parse(
                    s,
                    &time::format_description::well_known::Rfc3339,
                )
                .is_err() =>
            {
                errors.push(format!("{at}: {s:?} is not an RFC 3339 date-time"));
            }
            _ => {}
        }
    }
    if let Some(n) = v.as_f64() {
        if schema["minimum"].as_f64().is_some_and(|m| n < m) {
            errors.push(format!(
                "{at}: {n} is below the minimum {}",
                schema["minimum"]
            ));
        }
        if schema["maximum"].as_f64().is_some_and(|m| n > m) {
            errors.push(format!(
                "{at}: {n} is above the maximum {}",
                schema["maximum"]
            ));
        }
    }
    if let Some(obj) = v.as_object() {
        if let Some(required) = schema["required"].as_array() {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    errors.push(format!("{at}: required field {r:?} is missing"));
                }
            }
        }
        let props = schema["properties"].as_object();
        for (k, child) in obj {
            let child_at = format!("{at}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(doc, s, child, &child_at, errors),
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => {
                        errors.push(format!("{child_at}: not allowed by the schema"))
                    }
                    s @ Value::Object(_) => validate(doc, s, child, &child_at, errors),
                    _ => {}
                },
            }
        }
    }
    if let Some(items) = v.as_array() {
        for (i, item) in items.iter().enumerate() {
            validate(doc, &schema["items"], item, &format!("{at}[{i}]"), errors);
        }
    }
}
