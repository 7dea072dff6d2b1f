//! Message delivery.

use super::*;

#[tokio::test]
async fn a_message_sent_over_http_reaches_the_recipient_as_a_full_message_frame_within_5_seconds() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsmsg").await;
    let mut ann_ws = dial(1, &ann, "desktop").await;
    let mut bob_ws = dial(2, &bob, "ios").await;
    let body = text_to(&bob, "hello over push");
    let client_msg_id = body["client_msg_id"].clone();

    let start = Instant::now();
    let answer = sent(&api, &ann, body).await;
    let id = mid(&answer);
    let frame = bob_ws.expect_where("message", |d| d["message_id"] == id.as_str(), Duration::from_secs(5)).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(frame.get("id").is_none_or(Value::is_null), "a push is no answer and carries no id: {frame}");
    let m = &frame["data"];
    assert_message(m, &answer, &ann, "hello over push");
    assert_eq!(m["conversation_id"], direct_id(&ann, &bob).as_str());
    assert_eq!(seq(m), 1);
    assert_eq!(m["client_msg_id"], client_msg_id, "live frames carry client_msg_id: {m}");

    // The sender's own connected device gets it too.
    let own = ann_ws.expect_message(&id).await;
    assert_message(&own["data"], &answer, &ann, "hello over push");
    assert_eq!(own["data"]["client_msg_id"], client_msg_id);
}

#[tokio::test]
async fn every_device_of_both_users_on_both_nodes_receives_a_direct_message_exactly_once() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsmulti").await;
    let conv = direct_id(&ann, &bob);
    let mut devices = [
        ("bob ios on node 1", dial(1, &bob, "ios").await),
        ("bob web on node 2", dial(2, &bob, "web").await),
        ("ann desktop on node 1", dial(1, &ann, "desktop").await),
        ("ann android on node 2", dial(2, &ann, "android").await),
    ];
    let first = sent(&api, &ann, text_to(&bob, "to all devices")).await;
    let second = sent(&api, &bob, text_to(&ann, "and back")).await;
    for (what, ws) in devices.iter_mut() {
        let got = ws.collect_messages(&conv, 2, WAIT).await;
        assert_eq!(mids(&got), vec![mid(&first), mid(&second)], "{what}");
        assert_eq!(seqs(&got), vec![1, 2], "{what}");
        assert_message(&got[0], &first, &ann, "to all devices");
        assert_message(&got[1], &second, &bob, "and back");
    }
    for (what, ws) in devices.iter_mut() {
        ws.assert_no_message_in(&conv, QUIET, &format!("{what} got a message twice")).await;
    }
}

#[tokio::test]
async fn a_group_message_reaches_every_online_member_on_every_node_and_no_outsider() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "wsgrp", 4).await;
    let (m1, m2, m3, outsider) = (&f[0], &f[1], &f[2], &f[3]);
    let (_, conv) = create_group(&api, &owner, &[m1, m2, m3], json!({})).await;
    let mut members = [
        ("owner web on node 1", dial(1, &owner, "web").await),
        ("owner ios on node 2", dial(2, &owner, "ios").await),
        ("m1 android on node 1", dial(1, m1, "android").await),
        ("m2 desktop on node 2", dial(2, m2, "desktop").await),
        ("m3 web through the gateway", dial(GATEWAY, m3, "web").await),
    ];
    let mut outsider_ws = dial(1, outsider, "web").await;

    let answer = sent(&api, m2, text_in(&conv, "hello group")).await;
    let id = mid(&answer);
    for (what, ws) in members.iter_mut() {
        let f = ws.expect_message(&id).await;
        assert_message(&f["data"], &answer, m2, "hello group");
        assert_eq!(f["data"]["conversation_id"], conv.as_str(), "{what}");
    }
    outsider_ws.assert_no_message_in(&conv, QUIET, "a non-member got a group message").await;
    for (what, ws) in members.iter_mut() {
        ws.assert_no("message", |d| d["message_id"] == id.as_str(), Duration::from_millis(200), &format!("{what} got the message twice")).await;
    }
}

#[tokio::test]
async fn a_message_from_someone_you_blocked_never_reaches_your_devices() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsblk").await;
    let conv = direct_id(&ann, &bob);
    api.post("/api/friend/blocks", Some(&bob.token), json!({ "user_id": ann.id })).await.expect(200);
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;

    let answer = sent(&api, &ann, text_to(&bob, "you blocked me")).await;
    // The sender's device shows it as usual (the sender does not learn of the block)...
    ann_ws.expect_message(&mid(&answer)).await;
    // ... the blocker never gets it.
    bob_ws.assert_no_message_in(&conv, QUIET, "a blocked sender's message reached the blocker").await;
    bob_ws.ping("alive").await;
}
