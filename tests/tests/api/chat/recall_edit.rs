//! Recall, edit, delete for me, clear, reactions.

use super::*;

#[tokio::test]
async fn the_sender_recalls_a_message_into_a_tombstone_and_nobody_else_may() {
    let api = Api::new();
    let ((ann, bob), cid) = tokio::join!(friends_pair(&api, "recall"), new_user(&api, "recallx"));
    let conv = direct_id(&ann, &bob);
    let m = sent(&api, &ann, text_to(&bob, "oops")).await;
    let keep = sent(&api, &ann, text_to(&bob, "fine")).await;
    let id = sid(&m);
    let recorded = events_mentioning(&id).await.len();

    refused(recall(&api, &bob, &id).await, 403, Some("forbidden"), "the recipient recalling");
    refused(recall(&api, &cid, &id).await, 404, None, "a non-participant recalling (cannot read it)");
    refused(recall(&api, &ann, &uuid::Uuid::new_v4().to_string()).await, 404, None, "an unknown message");
    assert_eq!(events_mentioning(&id).await.len(), recorded, "a refused recall appends nothing");

    let a = recall(&api, &ann, &id).await.expect(200);
    assert_eq!(a.data()["message_id"], id.as_str());
    assert_eq!(a.data()["recalled"], true);
    assert!(events_mentioning(&id).await.len() > recorded, "a recall is an event");

    for reader in [&ann, &bob] {
        let list = history(&api, reader, &conv).await;
        assert_eq!(seqs(&list), vec![1, 2], "a tombstone keeps its seq");
        let t = message(&list, &id);
        assert_eq!(t["recalled"], true, "{t}");
        assert!(t["content"].is_null(), "a tombstone has no content: {t}");
        assert_eq!(int(t, "seq"), 1);
        assert_eq!(message(&list, &sid(&keep))["content"]["text"], "fine");
    }

    // A recalled message cannot be edited.
    refused(edit(&api, &ann, &id, json!({ "content": { "text": "fixed" } })).await, 403, Some("forbidden"), "editing a recalled message");
}

#[tokio::test]
async fn a_group_admin_may_recall_a_members_message_but_another_member_may_not() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "grecall", 3).await;
    let (admin, m1, m2) = (&f[0], &f[1], &f[2]);
    let (gid, conv) = create_group(&api, &owner, &[admin, m1, m2]).await;
    set_role(&api, &owner, &gid, admin, "admin").await;
    let a_msg = sent(&api, m1, text_in(&conv, "first")).await;
    let b_msg = sent(&api, m1, text_in(&conv, "second")).await;

    refused(recall(&api, m2, &sid(&a_msg)).await, 403, Some("forbidden"), "another member recalling");
    let a = recall(&api, admin, &sid(&a_msg)).await.expect(200);
    assert_eq!(a.data()["recalled"], true);
    let a = recall(&api, &owner, &sid(&b_msg)).await.expect(200);
    assert_eq!(a.data()["recalled"], true);

    let list = history(&api, m2, &conv).await;
    for id in [sid(&a_msg), sid(&b_msg)] {
        let t = message(&list, &id);
        assert_eq!(t["recalled"], true, "{t}");
        assert!(t["content"].is_null(), "{t}");
    }
    // Tombstones keep their seqs: no gap among the notices and the two messages.
    let all = seqs(&list);
    assert_eq!(all, (1..=all.len() as i64).collect::<Vec<_>>());
    assert_eq!(list.iter().filter(|m| m["type"] != "system").count(), 2);
}

#[tokio::test]
async fn the_sender_edits_a_message_and_every_version_is_listed() {
    let api = Api::new();
    let ((ann, bob), cid) = tokio::join!(friends_pair(&api, "edit"), new_user(&api, "editx"));
    let conv = direct_id(&ann, &bob);
    let m = sent(&api, &ann, text_to(&bob, "frist")).await;
    let id = sid(&m);

    let a = edit(&api, &ann, &id, json!({ "content": { "text": "first" } })).await.expect(200);
    assert_eq!(a.data()["message_id"], id.as_str());
    assert!(!a.data()["edited_at"].is_null(), "{}", a.body);
    assert_eq!(int(a.data(), "edit_count"), 1, "{}", a.body);

    for reader in [&ann, &bob] {
        let list = history(&api, reader, &conv).await;
        let got = message(&list, &id);
        assert_eq!(got["content"]["text"], "first", "{got}");
        assert!(!got["edited_at"].is_null(), "{got}");
        assert_eq!(int(got, "seq"), 1, "an edit keeps the seq");
    }
    assert_eq!(history(&api, &bob, &conv).await.len(), 1, "an edit is not a new message");

    let versions = |a: &Answer| -> Vec<Value> {
        let d = a.data();
        let list = if d.is_array() {
            d.clone()
        } else {
            ["edits", "versions"].iter().map(|k| d[*k].clone()).find(Value::is_array).unwrap_or_else(|| panic!("a list of versions: {}", a.body))
        };
        list.as_array().unwrap().clone()
    };
    let listed = api.get(&format!("/api/chat/messages/{id}/edits"), Some(&bob.token)).await.expect(200);
    let v = versions(&listed);
    assert_eq!(v.len(), 2, "the original and the edit: {}", listed.body);
    assert!(v.iter().any(|x| x.to_string().contains("frist")), "the original is listed: {}", listed.body);
    assert!(v.iter().any(|x| x.to_string().contains("\"first\"")), "the edit is listed: {}", listed.body);

    let a = edit(&api, &ann, &id, json!({ "content": { "text": "first!" } })).await.expect(200);
    assert_eq!(int(a.data(), "edit_count"), 2, "{}", a.body);
    let listed = api.get(&format!("/api/chat/messages/{id}/edits"), Some(&ann.token)).await.expect(200);
    assert_eq!(versions(&listed).len(), 3, "{}", listed.body);

    // Refusals.
    let marker = unique("badedit");
    refused(edit(&api, &bob, &id, json!({ "content": { "text": marker } })).await, 403, Some("forbidden"), "the recipient editing");
    refused(edit(&api, &cid, &id, json!({ "content": { "text": marker } })).await, 404, None, "a non-participant editing");
    refused(edit(&api, &ann, &uuid::Uuid::new_v4().to_string(), json!({ "content": { "text": marker } })).await, 404, None, "an unknown message");
    refused(
        edit(&api, &ann, &id, json!({ "content": { "text": format!("{marker}{}", "x".repeat(8193)) } })).await,
        422,
        None,
        "an edit over 8192 bytes",
    );
    // A different type: the spec says 403 forbidden, but content shaped for
    // another type is also invalid content for this one (422).
    expect_one_of(
        edit(&api, &ann, &id, json!({ "type": "image", "content": { "url": format!("https://img.example/{marker}.png") } })).await,
        &[403, 422],
        "an edit to another type",
    );
    expect_one_of(edit(&api, &ann, &id, json!({ "content": { "url": format!("https://img.example/{marker}.png") } })).await, &[403, 422], "an edit with another type's content");
    refused(api.get(&format!("/api/chat/messages/{id}/edits"), Some(&cid.token)).await, 404, None, "a non-participant listing edits");

    assert_nothing_appended(&marker).await;
    assert_eq!(message(&history(&api, &ann, &conv).await, &id)["content"]["text"], "first!");
}

#[tokio::test]
async fn deleting_a_message_hides_it_from_the_deleter_only() {
    let api = Api::new();
    let ((ann, bob), cid) = tokio::join!(friends_pair(&api, "del"), new_user(&api, "delx"));
    let conv = direct_id(&ann, &bob);
    let m1 = sent(&api, &ann, text_to(&bob, "one")).await;
    let m2 = sent(&api, &ann, text_to(&bob, "two")).await;
    assert_eq!(int(&entry(&api, &bob, &conv).await, "unread"), 2);

    refused(delete(&api, &format!("/api/chat/messages/{}", sid(&m1)), Some(&cid.token)).await, 404, None, "a non-participant deleting");

    let a = delete(&api, &format!("/api/chat/messages/{}", sid(&m1)), Some(&bob.token)).await.expect(200);
    assert_eq!(a.data()["message_id"], sid(&m1).as_str());
    assert_eq!(a.data()["deleted"], true);

    let bobs = history(&api, &bob, &conv).await;
    assert_eq!(message_ids(&bobs), vec![sid(&m2)], "gone for bob (a gap in seq): {bobs:#?}");
    assert_eq!(message_ids(&history(&api, &ann, &conv).await), vec![sid(&m1), sid(&m2)], "still there for ann");
    assert_eq!(int(&entry(&api, &bob, &conv).await, "unread"), 1, "a message deleted for you is not unread");

    // The sender may delete her own copy too.
    delete(&api, &format!("/api/chat/messages/{}", sid(&m2)), Some(&ann.token)).await.expect(200);
    assert_eq!(message_ids(&history(&api, &ann, &conv).await), vec![sid(&m1)]);
    assert_eq!(message_ids(&history(&api, &bob, &conv).await), vec![sid(&m2)]);
}

#[tokio::test]
async fn clearing_a_conversation_hides_everything_so_far_for_the_clearer_only() {
    let api = Api::new();
    let ((ann, bob), cid) = tokio::join!(friends_pair(&api, "clear"), new_user(&api, "clearx"));
    let conv = direct_id(&ann, &bob);
    sent(&api, &ann, text_to(&bob, "one")).await;
    sent(&api, &bob, text_to(&ann, "two")).await;
    sent(&api, &ann, text_to(&bob, "three")).await;

    let a = api.post(&format!("/api/chat/conversations/{conv}/clear"), Some(&bob.token), json!({})).await.expect(200);
    assert_eq!(a.data()["conversation_id"], conv.as_str());
    assert_eq!(int(a.data(), "cleared_seq"), 3, "{}", a.body);
    expect_one_of(api.post(&format!("/api/chat/conversations/{conv}/clear"), Some(&cid.token), json!({})).await, &[403, 404], "a non-participant clearing");

    assert!(history(&api, &bob, &conv).await.is_empty(), "cleared for bob");
    assert_eq!(seqs(&history(&api, &ann, &conv).await), vec![1, 2, 3], "not for ann");
    assert_eq!(int(&entry(&api, &bob, &conv).await, "unread"), 0);

    let later = sent(&api, &ann, text_to(&bob, "four")).await;
    assert_eq!(seq(&later), 4);
    assert_eq!(message_ids(&history(&api, &bob, &conv).await), vec![sid(&later)], "later messages are visible");
    let (before, more) = page(&api, &bob, &conv, "&before_seq=4").await;
    assert!(before.is_empty() && !more, "nothing before the clear: {before:#?}");
    assert_eq!(int(&entry(&api, &bob, &conv).await, "unread"), 1);
}

#[tokio::test]
async fn reactions_are_counted_across_users_added_once_and_removed_by_the_reactor() {
    let api = Api::new();
    let ((owner, f), outsider) = tokio::join!(owner_with_friends(&api, "react", 2), new_user(&api, "reactx"));
    let (m1, m2) = (&f[0], &f[1]);
    let (_, conv) = create_group(&api, &owner, &[m1, m2]).await;
    let m = sent(&api, &owner, text_in(&conv, "react to me")).await;
    let id = sid(&m);
    let (thumbs, heart) = ("👍", "❤️");

    let a = react(&api, m1, &id, thumbs).await.expect(200);
    assert_eq!(a.data()["message_id"], id.as_str());
    assert_eq!(reaction_count(&a.data()["reactions"], thumbs), 1, "{}", a.body);
    let recorded = events_mentioning(&id).await.len();
    let a = react(&api, m1, &id, thumbs).await.expect(200);
    assert_eq!(reaction_count(&a.data()["reactions"], thumbs), 1, "adding the same emoji twice is a no-op: {}", a.body);
    assert_eq!(events_mentioning(&id).await.len(), recorded, "a no-op appends nothing");

    react(&api, m2, &id, thumbs).await.expect(200);
    let a = react(&api, m2, &id, heart).await.expect(200);
    assert_eq!(reaction_count(&a.data()["reactions"], thumbs), 2, "{}", a.body);
    assert_eq!(reaction_count(&a.data()["reactions"], heart), 1, "{}", a.body);

    refused(react(&api, &outsider, &id, thumbs).await, 404, None, "an outsider reacting (cannot read it)");

    for (reader, mine) in [(m1, vec![thumbs]), (m2, vec![heart, thumbs]), (&owner, vec![])] {
        let got = message(&history(&api, reader, &conv).await, &id).clone();
        assert_eq!(reaction_count(&got["reactions"], thumbs), 2, "{got}");
        assert_eq!(reaction_count(&got["reactions"], heart), 1, "{got}");
        assert_eq!(my_reactions(&got), sorted(mine.iter().map(|s| s.to_string()).collect()), "{}: {got}", reader.name);
    }

    let a = unreact(&api, m1, &id, thumbs).await.expect(200);
    assert_eq!(a.data()["message_id"], id.as_str());
    assert_eq!(reaction_count(&a.data()["reactions"], thumbs), 1, "{}", a.body);
    assert_eq!(reaction_count(&a.data()["reactions"], heart), 1, "{}", a.body);
    let got = message(&history(&api, m1, &conv).await, &id).clone();
    assert_eq!(reaction_count(&got["reactions"], thumbs), 1, "{got}");
    assert!(my_reactions(&got).is_empty(), "{got}");
    let got = message(&history(&api, m2, &conv).await, &id).clone();
    assert_eq!(my_reactions(&got), sorted(vec![heart.to_string(), thumbs.to_string()]), "m1's removal leaves m2's reactions: {got}");

    let a = unreact(&api, m2, &id, heart).await.expect(200);
    assert_eq!(reaction_count(&a.data()["reactions"], heart), 0, "{}", a.body);
}

/// A recall removes every version, not only the last: the edit history of a
/// recalled message is empty for everyone (it leaked the old text before),
/// and a message deleted for the caller has no edit history for them.
#[tokio::test]
async fn a_recalled_or_deleted_message_has_no_readable_versions() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "recalledits").await;
    let m = sent(&api, &ann, text_to(&bob, "first words")).await;
    let id = sid(&m);
    edit(&api, &ann, &id, json!({ "content": { "text": "second words" } })).await.expect(200);
    let versions = |user: &User| {
        let (api, id, token) = (api.clone(), id.clone(), user.token.clone());
        async move { api.get(&format!("/api/chat/messages/{id}/edits"), Some(&token)).await }
    };
    let before = versions(&bob).await.expect(200);
    assert_eq!(before.data()["versions"].as_array().unwrap().len(), 2, "{}", before.body);

    // deleted for bob only: gone from his history, so from his versions too
    api.call(reqwest::Method::DELETE, &format!("/api/chat/messages/{id}"), Some(&bob.token), None).await.expect(200);
    refused(versions(&bob).await, 404, Some("not_found"), "versions of a message deleted for the caller");
    assert_eq!(versions(&ann).await.expect(200).data()["versions"].as_array().unwrap().len(), 2);

    recall(&api, &ann, &id).await.expect(200);
    let after = versions(&ann).await.expect(200);
    assert_eq!(after.data()["versions"], json!([]), "a recalled message keeps no version: {}", after.body);
    let text = after.body.to_string();
    assert!(!text.contains("first words") && !text.contains("second words"), "{text}");
}
