//! Gap-free sequencing under concurrency; idempotent resends.

use super::*;

#[tokio::test]
async fn fifty_concurrent_sends_into_one_group_get_exactly_the_seqs_1_to_50() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "conc", 10).await;
    let members: Vec<&User> = f.iter().collect();
    let (gid, conv) = create_group(&api, &owner, &members).await;
    // The server's notice of the group's creation comes first.
    let base = notices_before(&api, &owner, &conv).await;
    let marker = unique("conc");

    let sends = members.iter().enumerate().flat_map(|(i, m)| {
        let (api, marker, gid) = (&api, &marker, &gid);
        (0..5).map(move |k| async move {
            let text = format!("{marker} {i} {k}");
            // Half by group id, half by conversation id.
            let body = if k % 2 == 0 {
                json!({ "group_id": gid, "client_msg_id": cmid(), "type": "text", "content": { "text": text } })
            } else {
                text_in(&format!("group:{gid}"), &text)
            };
            (m.id.clone(), text, send(api, m, body).await)
        })
    });
    let answers = futures::future::join_all(sends).await;
    assert_eq!(answers.len(), 50);

    let mut by_seq: HashMap<i64, (String, String, String)> = HashMap::new();
    for (sender, text, a) in answers {
        let a = a.expect(200);
        let d = a.data();
        assert_eq!(d["conversation_id"], conv.as_str(), "{}", a.body);
        let s = seq(d);
        let previous = by_seq.insert(s, (sid(d), sender, text));
        assert!(previous.is_none(), "two sends were answered seq {s}: {previous:?} and {}", a.body);
    }
    let mut answered: Vec<i64> = by_seq.keys().copied().collect();
    answered.sort();
    assert_eq!(answered, (base + 1..=base + 50).collect::<Vec<_>>(), "the answered seqs are exactly the next 50");
    let unique_ids: HashSet<&String> = by_seq.values().map(|(id, _, _)| id).collect();
    assert_eq!(unique_ids.len(), 50, "50 distinct message ids");

    let all = history(&api, &owner, &conv).await;
    assert_eq!(seqs(&all), (1..=base + 50).collect::<Vec<_>>(), "stored seqs are 1..N in order, no gaps, no duplicates");
    let stored: Vec<Value> = all.into_iter().filter(|m| m["type"] != "system").collect();
    assert_eq!(stored.len(), 50);
    for m in &stored {
        let (id, sender, text) = &by_seq[&seq(m)];
        assert_eq!(&sid(m), id, "the stored message at seq {} is the one answered with it", seq(m));
        assert_eq!(m["sender_id"], sender.as_str(), "{m}");
        assert_eq!(m["content"]["text"], text.as_str(), "{m}");
    }

    // A send after all of them were answered comes after all of them.
    let last = sent(&api, &owner, text_in(&conv, "and one more")).await;
    assert_eq!(seq(&last), base + 51);
    let (first_page, more) = page(&api, &f[3], &conv, "").await;
    assert_eq!(seqs(&first_page), (1..=50).collect::<Vec<_>>(), "the default limit is 50");
    assert!(more, "more messages remain");
    let (rest, more) = page(&api, &f[3], &conv, "&after_seq=50").await;
    assert_eq!(seqs(&rest), (51..=base + 51).collect::<Vec<_>>());
    assert!(!more);

    let e = entry(&api, &f[7], &conv).await;
    assert_eq!(e["kind"], "group", "{e}");
    assert_eq!(e["group_id"], gid.as_str(), "{e}");
    assert_eq!(int(&e, "max_seq"), base + 51, "{e}");
}

#[tokio::test]
async fn ten_concurrent_sends_with_one_client_msg_id_make_one_message() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "idem").await;
    let conv = direct_id(&ann, &bob);
    let client_msg_id = cmid();
    let text = unique("once");
    let body = json!({ "to_user_id": bob.id, "client_msg_id": client_msg_id, "type": "text", "content": { "text": text } });

    let answers = futures::future::join_all((0..10).map(|_| send(&api, &ann, body.clone()))).await;
    let answers: Vec<Value> = answers.into_iter().map(|a| a.expect(200).data().clone()).collect();
    let first = &answers[0];
    for a in &answers {
        assert_eq!(sid(a), sid(first), "every resend answers the original message: {answers:#?}");
        assert_eq!(seq(a), seq(first), "{answers:#?}");
        assert!(same_instant(&a["sent_at"], &first["sent_at"]), "{answers:#?}");
        assert_eq!(a["conversation_id"], conv.as_str());
    }
    assert_eq!(seq(first), 1);

    for reader in [&ann, &bob] {
        let list = history(&api, reader, &conv).await;
        assert_eq!(message_ids(&list), vec![sid(first)], "exactly one message: {list:#?}");
        assert_eq!(list[0]["content"]["text"], text.as_str());
    }
    // Concurrent sends may each append a MessageSent; the sequencer numbers one.
    let events = message_sequenced_events(&client_msg_id).await;
    assert_eq!(events.len(), 1, "exactly one MessageSequenced: {events:#?}");

    // The next message is seq 2: nothing else took a seq.
    assert_eq!(seq(&sent(&api, &bob, text_to(&ann, "next")).await), 2);
}

#[tokio::test]
async fn a_later_resend_answers_the_original_and_is_never_numbered_again() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "resend").await;
    let conv = direct_id(&ann, &bob);
    let client_msg_id = cmid();
    let body = json!({ "to_user_id": bob.id, "client_msg_id": client_msg_id, "type": "text", "content": { "text": "original" } });

    let original = sent(&api, &ann, body.clone()).await;
    assert_eq!(message_sent_events(&client_msg_id).await.len(), 1, "the send is one MessageSent event");

    // A message in between, then the resend (as if the first answer was lost).
    sent(&api, &bob, text_to(&ann, "in between")).await;
    let again = sent(&api, &ann, body.clone()).await;
    assert_eq!(sid(&again), sid(&original));
    assert_eq!(seq(&again), seq(&original), "the original seq, not a new one");
    assert!(same_instant(&again["sent_at"], &original["sent_at"]), "{again} vs {original}");
    assert_eq!(again["conversation_id"], conv.as_str());

    // Same sender and client_msg_id: a resend, whatever the rest of the body says.
    let mut changed = body.clone();
    changed["content"]["text"] = json!("changed my mind");
    changed.as_object_mut().unwrap().remove("to_user_id");
    changed["conversation_id"] = json!(conv);
    let again = sent(&api, &ann, changed).await;
    assert_eq!(sid(&again), sid(&original));
    assert_eq!(seq(&again), seq(&original));

    let numbered = message_sequenced_events(&client_msg_id).await;
    assert_eq!(numbered.len(), 1, "a resend is never numbered again: {numbered:#?}");
    let list = history(&api, &bob, &conv).await;
    assert_eq!(seqs(&list), vec![1, 2], "{list:#?}");
    assert_eq!(message(&list, &sid(&original))["content"]["text"], "original");

    // The claim is per sender: bob may use the same client_msg_id for his own message.
    let bobs = sent(&api, &bob, json!({ "conversation_id": conv, "client_msg_id": client_msg_id, "type": "text", "content": { "text": "mine" } })).await;
    assert_ne!(sid(&bobs), sid(&original));
    assert_eq!(seq(&bobs), 3);
}

/// `client_msg_id` is compared as exact bytes everywhere: the sequencer
/// numbers `abc` and `ABC` of one sender as two messages, so history must
/// show both (a case-folding unique key in the read model would drop the
/// second after it was answered with its seq).
#[tokio::test]
async fn client_msg_ids_differing_only_in_case_are_two_messages_in_history_too() {
    let api = Api::new();
    let (a, b) = friends_pair(&api, "cmidcase").await;
    let id = cmid();
    let (lower, upper) = (id.to_lowercase(), id.to_uppercase());
    let mut body = text_to(&b, "lower");
    body["client_msg_id"] = json!(lower);
    let first = sent(&api, &a, body).await;
    let mut body = text_to(&b, "upper");
    body["client_msg_id"] = json!(upper);
    let second = sent(&api, &a, body).await;
    assert_ne!(first["message_id"], second["message_id"], "two client ids, two messages");
    assert_eq!(seq(&second), seq(&first) + 1);
    let conv = direct_id(&a, &b);
    let texts = crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        let h = history(&api, &a, &conv).await;
        (h.len() == 2).then_some(h)
    })
    .await;
    let h = match texts {
        Some(h) => h,
        None => panic!("history lost a message: {:?}", history(&api, &a, &conv).await),
    };
    assert_eq!(h.iter().map(|m| m["content"]["text"].as_str().unwrap()).collect::<Vec<_>>(), vec!["lower", "upper"]);
}
