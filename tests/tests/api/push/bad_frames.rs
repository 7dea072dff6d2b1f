//! Bad frames.

use super::*;

#[tokio::test]
async fn a_frame_that_is_not_a_json_object_with_a_string_type_is_error_bad_frame_and_the_connection_lives_on() {
    let api = Api::new();
    let ann = new_user(&api, "wsbad").await;
    let mut ws = dial(1, &ann, "web").await;
    for text in ["not json", "{\"type\":", "[1,2]", "\"ping\"", "42", "{\"type\":5}", "{\"data\":{}}", "{}"] {
        ws.send_text(text).await;
        let e = ws.expect("error", WAIT).await;
        assert_error(&e, 400, Some("bad_frame"), text);
        ws.ping(&format!("after {text}")).await;
    }
    // Large but under 64 KiB: read, and refused the same way.
    ws.send_text(&"x".repeat(60 * 1024)).await;
    let e = ws.expect("error", WAIT).await;
    assert_error(&e, 400, Some("bad_frame"), "60 KiB of non-JSON");
    ws.ping("after 60 KiB").await;
}

#[tokio::test]
async fn an_unknown_frame_type_is_error_unknown_type_echoing_its_id() {
    let api = Api::new();
    let ann = new_user(&api, "wsunk").await;
    let mut ws = dial(2, &ann, "web").await;
    for ty in ["dance", "subscribe", "message"] {
        let id = format!("unk-{ty}");
        let e = ws.expect_error_for(json!({ "type": ty, "id": id, "data": {} })).await;
        assert_error(&e, 400, Some("unknown_type"), ty);
    }
    ws.ping("alive").await;
}

#[tokio::test]
async fn a_binary_frame_is_error_bad_frame() {
    let api = Api::new();
    let ann = new_user(&api, "wsbin").await;
    let mut ws = dial(1, &ann, "web").await;
    ws.send_raw(Message::binary(br#"{"type":"ping","id":"bin"}"#.to_vec())).await.unwrap();
    let e = ws.expect("error", WAIT).await;
    assert_error(&e, 400, Some("bad_frame"), "a binary frame");
    ws.assert_no("pong", |_| true, Duration::from_millis(300), "a binary ping must not be answered").await;
    ws.ping("alive").await;
}

#[tokio::test]
async fn a_frame_larger_than_64_kib_closes_the_connection_and_the_node_keeps_serving() {
    let api = Api::new();
    let ann = new_user(&api, "wsbig").await;
    for n in [1, 2] {
        let mut ws = dial(n, &ann, "web").await;
        let big = json!({ "type": "ping", "id": "big", "data": { "pad": "x".repeat(70 * 1024) } }).to_string();
        let _ = ws.send_raw(Message::text(big)).await; // the server may close while we write
        let code = ws.expect_close(WAIT).await;
        assert!(matches!(code, Some(1009) | None), "node {n}: an oversized frame closes with 1009, got {code:?}");
        assert!(ws.take_backlog().iter().all(|f| f["type"] != "pong"), "node {n}: the oversized ping was answered");
        // The node still accepts and serves connections.
        dial(n, &ann, "web").await.ping("after").await;
    }
}
