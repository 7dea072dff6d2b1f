//! Typing.

use super::*;

#[tokio::test]
async fn typing_over_the_socket_reaches_the_peer_on_the_other_node() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wstype").await;
    let conv = direct_id(&ann, &bob);
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;

    ann_ws.send_json(json!({ "type": "typing", "data": { "conversation_id": conv } })).await;
    let f = bob_ws.expect("typing", WAIT).await;
    assert_eq!(f["data"], json!({ "conversation_id": conv, "user_id": ann.id }), "{f}");
    // Typing has no answer: the next frame answering ann is the pong.
    let pong = ann_ws.ping("after-typing").await;
    assert_eq!(pong["id"], "after-typing");
    ann_ws.assert_no("error", |_| true, Duration::from_millis(100), "typing got an error").await;
}

#[tokio::test]
async fn typing_never_reaches_a_peer_who_blocked_the_typist() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wstypeblk").await;
    let conv = direct_id(&ann, &bob);
    api.post("/api/friend/blocks", Some(&bob.token), json!({ "user_id": ann.id })).await.expect(200);
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;
    // Bob, who blocked nobody's typing, still reaches Ann.
    bob_ws.send_json(json!({ "type": "typing", "data": { "conversation_id": conv } })).await;
    ann_ws.expect("typing", WAIT).await;
    ann_ws.send_json(json!({ "type": "typing", "data": { "conversation_id": conv } })).await;
    bob_ws.assert_no("typing", |_| true, Duration::from_secs(1), "a blocked user's typing reached the blocker").await;
}

#[tokio::test]
async fn typing_in_a_group_reaches_the_other_members() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsgtype", 2).await;
    let (_, conv) = create_group(&api, &owner, &[&f[0], &f[1]], json!({})).await;
    let mut typist = dial(1, &f[0], "web").await;
    let mut others = [dial(2, &owner, "web").await, dial(1, &f[1], "ios").await];
    typist.send_json(json!({ "type": "typing", "data": { "conversation_id": conv } })).await;
    for ws in others.iter_mut() {
        let f0 = ws.expect("typing", WAIT).await;
        assert_eq!(f0["data"], json!({ "conversation_id": conv, "user_id": f[0].id }), "{f0}");
    }
}

#[tokio::test]
async fn typing_in_a_conversation_you_are_not_in_is_error_403_and_reaches_nobody() {
    let api = Api::new();
    let ((ann, bob), cid) = tokio::join!(friends_pair(&api, "wstype403"), new_user(&api, "wstype403"));
    let conv = direct_id(&ann, &bob);
    let mut bob_ws = dial(1, &bob, "web").await;
    let mut cid_ws = dial(2, &cid, "web").await;

    let e = cid_ws.expect_error_for(json!({ "type": "typing", "id": "t1", "data": { "conversation_id": conv } })).await;
    assert_error(&e, 403, None, "typing into someone else's conversation");
    bob_ws.assert_no("typing", |_| true, QUIET, "an outsider's typing reached a participant").await;

    let e = cid_ws.expect_error_for(json!({ "type": "typing", "id": "t2", "data": {} })).await;
    assert_error(&e, 422, Some("validation"), "typing without a conversation_id");
    cid_ws.ping("still-open").await;
}
