//! Sending rules: every refusal is a clear 4xx and appends nothing.

use super::*;

#[tokio::test]
async fn direct_sends_are_refused_to_strangers_blocked_users_yourself_and_unknown_users() {
    let api = Api::new();
    let ((ann, bob), stranger, (cid, dan)) = tokio::join!(friends_pair(&api, "drule"), new_user(&api, "drulex"), friends_pair(&api, "druley"));
    let marker = unique("drule");
    let body = |to: &str, n: u32| {
        json!({ "to_user_id": to, "client_msg_id": format!("{marker}-{n}"), "type": "text", "content": { "text": format!("{marker} {n}") } })
    };

    refused(send(&api, &ann, body(&stranger.id, 1)).await, 403, Some("not_friends"), "a stranger");
    refused(send(&api, &ann, body(&ann.id, 2)).await, 422, None, "yourself");
    refused(send(&api, &ann, body(&uuid::Uuid::new_v4().to_string(), 3)).await, 404, None, "an unknown user");

    api.post("/api/friend/blocks", Some(&ann.token), json!({ "user_id": bob.id })).await.expect(200);
    refused(send(&api, &ann, body(&bob.id, 4)).await, 403, Some("user_blocked"), "someone you blocked");
    // By conversation id as well.
    let by_conv = json!({ "conversation_id": direct_id(&ann, &bob), "client_msg_id": format!("{marker}-5"), "type": "text", "content": { "text": format!("{marker} 5") } });
    refused(send(&api, &ann, by_conv).await, 403, Some("user_blocked"), "someone you blocked, by conversation id");

    // A former friend is no friend.
    api.delete_friend(&cid.token, &dan.id).await;
    refused(send(&api, &cid, body(&dan.id, 6)).await, 403, Some("not_friends"), "a former friend");

    // A direct conversation you are not part of.
    let theirs = json!({ "conversation_id": direct_id(&cid, &dan), "client_msg_id": format!("{marker}-7"), "type": "text", "content": { "text": format!("{marker} 7") } });
    expect_one_of(send(&api, &ann, theirs).await, &[403, 404], "someone else's direct conversation");

    assert_nothing_appended(&marker).await;
    for conv in [direct_id(&ann, &stranger), direct_id(&ann, &bob)] {
        let a = messages(&api, &ann, &conv, "").await;
        if a.status.as_u16() == 200 {
            assert!(a.data()["messages"].as_array().unwrap().is_empty(), "nothing was stored: {}", a.body);
        }
    }
}

#[tokio::test]
async fn a_message_from_someone_you_blocked_is_accepted_but_never_shown_to_you() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "blk").await;
    let conv = direct_id(&ann, &bob);
    let before = sent(&api, &ann, text_to(&bob, "before the block")).await;
    mark_read(&api, &bob, &conv, 1).await.expect(200);

    api.post("/api/friend/blocks", Some(&bob.token), json!({ "user_id": ann.id })).await.expect(200);
    let text = unique("unseen");
    let hidden = sent(&api, &ann, text_to(&bob, &text)).await;
    assert_eq!(hidden["conversation_id"], conv.as_str(), "answered as usual: {hidden}");
    assert_eq!(seq(&hidden), 2, "answered as usual: {hidden}");
    assert_eq!(message_sent_events(&text).await.len(), 1, "the send is recorded");

    assert_eq!(message_ids(&history(&api, &ann, &conv).await), vec![sid(&before), sid(&hidden)], "the sender sees it");
    let bobs = history(&api, &bob, &conv).await;
    assert_eq!(message_ids(&bobs), vec![sid(&before)], "the blocker never sees it: {bobs:#?}");
    let e = entry(&api, &bob, &conv).await;
    assert_eq!(int(&e, "unread"), 0, "a message hidden from you is not unread: {e}");

    // Hidden like a message he deleted: unblocking does not bring it back.
    delete(&api, &format!("/api/friend/blocks/{}", ann.id), Some(&bob.token)).await.expect(200);
    let after = sent(&api, &ann, text_to(&bob, "after the unblock")).await;
    assert_eq!(seq(&after), 3);
    assert_eq!(message_ids(&history(&api, &bob, &conv).await), vec![sid(&before), sid(&after)]);
}

#[tokio::test]
async fn group_sends_need_membership_and_respect_mutes_and_mute_all() {
    let api = Api::new();
    let ((owner, f), outsider) = tokio::join!(owner_with_friends(&api, "grule", 4), new_user(&api, "grulex"));
    let (admin, member, muted, leaver) = (&f[0], &f[1], &f[2], &f[3]);
    let (gid, conv) = create_group(&api, &owner, &[admin, member, muted, leaver]).await;
    set_role(&api, &owner, &gid, admin, "admin").await;
    let marker = unique("grule");
    let n = std::cell::Cell::new(0);
    let by_group = |g: &str| {
        n.set(n.get() + 1);
        json!({ "group_id": g, "client_msg_id": format!("{marker}-{}", n.get()), "type": "text", "content": { "text": format!("{marker} {}", n.get()) } })
    };
    let by_conv = |c: &str| {
        n.set(n.get() + 1);
        json!({ "conversation_id": c, "client_msg_id": format!("{marker}-{}", n.get()), "type": "text", "content": { "text": format!("{marker} {}", n.get()) } })
    };

    // Members may send, by group id or by conversation id.
    assert_eq!(sent(&api, member, by_group_ok(&gid, "by group id")).await["conversation_id"], conv.as_str());
    assert_eq!(sent(&api, member, text_in(&conv, "by conversation id")).await["conversation_id"], conv.as_str());

    refused(send(&api, &outsider, by_group(&gid)).await, 403, Some("not_a_member"), "an outsider by group id");
    refused(send(&api, &outsider, by_conv(&conv)).await, 403, Some("not_a_member"), "an outsider by conversation id");
    api.post(&format!("/api/group/{gid}/leave"), Some(&leaver.token), json!({})).await.expect(200);
    refused(send(&api, leaver, by_group(&gid)).await, 403, Some("not_a_member"), "a member who left");
    refused(send(&api, &owner, by_group(&uuid::Uuid::new_v4().to_string())).await, 404, None, "an unknown group");

    // A muted member.
    let until = (OffsetDateTime::now_utc() + time::Duration::hours(1)).format(&Rfc3339).unwrap();
    mute_member(&api, &owner, &gid, muted, json!(until)).await;
    refused(send(&api, muted, by_group(&gid)).await, 403, Some("muted"), "a muted member");
    refused(send(&api, muted, by_conv(&conv)).await, 403, Some("muted"), "a muted member by conversation id");
    mute_member(&api, &owner, &gid, muted, Value::Null).await;
    sent(&api, muted, by_group_ok(&gid, "unmuted again")).await;

    // Mute-all: only admins and the owner.
    mute_all(&api, admin, &gid, true).await;
    refused(send(&api, member, by_group(&gid)).await, 403, Some("muted"), "a plain member under mute-all");
    sent(&api, admin, by_group_ok(&gid, "an admin under mute-all")).await;
    sent(&api, &owner, by_group_ok(&gid, "the owner under mute-all")).await;
    mute_all(&api, &owner, &gid, false).await;
    sent(&api, member, by_group_ok(&gid, "mute-all is off")).await;

    // Mentions must be members (the spec names no status: any 4xx), and only in groups.
    let mut bad_mention = by_group(&gid);
    bad_mention["mentions"] = json!([outsider.id]);
    expect_one_of(send(&api, member, bad_mention).await, &[400, 403, 404, 422], "mentioning a non-member");
    let (x, y) = friends_pair(&api, "grulem").await;
    let mut direct_mention = json!({ "to_user_id": y.id, "client_msg_id": format!("{marker}-dm"), "type": "text", "content": { "text": format!("{marker} dm") } });
    direct_mention["mentions"] = json!([y.id]);
    expect_one_of(send(&api, &x, direct_mention).await, &[400, 403, 422], "mentions in a direct message");
    let mut good_mention = by_group_ok(&gid, "@admin");
    good_mention["mentions"] = json!([admin.id]);
    let ok = sent(&api, member, good_mention).await;
    let list = history(&api, admin, &conv).await;
    assert_eq!(message(&list, &sid(&ok))["mentions"], json!([admin.id]), "mentions are stored");

    // A dissolved group is 404.
    delete(&api, &format!("/api/group/{gid}"), Some(&owner.token)).await.expect(200);
    refused(send(&api, member, by_group(&gid)).await, 404, None, "a dissolved group");

    assert_nothing_appended(&marker).await;
    let texts: Vec<String> = list.iter().map(|m| m["content"]["text"].as_str().unwrap_or("").to_owned()).collect();
    assert!(texts.iter().all(|t| !t.contains(&marker)), "no refused message was stored: {texts:?}");
}

/// A group text message with a fresh client message id.
fn by_group_ok(gid: &str, text: &str) -> Value {
    json!({ "group_id": gid, "client_msg_id": cmid(), "type": "text", "content": { "text": text } })
}

#[tokio::test]
async fn malformed_sends_are_422_and_append_nothing() {
    let api = Api::new();
    let ((ann, bob), (cid, dan)) = tokio::join!(friends_pair(&api, "bad"), friends_pair(&api, "badx"));
    let conv = direct_id(&ann, &bob);
    let marker = unique("bad");
    let n = std::cell::Cell::new(0);
    let next = || {
        n.set(n.get() + 1);
        format!("{marker}-{}", n.get())
    };
    let msg = |kind: &str, content: Value| json!({ "to_user_id": bob.id, "client_msg_id": next(), "type": kind, "content": content });

    let cases: Vec<(&str, Value)> = vec![
        ("an unknown type", msg("sticker", json!({ "text": marker }))),
        ("type system", msg("system", json!({ "text": marker }))),
        ("no type", json!({ "to_user_id": bob.id, "client_msg_id": next(), "content": { "text": marker } })),
        ("empty text", msg("text", json!({ "text": "" }))),
        ("text over 8192 bytes (4097 two-byte characters)", msg("text", json!({ "text": format!("{marker}{}", "é".repeat(4097)) }))),
        ("markdown over 8192 bytes", msg("markdown", json!({ "text": format!("{marker}{}", "x".repeat(8193)) }))),
        ("text without text", msg("text", json!({ "body": marker }))),
        ("an unknown content field", msg("text", json!({ "text": marker, "color": "red" }))),
        ("an image without url", msg("image", json!({ "width": 10, "height": 10 }))),
        ("an image with a non-http url", msg("image", json!({ "url": format!("ftp://example.com/{marker}.png") }))),
        ("an image url over 2048 characters", msg("image", json!({ "url": format!("https://example.com/{marker}/{}", "a".repeat(2048)) }))),
        ("a file without name", msg("file", json!({ "url": format!("https://example.com/{marker}.pdf"), "size": 10 }))),
        ("a voice without duration", msg("voice", json!({ "url": format!("https://example.com/{marker}.ogg") }))),
        ("a video without url", msg("video", json!({ "duration_ms": 1000, "cover_url": format!("/c/{marker}.png") }))),
        ("an emoji code over 64 characters", msg("emoji", json!({ "code": format!("{marker}{}", "e".repeat(64)) }))),
        ("latitude 91", msg("location", json!({ "latitude": 91, "longitude": 0, "name": marker }))),
        ("latitude -90.5", msg("location", json!({ "latitude": -90.5, "longitude": 0, "name": marker }))),
        ("longitude 181", msg("location", json!({ "latitude": 0, "longitude": 181, "name": marker }))),
        ("a link without url", msg("link", json!({ "title": marker }))),
        ("a reply without reply_to", msg("reply", json!({ "text": marker }))),
        ("a forward of no messages", msg("forward", json!({ "messages": [], "title": marker }))),
        ("no target", json!({ "client_msg_id": next(), "type": "text", "content": { "text": marker } })),
        ("two targets", json!({ "to_user_id": bob.id, "conversation_id": conv, "client_msg_id": next(), "type": "text", "content": { "text": marker } })),
        ("three targets", json!({ "to_user_id": bob.id, "group_id": uuid::Uuid::new_v4(), "conversation_id": conv, "client_msg_id": next(), "type": "text", "content": { "text": marker } })),
        ("no client_msg_id", json!({ "to_user_id": bob.id, "type": "text", "content": { "text": marker } })),
        ("an empty client_msg_id", json!({ "to_user_id": bob.id, "client_msg_id": "", "type": "text", "content": { "text": marker } })),
        ("a client_msg_id with a space", json!({ "to_user_id": bob.id, "client_msg_id": format!("{marker} x"), "type": "text", "content": { "text": marker } })),
        ("a client_msg_id of 65 characters", json!({ "to_user_id": bob.id, "client_msg_id": format!("{marker}{}", "c".repeat(65 - marker.len())), "type": "text", "content": { "text": marker } })),
    ];
    for (what, body) in cases {
        refused(send(&api, &ann, body).await, 422, None, what);
    }

    // reply_to must be a message of the same conversation: one of another
    // conversation is refused (the spec names no status: 404 or 422).
    let elsewhere = sent(&api, &cid, text_to(&dan, "elsewhere")).await;
    let reply = json!({ "to_user_id": bob.id, "client_msg_id": next(), "type": "reply", "content": { "text": marker }, "reply_to": sid(&elsewhere) });
    expect_one_of(send(&api, &ann, reply).await, &[404, 422], "a reply to a message of another conversation");
    let reply = json!({ "to_user_id": bob.id, "client_msg_id": next(), "type": "reply", "content": { "text": marker }, "reply_to": uuid::Uuid::new_v4() });
    expect_one_of(send(&api, &ann, reply).await, &[404, 422], "a reply to an unknown message");
    // A forward needs every message to be readable by the sender.
    let forward = msg("forward", json!({ "messages": [{ "conversation_id": direct_id(&cid, &dan), "message_id": sid(&elsewhere) }], "title": marker }));
    expect_one_of(send(&api, &ann, forward).await, &[403, 404, 422], "forwarding a message you cannot read");
    // A card names an existing user.
    let card = json!({ "to_user_id": bob.id, "client_msg_id": next(), "type": "card", "content": { "user_id": uuid::Uuid::new_v4() } });
    expect_one_of(send(&api, &ann, card).await, &[404, 422], "a card of an unknown user");

    assert_nothing_appended(&marker).await;
    // Nothing reached the conversation: the first message ever is seq 1.
    assert_eq!(seq(&sent(&api, &ann, text_to(&bob, "finally")).await), 1);
}

#[tokio::test]
async fn every_content_type_in_the_table_is_accepted_and_read_back_as_sent() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "types").await;
    let conv = direct_id(&ann, &bob);
    let first = sent(&api, &bob, text_to(&ann, "something to reply to")).await;
    let stem = unique("cm");
    let longest_cmid = format!("{stem}-{}", "Z".repeat(64 - stem.len() - 1));
    assert_eq!(longest_cmid.len(), 64);

    let contents: Vec<(&str, Value, Option<&str>, Option<&str>)> = vec![
        // (type, content, reply_to, client_msg_id)
        ("text", json!({ "text": "é".repeat(4096) }), None, Some(&longest_cmid)), // exactly 8192 bytes
        ("markdown", json!({ "text": "**bold**" }), None, None),
        ("image", json!({ "url": "https://img.example/a.png", "width": 640, "height": 480, "size": 12345 }), None, None),
        ("image", json!({ "url": "/media/b.png" }), None, None),
        ("file", json!({ "url": "https://files.example/r.pdf", "name": "report.pdf", "size": 2048 }), None, None),
        ("voice", json!({ "url": "https://media.example/v.ogg", "duration_ms": 3200 }), None, None),
        ("video", json!({ "url": "https://media.example/v.mp4", "duration_ms": 10000, "cover_url": "https://media.example/c.jpg" }), None, None),
        ("emoji", json!({ "code": "party_parrot" }), None, None),
        ("location", json!({ "latitude": -90, "longitude": 180, "name": "South Pole" }), None, None),
        ("location", json!({ "latitude": 48.8584, "longitude": 2.2945 }), None, None),
        ("card", json!({ "user_id": ann.id }), None, None),
        ("link", json!({ "url": "https://example.com/article", "title": "An article" }), None, None),
        ("reply", json!({ "text": "replying" }), Some(first["message_id"].as_str().unwrap()), None),
        ("forward", json!({ "messages": [{ "conversation_id": conv, "message_id": sid(&first) }], "title": "fwd" }), None, None),
    ];
    let mut expected = Vec::new();
    for (kind, content, reply_to, client_msg_id) in contents {
        let mut body = json!({ "conversation_id": conv, "client_msg_id": client_msg_id.map(str::to_owned).unwrap_or_else(cmid), "type": kind, "content": content });
        if let Some(r) = reply_to {
            body["reply_to"] = json!(r);
        }
        let s = send(&api, &ann, body).await;
        assert_eq!(s.status.as_u16(), 200, "a valid {kind} message: {}", s.body);
        expected.push((sid(s.data()), kind, content, reply_to));
    }

    let list = history(&api, &bob, &conv).await;
    assert_eq!(seqs(&list), (1..=expected.len() as i64 + 1).collect::<Vec<_>>());
    for (id, kind, content, reply_to) in expected {
        let m = message(&list, &id);
        assert_eq!(m["type"], kind, "{m}");
        for (k, v) in content.as_object().unwrap() {
            let got = &m["content"][k];
            let same = match (got.as_f64(), v.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                _ => got == v,
            };
            assert!(same, "{kind}: content.{k} read back as {got}, sent {v}");
        }
        if let Some(r) = reply_to {
            assert_eq!(m["reply_to"], r, "{m}");
        }
    }
}
