//! No loss: sync, then live.

use super::*;

#[tokio::test]
async fn a_reconnecting_client_syncs_exactly_the_messages_it_missed_then_gets_live_ones() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wssync").await;
    let conv = direct_id(&ann, &bob);
    let d = device();
    // ann on node 2 shows when node 2 has consumed a message, so that bob's
    // reconnection there cannot get the missed ones live as well.
    let mut witness = dial(2, &ann, "desktop").await;

    let mut ws = connect(1, &bob.token, &d, "web").await;
    let mut before = Vec::new();
    for i in 1..=3 {
        before.push(sent(&api, &ann, text_to(&bob, &format!("before {i}"))).await);
    }
    let got = ws.collect_messages(&conv, 3, WAIT).await;
    assert_eq!(seqs(&got), vec![1, 2, 3]);
    assert_eq!(mids(&got), mids(&before));
    ws.close().await;

    let mut missed = Vec::new();
    for i in 4..=6 {
        missed.push(sent(&api, &ann, text_to(&bob, &format!("missed {i}"))).await);
    }
    assert_eq!(seqs(&missed), vec![4, 5, 6]);
    assert_eq!(seqs(&witness.collect_messages(&conv, 6, WAIT).await), vec![1, 2, 3, 4, 5, 6]);

    // Reconnect (to the other node, with the same device id) and sync from seq 3.
    let mut ws = connect(2, &bob.token, &d, "web").await;
    let (synced, done) = sync(&mut ws, "sync-1", json!({ conv.clone(): 3 })).await;
    assert_eq!(seqs(&synced), vec![4, 5, 6], "exactly the missed messages, in order, before sync.done: {synced:#?}");
    assert_eq!(mids(&synced), mids(&missed));
    for (m, (a, i)) in synced.iter().zip(missed.iter().zip(4..)) {
        assert_eq!(m["conversation_id"], conv.as_str());
        assert_eq!(m["sender_id"], ann.id.as_str());
        assert_eq!(m["content"], json!({ "text": format!("missed {i}") }));
        assert!(same_instant(&m["sent_at"], &a["sent_at"]), "{m}");
    }
    assert_eq!(done["data"]["conversations"][&conv], json!({ "last_seq": 6, "has_more": false }), "{done}");
    assert!(forbidden(&done).is_empty(), "{done}");

    // Then live messages, without gap or duplicate.
    let live = sent(&api, &ann, text_to(&bob, "live 7")).await;
    let got = ws.collect_messages(&conv, 1, WAIT).await;
    assert_eq!(seqs(&got), vec![7]);
    assert_message(&got[0], &live, &ann, "live 7");
    ws.assert_no_message_in(&conv, QUIET, "a duplicate after sync").await;

    // A sync from the latest seq sends nothing but sync.done.
    let (none, done) = sync(&mut ws, "sync-2", json!({ conv.clone(): 7 })).await;
    assert!(none.is_empty(), "nothing is missing: {none:#?}");
    assert_eq!(done["data"]["conversations"][&conv]["has_more"], false, "{done}");
}

#[tokio::test]
async fn messages_sent_while_a_client_reconnects_and_syncs_arrive_exactly_once_in_order() {
    const MISSED: i64 = 30;
    const LIVE: i64 = 20;
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wsrace").await;
    let conv = direct_id(&ann, &bob);
    let mut witness = dial(2, &ann, "desktop").await; // shows when node 2 has the missed messages

    let mut ws = dial(1, &bob, "ios").await;
    for i in 1..=3 {
        sent(&api, &ann, text_to(&bob, &format!("seen {i}"))).await;
    }
    assert_eq!(seqs(&ws.collect_messages(&conv, 3, WAIT).await), vec![1, 2, 3]);
    ws.close().await;

    // Missed while offline, sent a few at a time.
    let missed: Vec<Value> =
        futures::stream::iter(0..MISSED).map(|i| sent(&api, &ann, text_to(&bob, &format!("missed {i}")))).buffer_unordered(5).collect().await;
    assert_eq!(missed.len() as i64, MISSED);
    let caught_up = witness.collect_messages(&conv, (3 + MISSED) as usize, WAIT).await;
    assert_eq!(seqs(&caught_up), (1..=3 + MISSED).collect::<Vec<_>>());

    // Reconnect and sync while ann keeps sending.
    let mut ws = dial(2, &bob, "ios").await;
    ws.send_json(json!({ "type": "sync", "id": "race", "data": { "conversations": { conv.clone(): 3 } } })).await;
    let (api2, token, to) = (api.clone(), ann.token.clone(), bob.id.clone());
    let sender = tokio::spawn(async move {
        for i in 0..LIVE {
            let body = json!({ "to_user_id": to, "client_msg_id": cmid(), "type": "text", "content": { "text": format!("live {i}") } });
            api2.post("/api/chat/send", Some(&token), body).await.expect(200);
        }
    });

    let last = 3 + MISSED + LIVE;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut order = Vec::new(); // message seqs, with 0 standing for sync.done
    let mut done = Value::Null;
    while !(done.is_object() && order.contains(&last)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let f = ws.next_frame(left).await.unwrap_or_else(|| panic!("stalled; got {order:?}"));
        match f["type"].as_str().unwrap() {
            "message" if f["data"]["conversation_id"] == conv.as_str() => order.push(seq(&f["data"])),
            "sync.done" => {
                assert!(done.is_null(), "one sync.done per sync: {f}");
                assert_eq!(f["id"], "race");
                order.push(0);
                done = f;
            }
            "error" | "sync.required" => panic!("unexpected {f}"),
            _ => {}
        }
    }
    sender.await.unwrap();
    let messages: Vec<i64> = order.iter().copied().filter(|s| *s != 0).collect();
    assert_eq!(messages, (4..=last).collect::<Vec<_>>(), "every message after seq 3 exactly once, in order (0 = sync.done): {order:?}");
    let at = order.iter().position(|s| *s == 0).unwrap();
    assert!(at > 0, "the missed messages come before sync.done: {order:?}");
    assert_eq!(done["data"]["conversations"][&conv]["last_seq"], order[at - 1], "last_seq is the last synced message: {done}");
    assert_eq!(done["data"]["conversations"][&conv]["has_more"], false, "{done}");
    ws.assert_no_message_in(&conv, QUIET, "a duplicate after everything arrived").await;
}

#[tokio::test]
async fn a_sync_of_conversations_the_user_is_not_in_lists_them_as_forbidden() {
    let api = Api::new();
    let ((ann, bob), (cid, dan)) = tokio::join!(friends_pair(&api, "wsforb"), friends_pair(&api, "wsforb"));
    let mine = direct_id(&ann, &bob);
    let theirs = direct_id(&cid, &dan);
    let mut witness = dial(1, &ann, "desktop").await; // shows when node 1 has consumed ann's and bob's messages
    let sent_mine = [sent(&api, &ann, text_to(&bob, "one")).await, sent(&api, &bob, text_to(&ann, "two")).await];
    sent(&api, &cid, text_to(&dan, "private")).await;
    let (_, group) = create_group(&api, &cid, &[&dan], json!({})).await;
    sent(&api, &cid, text_in(&group, "members only")).await;
    assert_eq!(mids(&witness.collect_messages(&mine, 2, WAIT).await), mids(&sent_mine));

    let mut ws = dial(1, &bob, "web").await;
    let (messages, done) = sync(&mut ws, "forb", json!({ mine.clone(): 0, theirs.clone(): 0, group.clone(): 0 })).await;
    assert_eq!(seqs(&messages), vec![1, 2], "only the user's own conversation is synced: {messages:#?}");
    assert_eq!(mids(&messages), mids(&sent_mine));
    assert!(messages.iter().all(|m| m["conversation_id"] == mine.as_str()), "{messages:#?}");
    let mut want = vec![theirs.clone(), group.clone()];
    want.sort();
    assert_eq!(forbidden(&done), want, "{done}");
    assert_eq!(done["data"]["conversations"][&mine], json!({ "last_seq": 2, "has_more": false }), "{done}");
    for c in [&theirs, &group] {
        assert!(done["data"]["conversations"].get(c.as_str()).is_none(), "a forbidden conversation has no entry: {done}");
    }
}

#[tokio::test]
async fn a_sync_leaves_out_messages_deleted_or_cleared_for_the_user() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "wshide").await;
    let conv = direct_id(&ann, &bob);
    // ann's connections show when each node has consumed a message, so that
    // bob's connections made afterwards cannot get them live.
    let mut ann1 = dial(1, &ann, "web").await;
    let mut ann2 = dial(2, &ann, "desktop").await;
    let mut answers = Vec::new();
    for i in 1..=3 {
        answers.push(sent(&api, &ann, text_to(&bob, &format!("m{i}"))).await);
    }
    for w in [&mut ann1, &mut ann2] {
        assert_eq!(seqs(&w.collect_messages(&conv, 3, WAIT).await), vec![1, 2, 3]);
    }
    delete(&api, &format!("/api/chat/messages/{}", mid(&answers[1])), Some(&bob.token)).await.expect(200);

    let mut ws = dial(1, &bob, "web").await;
    let (messages, done) = sync(&mut ws, "del", json!({ conv.clone(): 0 })).await;
    assert_eq!(seqs(&messages), vec![1, 3], "the message deleted for bob is left out: {messages:#?}");
    assert_eq!(done["data"]["conversations"][&conv]["last_seq"], 3, "{done}");
    // ann still gets all three, even on a connection that had them live.
    let (all, _) = sync(&mut ann1, "all", json!({ conv.clone(): 0 })).await;
    assert_eq!(seqs(&all), vec![1, 2, 3]);

    let cleared = api.post(&format!("/api/chat/conversations/{conv}/clear"), Some(&bob.token), json!({})).await.expect(200);
    assert_eq!(cleared.data()["cleared_seq"], 3, "{}", cleared.body);
    let fourth = sent(&api, &ann, text_to(&bob, "after the clear")).await;
    ws.expect_message(&mid(&fourth)).await;
    ann2.expect_message(&mid(&fourth)).await;
    ws.close().await;

    let mut ws = dial(2, &bob, "web").await;
    let (messages, _) = sync(&mut ws, "clr", json!({ conv.clone(): 0 })).await;
    assert_eq!(seqs(&messages), vec![4], "everything up to the cleared seq is left out: {messages:#?}");
}

#[tokio::test]
async fn a_sync_needs_1_to_200_conversations() {
    let api = Api::new();
    let ann = new_user(&api, "wssyncv").await;
    let mut ws = dial(1, &ann, "web").await;
    let many: serde_json::Map<String, Value> =
        (0..201).map(|_| (format!("direct:{}:{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4()), json!(0))).collect();
    let cases = [
        ("no conversations", json!({ "conversations": {} })),
        ("201 conversations", json!({ "conversations": many })),
        ("no conversations field", json!({})),
        ("a seq that is not a number", json!({ "conversations": { "direct:a:b": "x" } })),
    ];
    for (i, (what, data)) in cases.into_iter().enumerate() {
        let id = format!("bad-sync-{i}");
        let e = ws.expect_error_for(json!({ "type": "sync", "id": id, "data": data })).await;
        assert_error(&e, 422, Some("validation"), what);
    }
    ws.ping("still-open").await;
}
