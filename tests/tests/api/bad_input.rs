//! Every class of bad input is answered with a clear 4xx in the envelope, and
//! appends nothing: each test carries a unique marker and afterwards no event
//! on any topic mentions it.

use crate::helpers::{events_mentioning, unique, Api, PASSWORD};
use reqwest::Method;
use serde_json::json;

async fn assert_nothing_appended(marker: &str) {
    let found = events_mentioning(marker).await;
    assert!(found.is_empty(), "bad input appended events: {found:#?}");
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let api = Api::new();
    let marker = unique("malformed");
    let req = api
        .raw(Method::POST, "/api/user/register")
        .header("content-type", "application/json")
        .body(format!("{{\"username\": \"{marker}\", \"password\": "));
    let a = api.send(req).await.expect(400);
    assert_eq!(a.error_kind(), "bad_request");
    assert_nothing_appended(&marker).await;
}

#[tokio::test]
async fn a_body_without_json_content_type_is_a_400() {
    let api = Api::new();
    let marker = unique("ctype");
    let req = api
        .raw(Method::POST, "/api/user/register")
        .header("content-type", "text/plain")
        .body(json!({ "username": marker, "password": PASSWORD }).to_string());
    api.send(req).await.expect(400);
    assert_nothing_appended(&marker).await;
}

#[tokio::test]
async fn wrong_types_missing_and_unknown_fields_are_422_naming_the_problem() {
    let api = Api::new();
    let marker = unique("types");
    let wrong_type = api.post("/api/user/register", None, json!({ "username": marker, "password": 12345678 })).await.expect(422);
    assert!(wrong_type.body["message"].as_str().unwrap().contains("password"), "{}", wrong_type.body);
    let missing = api.post("/api/user/register", None, json!({ "username": marker })).await.expect(422);
    assert!(missing.body["message"].as_str().unwrap().contains("password"), "{}", missing.body);
    let unknown = api.post("/api/user/register", None, json!({ "username": marker, "password": PASSWORD, "admin": true })).await.expect(422);
    assert!(unknown.body["message"].as_str().unwrap().contains("admin"), "{}", unknown.body);
    assert_nothing_appended(&marker).await;
}

#[tokio::test]
async fn rule_breaking_registrations_are_422_with_the_field_named() {
    let api = Api::new();
    let marker = unique("rules");
    let cases = [
        (json!({ "username": "ab", "password": PASSWORD, "nickname": marker }), "username"),
        (json!({ "username": format!("{marker} x"), "password": PASSWORD }), "username"),
        (json!({ "username": marker, "password": "short" }), "password"),
        (json!({ "username": marker, "password": PASSWORD, "email": "not-an-email" }), "email"),
        (json!({ "username": marker, "password": PASSWORD, "phone": "12345" }), "phone"),
        (json!({ "username": marker, "password": PASSWORD, "nickname": "n".repeat(40) }), "nickname"),
    ];
    for (body, field) in cases {
        let a = api.post("/api/user/register", None, body.clone()).await.expect(422);
        assert_eq!(a.data()["field"], field, "for {body}: {}", a.body);
    }
    assert_nothing_appended(&marker).await;
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let api = Api::new();
    let marker = unique("huge");
    let body = json!({ "username": marker, "password": PASSWORD, "nickname": "x".repeat(70 * 1024) });
    let a = api.post("/api/user/register", None, body).await;
    assert_eq!(a.status.as_u16(), 413, "{}", a.body);
    assert_nothing_appended(&marker).await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401() {
    let api = Api::new();
    let marker = unique("notoken");
    api.get("/api/user/profile", None).await.expect(401);
    api.get("/api/user/profile", Some("not.a.jwt")).await.expect(401);
    api.put("/api/user/profile", None, json!({ "nickname": marker })).await.expect(401);
    api.post("/api/auth/logout", Some("garbage"), json!({})).await.expect(401);
    api.post("/api/auth/refresh", None, json!({ "refresh_token": "garbage" })).await.expect(401);
    assert_nothing_appended(&marker).await;
}

#[tokio::test]
async fn bad_profile_updates_change_nothing() {
    let api = Api::new();
    let name = unique("keep");
    let (_, token, _) = api.signed_up(&name).await;
    let marker = unique("badprofile");
    api.put("/api/user/profile", Some(&token), json!({})).await.expect(422);
    api.put("/api/user/profile", Some(&token), json!({ "gender": "robot", "signature": marker })).await.expect(422);
    api.put("/api/user/profile", Some(&token), json!({ "avatar": format!("ftp://{marker}") })).await.expect(422);
    api.put("/api/user/profile", Some(&token), json!({ "nickname": 42 })).await.expect(422);
    assert_nothing_appended(&marker).await;
    let me = api.get("/api/user/profile", Some(&token)).await.expect(200);
    assert_eq!(me.data()["nickname"], name.as_str());
}

#[tokio::test]
async fn malformed_queries_and_unknown_routes_are_answered_in_the_envelope() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("query")).await;
    api.get("/api/user/profile?user_id=not-a-uuid", Some(&token)).await.expect(400);
    api.get("/api/user/search?q=", Some(&token)).await.expect(422);
    api.get("/api/no/such/thing", Some(&token)).await.expect(404);
    api.post("/api/no/such/thing", Some(&token), json!({})).await.expect(404);
}
