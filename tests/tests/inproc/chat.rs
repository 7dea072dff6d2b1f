//! Chat through the in-process stack: commands → Kafka → the sequencer →
//! projectors and ws-push, all in this process.

use beaver_tests::stack::{unique, Api, TestStack};
use serde_json::{json, Value};
use std::{sync::Arc, time::Duration};

/// Two users who are friends: ((id, token), (id, token)).
async fn friends(api: &Api) -> ((String, String), (String, String)) {
    let (ann, bob) = (unique("ann"), unique("bob"));
    let (a, b) = tokio::join!(api.signed_up(&ann), api.signed_up(&bob));
    let asked = api.post("/api/friend/requests", Some(&a.1), json!({ "to_user_id": b.0 })).await.expect(200);
    let request = asked.data()["request_id"].as_str().unwrap().to_owned();
    api.post(&format!("/api/friend/requests/{request}/accept"), Some(&b.1), json!({})).await.expect(200);
    (a, b)
}

fn text(target: Value, words: &str) -> Value {
    let mut body = target;
    body["client_msg_id"] = json!(unique("c"));
    body["type"] = json!("text");
    body["content"] = json!({ "text": words });
    body
}

fn seqs(history: &Value) -> Vec<i64> {
    history["messages"].as_array().unwrap_or_else(|| panic!("no messages: {history}")).iter().filter(|m| m["type"] != "system").map(|m| m["seq"].as_i64().unwrap()).collect()
}

pub async fn a_direct_message_sent_over_http_reaches_the_recipients_socket_with_its_seq(stack: Arc<TestStack>) {
    let api = stack.api();
    let ((_, ann_token), (bob, bob_token)) = friends(&api).await;
    let mut bob_ws = stack.connect(&bob_token, &unique("dev"), "web").await;

    let first = api.post("/api/chat/send", Some(&ann_token), text(json!({ "to_user_id": bob }), "hello")).await.expect(200);
    let second = api.post("/api/chat/send", Some(&ann_token), text(json!({ "to_user_id": bob }), "again")).await.expect(200);
    assert_eq!(first.data()["seq"], 1, "the sequencer numbers a new conversation from 1: {}", first.body);
    assert_eq!(second.data()["seq"], 2, "{}", second.body);
    let conversation = first.data()["conversation_id"].as_str().unwrap().to_owned();

    for (answer, words) in [(&first, "hello"), (&second, "again")] {
        let id = answer.data()["message_id"].as_str().unwrap().to_owned();
        let frame = bob_ws.expect_where("message", |d| d["message_id"] == id.as_str(), Duration::from_secs(20)).await;
        let m = &frame["data"];
        assert_eq!(m["seq"], answer.data()["seq"], "the frame carries the answered seq: {frame}");
        assert_eq!(m["conversation_id"], conversation.as_str(), "{frame}");
        assert_eq!(m["content"]["text"], words, "{frame}");
    }

    let history = api.get(&format!("/api/chat/messages?conversation_id={conversation}&after_seq=0"), Some(&bob_token)).await.expect(200);
    assert_eq!(seqs(history.data()), vec![1, 2], "{}", history.body);
}

pub async fn a_group_message_is_numbered_per_conversation_and_read_back_in_history(stack: Arc<TestStack>) {
    let api = stack.api();
    let ((_, ann_token), (bob, bob_token)) = friends(&api).await;
    let group = api.post("/api/group", Some(&ann_token), json!({ "name": unique("engine"), "member_ids": [bob] })).await.expect(200);
    let group_id = group.data()["group_id"].as_str().unwrap().to_owned();
    let conversation = group.data()["conversation_id"].as_str().unwrap().to_owned();
    let mut bob_ws = stack.connect(&bob_token, &unique("dev"), "desktop").await;

    let mut answered = Vec::new();
    for (token, words) in [(&ann_token, "one"), (&bob_token, "two"), (&ann_token, "three")] {
        let a = api.post("/api/chat/send", Some(token), text(json!({ "group_id": group_id }), words)).await.expect(200);
        assert_eq!(a.data()["conversation_id"], conversation.as_str(), "{}", a.body);
        answered.push(a.data()["seq"].as_i64().unwrap_or_else(|| panic!("a seq: {}", a.body)));
    }
    // System notices (the group's creation) share the numbering, so only the order is fixed.
    assert!(answered.windows(2).all(|w| w[1] == w[0] + 1), "consecutive seqs: {answered:?}");

    let last = *answered.last().unwrap();
    let frame = bob_ws.expect_where("message", |d| d["seq"] == last && d["conversation_id"] == conversation.as_str(), Duration::from_secs(20)).await;
    assert_eq!(frame["data"]["content"]["text"], "three", "{frame}");

    let history = api.get(&format!("/api/chat/messages?conversation_id={conversation}&after_seq=0"), Some(&bob_token)).await.expect(200);
    assert_eq!(seqs(history.data()), answered, "{}", history.body);
    let texts: Vec<&str> = history.data()["messages"].as_array().unwrap().iter().filter(|m| m["type"] != "system").map(|m| m["content"]["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["one", "two", "three"], "{}", history.body);
}
