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
pub(crate) async fn owner_with_friends(api: &Api, prefix: &str, n: usize) -> (User, Vec<User>) {
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

/// How many messages (the server's notices) a group conversation holds
/// before the test sends anything; asserts they are all system notices.
async fn notices_before(api: &Api, reader: &User, conv: &str) -> i64 {
    let existing = history(api, reader, conv).await;
    assert!(existing.iter().all(|m| m["type"] == "system" && m["sender_id"] == "00000000-0000-0000-0000-000000000000"), "{existing:?}");
    assert!(!existing.is_empty(), "creating a group posts a notice");
    existing.len() as i64
}

// ---------------------------------------------------------------------------
// The tests, by topic.

mod send;
mod sequencing;
mod rules;
mod conversations;
mod receipts;
mod recall_edit;
mod auth;
mod notices;
