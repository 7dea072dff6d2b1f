//! 1:1 sending, reading and paging.

use super::*;

#[tokio::test]
async fn two_friends_exchange_messages_in_one_direct_conversation_numbered_from_one() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "dm").await;
    let conv = direct_id(&ann, &bob);

    let first = sent(&api, &ann, text_to(&bob, "hello bob")).await;
    assert_eq!(first["conversation_id"], conv.as_str(), "direct:<smaller id>:<larger id>");
    assert_eq!(seq(&first), 1, "the first message of a conversation has seq 1");

    let second = sent(&api, &bob, text_in(&conv, "hi ann")).await;
    assert_eq!(second["conversation_id"], conv.as_str());
    assert_eq!(seq(&second), 2);
    assert_ne!(sid(&first), sid(&second));

    // The same id whoever sends, and by to_user_id too.
    let third = sent(&api, &bob, text_to(&ann, "how are you")).await;
    assert_eq!(third["conversation_id"], conv.as_str(), "the same conversation whoever sends");
    assert_eq!(seq(&third), 3);

    for reader in [&ann, &bob] {
        let list = history(&api, reader, &conv).await;
        assert_eq!(seqs(&list), vec![1, 2, 3], "{}: {list:#?}", reader.name);
        assert_eq!(message_ids(&list), vec![sid(&first), sid(&second), sid(&third)]);
        let m = &list[0];
        assert_message_shape(m);
        assert_eq!(m["conversation_id"], conv.as_str());
        assert_eq!(m["sender_id"], ann.id.as_str());
        assert_eq!(m["type"], "text");
        assert_eq!(m["content"]["text"], "hello bob");
        assert!(same_instant(&m["sent_at"], &first["sent_at"]), "sent_at as answered: {m} vs {first}");
        assert!(m["edited_at"].is_null(), "{m}");
        assert!(m["reply_to"].is_null(), "{m}");
        assert!(no_mentions(m), "{m}");
        assert_eq!(m["recalled"], false, "{m}");
        assert_eq!(reaction_count(&m["reactions"], "👍"), 0);
        assert!(my_reactions(m).is_empty(), "{m}");
        assert_eq!(list[1]["sender_id"], bob.id.as_str());
        assert_eq!(list[1]["content"]["text"], "hi ann");
        assert_eq!(list[2]["sender_id"], bob.id.as_str());
    }
}

#[tokio::test]
async fn messages_page_forward_with_after_seq_and_backward_with_before_seq() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "page").await;
    let conv = direct_id(&ann, &bob);
    for i in 1..=5 {
        let from = if i % 2 == 1 { &ann } else { &bob };
        let s = sent(&api, from, text_in(&conv, &format!("message {i}"))).await;
        assert_eq!(seq(&s), i, "sends answered one after the other get increasing seqs");
    }

    let (all, more) = page(&api, &bob, &conv, "").await;
    assert_eq!(seqs(&all), vec![1, 2, 3, 4, 5], "default: after_seq 0, ascending");
    assert!(!more);

    let cases: &[(&str, &[i64], bool)] = &[
        ("&after_seq=2&limit=2", &[3, 4], true),
        ("&after_seq=4&limit=2", &[5], false),
        ("&after_seq=5", &[], false),
        ("&after_seq=0&limit=5", &[1, 2, 3, 4, 5], false),
        ("&limit=3", &[1, 2, 3], true),
        ("&before_seq=5&limit=2", &[3, 4], true),
        ("&before_seq=3&limit=2", &[1, 2], false),
        ("&before_seq=3&limit=10", &[1, 2], false),
        ("&before_seq=6&limit=2", &[4, 5], true),
        ("&before_seq=1", &[], false),
    ];
    for (query, expected, has_more) in cases {
        let (list, more) = page(&api, &ann, &conv, query).await;
        assert_eq!(seqs(&list), expected.to_vec(), "{query}");
        assert_eq!(more, *has_more, "has_more for {query}");
        for m in &list {
            assert_eq!(m["content"]["text"], format!("message {}", seq(m)), "{query}: {m}");
        }
    }
}

#[tokio::test]
async fn reading_needs_a_participant_and_a_limit_from_1_to_100() {
    let api = Api::new();
    let ((ann, bob), cid) = tokio::join!(friends_pair(&api, "rd"), new_user(&api, "rdx"));
    let conv = direct_id(&ann, &bob);
    sent(&api, &ann, text_to(&bob, "private")).await;

    refused(messages(&api, &cid, &conv, "").await, 403, None, "a non-participant reading a direct conversation");

    for bad in ["&limit=0", "&limit=101"] {
        refused(messages(&api, &ann, &conv, bad).await, 422, None, bad);
    }
    for ok in ["&limit=1", "&limit=100"] {
        messages(&api, &ann, &conv, ok).await.expect(200);
    }

    // Group conversations: current members only.
    let (owner, f) = owner_with_friends(&api, "rdg", 2).await;
    let (gid, gconv) = create_group(&api, &owner, &[&f[0], &f[1]]).await;
    let base = notices_before(&api, &owner, &gconv).await;
    sent(&api, &owner, text_in(&gconv, "members only")).await;
    assert_eq!(history(&api, &f[0], &gconv).await.len() as i64, base + 1);
    refused(messages(&api, &cid, &gconv, "").await, 403, None, "an outsider reading a group conversation");
    api.post(&format!("/api/group/{gid}/leave"), Some(&f[1].token), json!({})).await.expect(200);
    refused(messages(&api, &f[1], &gconv, "").await, 403, None, "a member who left reading the group conversation");
}
