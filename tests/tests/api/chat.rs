//! Chat: sending, gap-free sequencing, idempotent resends, reading and
//! paging, the conversation list and read state, receipts, and message
//! operations (recall, edit, delete for me, clear, reactions, settings), end
//! to end, as docs/chat.md specifies them. Written from the spec alone.

use crate::friends::{assert_nothing_appended, befriend, befriend_all, delete, find, ids, new_user, new_users, sorted, User};
use crate::helpers::{events_mentioning, unique, Answer, Api};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

// ---------------------------------------------------------------------------
// Helpers.

/// A fresh client message id (`[A-Za-z0-9_-]`, well under 64 characters).
pub(crate) fn cmid() -> String {
    unique("cm")
}

/// The 1:1 conversation id of two users: `direct:<smaller id>:<larger id>`.
/// Lower-case hyphenated UUID strings sort like the UUIDs themselves.
pub(crate) fn direct_id(a: &User, b: &User) -> String {
    let (lo, hi) = if a.id < b.id { (&a.id, &b.id) } else { (&b.id, &a.id) };
    format!("direct:{lo}:{hi}")
}

/// A text message to a user, with a fresh client message id.
pub(crate) fn text_to(to: &User, text: &str) -> Value {
    json!({ "to_user_id": to.id, "client_msg_id": cmid(), "type": "text", "content": { "text": text } })
}

/// A text message into a conversation, with a fresh client message id.
pub(crate) fn text_in(conversation: &str, text: &str) -> Value {
    json!({ "conversation_id": conversation, "client_msg_id": cmid(), "type": "text", "content": { "text": text } })
}

pub(crate) async fn send(api: &Api, from: &User, body: Value) -> Answer {
    api.post("/api/chat/send", Some(&from.token), body).await
}

/// Sends `body` as `from`, expects 200 and a well-formed send answer; returns its data.
pub(crate) async fn sent(api: &Api, from: &User, body: Value) -> Value {
    let a = send(api, from, body).await.expect(200);
    let d = a.data().clone();
    assert!(d["message_id"].is_string(), "a send answers a message_id: {}", a.body);
    assert!(d["conversation_id"].is_string(), "a send answers a conversation_id: {}", a.body);
    assert!(d["seq"].is_i64(), "a send answers an integer seq: {}", a.body);
    assert!(!d["sent_at"].is_null(), "a send answers sent_at: {}", a.body);
    d
}

fn sid(v: &Value) -> String {
    v["message_id"].as_str().unwrap_or_else(|| panic!("no message_id in {v}")).to_owned()
}

pub(crate) fn seq(v: &Value) -> i64 {
    v["seq"].as_i64().unwrap_or_else(|| panic!("no integer seq in {v}"))
}

/// `GET /api/chat/messages?conversation_id=<conv><query>` as `user`, unchecked.
async fn messages(api: &Api, user: &User, conv: &str, query: &str) -> Answer {
    api.get(&format!("/api/chat/messages?conversation_id={conv}{query}"), Some(&user.token)).await
}

/// One page of messages (200 expected): (messages, has_more).
async fn page(api: &Api, user: &User, conv: &str, query: &str) -> (Vec<Value>, bool) {
    let a = messages(api, user, conv, query).await.expect(200);
    let list = a.data()["messages"].as_array().unwrap_or_else(|| panic!("a messages list: {}", a.body)).clone();
    let more = a.data()["has_more"].as_bool().unwrap_or_else(|| panic!("a boolean has_more: {}", a.body));
    (list, more)
}

/// Everything `user` can read of a conversation with up to 100 messages.
pub(crate) async fn history(api: &Api, user: &User, conv: &str) -> Vec<Value> {
    let (list, more) = page(api, user, conv, "&limit=100").await;
    assert!(!more, "these tests keep conversations under 100 messages");
    list
}

pub(crate) fn seqs(list: &[Value]) -> Vec<i64> {
    list.iter().map(seq).collect()
}

fn message_ids(list: &[Value]) -> Vec<String> {
    list.iter().map(sid).collect()
}

/// The message with `message_id` in `list`.
fn message<'a>(list: &'a [Value], message_id: &str) -> &'a Value {
    list.iter().find(|m| m["message_id"] == message_id).unwrap_or_else(|| panic!("message {message_id} not in {list:#?}"))
}

async fn conversations(api: &Api, user: &User, query: &str) -> Answer {
    api.get(&format!("/api/chat/conversations{query}"), Some(&user.token)).await.expect(200)
}

/// `user`'s entry for `conv` in their full conversation list.
async fn entry(api: &Api, user: &User, conv: &str) -> Value {
    let list = conversations(api, user, "").await;
    find(&list.data()["conversations"], "conversation_id", conv)
        .unwrap_or_else(|| panic!("{} must list {conv}: {}", user.name, list.body))
        .clone()
}

fn conversation_ids(a: &Answer) -> Vec<String> {
    ids(&a.data()["conversations"], "conversation_id")
}

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("no integer {key} in {v}"))
}

/// A read cursor that was never moved may be given as 0 or null.
fn cursor(v: &Value, key: &str) -> i64 {
    if v[key].is_null() {
        0
    } else {
        int(v, key)
    }
}

async fn mark_read(api: &Api, user: &User, conv: &str, seq: i64) -> Answer {
    api.put("/api/chat/read", Some(&user.token), json!({ "conversation_id": conv, "seq": seq })).await
}

async fn receipts(api: &Api, user: &User, conv: &str, seq: i64) -> Answer {
    api.get(&format!("/api/chat/receipts?conversation_id={conv}&seq={seq}"), Some(&user.token)).await
}

async fn recall(api: &Api, user: &User, message_id: &str) -> Answer {
    api.post(&format!("/api/chat/messages/{message_id}/recall"), Some(&user.token), json!({})).await
}

async fn edit(api: &Api, user: &User, message_id: &str, body: Value) -> Answer {
    api.put(&format!("/api/chat/messages/{message_id}"), Some(&user.token), body).await
}

async fn react(api: &Api, user: &User, message_id: &str, emoji: &str) -> Answer {
    api.post(&format!("/api/chat/messages/{message_id}/reactions"), Some(&user.token), json!({ "emoji": emoji })).await
}

async fn unreact(api: &Api, user: &User, message_id: &str, emoji: &str) -> Answer {
    delete(api, &format!("/api/chat/messages/{message_id}/reactions/{}", percent(emoji)), Some(&user.token)).await
}

async fn settings(api: &Api, user: &User, conv: &str, body: Value) -> Answer {
    api.put(&format!("/api/chat/conversations/{conv}/settings"), Some(&user.token), body).await
}

/// Percent-encodes everything but ASCII letters and digits.
fn percent(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// The count of `emoji` in a `reactions` map (absent is 0).
fn reaction_count(reactions: &Value, emoji: &str) -> i64 {
    assert!(reactions.is_object() || reactions.is_null(), "reactions is a map of emoji to count: {reactions}");
    reactions.get(emoji).and_then(Value::as_i64).unwrap_or(0)
}

fn my_reactions(m: &Value) -> Vec<String> {
    sorted(ids(&m["my_reactions"], "emoji"))
}

/// Asserts the status is one of `allowed` (and the envelope repeats it).
fn expect_one_of(a: Answer, allowed: &[u16], what: &str) -> Answer {
    let status = a.status.as_u16();
    assert!(allowed.contains(&status), "{what}: expected one of {allowed:?}, got {status}: {}", a.body);
    a.expect(status)
}

/// Asserts a refusal with a status and, when the spec names one, an error kind.
fn refused(a: Answer, status: u16, kind: Option<&str>, what: &str) {
    assert_eq!(a.status.as_u16(), status, "{what}: {}", a.body);
    let a = a.expect(status);
    if let Some(kind) = kind {
        assert_eq!(a.error_kind(), kind, "{what}: {}", a.body);
    }
}

pub(crate) fn instant(v: &Value) -> Option<OffsetDateTime> {
    v.as_str().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// Two timestamps denote the same instant (within 1 ms, to allow for a
/// different rendering of the same stored value).
pub(crate) fn same_instant(a: &Value, b: &Value) -> bool {
    match (instant(a), instant(b)) {
        (Some(x), Some(y)) => (x - y).abs() < time::Duration::milliseconds(1),
        _ => a == b,
    }
}

/// `MessageSent` events (on any topic) that mention `marker`.
async fn message_sent_events(marker: &str) -> Vec<Value> {
    events_mentioning(marker).await.into_iter().filter(|e| e["event_type"] == "MessageSent").collect()
}

/// `MessageSequenced` events (the sequencer's numbered messages) that mention `marker`.
async fn message_sequenced_events(marker: &str) -> Vec<Value> {
    events_mentioning(marker).await.into_iter().filter(|e| e["event_type"] == "MessageSequenced").collect()
}

/// Two users who are friends.
pub(crate) async fn friends_pair(api: &Api, prefix: &str) -> (User, User) {
    let (a, b) = tokio::join!(new_user(api, prefix), new_user(api, prefix));
    befriend(api, &a, &b).await;
    (a, b)
}

/// A group owner and `n` of their friends.
async fn owner_with_friends(api: &Api, prefix: &str, n: usize) -> (User, Vec<User>) {
    let mut users = new_users(api, prefix, n + 1).await;
    let owner = users.remove(0);
    befriend_all(api, &owner, &users.iter().collect::<Vec<_>>()).await;
    (owner, users)
}

/// `owner` creates a group with `members`; returns (group id, conversation id).
async fn create_group(api: &Api, owner: &User, members: &[&User]) -> (String, String) {
    let body = json!({ "name": unique("chatgrp"), "member_ids": members.iter().map(|m| m.id.clone()).collect::<Vec<_>>() });
    let a = api.post("/api/group", Some(&owner.token), body).await.expect(200);
    let gid = a.data()["group_id"].as_str().unwrap().to_owned();
    let conv = a.data()["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(conv, format!("group:{gid}"), "a group's conversation id is group:<group id>: {}", a.body);
    (gid, conv)
}

async fn set_role(api: &Api, by: &User, gid: &str, who: &User, role: &str) {
    api.put(&format!("/api/group/{gid}/members/{}/role", who.id), Some(&by.token), json!({ "role": role })).await.expect(200);
}

async fn mute_member(api: &Api, by: &User, gid: &str, who: &User, until: Value) {
    api.put(&format!("/api/group/{gid}/members/{}/mute", who.id), Some(&by.token), json!({ "until": until })).await.expect(200);
}

async fn mute_all(api: &Api, by: &User, gid: &str, muted: bool) {
    let a = api.put(&format!("/api/group/{gid}/mute-all"), Some(&by.token), json!({ "muted": muted })).await.expect(200);
    assert_eq!(a.data()["mute_all"], muted, "{}", a.body);
}

/// A message as read: every field the spec lists is there.
fn assert_message_shape(m: &Value) {
    for key in ["message_id", "conversation_id", "seq", "sender_id", "type", "content", "mentions", "reply_to", "sent_at", "edited_at", "recalled", "reactions", "my_reactions"] {
        assert!(m.get(key).is_some(), "a message has {key}: {m}");
    }
}

/// No mentions: an empty list or null.
fn no_mentions(m: &Value) -> bool {
    m["mentions"].is_null() || m["mentions"].as_array().is_some_and(|a| a.is_empty())
}

// ---------------------------------------------------------------------------
// 1:1 sending, reading and paging.

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

// ---------------------------------------------------------------------------
// Gap-free sequencing under concurrency; idempotent resends.

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

/// How many messages (the server's notices) a group conversation holds
/// before the test sends anything; asserts they are all system notices.
async fn notices_before(api: &Api, reader: &User, conv: &str) -> i64 {
    let existing = history(api, reader, conv).await;
    assert!(existing.iter().all(|m| m["type"] == "system" && m["sender_id"] == "00000000-0000-0000-0000-000000000000"), "{existing:?}");
    assert!(!existing.is_empty(), "creating a group posts a notice");
    existing.len() as i64
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

// ---------------------------------------------------------------------------
// Sending rules: every refusal is a clear 4xx and appends nothing.

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

// ---------------------------------------------------------------------------
// The conversation list and read state.

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

// ---------------------------------------------------------------------------
// Receipts.

#[tokio::test]
async fn a_direct_receipt_is_the_peers_read_cursor() {
    let api = Api::new();
    let (ann, bob) = friends_pair(&api, "rcpt").await;
    let conv = direct_id(&ann, &bob);
    for t in ["a", "b", "c"] {
        sent(&api, &ann, text_to(&bob, t)).await;
    }
    let r = receipts(&api, &ann, &conv, 3).await.expect(200);
    assert_eq!(cursor(r.data(), "peer_read_seq"), 0, "bob has read nothing: {}", r.body);

    mark_read(&api, &bob, &conv, 2).await.expect(200);
    let r = receipts(&api, &ann, &conv, 3).await.expect(200);
    assert_eq!(int(r.data(), "peer_read_seq"), 2, "{}", r.body);
    let r = receipts(&api, &bob, &conv, 1).await.expect(200);
    assert_eq!(int(r.data(), "peer_read_seq"), 3, "ann's cursor moved with her sends: {}", r.body);
}

#[tokio::test]
async fn a_group_receipt_counts_the_members_who_read_up_to_a_message() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "grcpt", 3).await;
    let (m1, m2, m3) = (&f[0], &f[1], &f[2]);
    let (_, conv) = create_group(&api, &owner, &[m1, m2, m3]).await;
    let base = notices_before(&api, &owner, &conv).await;
    let first = seq(&sent(&api, &owner, text_in(&conv, "first")).await);
    let second = seq(&sent(&api, &owner, text_in(&conv, "second")).await);
    assert_eq!((first, second), (base + 1, base + 2));

    let r = receipts(&api, &owner, &conv, first).await.expect(200);
    assert_eq!(int(r.data(), "read_count"), 0, "nobody read yet; the sender does not count: {}", r.body);
    assert!(ids(&r.data()["readers"], "user_id").is_empty(), "{}", r.body);

    mark_read(&api, m1, &conv, second).await.expect(200);
    mark_read(&api, m2, &conv, first).await.expect(200);

    let r = receipts(&api, &owner, &conv, second).await.expect(200);
    assert_eq!(int(r.data(), "read_count"), 1, "{}", r.body);
    assert_eq!(ids(&r.data()["readers"], "user_id"), vec![m1.id.clone()], "{}", r.body);
    let r = receipts(&api, &owner, &conv, first).await.expect(200);
    assert_eq!(int(r.data(), "read_count"), 2, "{}", r.body);
    assert_eq!(sorted(ids(&r.data()["readers"], "user_id")), sorted(vec![m1.id.clone(), m2.id.clone()]), "the sender is not a reader: {}", r.body);
}

// ---------------------------------------------------------------------------
// Recall, edit, delete for me, clear, reactions.

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

// ---------------------------------------------------------------------------
// Auth.

#[tokio::test]
async fn chat_calls_without_a_token_are_401() {
    let api = Api::new();
    let id = uuid::Uuid::new_v4();
    let conv = format!("direct:{}:{}", uuid::Uuid::nil(), id);
    let m = |rest: &str| format!("/api/chat/messages/{id}{rest}");
    let c = |rest: &str| format!("/api/chat/conversations/{conv}{rest}");
    let body = json!({ "to_user_id": id, "client_msg_id": cmid(), "type": "text", "content": { "text": "x" } });
    let answers = vec![
        ("send", api.post("/api/chat/send", None, body.clone()).await),
        ("send with a bad token", api.call(Method::POST, "/api/chat/send", Some("not.a.jwt"), Some(body)).await),
        ("messages", api.get(&format!("/api/chat/messages?conversation_id={conv}"), None).await),
        ("conversations", api.get("/api/chat/conversations", None).await),
        ("read", api.put("/api/chat/read", None, json!({ "conversation_id": conv, "seq": 1 })).await),
        ("receipts", api.get(&format!("/api/chat/receipts?conversation_id={conv}&seq=1"), None).await),
        ("recall", api.post(&m("/recall"), None, json!({})).await),
        ("edit", api.put(&m(""), None, json!({ "content": { "text": "x" } })).await),
        ("edits", api.get(&m("/edits"), None).await),
        ("delete", delete(&api, &m(""), None).await),
        ("clear", api.post(&c("/clear"), None, json!({})).await),
        ("react", api.post(&m("/reactions"), None, json!({ "emoji": "👍" })).await),
        ("unreact", delete(&api, &m(&format!("/reactions/{}", percent("👍"))), None).await),
        ("settings", api.put(&c("/settings"), None, json!({ "pinned": true })).await),
    ];
    for (what, a) in answers {
        assert_eq!(a.status.as_u16(), 401, "{what} without a token: {}", a.body);
        a.expect(401);
    }
}

#[tokio::test]
async fn group_changes_post_system_notices_that_members_read_but_are_never_unread() {
    let api = Api::new();
    let ((owner, f), extra) = tokio::join!(owner_with_friends(&api, "notice", 2), new_user(&api, "noticex"));
    befriend(&api, &owner, &extra).await;
    let (gid, conv) = create_group(&api, &owner, &[&f[0], &f[1]]).await;
    api.post(&format!("/api/group/{gid}/members"), Some(&owner.token), json!({ "user_ids": [extra.id] })).await.expect(200);
    set_role(&api, &owner, &gid, &f[0], "admin").await;
    api.post(&format!("/api/group/{gid}/leave"), Some(&f[1].token), json!({})).await.expect(200);

    let list = history(&api, &extra, &conv).await;
    let events: Vec<&str> = list.iter().map(|m| m["content"]["event"].as_str().unwrap_or("?")).collect();
    assert_eq!(events, vec!["group_created", "members_added", "role_changed", "member_left"], "{list:?}");
    for m in &list {
        assert_eq!(m["type"], "system", "{m}");
        assert_eq!(m["sender_id"], "00000000-0000-0000-0000-000000000000", "{m}");
    }
    assert_eq!(sorted(ids(&list[0]["content"]["user_ids"], "user_id")), sorted(vec![f[0].id.clone(), f[1].id.clone()]));
    assert_eq!(ids(&list[1]["content"]["user_ids"], "user_id"), vec![extra.id.clone()]);
    assert_eq!(list[2]["content"]["role"], "admin");
    assert_eq!(seqs(&list), vec![1, 2, 3, 4], "notices take seqs like any message");
    let e = entry(&api, &extra, &conv).await;
    assert_eq!((int(&e, "max_seq"), int(&e, "unread")), (4, 0), "notices are never unread: {e}");
}
