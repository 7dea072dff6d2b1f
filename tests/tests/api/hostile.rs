//! Hostile and malformed requests: whatever refuses them — nginx itself or a
//! tier — the answer is the envelope `{code, message, data, timestamp}` with
//! a machine-readable `data.error`, never an HTML page or an empty body.

use crate::helpers::{Answer, Api};
use reqwest::Method;
use std::io::{Read, Write};

fn assert_envelope(a: &Answer, status: u16, kind: &str, what: &str) {
    assert_eq!(a.status.as_u16(), status, "{what}: {}", a.body);
    assert_eq!(a.body["code"], status, "{what}: not the envelope: {}", a.body);
    assert_eq!(a.body["data"]["error"], kind, "{what}: {}", a.body);
    assert!(a.body["timestamp"].as_i64().is_some_and(|t| t > 1_600_000_000_000), "{what}: timestamp in ms: {}", a.body);
    assert!(a.body["message"].is_string(), "{what}: {}", a.body);
}

/// Sends `request` byte for byte to the gateway and parses the answer (status, JSON body).
fn raw_exchange(request: &[u8]) -> Answer {
    let base = crate::helpers::gateway();
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    tcp.write_all(request).unwrap();
    let mut bytes = Vec::new();
    let _ = tcp.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let status: u16 = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {text}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    Answer { status: reqwest::StatusCode::from_u16(status).unwrap(), body: serde_json::from_str(body).unwrap_or_else(|_| serde_json::json!({ "raw": body })) }
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_in_the_envelope() {
    let api = Api::new();
    let req = api.raw(Method::POST, "/api/user/register").header("content-type", "application/json").body(vec![b'a'; 70 * 1024]);
    assert_envelope(&api.send(req).await, 413, "payload_too_large", "70 KiB body");
}

#[tokio::test]
async fn a_very_long_uri_is_414_in_the_envelope() {
    let api = Api::new();
    let a = api.get(&format!("/api/user/search?q={}", "a".repeat(10_000)), None).await;
    assert_envelope(&a, 414, "uri_too_long", "10 kB URI");
}

#[tokio::test]
async fn oversized_or_too_many_headers_are_431_in_the_envelope() {
    let api = Api::new();
    let big = api.send(api.raw(Method::GET, "/api/user/profile").header("x-big", "a".repeat(9_000))).await;
    assert_envelope(&big, 431, "headers_too_large", "one 9 kB header");
    let mut many = api.raw(Method::GET, "/api/user/profile");
    for i in 0..150 {
        many = many.header(format!("x-h{i}"), "v");
    }
    assert_envelope(&api.send(many).await, 431, "headers_too_large", "150 headers");
}

#[tokio::test]
async fn trace_and_unknown_methods_are_405_in_the_envelope() {
    let api = Api::new();
    assert_envelope(&api.send(api.raw(Method::TRACE, "/api/user/profile")).await, 405, "method_not_allowed", "TRACE");
    // A route that exists for another method: the tier's own 405.
    assert_envelope(&api.send(api.raw(Method::DELETE, "/api/user/register")).await, 405, "method_not_allowed", "DELETE on register");
    assert_envelope(&api.send(api.raw(Method::PATCH, "/api/user/login")).await, 405, "method_not_allowed", "PATCH on login");
}

#[tokio::test]
async fn nul_bytes_and_encoded_traversals_in_the_path_are_400_in_the_envelope() {
    for path in ["/api/user/%00", "/api/..%2F..%2Fetc%2Fpasswd", "/api/user/..%2F..%2F..%2Fhealthz"] {
        let a = tokio::task::spawn_blocking(move || raw_exchange(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()))
            .await
            .unwrap();
        assert!(matches!(a.status.as_u16(), 400 | 404), "{path}: {}", a.body);
        assert_eq!(a.body["code"], a.status.as_u16(), "{path}: not the envelope: {}", a.body);
        assert!(a.body["data"]["error"].is_string(), "{path}: {}", a.body);
    }
}

#[tokio::test]
async fn unknown_paths_are_404_in_the_envelope_inside_and_outside_the_api() {
    let api = Api::new();
    assert_envelope(&api.get("/nothing/here", None).await, 404, "not_found", "outside /api");
    assert_envelope(&api.get("/api/nothing/here", None).await, 404, "not_found", "GET under /api");
    assert_envelope(&api.post("/api/nothing/here", None, serde_json::json!({})).await, 404, "not_found", "POST under /api");
}

#[tokio::test]
async fn a_malformed_request_line_or_an_unknown_http_version_is_refused_in_the_envelope() {
    for (request, status) in [(&b"GARBAGE\r\n\r\n"[..], 400), (&b"GET /api/user/profile HTTP/9.9\r\nHost: x\r\n\r\n"[..], 505)] {
        let a = tokio::task::spawn_blocking(move || raw_exchange(request)).await.unwrap();
        assert_eq!(a.status.as_u16(), status, "{}", a.body);
        assert_eq!(a.body["code"], status, "not the envelope: {}", a.body);
    }
}
