//! Sending over the socket.

use super::*;

#[tokio::test]
async fn a_send_over_the_socket_is_acked_with_the_http_answer_and_reaches_the_peer_and_every_own_device() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wssend").await;
    let conv = direct_id(&ann, &bob);
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut ann_phone = dial(2, &ann, "ios").await;
    let mut bob_ws = dial(2, &bob, "desktop").await;

    let body = text_to(&bob, "via the socket");
    let cm = body["client_msg_id"].clone();
    ann_ws.send_json(send_frame("send-1", body)).await;
    let ack = ann_ws.expect_where_frame("ack", |f| f["id"] == "send-1", WAIT).await;
    let a = &ack["data"];
    assert!(a["message_id"].is_string(), "{ack}");
    assert_eq!(a["conversation_id"], conv.as_str(), "{ack}");
    assert_eq!(a["seq"], 1, "{ack}");
    assert!(instant(&a["sent_at"]).is_some(), "sent_at is an RFC 3339 time: {ack}");

    for (who, ws) in [("bob", &mut bob_ws), ("the sending device", &mut ann_ws), ("ann's other device", &mut ann_phone)] {
        let f = ws.expect_message(&mid(a)).await;
        assert_message(&f["data"], a, &ann, "via the socket");
        assert_eq!(f["data"]["client_msg_id"], cm, "{who}: {f}");
    }

    // It is an ordinary message: in the history as acked.
    let h = api.get(&format!("/api/chat/messages?conversation_id={conv}"), Some(&bob.token)).await.expect(200);
    let list = h.data()["messages"].as_array().unwrap();
    assert_eq!(mids(list), vec![mid(a)], "{}", h.body);
    assert_eq!(list[0]["content"]["text"], "via the socket");
}

#[tokio::test]
async fn a_resend_over_the_socket_with_the_same_client_msg_id_gets_the_original_ack_and_makes_no_second_message() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsresend").await;
    let conv = direct_id(&ann, &bob);
    let mut ann_ws = dial(1, &ann, "web").await;
    let mut bob_ws = dial(2, &bob, "web").await;

    let body = text_to(&bob, "once");
    ann_ws.send_json(send_frame("first", body.clone())).await;
    let first = ann_ws.expect_where_frame("ack", |f| f["id"] == "first", WAIT).await;
    ann_ws.send_json(send_frame("again", body)).await;
    let again = ann_ws.expect_where_frame("ack", |f| f["id"] == "again", WAIT).await;
    assert_eq!(again["data"]["message_id"], first["data"]["message_id"], "{first} / {again}");
    assert_eq!(again["data"]["seq"], first["data"]["seq"], "{first} / {again}");

    ann_ws.send_json(send_frame("marker", text_to(&bob, "marker"))).await;
    let marker = ann_ws.expect_where_frame("ack", |f| f["id"] == "marker", WAIT).await;
    assert_eq!(marker["data"]["seq"], 2, "the resend took no seq: {marker}");
    let got = bob_ws.collect_messages(&conv, 2, WAIT).await;
    assert_eq!(mids(&got), vec![mid(&first["data"]), mid(&marker["data"])], "one message per client_msg_id: {got:#?}");
}

#[tokio::test]
async fn a_refused_send_over_the_socket_gets_an_error_frame_with_the_http_code_and_kind() {
    let api = Api::new();
    let ((ann, bob), stranger, (cid, dan)) = tokio::join!(friends_pair(&api, "wssendno"), new_user(&api, "wssendno"), friends_pair(&api, "wssendno"));
    let (gid, _) = create_group(&api, &cid, &[&dan], json!({})).await;
    let mut ws = dial(1, &ann, "web").await;

    let cases = [
        ("a stranger", text_to(&stranger, "hi"), 403, Some("not_friends")),
        (
            "a group ann is not in",
            json!({ "group_id": gid, "client_msg_id": cmid(), "type": "text", "content": { "text": "hi" } }),
            403,
            Some("not_a_member"),
        ),
        (
            "an unknown user",
            json!({ "to_user_id": uuid::Uuid::new_v4(), "client_msg_id": cmid(), "type": "text", "content": { "text": "hi" } }),
            404,
            None,
        ),
        ("no client_msg_id", json!({ "to_user_id": bob.id, "type": "text", "content": { "text": "hi" } }), 422, None),
        ("a system message", json!({ "to_user_id": bob.id, "client_msg_id": cmid(), "type": "system", "content": { "text": "hi" } }), 422, None),
        ("text over 8192 bytes", text_to(&bob, &"x".repeat(8193)), 422, None),
    ];
    for (i, (what, body, code, kind)) in cases.into_iter().enumerate() {
        // Over HTTP, for the expected kind and message.
        let http = api.post("/api/chat/send", Some(&ann.token), body.clone()).await;
        assert_eq!(http.status.as_u16(), code, "HTTP, {what}: {}", http.body);
        let id = format!("refused-{i}");
        let e = ws.expect_error_for(send_frame(&id, body)).await;
        assert_error(&e, code, kind, what);
        assert_eq!(e["data"]["code"], http.body["code"], "the HTTP answer's code, {what}");
        assert_eq!(e["data"]["kind"], http.body["data"]["error"], "the HTTP answer's kind, {what}: {e} vs {}", http.body);
        assert!(e["data"]["message"].is_string(), "{what}: {e}");
        assert!(ws.take_backlog().iter().all(|f| f["type"] != "ack"), "no ack for a refused send ({what})");
    }
    ws.ping("still-open").await;
    // Nothing of it reached bob.
    let h = api.get(&format!("/api/chat/messages?conversation_id={}", direct_id(&ann, &bob)), Some(&bob.token)).await;
    if h.status.as_u16() == 200 {
        assert_eq!(h.data()["messages"], json!([]), "{}", h.body);
    }
}
