//! The seed's client-facing surface, called as a client written against the
//! seed's overview would call it: every endpoint and address the overview
//! names (user, auth and chat "main interfaces", and the WebSocket at
//! `ws://<host>:21040/ws`), through the gateway, in the overview's shapes.
//! The README's "The seed's API" table maps each one to Beaver's endpoint.

use crate::friends::befriend;
use crate::friends::User;
use crate::helpers::{assert_token_pair, eventually, gateway_ws_origin, gateway_ws_url, unique, Answer, Api};
use crate::ws::{connect, connect_at, query_url_at, refused_handshake, GATEWAY, WAIT};
use serde_json::{json, Value};
use std::time::Duration;

const PASSWORD: &str = "seed contract password";

/// `POST /api/user/register` then `POST /api/user/login`, checked; a user with its tokens.
async fn registered_and_logged_in(api: &Api, prefix: &str) -> (User, String) {
    let name = unique(prefix);
    let reg = api
        .post("/api/user/register", None, json!({ "username": name, "password": PASSWORD, "nickname": "Seed" }))
        .await
        .expect(200);
    let id = reg.data()["user_id"].as_str().unwrap_or_else(|| panic!("register answers a user_id: {}", reg.body)).to_owned();
    assert_eq!(reg.data()["username"], name.as_str(), "{}", reg.body);

    let login = api.post("/api/user/login", None, json!({ "username": name, "password": PASSWORD })).await.expect(200);
    assert_token_pair(&login, &id);
    let token = login.data()["access_token"].as_str().unwrap().to_owned();
    let refresh = login.data()["refresh_token"].as_str().unwrap().to_owned();
    (User { id, name, nickname: "Seed".into(), token }, refresh)
}


/// A write's answer: 200 once it is visible to queries, or 202 with the same
/// data when the projection takes longer than the command waits (a loaded machine).
fn written(a: Answer) -> Answer {
    let status = a.status.as_u16();
    assert!(status == 200 || status == 202, "a write is answered 200 or 202: {}", a.body);
    a.expect(status)
}

/// `POST /api/chat/send` of a text to `to`; the answer's data.
async fn send_text(api: &Api, from: &User, to: &User, text: &str) -> Value {
    let body = json!({ "to_user_id": to.id, "client_msg_id": unique("cm"), "type": "text", "content": { "text": text } });
    let a = written(api.post("/api/chat/send", Some(&from.token), body).await);
    assert!(a.data()["message_id"].is_string(), "a send answers a message_id: {}", a.body);
    assert!(a.data()["conversation_id"].is_string(), "a send answers a conversation_id: {}", a.body);
    a.data().clone()
}

#[tokio::test]
async fn the_seeds_user_endpoints_register_log_in_and_read_and_edit_the_profile() {
    let api = Api::new();
    let (ada, _) = registered_and_logged_in(&api, "seedusr").await;

    let me = api.get("/api/user/profile", Some(&ada.token)).await.expect(200);
    assert_eq!(me.data()["user_id"], ada.id.as_str(), "{}", me.body);
    assert_eq!(me.data()["username"], ada.name.as_str(), "{}", me.body);
    assert_eq!(me.data()["nickname"], "Seed", "{}", me.body);

    let edit = json!({ "nickname": "Countess", "signature": "Notes on the engine", "gender": "female" });
    let edited = written(api.put("/api/user/profile", Some(&ada.token), edit).await);
    assert_eq!(edited.data()["nickname"], "Countess", "{}", edited.body);
    let me = eventually(Duration::from_secs(30), || async {
        let me = api.get("/api/user/profile", Some(&ada.token)).await.expect(200);
        (me.data()["nickname"] == "Countess").then_some(me)
    })
    .await
    .expect("the edited profile is read back");
    assert_eq!(me.data()["signature"], "Notes on the engine", "{}", me.body);
    assert_eq!(me.data()["gender"], "female", "{}", me.body);

    let anonymous = api.get("/api/user/profile", None).await.expect(401);
    assert_eq!(anonymous.error_kind(), "unauthorized", "{}", anonymous.body);
}

#[tokio::test]
async fn the_seeds_auth_endpoints_issue_refresh_and_verify_tokens() {
    let api = Api::new();
    let (ada, refresh) = registered_and_logged_in(&api, "seedauth").await;

    // "get an access token"
    let issued = api
        .post("/api/auth/token", None, json!({ "grant_type": "password", "username": ada.name, "password": PASSWORD }))
        .await
        .expect(200);
    assert_token_pair(&issued, &ada.id);
    let issued_access = issued.data()["access_token"].as_str().unwrap().to_owned();

    // "refresh a token", by both paths
    let refreshed = api.post("/api/auth/refresh", None, json!({ "refresh_token": refresh })).await.expect(200);
    assert_token_pair(&refreshed, &ada.id);
    let next = refreshed.data()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next, refresh, "refresh rotates the refresh token");
    let again = api.post("/api/auth/token", None, json!({ "grant_type": "refresh_token", "refresh_token": next })).await.expect(200);
    assert_token_pair(&again, &ada.id);

    // "verify a token"
    for access in [&ada.token, &issued_access] {
        let v = api.post("/api/auth/verify", None, json!({ "token": access })).await.expect(200);
        assert_eq!(v.data()["valid"], true, "{}", v.body);
        assert_eq!(v.data()["user_id"], ada.id.as_str(), "{}", v.body);
    }
    let bad = api.post("/api/auth/verify", None, json!({ "token": "not.a.token" })).await.expect(401);
    assert_eq!(bad.error_kind(), "unauthorized", "{}", bad.body);
}

#[tokio::test]
async fn the_seeds_chat_endpoints_send_list_and_mark_read() {
    let api = Api::new();
    let ((ann, _), (bob, _)) = tokio::join!(registered_and_logged_in(&api, "seedann"), registered_and_logged_in(&api, "seedbob"));
    befriend(&api, &ann, &bob).await;

    let text = unique("hello seed");
    let sent = send_text(&api, &ann, &bob, &text).await;
    let conv = sent["conversation_id"].as_str().unwrap().to_owned();
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    assert!(conv.starts_with("direct:") && conv.contains(&ann.id) && conv.contains(&bob.id), "{sent}");
    if !sent["seq"].is_null() {
        assert_eq!(sent["seq"], 1, "the first message of a conversation is seq 1: {sent}");
    }

    let path = format!("/api/chat/messages?conversation_id={conv}");
    let m = eventually(Duration::from_secs(30), || async {
        let listed = api.get(&path, Some(&bob.token)).await.expect(200);
        let messages = listed.data()["messages"].as_array().unwrap_or_else(|| panic!("a messages list: {}", listed.body)).clone();
        messages.into_iter().find(|m| m["message_id"] == message_id.as_str())
    })
    .await
    .unwrap_or_else(|| panic!("message {message_id} never listed in {conv}"));
    assert_eq!(m["content"]["text"], text.as_str(), "{m}");
    assert_eq!(m["sender_id"], ann.id.as_str(), "{m}");
    assert_eq!(m["seq"], 1, "{m}");

    let read = written(api.put("/api/chat/read", Some(&bob.token), json!({ "conversation_id": conv, "seq": 1 })).await);
    assert_eq!(read.data()["conversation_id"], conv.as_str(), "{}", read.body);
    assert_eq!(read.data()["read_seq"], 1, "{}", read.body);
}

#[tokio::test]
async fn the_seeds_websocket_address_and_the_gateways_both_deliver_a_message() {
    let api = Api::new();
    let ((ann, _), (bob, _)) = tokio::join!(registered_and_logged_in(&api, "seedwsa"), registered_and_logged_in(&api, "seedwsb"));
    befriend(&api, &ann, &bob).await;
    // Two platform classes, so neither connection replaces the other.
    let mut on_seed_port = connect_at(&gateway_ws_url(), &bob.token, &unique("dev"), "web").await;
    let mut on_gateway = connect(GATEWAY, &bob.token, &unique("dev"), "desktop").await;
    for ws in [&on_seed_port, &on_gateway] {
        assert_eq!(ws.ready["user_id"], bob.id.as_str(), "ready names the user: {}", ws.ready);
    }

    let text = unique("pushed");
    let sent = send_text(&api, &ann, &bob, &text).await;
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    for ws in [&mut on_seed_port, &mut on_gateway] {
        let frame = ws.expect_where("message", |d| d["message_id"] == message_id.as_str(), Duration::from_secs(30)).await;
        assert_eq!(frame["data"]["content"]["text"], text.as_str(), "{frame}");
        assert_eq!(frame["data"]["sender_id"], ann.id.as_str(), "{frame}");
    }
}

#[tokio::test]
async fn the_seeds_websocket_address_refuses_a_bad_token_like_the_gateway() {
    let url = query_url_at(&gateway_ws_url(), "not-a-token", &unique("dev"), "web");
    let (status, body) = refused_handshake(&url).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], 401, "the JSON envelope: {body}");
    assert_eq!(body["data"]["error"], "unauthorized", "{body}");
}

#[tokio::test]
async fn the_websocket_port_answers_anything_but_ws_with_the_json_404() {
    let api = Api::new();
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let origin = gateway_ws_origin();
    for path in ["/", "/api/user/profile", "/healthz", "/ws/extra", "/wsx"] {
        let a = api.send(http.get(format!("{origin}{path}"))).await.expect(404);
        assert_eq!(a.error_kind(), "not_found", "{path}: {}", a.body);
    }
    let a = api.send(http.post(format!("{origin}/api/user/login")).json(&json!({}))).await.expect(404);
    assert_eq!(a.error_kind(), "not_found", "{}", a.body);
    // The API origin answers unknown paths the same way.
    let a = api.send(api.raw(reqwest::Method::GET, "/no/such/path")).await.expect(404);
    assert_eq!(a.error_kind(), "not_found", "{}", a.body);
}
