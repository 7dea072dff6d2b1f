//! Chat calls need a token.

use super::*;

#[tokio::test]
async fn chat_calls_without_a_token_are_401() {
    let api = Api::new();
    let id = uuid::Uuid::new_v4();
    let conv = format!("direct:{}:{}", uuid::Uuid::nil(), id);
    let m = |rest: &str| format!("/api/chat/messages/{id}{rest}");
    let c = |rest: &str| format!("/api/chat/conversations/{conv}{rest}");
    let body = json!({ "to_user_id": id, "client_msg_id": cmid(), "type": "text", "content": { "text": "x" } });
    let answers = vec![
        ("send", api.post("/api/chat/send", None, body.clone()).await),
        ("send with a bad token", api.call(Method::POST, "/api/chat/send", Some("not.a.jwt"), Some(body)).await),
        ("messages", api.get(&format!("/api/chat/messages?conversation_id={conv}"), None).await),
        ("conversations", api.get("/api/chat/conversations", None).await),
        ("read", api.put("/api/chat/read", None, json!({ "conversation_id": conv, "seq": 1 })).await),
        ("receipts", api.get(&format!("/api/chat/receipts?conversation_id={conv}&seq=1"), None).await),
        ("recall", api.post(&m("/recall"), None, json!({})).await),
        ("edit", api.put(&m(""), None, json!({ "content": { "text": "x" } })).await),
        ("edits", api.get(&m("/edits"), None).await),
        ("delete", delete(&api, &m(""), None).await),
        ("clear", api.post(&c("/clear"), None, json!({})).await),
        ("react", api.post(&m("/reactions"), None, json!({ "emoji": "👍" })).await),
        ("unreact", delete(&api, &m(&format!("/reactions/{}", percent("👍"))), None).await),
        ("settings", api.put(&c("/settings"), None, json!({ "pinned": true })).await),
    ];
    for (what, a) in answers {
        assert_eq!(a.status.as_u16(), 401, "{what} without a token: {}", a.body);
        a.expect(401);
    }
}
