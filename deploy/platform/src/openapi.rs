//! The REST contract: OpenAPI 3.1, generated from the handlers.
//!
//! Each tier builds its routes with `utoipa_axum::router::OpenApiRouter` and
//! `routes!`, so a handler is routed and documented by the same
//! `#[utoipa::path]` annotation and the two cannot drift apart. The
//! annotation names the success answer (in [`Envelope`]) and the errors
//! particular to the operation; [`finish`] adds what every operation shares
//! (the bearer scheme, the error envelope, 400/401/404/413/422/500/503 where
//! they can happen), and [`merge`] joins the tiers' documents into the one the
//! gateway serves at `/api/openapi.json` (`schemas/openapi.json`, written and
//! checked by `tests/tests/openapi.rs`).

use serde_json::{json, Map, Value};
use utoipa::{PartialSchema, ToSchema};

/// Every machine-readable error kind an answer's `data.error` can carry.
/// `tests/tests/openapi.rs` checks that every kind written in the code is here.
pub const ERROR_KINDS: &[&str] = &[
    // the shared ones (ApiError)
    "bad_request",
    "invalid_field",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "too_large",
    "gone",
    "range_not_satisfiable",
    "missing_parts",
    "too_many_requests",
    "unavailable",
    "internal",
    // the gateway's own (nginx answers these before a tier sees the request)
    "uri_too_long",
    "headers_too_large",
    "bad_gateway",
    "gateway_timeout",
    // auth
    "unsupported_grant_type",
    "username_taken",
    "email_taken",
    "phone_taken",
    // friends and blocks
    "already_friends",
    "request_pending",
    "request_not_pending",
    "not_friends",
    "not_accepting_requests",
    "blocked",
    "user_blocked",
    // groups
    "already_member",
    "group_full",
    "owner_must_transfer",
    "not_a_member",
    "group_closed",
    "muted",
    // chat
    "already_recalled",
    "window_expired",
    "limit_reached",
    // files
    "hash_mismatch",
    "unsupported_type",
    "wrong_part_size",
    "image_too_large",
    // emoji, system
    "not_official",
    "already_registered",
    "version_exists",
    "withdrawn",
    // calls
    "busy",
    "not_a_participant",
    "call_ended",
    "already_answered",
    "not_allowed",
    "call_full",
];

/// The envelope of every answer: `data` is the result.
#[derive(ToSchema)]
#[schema(bound = "T: ToSchema")]
#[allow(dead_code)]
pub struct Envelope<T> {
    /// The HTTP status, repeated.
    code: u16,
    /// For humans.
    message: String,
    data: T,
    /// Milliseconds since the Unix epoch.
    timestamp: i64,
}

/// `data` of an error answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorData {
    /// The machine-readable kind (one of [`ERROR_KINDS`]).
    #[schema(schema_with = error_kind)]
    error: String,
    /// With `invalid_field`: the field (or JSON path) that is not acceptable.
    field: Option<String>,
    /// With `too_many_requests`: seconds until a retry may succeed.
    retry_after: Option<u64>,
    /// With `missing_parts`: the upload's missing part numbers.
    missing: Option<Vec<u32>>,
}

fn error_kind() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(ERROR_KINDS.iter().copied()))
        .build()
}

/// An error answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorEnvelope {
    code: u16,
    message: String,
    data: ErrorData,
    timestamp: i64,
}

/// A success answer whose `data` is `null` (e.g. a deletion).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Empty;

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorEnvelope" } } }
    })
}

/// Adds what every operation of a tier shares to its generated document.
pub fn finish(doc: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).expect("an OpenAPI document serialises");
    let schemas = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut).map(std::mem::take).unwrap_or_default();
    let mut schemas: Map<String, Value> = schemas;
    for (name, schema) in [
        ("ErrorEnvelope", ErrorEnvelope::schema()),
        ("ErrorData", ErrorData::schema()),
    ] {
        schemas.insert(name.into(), serde_json::to_value(schema).unwrap());
    }
    doc["components"]["schemas"] = Value::Object(schemas);
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from POST /api/user/login or /api/auth/token (docs/social.md)."
        }
    });
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let has_path_params = path.contains('{');
            for (method, op) in item.as_object_mut().into_iter().flatten() {
                let Some(op) = op.as_object_mut() else { continue };
                // No `security` in the annotation: the bearer token is required.
                // `security(())`: public. `security((), ("bearer" = []))`: optional.
                match op.get("security").and_then(Value::as_array) {
                    None => {
                        op.insert("security".into(), json!([{ "bearer": [] }]));
                    }
                    Some(reqs) if reqs.iter().all(|r| r.as_object().is_some_and(Map::is_empty)) => {
                        op.insert("security".into(), json!([]));
                    }
                    Some(_) => {}
                }
                let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| s.iter().any(|r| r.as_object().is_some_and(|r| !r.is_empty())));
                let is_read = matches!(method.as_str(), "get" | "head");
                let has_body = op.contains_key("requestBody");
                let has_params = has_path_params || op.get("parameters").and_then(Value::as_array).is_some_and(|p| !p.is_empty());
                let responses = op.entry("responses").or_insert_with(|| json!({})).as_object_mut().unwrap();
                // A command's answer is 202 with the same data when the write is
                // durable but not yet visible to queries.
                if !is_read && !responses.contains_key("202") {
                    if let Some(success) = responses.get("200").or_else(|| responses.get("201")).cloned() {
                        let mut accepted = success;
                        accepted["description"] = json!("Accepted: durable in the log, not yet visible to queries; the same data.");
                        responses.insert("202".into(), accepted);
                    }
                }
                // Errors named by the annotation get the error envelope.
                for (status, response) in responses.iter_mut() {
                    if (status.starts_with('4') || status.starts_with('5')) && response.get("content").is_none() {
                        response["content"] = error_response("")["content"].clone();
                    }
                }
                let mut add = |status: &str, description: &str| {
                    responses.entry(status.to_owned()).or_insert_with(|| error_response(description));
                };
                add("400", "The request cannot be read: malformed JSON, a wrong content type, a malformed path or query (`bad_request`).");
                if secured {
                    add("401", "No valid access token (`unauthorized`).");
                }
                if has_path_params {
                    add("404", "The resource does not exist or the caller may not see it (`not_found`).");
                }
                if has_body {
                    add("413", "The body is larger than 64 KiB (`payload_too_large`).");
                }
                if has_body || has_params {
                    add("422", "A field is not acceptable (`invalid_field`, naming it in `data.field`).");
                }
                add("500", "An unexpected failure (`internal`); the cause is in the tier's log.");
                add("503", "A dependency (Kafka, MariaDB, Redis) is not answering (`unavailable`); safe to retry.");
            }
        }
    }
    doc
}

/// Joins the tiers' finished documents into the gateway's one.
pub fn merge(parts: Vec<Value>) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut tags: Vec<Value> = Vec::new();
    for part in parts {
        for (path, item) in part["paths"].as_object().cloned().unwrap_or_default() {
            let entry = paths.entry(path).or_insert_with(|| json!({}));
            for (method, op) in item.as_object().cloned().unwrap_or_default() {
                let previous = entry.as_object_mut().unwrap().insert(method.clone(), op);
                assert!(previous.is_none(), "two tiers document the same operation ({method})");
            }
        }
        for (name, schema) in part["components"]["schemas"].as_object().cloned().unwrap_or_default() {
            if let Some(previous) = schemas.get(&name) {
                assert_eq!(previous, &schema, "two different schemas are both named {name}");
            }
            schemas.insert(name, schema);
        }
        for tag in part["tags"].as_array().cloned().unwrap_or_default() {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
    }
    // utoipa names an operation after its handler function, and handlers in
    // different modules share names (`list`, `search`, `accept`…): the id is
    // made from the method and the path instead, unique by construction.
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().unwrap() {
            if let Some(op) = op.as_object_mut() {
                op.insert("operationId".into(), Value::String(operation_id(method, path)));
            }
        }
    }
    // serde's `flatten` of a struct that denies unknown fields comes out as
    // `allOf: [{$ref: Inner}, {the outer fields}]` where Inner says
    // `additionalProperties: false`, which no instance with an outer field
    // satisfies: inline such members without that keyword.
    let mut doc_paths = Value::Object(paths.clone());
    open_all_of(&mut doc_paths, &schemas);
    let inlined_schemas: Map<String, Value> = schemas.iter().map(|(k, v)| {
        let mut v = v.clone();
        open_all_of(&mut v, &schemas);
        (k.clone(), v)
    }).collect();
    let (paths, schemas) = (doc_paths.as_object().cloned().unwrap(), inlined_schemas);
    let mut paths: Vec<(String, Value)> = paths.into_iter().collect();
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    let mut schemas: Vec<(String, Value)> = schemas.into_iter().collect();
    schemas.sort_by(|a, b| a.0.cmp(&b.0));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Beaver",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Beaver's REST API: every answer is the envelope `{code, message, data, timestamp}`. Reads (GET) are served by query-api, writes by commands, both behind the gateway. The WebSocket protocol and the Kafka topics are described in schemas/asyncapi.yaml.",
            "license": { "name": "MIT", "identifier": "MIT" }
        },
        "servers": [{ "url": "/", "description": "the gateway" }],
        "paths": Value::Object(paths.into_iter().collect()),
        "components": {
            "schemas": Value::Object(schemas.into_iter().collect()),
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                            "description": "An access token from POST /api/user/login or /api/auth/token (docs/social.md)." }
            }
        },
        "tags": tags,
    })
}

/// A tier's contract check: writes `doc` to `out` (for `merge` and for
/// readers) and answers what [`undeclared_path_parameters`] finds in it.
pub fn write_and_check(doc: &Value, out: &std::path::Path) -> Vec<String> {
    std::fs::write(out, serde_json::to_string_pretty(doc).expect("a JSON value serialises")).expect("writing the tier's contract");
    undeclared_path_parameters(doc)
}

/// Every operation whose declared path parameters are not exactly the
/// `{names}` in its path, as "method path: declares {…}" (empty when none).
pub fn undeclared_path_parameters(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let in_path: std::collections::BTreeSet<&str> = path.split('{').skip(1).filter_map(|p| p.split('}').next()).collect();
        for (method, op) in item.as_object().into_iter().flatten() {
            if !op.is_object() {
                continue;
            }
            let declared: std::collections::BTreeSet<&str> =
                op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect();
            if declared != in_path {
                problems.push(format!("{method} {path}: declares {declared:?}, the path has {in_path:?}"));
            }
        }
    }
    problems
}

/// Replaces each `$ref` member of an `allOf` whose target forbids
/// additional properties by a copy of the target that does not.
fn open_all_of(value: &mut Value, schemas: &Map<String, Value>) {
    match value {
        Value::Object(map) => {
            let mut closed = false;
            if let Some(Value::Array(members)) = map.get_mut("allOf") {
                if members.len() > 1 {
                    for member in members.iter_mut() {
                        let target = member.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/")).and_then(|n| schemas.get(n));
                        if let Some(target) = target.filter(|t| t.get("additionalProperties") == Some(&Value::Bool(false))) {
                            *member = target.clone();
                        }
                        if let Some(m) = member.as_object_mut() {
                            if m.get("additionalProperties") == Some(&Value::Bool(false)) {
                                m.remove("additionalProperties");
                                closed = true;
                            }
                        }
                    }
                }
            }
            // still closed as a whole: OpenAPI 3.1's JSON Schema sees through allOf
            if closed {
                map.insert("unevaluatedProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(|v| open_all_of(v, schemas));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| open_all_of(v, schemas)),
        _ => {}
    }
}

/// `get /api/group/{group_id}/members` → `get_group_by_group_id_members`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for segment in path.trim_start_matches("/api/").split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => {
                id.push_str("by_");
                id.push_str(param);
            }
            None => id.extend(segment.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })),
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_come_from_the_method_and_the_path() {
        assert_eq!(operation_id("get", "/api/group/{group_id}/members"), "get_group_by_group_id_members");
        assert_eq!(operation_id("put", "/api/emoji/packs/{pack_id}/collect"), "put_emoji_packs_by_pack_id_collect");
        assert_eq!(operation_id("post", "/api/file/uploads"), "post_file_uploads");
    }

    #[test]
    fn merged_operation_ids_are_unique() {
        let part = |paths: Value| json!({ "paths": paths, "components": { "schemas": {} } });
        let doc = merge(vec![
            part(json!({ "/api/a/{id}": { "get": { "operationId": "one" } } })),
            part(json!({ "/api/b/{id}": { "get": { "operationId": "one" } }, "/api/a/{id}": { "delete": { "operationId": "one" } } })),
        ]);
        let ids: Vec<&str> = ["/api/a/{id}", "/api/b/{id}"]
            .iter()
            .flat_map(|p| doc["paths"][p].as_object().unwrap().values().map(|op| op["operationId"].as_str().unwrap()))
            .collect();
        assert_eq!(ids, ["delete_a_by_id", "get_a_by_id", "get_b_by_id"]);
    }
}
