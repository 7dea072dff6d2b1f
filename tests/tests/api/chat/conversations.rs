//! The conversation list and read state.

use super::*;

#[tokio::test]
async fn the_conversation_list_shows_previews_unread_counts_and_read_cursors() {
    let api = Api::new();
    let users = new_users(&api, "clist", 4).await;
    let (ann, bob, cid, dan) = (&users[0], &users[1], &users[2], &users[3]);
    befriend_all(&api, bob, &[ann, cid, dan]).await;
    let ab = direct_id(ann, bob);

    sent(&api, ann, text_to(bob, "one")).await;
    sent(&api, ann, text_to(bob, "two")).await;
    let long = "ж".repeat(150);
    let third = sent(&api, ann, text_to(bob, &long)).await;

    let e = entry(&api, bob, &ab).await;
    assert_eq!(e["kind"], "direct", "{e}");
    assert_eq!(e["peer_user_id"], ann.id.as_str(), "{e}");
    assert_eq!(int(&e, "max_seq"), 3, "{e}");
    assert_eq!(cursor(&e, "read_seq"), 0, "{e}");
    assert_eq!(int(&e, "unread"), 3, "bob has three unread messages from ann: {e}");
    assert_eq!((e["pinned"].clone(), e["muted"].clone(), e["hidden"].clone()), (json!(false), json!(false), json!(false)), "{e}");
    assert!(e["version"].is_i64(), "{e}");
    let last = &e["last_message"];
    assert_eq!(last["message_id"], sid(&third).as_str(), "{e}");
    assert_eq!(int(last, "seq"), 3);
    assert_eq!(last["sender_id"], ann.id.as_str());
    assert_eq!(last["type"], "text");
    assert_eq!(last["text"], "ж".repeat(100).as_str(), "the preview is the first 100 characters: {e}");
    assert!(same_instant(&last["sent_at"], &third["sent_at"]), "{e}");

    let mine = entry(&api, ann, &ab).await;
    assert_eq!(mine["peer_user_id"], bob.id.as_str(), "{mine}");
    assert_eq!(int(&mine, "max_seq"), 3);
    assert_eq!(int(&mine, "read_seq"), 3, "sending moves your own cursor: {mine}");
    assert_eq!(int(&mine, "unread"), 0, "your own messages are never unread: {mine}");

    // The read cursor moves forward only, and is clamped to max_seq.
    let r = mark_read(&api, bob, &ab, 2).await.expect(200);
    assert_eq!(r.data()["conversation_id"], ab.as_str());
    assert_eq!(int(r.data(), "read_seq"), 2);
    assert_eq!(int(&entry(&api, bob, &ab).await, "unread"), 1);
    let r = mark_read(&api, bob, &ab, 1).await.expect(200);
    assert_eq!(int(r.data(), "read_seq"), 2, "a lower seq is a no-op: {}", r.body);
    let e = entry(&api, bob, &ab).await;
    assert_eq!((int(&e, "read_seq"), int(&e, "unread")), (2, 1), "{e}");
    let r = mark_read(&api, bob, &ab, 999).await.expect(200);
    assert_eq!(int(r.data(), "read_seq"), 3, "clamped to max_seq: {}", r.body);
    let e = entry(&api, bob, &ab).await;
    assert_eq!((int(&e, "read_seq"), int(&e, "unread")), (3, 0), "{e}");

    // Replies: each side counts only the other's messages.
    let reply = sent(&api, bob, text_to(ann, "hi")).await;
    assert_eq!(seq(&reply), 4);
    let e = entry(&api, bob, &ab).await;
    assert_eq!((int(&e, "read_seq"), int(&e, "unread")), (4, 0), "{e}");
    let mine = entry(&api, ann, &ab).await;
    assert_eq!((int(&mine, "max_seq"), int(&mine, "read_seq"), int(&mine, "unread")), (4, 3, 1), "{mine}");
    sent(&api, ann, text_to(bob, "five")).await;
    let mine = entry(&api, ann, &ab).await;
    assert_eq!((int(&mine, "read_seq"), int(&mine, "unread")), (5, 0), "{mine}");
    let e = entry(&api, bob, &ab).await;
    assert_eq!((int(&e, "max_seq"), int(&e, "unread")), (5, 1), "{e}");

    // A non-text message is previewed by a label naming its type.
    let img = sent(&api, cid, json!({ "to_user_id": bob.id, "client_msg_id": cmid(), "type": "image", "content": { "url": "https://img.example/x.png" } })).await;
    let e = entry(&api, bob, &direct_id(bob, cid)).await;
    assert_eq!(e["last_message"]["message_id"], sid(&img).as_str(), "{e}");
    assert_eq!(e["last_message"]["type"], "image", "{e}");
    assert!(e["last_message"]["text"].as_str().is_some_and(|t| t.contains("image")), "a [type] label: {e}");

    // Ordered by last message time: the newest first.
    sent(&api, dan, text_to(bob, "from dan")).await;
    let list = conversations(&api, bob, "").await;
    let order = conversation_ids(&list);
    let pos = |c: &str| order.iter().position(|x| x == c).unwrap_or_else(|| panic!("{c} not listed: {}", list.body));
    let (bc, bd) = (direct_id(bob, cid), direct_id(bob, dan));
    assert!(pos(&bd) < pos(&bc) && pos(&bc) < pos(&ab), "newest last message first: {order:?}");
    assert!(list.data()["version"].is_i64(), "{}", list.body);

    // Someone else's conversation is not in your list.
    assert!(!conversation_ids(&conversations(&api, cid, "").await).contains(&ab));
}

#[tokio::test]
async fn the_conversation_list_syncs_incrementally_from_a_version() {
    let api = Api::new();
    let users = new_users(&api, "csync", 4).await;
    let (ann, bob, cid, dan) = (&users[0], &users[1], &users[2], &users[3]);
    befriend_all(&api, bob, &[ann, cid, dan]).await;
    let (ab, bc, bd) = (direct_id(ann, bob), direct_id(bob, cid), direct_id(bob, dan));

    sent(&api, ann, text_to(bob, "old news")).await;
    // Well apart, so a small overlap of the answers cannot bring ab back.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    sent(&api, cid, text_to(bob, "newer")).await;
    let full = conversations(&api, bob, "").await;
    let v0 = int(full.data(), "version");
    assert_eq!(sorted(conversation_ids(&full)), sorted(vec![ab.clone(), bc.clone()]));
    for c in full.data()["conversations"].as_array().unwrap() {
        assert!(int(c, "version") <= v0, "the list version covers every entry: {}", full.body);
    }

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    sent(&api, dan, text_to(bob, "new conversation")).await;
    sent(&api, cid, text_to(bob, "newer still")).await;
    let delta = conversations(&api, bob, &format!("?since_version={v0}")).await;
    let v1 = int(delta.data(), "version");
    assert!(v1 > v0, "the version grows with changes: {v0} -> {}", delta.body);
    let changed = conversation_ids(&delta);
    assert!(changed.contains(&bc) && changed.contains(&bd), "changed conversations are returned: {}", delta.body);
    assert!(!changed.contains(&ab), "an unchanged conversation is not: {}", delta.body);
    for c in delta.data()["conversations"].as_array().unwrap() {
        assert!(int(c, "version") >= v0, "{}", delta.body);
    }
    let e = find(&delta.data()["conversations"], "conversation_id", &bc).unwrap();
    assert_eq!(int(e, "max_seq"), 2, "{e}");

    // A read cursor change is a change of bob's entry.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    mark_read(&api, bob, &ab, 1).await.expect(200);
    let delta = conversations(&api, bob, &format!("?since_version={v1}")).await;
    let e = find(&delta.data()["conversations"], "conversation_id", &ab).unwrap_or_else(|| panic!("a read is a change: {}", delta.body));
    assert_eq!(int(e, "read_seq"), 1, "{e}");
    assert_eq!(int(e, "unread"), 0, "{e}");
}

#[tokio::test]
async fn pin_mute_and_hide_are_per_user_settings_and_a_new_message_unhides() {
    let api = Api::new();
    let users = new_users(&api, "cset", 3).await;
    let (ann, bob, cid) = (&users[0], &users[1], &users[2]);
    befriend_all(&api, bob, &[ann, cid]).await;
    let (ab, bc) = (direct_id(ann, bob), direct_id(bob, cid));
    sent(&api, ann, text_to(bob, "older")).await;
    sent(&api, cid, text_to(bob, "newer")).await;
    let order = conversation_ids(&conversations(&api, bob, "").await);
    assert_eq!(order, vec![bc.clone(), ab.clone()], "newest first");

    let flags = |a: &Answer| (a.data()["pinned"].clone(), a.data()["muted"].clone(), a.data()["hidden"].clone());
    let a = settings(&api, bob, &ab, json!({ "pinned": true })).await.expect(200);
    assert_eq!(flags(&a), (json!(true), json!(false), json!(false)), "the three flags: {}", a.body);
    assert_eq!(conversation_ids(&conversations(&api, bob, "").await), vec![ab.clone(), bc.clone()], "pinned first");

    let a = settings(&api, bob, &ab, json!({ "muted": true })).await.expect(200);
    assert_eq!(flags(&a), (json!(true), json!(true), json!(false)), "an omitted flag is kept: {}", a.body);
    let a = settings(&api, bob, &ab, json!({ "hidden": true })).await.expect(200);
    assert_eq!(flags(&a), (json!(true), json!(true), json!(true)), "{}", a.body);

    let e = entry(&api, bob, &ab).await;
    assert_eq!((e["pinned"].clone(), e["muted"].clone(), e["hidden"].clone()), (json!(true), json!(true), json!(true)), "a hidden conversation is still listed: {e}");
    let theirs = entry(&api, ann, &ab).await;
    assert_eq!((theirs["pinned"].clone(), theirs["muted"].clone(), theirs["hidden"].clone()), (json!(false), json!(false), json!(false)), "settings are per user: {theirs}");

    // A new message un-hides it (and leaves the other flags).
    sent(&api, ann, text_to(bob, "wake up")).await;
    let e = entry(&api, bob, &ab).await;
    assert_eq!(e["hidden"], false, "a new message un-hides: {e}");
    assert_eq!(e["pinned"], true, "{e}");
    assert_eq!(e["muted"], true, "{e}");

    let a = settings(&api, bob, &ab, json!({ "pinned": false, "muted": false })).await.expect(200);
    assert_eq!(flags(&a), (json!(false), json!(false), json!(false)), "{}", a.body);

    // Only participants.
    expect_one_of(settings(&api, cid, &ab, json!({ "pinned": true })).await, &[403, 404], "a non-participant's settings");
}
