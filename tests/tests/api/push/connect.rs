//! Connecting and authenticating. Heartbeat.

use super::*;

#[tokio::test]
async fn a_query_authenticated_connection_gets_ready_first_naming_the_user_device_platform_and_node() {
    let api = Api::new();
    let ann = new_user(&api, "ready").await;
    let (d1, d2) = (device(), device());
    let mut one = connect(1, &ann.token, &d1, "ios").await;
    let mut two = connect(2, &ann.token, &d2, "web").await;
    for ws in [&one, &two] {
        assert_eq!(ws.ready["user_id"], ann.id.as_str(), "{}", ws.ready);
        assert_eq!(ws.ready["heartbeat_timeout_secs"], 60, "the default heartbeat timeout: {}", ws.ready);
    }
    assert_eq!(one.ready["device_id"], d1.as_str());
    assert_eq!(one.ready["platform"], "ios");
    assert_ne!(one.ready["connection_id"], two.ready["connection_id"], "every connection has its own id");
    assert_ne!(one.ready["node"], two.ready["node"], "node 1 and node 2 name themselves differently");
    one.ping("one").await;
    two.ping("two").await;
}

#[tokio::test]
async fn a_bad_or_revoked_token_in_the_query_is_answered_401_and_no_websocket_is_opened() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("wsq401")).await;
    let revoked = revoked_token(&api).await;
    for (what, t) in [("garbage", "not-a-token".to_owned()), ("forged", forged(&token)), ("revoked", revoked)] {
        for n in [1, 2] {
            let (status, body) = refused_handshake(&query_url(n, &t, &device(), "web")).await;
            assert_eq!(status, 401, "a {what} token on node {n}: {body}");
            assert_eq!(body["code"], 401, "the usual JSON envelope: {body}");
        }
    }
    // The genuine token works.
    connect(1, &token, &device(), "web").await.ping("ok").await;
}

#[tokio::test]
async fn a_missing_or_malformed_device_id_or_platform_in_the_query_is_answered_422() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("wsq422")).await;
    let base = node_url(1);
    let t = percent(&token);
    let too_long = "d".repeat(65);
    let bad = [
        ("no device_id", format!("{base}?token={t}&platform=web")),
        ("an empty device_id", format!("{base}?token={t}&device_id=&platform=web")),
        ("a 65-character device_id", format!("{base}?token={t}&device_id={too_long}&platform=web")),
        ("a device_id with a space", format!("{base}?token={t}&device_id=my%20phone&platform=web")),
        ("a device_id with a slash", format!("{base}?token={t}&device_id=a%2Fb&platform=web")),
        ("a device_id with a non-ASCII letter", format!("{base}?token={t}&device_id=%C3%A9cran&platform=web")),
        ("no platform", format!("{base}?token={t}&device_id=phone-1")),
        ("an unknown platform", format!("{base}?token={t}&device_id=phone-1&platform=linux")),
        ("an empty platform", format!("{base}?token={t}&device_id=phone-1&platform=")),
    ];
    for (what, url) in bad {
        let (status, body) = refused_handshake(&url).await;
        assert_eq!(status, 422, "{what}: {body}");
        assert_eq!(body["code"], 422, "the usual JSON envelope ({what}): {body}");
    }
    // The edges of the rule are accepted: 64 characters of every allowed kind, and each platform.
    let longest = format!("Az09._-{}", "x".repeat(57));
    assert_eq!(longest.len(), 64);
    let ws = connect(1, &token, &longest, "desktop").await;
    assert_eq!(ws.ready["device_id"], longest.as_str());
    for platform in ["ios", "android", "web"] {
        connect(2, &token, &device(), platform).await;
    }
}

#[tokio::test]
async fn first_frame_authentication_gets_ready_and_then_works_like_query_authentication() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsff").await;
    let d = device();
    let mut bob_ws = connect_first_frame(2, &bob.token, &d, "android").await;
    assert_eq!(bob_ws.ready["user_id"], bob.id.as_str());
    assert_eq!(bob_ws.ready["device_id"], d.as_str());
    bob_ws.ping("after-auth").await;
    let answer = sent(&api, &ann, text_to(&bob, "to a first-frame connection")).await;
    let m = bob_ws.expect_message(&mid(&answer)).await;
    assert_message(&m["data"], &answer, &ann, "to a first-frame connection");
}

#[tokio::test]
async fn a_bad_or_revoked_token_in_the_first_frame_gets_error_401_and_close_4401() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("wsff401")).await;
    let revoked = revoked_token(&api).await;
    for (what, t) in [("garbage", "not-a-token".to_owned()), ("forged", forged(&token)), ("revoked", revoked)] {
        let mut ws = open(&node_url(1)).await;
        ws.send_json(auth_frame(&t, &device(), "web")).await;
        let e = ws.expect("error", WAIT).await;
        assert_error(&e, 401, None, what);
        assert_eq!(ws.expect_close(WAIT).await, Some(4401), "a {what} first-frame token closes with 4401");
        assert!(ws.take_backlog().iter().all(|f| f["type"] != "ready"), "no ready for a {what} token");
    }
}

#[tokio::test]
async fn a_bad_device_id_or_platform_in_the_first_frame_gets_error_422_and_close_4400() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("wsff422")).await;
    let cases = [
        ("a device_id with a space", json!({ "token": token, "device_id": "my phone", "platform": "web" })),
        ("a 65-character device_id", json!({ "token": token, "device_id": "d".repeat(65), "platform": "web" })),
        ("no device_id", json!({ "token": token, "platform": "web" })),
        ("an unknown platform", json!({ "token": token, "device_id": "phone-1", "platform": "linux" })),
        ("no platform", json!({ "token": token, "device_id": "phone-1" })),
    ];
    for (what, data) in cases {
        let mut ws = open(&node_url(2)).await;
        ws.send_json(json!({ "type": "auth", "data": data })).await;
        let e = ws.expect("error", WAIT).await;
        assert_error(&e, 422, None, what);
        assert_eq!(ws.expect_close(WAIT).await, Some(4400), "{what} closes with 4400");
    }
}

#[tokio::test]
async fn a_first_frame_other_than_auth_gets_error_401_and_close_4401() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsffx").await;
    let others = [
        json!({ "type": "ping", "id": "p" }),
        json!({ "type": "send", "data": text_to(&bob, "before auth") }),
        json!({ "type": "sync", "data": { "conversations": { direct_id(&ann, &bob): 0 } } }),
    ];
    for first in others {
        let mut ws = open(&node_url(1)).await;
        ws.send_json(first.clone()).await;
        let e = ws.expect("error", WAIT).await;
        assert_error(&e, 401, None, &first.to_string());
        assert_eq!(ws.expect_close(WAIT).await, Some(4401), "first frame {first}");
    }
    // Nothing was sent before authentication: the first real message has seq 1.
    let first = sent(&api, &ann, text_to(&bob, "first")).await;
    assert_eq!(seq(&first), 1, "a send frame before authentication must not be carried out");
}

#[tokio::test]
async fn a_connection_silent_for_10_seconds_before_authenticating_is_closed_4401() {
    let mut ws = open(&node_url(2)).await;
    let start = Instant::now();
    let code = ws.expect_close(Duration::from_secs(20)).await;
    assert_eq!(code, Some(4401), "{:?}", ws.take_backlog());
    assert!(start.elapsed() >= Duration::from_secs(8), "closed after {:?}, before the 10 s authentication timeout", start.elapsed());
}

#[tokio::test]
async fn a_second_auth_frame_is_error_409_already_authenticated_and_the_connection_lives_on() {
    let api = Api::new();
    let ann = new_user(&api, "wsauth2").await;
    let mut ws = dial(1, &ann, "web").await;
    let mut again = auth_frame(&ann.token, &device(), "web");
    again["id"] = json!("again");
    let e = ws.expect_error_for(again).await;
    assert_error(&e, 409, Some("already_authenticated"), "a second auth frame");
    ws.ping("still-there").await;
}

// ---------------------------------------------------------------------------
// Heartbeat.

#[tokio::test]
async fn a_ping_frame_is_answered_by_a_pong_echoing_its_id_and_a_websocket_ping_by_a_websocket_pong() {
    let api = Api::new();
    let ann = new_user(&api, "wsping").await;
    let mut ws = dial(2, &ann, "desktop").await;
    for id in ["hb-1", "hb-2"] {
        let pong = ws.ping(id).await;
        assert_eq!(pong["id"], id, "{pong}");
        assert!(pong.get("data").is_none_or(|d| d.is_null() || *d == json!({})), "pong data is {{}}: {pong}");
    }
    ws.send_json(json!({ "type": "ping" })).await;
    let pong = ws.expect("pong", WAIT).await;
    assert!(pong.get("id").is_none_or(Value::is_null), "a ping without id gets a pong without id: {pong}");
    ws.ws_ping(b"beat").await;
    ws.ping("after-ws-ping").await;
}
