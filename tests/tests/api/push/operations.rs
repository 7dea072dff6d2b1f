//! Message operations.

use super::*;

/// Two friends, each connected, and one message from ann to bob that both
/// have received: (ann, bob, ann's socket, bob's socket, the send answer).
async fn pair_with_a_message(api: &Api, prefix: &str) -> (User, User, Ws, Ws, Value) {
    let (ann, bob) = friends_pair(api, prefix).await;
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;
    let answer = sent(api, &ann, text_to(&bob, "original")).await;
    ann_ws.expect_message(&mid(&answer)).await;
    bob_ws.expect_message(&mid(&answer)).await;
    (ann, bob, ann_ws, bob_ws, answer)
}

#[tokio::test]
async fn a_recall_reaches_both_participants_as_message_recalled() {
    let api = Api::new();
    let (ann, _bob, mut ann_ws, mut bob_ws, answer) = pair_with_a_message(&api, "wsrecall").await;
    let id = mid(&answer);
    api.post(&format!("/api/chat/messages/{id}/recall"), Some(&ann.token), json!({})).await.expect(200);
    for (who, ws) in [("ann", &mut ann_ws), ("bob", &mut bob_ws)] {
        let f = ws.expect_where("message.recalled", |d| d["message_id"] == id.as_str(), WAIT).await;
        assert_eq!(f["data"], json!({ "message_id": id, "conversation_id": answer["conversation_id"], "by": ann.id }), "{who}: {f}");
    }
}

#[tokio::test]
async fn an_edit_reaches_both_participants_with_the_new_content() {
    let api = Api::new();
    let (ann, _bob, mut ann_ws, mut bob_ws, answer) = pair_with_a_message(&api, "wsedit").await;
    let id = mid(&answer);
    api.put(&format!("/api/chat/messages/{id}"), Some(&ann.token), json!({ "content": { "text": "edited" } })).await.expect(200);
    for (who, ws) in [("ann", &mut ann_ws), ("bob", &mut bob_ws)] {
        let f = ws.expect_where("message.edited", |d| d["message_id"] == id.as_str(), WAIT).await;
        let d = &f["data"];
        assert_eq!(d["conversation_id"], answer["conversation_id"], "{who}: {f}");
        assert_eq!(d["by"], ann.id.as_str(), "{who}: {f}");
        assert_eq!(d["content"], json!({ "text": "edited" }), "{who}: {f}");
    }
}

#[tokio::test]
async fn reactions_added_and_removed_reach_both_participants() {
    let api = Api::new();
    let (_ann, bob, mut ann_ws, mut bob_ws, answer) = pair_with_a_message(&api, "wsreact").await;
    let id = mid(&answer);
    let emoji = "👍";
    api.post(&format!("/api/chat/messages/{id}/reactions"), Some(&bob.token), json!({ "emoji": emoji })).await.expect(200);
    let want = json!({ "message_id": id, "conversation_id": answer["conversation_id"], "user_id": bob.id, "emoji": emoji });
    for (who, ws) in [("ann", &mut ann_ws), ("bob", &mut bob_ws)] {
        let f = ws.expect_where("reaction.added", |d| d["message_id"] == id.as_str(), WAIT).await;
        assert_eq!(f["data"], want, "{who}: {f}");
    }
    delete(&api, &format!("/api/chat/messages/{id}/reactions/{}", percent(emoji)), Some(&bob.token)).await.expect(200);
    for (who, ws) in [("ann", &mut ann_ws), ("bob", &mut bob_ws)] {
        let f = ws.expect_where("reaction.removed", |d| d["message_id"] == id.as_str(), WAIT).await;
        assert_eq!(f["data"], want, "{who}: {f}");
    }
}

#[tokio::test]
async fn reading_a_direct_conversation_reaches_the_readers_devices_and_the_peer_as_a_read_receipt() {
    let api = Api::new();
    let (ann, bob, mut ann_ws, mut bob_ws, first) = pair_with_a_message(&api, "wsread").await;
    let conv = first["conversation_id"].as_str().unwrap().to_owned();
    let second = sent(&api, &ann, text_to(&bob, "second")).await;
    bob_ws.expect_message(&mid(&second)).await;
    let mut bob_phone = dial(1, &bob, "ios").await;

    api.put("/api/chat/read", Some(&bob.token), json!({ "conversation_id": conv, "seq": 2 })).await.expect(200);
    let want = json!({ "conversation_id": conv, "user_id": bob.id, "seq": 2 });
    for (who, ws) in [("ann (the peer)", &mut ann_ws), ("bob's web", &mut bob_ws), ("bob's phone", &mut bob_phone)] {
        let f = ws.expect_where("conversation.read", |d| d["user_id"] == bob.id.as_str(), WAIT).await;
        assert_eq!(f["data"], want, "{who}: {f}");
    }
}

#[tokio::test]
async fn a_group_read_cursor_reaches_only_the_readers_devices() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsgread", 2).await;
    let (reader, other) = (&f[0], &f[1]);
    let (_, conv) = create_group(&api, &owner, &[reader, other], json!({})).await;
    let mut owner_ws = dial(1, &owner, "web").await;
    let mut other_ws = dial(2, other, "web").await;
    let mut reader_ws = dial(2, reader, "desktop").await;
    let answer = sent(&api, &owner, text_in(&conv, "read me")).await;
    reader_ws.expect_message(&mid(&answer)).await;

    api.put("/api/chat/read", Some(&reader.token), json!({ "conversation_id": conv, "seq": seq(&answer) })).await.expect(200);
    let f = reader_ws.expect_where("conversation.read", |d| d["user_id"] == reader.id.as_str(), WAIT).await;
    assert_eq!(f["data"], json!({ "conversation_id": conv, "user_id": reader.id, "seq": seq(&answer) }), "{f}");
    for (who, ws) in [("the owner", &mut owner_ws), ("another member", &mut other_ws)] {
        ws.assert_no("conversation.read", |d| d["user_id"] == reader.id.as_str(), QUIET, &format!("{who} got a group member's read cursor")).await;
    }
}

#[tokio::test]
async fn deleting_clearing_and_settings_reach_only_the_acting_users_devices() {
    let api = Api::new();
    let (_ann, bob, mut ann_ws, mut bob_ws, answer) = pair_with_a_message(&api, "wsmine").await;
    let id = mid(&answer);
    let conv = answer["conversation_id"].as_str().unwrap().to_owned();
    let mut bob_phone = dial(1, &bob, "android").await;

    delete(&api, &format!("/api/chat/messages/{id}"), Some(&bob.token)).await.expect(200);
    api.put(&format!("/api/chat/conversations/{conv}/settings"), Some(&bob.token), json!({ "pinned": true })).await.expect(200);
    let cleared = api.post(&format!("/api/chat/conversations/{conv}/clear"), Some(&bob.token), json!({})).await.expect(200);
    let up_to = cleared.data()["cleared_seq"].clone();

    for (who, ws) in [("bob's web", &mut bob_ws), ("bob's phone", &mut bob_phone)] {
        let f = ws.expect("message.deleted", WAIT).await;
        assert_eq!(f["data"], json!({ "message_id": id, "conversation_id": conv, "user_id": bob.id }), "{who}: {f}");
        let f = ws.expect("conversation.settings", WAIT).await;
        assert_eq!(f["data"]["conversation_id"], conv.as_str(), "{who}: {f}");
        assert_eq!(f["data"]["user_id"], bob.id.as_str(), "{who}: {f}");
        assert_eq!(f["data"]["pinned"], true, "{who}: {f}");
        let f = ws.expect("conversation.cleared", WAIT).await;
        assert_eq!(f["data"], json!({ "conversation_id": conv, "user_id": bob.id, "up_to_seq": up_to }), "{who}: {f}");
    }
    for ty in ["message.deleted", "conversation.settings", "conversation.cleared"] {
        ann_ws.assert_no(ty, |_| true, QUIET, "the peer got another user's private operation").await;
    }
}
