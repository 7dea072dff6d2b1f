//! Notifications, as docs/services.md ("Notifications") specifies them: the
//! inbox items the notifier makes from friend and group events (recipients,
//! kinds, actors, targets, texts), what suppresses them (own actions, blocked
//! actors, categories switched off in settings), coalesced join requests,
//! the `notification` and `notification.badge` frames, reading, deleting,
//! paging and filtering the inbox, the badge, push tokens, and the offline
//! push jobs on `beaver.push.v1`. Written from the spec alone.
//!
//! The notifier and the push worker run behind the API, so every positive
//! check polls until a deadline, and every negative check ("no item", "no
//! job") is made only after a later positive control that cannot have been
//! processed before the event that must make nothing (same source partition,
//! same recipient partition).

use crate::chat::{direct_id, sent, seq, text_in, text_to};
use crate::friends::{befriend, delete, new_user, new_users, User};
use crate::helpers::{records_where, instant, unique, Answer, Api};
use crate::ws::{connect, Ws, GATEWAY};
use rdkafka::{
    config::ClientConfig,
    consumer::{BaseConsumer, Consumer},
    message::Message,
    Offset, TopicPartitionList,
};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const INBOX: &str = "/api/notification";
const READ: &str = "/api/notification/read";
const BADGE: &str = "/api/notification/badge";
const TOKENS: &str = "/api/notification/push-tokens";
const SETTINGS: &str = "/api/user/settings";
const PUSH_TOPIC: &str = "beaver.push.v1";
const NOTIFICATIONS_TOPIC: &str = "beaver.notifications.v1";
/// How long the notifier, the projection or the push worker may take.
const SETTLE: Duration = Duration::from_secs(20);
/// The fields of an inbox item.
const ITEM_KEYS: &[&str] =
    &["notification_id", "category", "kind", "actors", "actor_count", "target", "text", "read", "created_at", "updated_at", "position"];

// ---------------------------------------------------------------------------
// Answers.

fn status(a: Answer, want: u16, what: &str) -> Answer {
    assert_eq!(a.status.as_u16(), want, "{what}: {}", a.body);
    a.expect(want)
}

/// What is wrong with `a` if it is not a 422 `invalid_field` (in the envelope) naming `field`.
fn bad_field_problem(a: Answer, field: &str, what: &str) -> Option<String> {
    let ok = a.status.as_u16() == 422 && a.body["code"] == 422 && a.error_kind() == "invalid_field" && a.data()["field"] == field;
    (!ok).then(|| format!("{what}: want 422 invalid_field naming {field}, got {} {}", a.status.as_u16(), a.body))
}

/// Panics listing every problem found.
fn assert_no_problems(problems: Vec<String>) {
    assert!(problems.is_empty(), "{} case(s) not answered as specified:\n{}", problems.len(), problems.join("\n"));
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("a string {k}: {v}"))
}

fn nid(item: &Value) -> String {
    str_of(item, "notification_id").to_owned()
}

fn position(item: &Value) -> i64 {
    item["position"].as_i64().unwrap_or_else(|| panic!("an integer position: {item}"))
}

fn mid(v: &Value) -> String {
    str_of(v, "message_id").to_owned()
}

fn uuid_version(s: &str, what: &str) -> usize {
    uuid::Uuid::parse_str(s).unwrap_or_else(|e| panic!("{what} is a UUID ({e}): {s}")).get_version_num()
}

/// The unread counts `{total, social, group, moment, system}` (no test here makes moment items).
fn counts(total: i64, social: i64, group: i64, system: i64) -> Value {
    json!({ "total": total, "social": social, "group": group, "moment": 0, "call": 0, "system": system })
}

const COUNT_KEYS: [&str; 6] = ["total", "social", "group", "moment", "call", "system"];

/// Only the count keys of `v`.
fn unread_of(v: &Value) -> Value {
    json!({ "total": v["total"], "social": v["social"], "group": v["group"], "moment": v["moment"], "call": v["call"], "system": v["system"] })
}

fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn now_ish(v: &Value, what: &str) {
    let t = instant(v).unwrap_or_else(|| panic!("{what} is a time: {v}"));
    assert!((t - OffsetDateTime::now_utc()).abs() < time::Duration::minutes(5), "{what} is about now: {v}");
}

// ---------------------------------------------------------------------------
// The inbox.

/// Every field of an item, with its type.
fn assert_item_shape(item: &Value, what: &str) {
    for k in ITEM_KEYS {
        assert!(item.get(*k).is_some(), "{what}: an item has {k}: {item}");
    }
    uuid_version(str_of(item, "notification_id"), "notification_id");
    assert!(["social", "group", "moment", "call", "system"].contains(&str_of(item, "category")), "{what}: a known category: {item}");
    assert!(item["kind"].is_string(), "{what}: {item}");
    let actors = item["actors"].as_array().unwrap_or_else(|| panic!("{what}: actors is a list: {item}"));
    assert!((1..=3).contains(&actors.len()), "{what}: one to three actors: {item}");
    for a in actors {
        uuid_version(a.as_str().unwrap_or_else(|| panic!("{what}: actors are user ids: {item}")), "an actor");
    }
    let count = item["actor_count"].as_i64().unwrap_or_else(|| panic!("{what}: an integer actor_count: {item}"));
    assert!(count >= actors.len() as i64, "{what}: actor_count counts every actor: {item}");
    assert!(item["target"]["type"].is_string() && item["target"]["id"].is_string(), "{what}: target {{type, id}}: {item}");
    assert!(item["text"].is_string() || item["text"].is_null(), "{what}: text: {item}");
    assert!(item["read"].is_boolean(), "{what}: read is a boolean: {item}");
    let created = instant(&item["created_at"]).unwrap_or_else(|| panic!("{what}: created_at is a time: {item}"));
    let updated = instant(&item["updated_at"]).unwrap_or_else(|| panic!("{what}: updated_at is a time: {item}"));
    assert!(updated >= created, "{what}: updated_at is not before created_at: {item}");
    position(item);
}

async fn list(api: &Api, user: &User, query: &str) -> Answer {
    api.get(&format!("{INBOX}{query}"), Some(&user.token)).await
}

/// One page of `user`'s inbox (200, well-formed, newest activity first): (items, next_before).
async fn page(api: &Api, user: &User, query: &str) -> (Vec<Value>, Option<i64>) {
    let what = format!("GET {INBOX}{query} of {}", user.name);
    let a = status(list(api, user, query).await, 200, &what);
    let items = a.data()["items"].as_array().unwrap_or_else(|| panic!("{what}: an items list: {}", a.body)).clone();
    for i in &items {
        assert_item_shape(i, &what);
    }
    let positions: Vec<i64> = items.iter().map(position).collect();
    assert!(positions.windows(2).all(|w| w[0] > w[1]), "{what}: newest activity first, positions decreasing: {positions:?}");
    let nb = &a.data()["next_before"];
    assert!(nb.is_null() || nb.is_i64(), "{what}: next_before is a position or null: {}", a.body);
    (items, nb.as_i64())
}

/// Every item of `user` (one page of 50 is more than any test user gets).
async fn items(api: &Api, user: &User) -> Vec<Value> {
    let (items, _) = page(api, user, "?limit=50").await;
    assert!(items.len() < 50, "a test user has fewer than 50 items");
    items
}

/// Waits until `user`'s inbox holds an item satisfying `pred`; returns it.
async fn wait_item(api: &Api, user: &User, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + SETTLE;
    loop {
        let all = items(api, user).await;
        if let Some(i) = all.iter().find(|i| pred(i)) {
            return i.clone();
        }
        assert!(Instant::now() < deadline, "{what}: no such item in {}'s inbox within {SETTLE:?}: {all:#?}", user.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `user`'s whole inbox satisfies `pred`; returns it.
async fn wait_list(api: &Api, user: &User, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let all = items(api, user).await;
        if pred(&all) {
            return all;
        }
        assert!(Instant::now() < deadline, "{what}: {}'s inbox never got there within {SETTLE:?}: {all:#?}", user.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An item of `kind` whose newest actor is `actor`.
fn by(item: &Value, kind: &str, actor: &User) -> bool {
    item["kind"] == kind && item["actors"][0] == actor.id.as_str()
}

/// An item of `kind` about the group `gid`.
fn on_group(item: &Value, kind: &str, gid: &str) -> bool {
    item["kind"] == kind && item["target"] == json!({ "type": "group", "id": gid })
}

/// The item is a single-actor, unread item of `category`/`kind` by `actor` on `target`.
fn assert_item(item: &Value, category: &str, kind: &str, actor: &User, target: Value, what: &str) {
    assert_eq!(item["category"], category, "{what}: {item}");
    assert_eq!(item["kind"], kind, "{what}: {item}");
    assert_eq!(item["actors"], json!([actor.id]), "{what}: the actor: {item}");
    assert_eq!(item["actor_count"], 1, "{what}: {item}");
    assert_eq!(item["target"], target, "{what}: the target: {item}");
    assert_eq!(item["read"], false, "{what}: a new item is unread: {item}");
    now_ish(&item["created_at"], what);
}

async fn mark(api: &Api, user: &User, body: Value) -> Answer {
    api.post(READ, Some(&user.token), body).await
}

/// Marks read (200); the answer's unread counts.
async fn marked(api: &Api, user: &User, body: Value) -> Value {
    let a = status(mark(api, user, body.clone()).await, 200, &format!("{} marking {body} read", user.name));
    let u = a.data()["unread"].clone();
    for k in COUNT_KEYS {
        assert!(u[k].is_i64(), "the answer has unread.{k}: {}", a.body);
    }
    unread_of(&u)
}

async fn remove(api: &Api, user: &User, id: &str) -> Answer {
    delete(api, &format!("{INBOX}/{id}"), Some(&user.token)).await
}

/// `user`'s badge (200): `{total, messages, notifications: {total, social, group, system}}`, totals adding up.
async fn badge(api: &Api, user: &User) -> Value {
    let a = status(api.get(BADGE, Some(&user.token)).await, 200, &format!("GET {BADGE}"));
    let d = a.data().clone();
    let n = &d["notifications"];
    for k in COUNT_KEYS {
        assert!(n[k].as_i64().is_some_and(|x| x >= 0), "notifications.{k} is a count: {d}");
    }
    let messages = d["messages"].as_i64().unwrap_or_else(|| panic!("messages is a count: {d}"));
    let total = d["total"].as_i64().unwrap_or_else(|| panic!("total is a count: {d}"));
    assert_eq!(total, messages + n["total"].as_i64().unwrap(), "total = messages + notifications.total: {d}");
    assert_eq!(
        n["total"].as_i64().unwrap(),
        n["social"].as_i64().unwrap() + n["group"].as_i64().unwrap() + n["moment"].as_i64().unwrap() + n["call"].as_i64().unwrap() + n["system"].as_i64().unwrap(),
        "notifications.total is the sum of the categories: {d}"
    );
    d
}

/// Waits until `user`'s badge is `want` (compared on total, messages and the four counts).
async fn wait_badge(api: &Api, user: &User, want: Value, what: &str) -> Value {
    let deadline = Instant::now() + SETTLE;
    loop {
        let b = badge(api, user).await;
        let got = json!({ "total": b["total"], "messages": b["messages"], "notifications": unread_of(&b["notifications"]) });
        if got == want {
            return b;
        }
        assert!(Instant::now() < deadline, "{what}: the badge of {} is {b}, want {want}", user.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------
// Friends, groups, settings, chat.

/// `from` asks `to` with `message`; the request is pending. Its id.
async fn ask(api: &Api, from: &User, to: &User, message: &str) -> String {
    let a = api.post("/api/friend/requests", Some(&from.token), json!({ "to_user_id": to.id, "message": message })).await;
    let a = status(a, 200, &format!("{} asking {}", from.name, to.name));
    assert_eq!(a.data()["status"], "pending", "{}", a.body);
    str_of(a.data(), "request_id").to_owned()
}

async fn accept(api: &Api, by: &User, rid: &str) {
    let a = api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&by.token), json!({})).await;
    status(a, 200, &format!("{} accepting {rid}", by.name));
}

async fn block(api: &Api, by: &User, who: &User) {
    status(api.post("/api/friend/blocks", Some(&by.token), json!({ "user_id": who.id })).await, 200, "blocking");
}

/// `owner` creates a group of `members` with `extra` settings: (group id, conversation id, name).
async fn create_group(api: &Api, owner: &User, members: &[&User], extra: Value) -> (String, String, String) {
    let name = unique("ngrp");
    let mut body = json!({ "name": name, "member_ids": members.iter().map(|m| m.id.clone()).collect::<Vec<_>>() });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let a = status(api.post("/api/group", Some(&owner.token), body).await, 200, "creating a group");
    (str_of(a.data(), "group_id").to_owned(), str_of(a.data(), "conversation_id").to_owned(), name)
}

async fn set_role(api: &Api, by: &User, gid: &str, who: &User, role: &str) {
    let a = api.put(&format!("/api/group/{gid}/members/{}/role", who.id), Some(&by.token), json!({ "role": role })).await;
    status(a, 200, &format!("making {} {role}", who.name));
}

async fn kick(api: &Api, by: &User, gid: &str, who: &User) {
    status(delete(api, &format!("/api/group/{gid}/members/{}", who.id), Some(&by.token)).await, 200, &format!("kicking {}", who.name));
}

/// `who` asks to join the approval group `gid`; the request's id.
async fn join(api: &Api, who: &User, gid: &str, message: &str) -> String {
    let a = status(api.post(&format!("/api/group/{gid}/join"), Some(&who.token), json!({ "message": message })).await, 200, "joining");
    assert_eq!(a.data()["status"], "pending", "an approval group files a request: {}", a.body);
    str_of(a.data(), "request_id").to_owned()
}

async fn decide(api: &Api, by: &User, gid: &str, rid: &str, verb: &str) {
    let a = api.post(&format!("/api/group/{gid}/join-requests/{rid}/{verb}"), Some(&by.token), json!({})).await;
    status(a, 200, &format!("{verb} {rid}"));
}

/// Patches `user`'s settings (200).
async fn set(api: &Api, user: &User, patch: Value) {
    let a = api.call(Method::PATCH, SETTINGS, Some(&user.token), Some(patch.clone())).await;
    status(a, 200, &format!("PATCH {SETTINGS} {patch}"));
}

async fn mute(api: &Api, user: &User, conv: &str, muted: bool) {
    let a = api.put(&format!("/api/chat/conversations/{conv}/settings"), Some(&user.token), json!({ "muted": muted })).await;
    let a = status(a, 200, &format!("muted: {muted}"));
    assert_eq!(a.data()["muted"], muted, "{}", a.body);
}

/// Waits until `user` sees themselves online (`true`) or offline.
async fn wait_online(api: &Api, user: &User, online: bool) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let a = status(api.get(&format!("/api/user/online?user_ids={}", user.id), Some(&user.token)).await, 200, "presence");
        if a.data()["users"][0]["online"] == online {
            return;
        }
        assert!(Instant::now() < deadline, "{} never became {}: {}", user.name, if online { "online" } else { "offline" }, a.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn socket(user: &User) -> Ws {
    connect(GATEWAY, &user.token, &unique("dev"), "web").await
}

// ---------------------------------------------------------------------------
// Push tokens and push jobs.

async fn register(api: &Api, token: &str, body: Value) -> Answer {
    api.post(TOKENS, Some(token), body).await
}

/// Registers `push_token` for `device` on `platform` with the session of `access` (200).
async fn registered(api: &Api, access: &str, device: &str, platform: &str, push_token: &str) {
    let body = json!({ "device_id": device, "platform": platform, "token": push_token });
    let a = status(register(api, access, body).await, 200, &format!("registering a push token for {device}"));
    assert_eq!(a.data()["device_id"], device, "{}", a.body);
    assert_eq!(a.data()["platform"], platform, "{}", a.body);
    assert_eq!(a.data()["registered"], true, "{}", a.body);
    assert!(!a.body.to_string().contains(push_token), "the token itself is never answered: {}", a.body);
}

/// The caller's tokens (200): `[{device_id, platform, registered_at}]`, never the token.
async fn tokens(api: &Api, access: &str) -> Vec<Value> {
    let a = status(api.get(TOKENS, Some(access)).await, 200, &format!("GET {TOKENS}"));
    let list = a.data()["tokens"].as_array().unwrap_or_else(|| panic!("a tokens list: {}", a.body)).clone();
    for t in &list {
        assert!(t["device_id"].is_string() && t["platform"].is_string(), "{t}");
        assert!(instant(&t["registered_at"]).is_some(), "registered_at is a time: {t}");
        assert!(t.get("token").is_none(), "the token itself is never answered: {t}");
    }
    list
}

fn devices(list: &[Value]) -> Vec<String> {
    let mut d: Vec<String> = list.iter().map(|t| str_of(t, "device_id").to_owned()).collect();
    d.sort();
    d
}

/// Waits until `access`'s session lists exactly `want` (sorted device ids).
async fn wait_devices(api: &Api, access: &str, want: &[&str], what: &str) {
    let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    let deadline = Instant::now() + SETTLE;
    loop {
        let got = devices(&tokens(api, access).await);
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: the listed devices are {got:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fresh push token string (printable, unique).
fn push_token() -> String {
    format!("tok-{}-{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Gives `user` a push token on a fresh device (fcm) and waits until it is listed; (device, token).
async fn with_token(api: &Api, user: &User) -> (String, String) {
    let (device, tok) = (unique("pd"), push_token());
    registered(api, &user.token, &device, "fcm", &tok).await;
    wait_devices(api, &user.token, &[&device], "the registered token").await;
    (device, tok)
}

/// Every record of `beaver.push.v1` as (key, value), read by one consumer of
/// this test process from offset 0 on, kept as it tails the topic.
fn push_log() -> &'static Mutex<Vec<(String, Value)>> {
    static LOG: OnceLock<&'static Mutex<Vec<(String, Value)>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log: &'static Mutex<Vec<(String, Value)>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        std::thread::spawn(move || tail(PUSH_TOPIC, log));
        log
    })
}

fn tail(topic: &str, log: &'static Mutex<Vec<(String, Value)>>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", crate::helpers::brokers())
        .set("group.id", unique("test_push_reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("a Kafka consumer");
    loop {
        if let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) {
            let partitions: Vec<i32> = md.topics().first().map(|t| t.partitions().iter().map(|p| p.id()).collect()).unwrap_or_default();
            if !partitions.is_empty() {
                let mut tpl = TopicPartitionList::new();
                for p in partitions {
                    tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
                }
                consumer.assign(&tpl).expect("assigning the push topic");
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    loop {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            let value = m.payload().map(|p| serde_json::from_slice(p).unwrap_or(Value::Null)).unwrap_or(Value::Null);
            log.lock().unwrap().push((key, value));
        }
    }
}

/// Every `PushJobQueued` record for `user` so far: (key, envelope).
fn jobs_of(user: &User) -> Vec<(String, Value)> {
    push_log()
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, v)| v["event_type"] == "PushJobQueued" && v["payload"]["user_id"] == user.id.as_str())
        .cloned()
        .collect()
}

/// The job payloads for `user` about message `message_id`.
fn message_jobs(user: &User, message_id: &str) -> Vec<Value> {
    jobs_of(user).into_iter().map(|(_, v)| v["payload"].clone()).filter(|p| p["data"]["message_id"] == message_id).collect()
}

/// Waits until a job for `user` satisfies `pred`; returns its envelope, checking its shape and key.
async fn wait_job(user: &User, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    push_log();
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Some((key, env)) = jobs_of(user).into_iter().find(|(_, v)| pred(&v["payload"])) {
            assert_eq!(key, user.id, "{what}: a push job is keyed by the user: {env}");
            assert_job_shape(&env, user, what);
            return env;
        }
        assert!(Instant::now() < deadline, "{what}: no push job for {} within {SETTLE:?}; their jobs: {:#?}", user.name, jobs_of(user));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the job of `user` about message `m` (a send answer).
async fn wait_message_job(user: &User, m: &Value, what: &str) -> Value {
    let id = mid(m);
    wait_job(user, what, |p| p["reason"] == "message" && p["data"]["message_id"] == id.as_str()).await
}

fn assert_no_message_job(user: &User, m: &Value, what: &str) {
    let jobs = message_jobs(user, &mid(m));
    assert!(jobs.is_empty(), "{what}: a push job was queued for {}: {jobs:#?}", user.name);
}

fn assert_job_shape(env: &Value, user: &User, what: &str) {
    assert_eq!(env["event_type"], "PushJobQueued", "{what}: {env}");
    assert_eq!(env["actor"]["kind"], "system", "{what}: push jobs are appended by the system: {env}");
    let p = &env["payload"];
    assert_eq!(uuid_version(str_of(p, "job_id"), "job_id"), 5, "{what}: job_id is a UUIDv5: {p}");
    assert_eq!(p["user_id"], user.id.as_str(), "{what}: {p}");
    assert!(p["reason"] == "message" || p["reason"] == "notification", "{what}: reason: {p}");
    uuid_version(str_of(p, "source_event_id"), "source_event_id");
    let toks = p["tokens"].as_array().unwrap_or_else(|| panic!("{what}: a tokens list: {p}"));
    assert!(!toks.is_empty(), "{what}: a job has the user's tokens: {p}");
    for t in toks {
        assert!(t["device_id"].is_string() && t["platform"].is_string() && t["token"].is_string(), "{what}: {{device_id, platform, token}}: {t}");
    }
    assert!(p["title"].is_string() && p["body"].is_string(), "{what}: a title and a body: {p}");
    assert!(p["data"].is_object(), "{what}: data: {p}");
    assert!(p["badge"].as_i64().is_some_and(|b| b >= 0), "{what}: badge is a count: {p}");
}

/// The (device_id, platform, token) triples of a job.
fn job_tokens(p: &Value) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = p["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (str_of(t, "device_id").to_owned(), str_of(t, "platform").to_owned(), str_of(t, "token").to_owned()))
        .collect();
    v.sort();
    v
}

/// A friend of `sender` with a push token and no socket, used as a control
/// that the push worker has reached a point of the log.
async fn control_recipient(api: &Api, sender: &User, prefix: &str) -> User {
    let w = new_user(api, prefix).await;
    befriend(api, sender, &w).await;
    with_token(api, &w).await;
    w
}

/// `sender` messages `w`; waits for `w`'s job (the push worker got past every earlier send of this test).
async fn control(api: &Api, sender: &User, w: &User) {
    let m = sent(api, sender, text_to(w, "control")).await;
    wait_message_job(w, &m, "the control's push job").await;
}

/// `from` messages `to` (offline, with a token) in their direct conversation and
/// waits for `to`'s job: the push worker is past every earlier message of it.
async fn reply_control(api: &Api, from: &User, to: &User) {
    let m = sent(api, from, text_to(to, "control")).await;
    wait_message_job(to, &m, "the control in the same conversation").await;
}

/// The (key, envelope) of every record of `topic` whose value satisfies `pred`.
async fn records(topic: &'static str, pred: impl Fn(&Value) -> bool + Send + 'static) -> Vec<(String, Value)> {
    records_where(topic, move |_, v| pred(v)).await.into_iter().map(|(k, _, v)| (k, v)).collect()
}

// ---------------------------------------------------------------------------
// Items made from friend events.

#[tokio::test]
async fn a_friend_request_is_an_item_of_the_recipient_only_and_acceptance_tells_the_requester() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "nfreq"), new_user(&api, "nfreq"));
    let text = format!("hi bob, ann here {}", unique("m"));
    let rid = ask(&api, &ann, &bob, &text).await;

    let item = wait_item(&api, &bob, "bob's friend_request item", |i| i["kind"] == "friend_request").await;
    assert_item(&item, "social", "friend_request", &ann, json!({ "type": "friend_request", "id": rid }), "the request");
    assert_eq!(item["text"], text.as_str(), "the item's text is the request's message: {item}");

    accept(&api, &bob, &rid).await;
    let acc = wait_item(&api, &ann, "ann's friend_accepted item", |i| i["kind"] == "friend_accepted").await;
    assert_item(&acc, "social", "friend_accepted", &bob, json!({ "type": "user", "id": bob.id }), "the acceptance");

    // The acceptance (same pair, after the request) is made, so the request
    // was processed: ann, its sender, has nothing but the acceptance.
    let ann_items = items(&api, &ann).await;
    assert_eq!(ann_items.iter().map(nid).collect::<Vec<_>>(), vec![nid(&acc)], "the sender's inbox holds only the acceptance: {ann_items:#?}");

    // A later item of bob's (ann adds him to a group) shows that his inbox has
    // everything before it: the request only, nothing for his own acceptance.
    let (gid, _, _) = create_group(&api, &ann, &[&bob], json!({})).await;
    let bob_items = wait_list(&api, &bob, "bob's added item", |l| l.iter().any(|i| on_group(i, "added", &gid))).await;
    let kinds: Vec<&str> = bob_items.iter().map(|i| str_of(i, "kind")).collect();
    assert_eq!(kinds, vec!["added", "friend_request"], "bob is not told of his own acceptance: {bob_items:#?}");
    wait_badge(&api, &bob, json!({ "total": 2, "messages": 0, "notifications": counts(2, 1, 1, 0) }), "bob's badge").await;
}

#[tokio::test]
async fn a_new_item_reaches_the_recipients_socket_with_the_new_badge_and_reads_and_deletes_update_it() {
    let api = Api::new();
    let (ann, bob, cid) = tokio::join!(new_user(&api, "nfws"), new_user(&api, "nfws"), new_user(&api, "nfws"));
    let mut ws = socket(&bob).await;
    let text = format!("frame {}", unique("m"));
    let rid = ask(&api, &ann, &bob, &text).await;

    let f = ws.expect_where("notification", |d| d["kind"] == "friend_request", SETTLE).await;
    let d = &f["data"];
    uuid_version(str_of(d, "notification_id"), "the frame's notification_id");
    assert_eq!(d["category"], "social", "{f}");
    assert_eq!(d["actor_id"], ann.id.as_str(), "{f}");
    assert_eq!(d["target"], json!({ "type": "friend_request", "id": rid }), "{f}");
    assert_eq!(d["text"], text.as_str(), "{f}");
    assert!(d.get("group_key").is_some_and(Value::is_null), "a friend request has a null group_key: {f}");
    now_ish(&d["created_at"], "the frame's created_at");
    let b = ws.expect_where("notification.badge", |d| d["total"] == 1, SETTLE).await;
    assert_eq!(unread_of(&b["data"]), counts(1, 1, 0, 0), "the badge frame after the item: {b}");

    let item = wait_item(&api, &bob, "the item", |i| i["kind"] == "friend_request").await;
    assert_eq!(item["notification_id"], d["notification_id"], "the frame and the list name the same item");

    // Read: the counts drop to zero, in the answer and in a frame.
    assert_eq!(marked(&api, &bob, json!({ "ids": [nid(&item)] })).await, counts(0, 0, 0, 0));
    let b = ws.expect_where("notification.badge", |d| d["total"] == 0, SETTLE).await;
    assert_eq!(unread_of(&b["data"]), counts(0, 0, 0, 0), "the badge frame after reading: {b}");

    // Another item, then deleted while unread: one up, then down again.
    let rid2 = ask(&api, &cid, &bob, "second").await;
    let f = ws.expect_where("notification", |d| d["actor_id"] == cid.id.as_str(), SETTLE).await;
    assert_eq!(f["data"]["target"], json!({ "type": "friend_request", "id": rid2 }), "{f}");
    let b = ws.expect_where("notification.badge", |d| d["total"] == 1, SETTLE).await;
    assert_eq!(unread_of(&b["data"]), counts(1, 1, 0, 0), "{b}");
    let second = str_of(&f["data"], "notification_id").to_owned();
    wait_item(&api, &bob, "the second item", |i| i["notification_id"] == second.as_str()).await;
    let a = status(remove(&api, &bob, &second).await, 200, "deleting an unread item");
    assert_eq!(a.data().clone(), json!({ "notification_id": second, "deleted": true }));
    let b = ws.expect_where("notification.badge", |d| d["total"] == 0, SETTLE).await;
    assert_eq!(unread_of(&b["data"]), counts(0, 0, 0, 0), "the badge frame after deleting: {b}");
}

// ---------------------------------------------------------------------------
// Items made from group events.

#[tokio::test]
async fn members_are_told_they_were_added_or_removed_and_the_actor_is_not() {
    let api = Api::new();
    let (owner, f) = crate::chat::owner_with_friends(&api, "nfgrp", 3).await;
    let (m1, m2, m3) = (&f[0], &f[1], &f[2]);
    let stranger = new_user(&api, "nfgrps").await;
    let (gid, _, _) = create_group(&api, &owner, &[m1, m2], json!({ "join_policy": "approval" })).await;
    let target = json!({ "type": "group", "id": gid });

    for m in [m1, m2] {
        let i = wait_item(&api, m, "a first member's added item", |i| on_group(i, "added", &gid)).await;
        assert_item(&i, "group", "added", &owner, target.clone(), "created with the member");
    }

    // Added later (GroupMembersAdded).
    let a = status(api.post(&format!("/api/group/{gid}/members"), Some(&owner.token), json!({ "user_ids": [m3.id] })).await, 200, "adding");
    assert_eq!(crate::friends::ids(&a.data()["added"], "user_id"), vec![m3.id.clone()], "{}", a.body);
    let i = wait_item(&api, m3, "the added member's item", |i| on_group(i, "added", &gid)).await;
    assert_item(&i, "group", "added", &owner, target.clone(), "added later");

    // Kicked.
    kick(&api, &owner, &gid, m1).await;
    let i = wait_item(&api, m1, "the kicked member's item", |i| on_group(i, "removed", &gid)).await;
    assert_item(&i, "group", "removed", &owner, target.clone(), "kicked");

    // The owner, the actor of all of that, gets an item only for a stranger's
    // join request, which comes after them all.
    join(&api, &stranger, &gid, "hello").await;
    let owner_items = wait_list(&api, &owner, "the owner's join_request", |l| l.iter().any(|i| on_group(i, "join_request", &gid))).await;
    let group_kinds: Vec<&str> = owner_items.iter().filter(|i| i["category"] == "group").map(|i| str_of(i, "kind")).collect();
    assert_eq!(group_kinds, vec!["join_request"], "the owner is never told of their own actions: {owner_items:#?}");
    // m2 was neither kicked nor added again: one group item.
    let m2_items = items(&api, m2).await;
    assert_eq!(m2_items.iter().filter(|i| i["category"] == "group").count(), 1, "{m2_items:#?}");
}

#[tokio::test]
async fn join_requests_reach_owner_and_admins_and_coalesce_until_read_or_deleted() {
    let api = Api::new();
    let (owner, f) = crate::chat::owner_with_friends(&api, "nfco", 2).await;
    let (admin, pal) = (&f[0], &f[1]);
    let r = new_users(&api, "nfcor", 5).await;
    let (gid, _, _) = create_group(&api, &owner, &[admin], json!({ "join_policy": "approval" })).await;
    set_role(&api, &owner, &gid, admin, "admin").await;
    let target = json!({ "type": "group", "id": gid });
    let group_key = format!("join_request:{gid}");
    let mut ows = socket(&owner).await;
    wait_item(&api, admin, "the admin's added item", |i| on_group(i, "added", &gid)).await;
    let jr = |l: &[Value]| -> Vec<Value> { l.iter().filter(|i| on_group(i, "join_request", &gid)).cloned().collect() };

    // The first request: one item each for the owner and the admin.
    join(&api, &r[0], &gid, "let me in 0").await;
    let first_o = wait_item(&api, &owner, "the owner's join_request", |i| on_group(i, "join_request", &gid)).await;
    let first_a = wait_item(&api, admin, "the admin's join_request", |i| on_group(i, "join_request", &gid)).await;
    for (i, who) in [(&first_o, "owner"), (&first_a, "admin")] {
        assert_item(i, "group", "join_request", &r[0], target.clone(), who);
        assert_eq!(i["text"], "let me in 0", "the item's text is the request's message: {i}");
    }
    let fr = ows.expect_where("notification", |d| d["kind"] == "join_request" && d["actor_id"] == r[0].id.as_str(), SETTLE).await;
    assert_eq!(fr["data"]["group_key"], group_key.as_str(), "a join_request frame carries its group_key: {fr}");
    assert_eq!(fr["data"]["target"], target, "{fr}");

    // A newer item for the admin above it.
    ask(&api, pal, admin, "hi admin").await;
    wait_list(&api, admin, "the admin's friend request on top", |l| l.first().is_some_and(|i| by(i, "friend_request", pal))).await;

    // The second request joins the unread item, which moves to the top.
    join(&api, &r[1], &gid, "let me in 1").await;
    for (user, first) in [(&owner, &first_o), (admin, &first_a)] {
        let l = wait_list(&api, user, "the coalesced item", |l| l.iter().any(|i| on_group(i, "join_request", &gid) && i["actor_count"] == 2)).await;
        let reqs = jr(&l);
        assert_eq!(reqs.len(), 1, "two requests, one unread item: {l:#?}");
        let c = &reqs[0];
        assert_eq!(c["notification_id"], first["notification_id"], "the request joined the existing item: {c}");
        assert_eq!(c["actors"], json!([r[1].id, r[0].id]), "actors newest first: {c}");
        assert_eq!(c["read"], false, "{c}");
        assert!(position(c) > position(first), "a coalesced item gets a new position: {c} vs {first}");
        assert!(instant(&c["updated_at"]).unwrap() >= instant(&first["updated_at"]).unwrap(), "{c}");
        assert_eq!(l[0]["notification_id"], c["notification_id"], "the coalesced item moves to the top: {l:#?}");
    }
    let fr = ows.expect_where("notification", |d| d["kind"] == "join_request" && d["actor_id"] == r[1].id.as_str(), SETTLE).await;
    assert_eq!(fr["data"]["group_key"], group_key.as_str(), "{fr}");
    assert_ne!(fr["data"]["notification_id"], first_o["notification_id"], "a coalesced item's frame carries the new activity's id: {fr}");

    // The owner reads it: the third request makes a new item for the owner,
    // and still joins the admin's unread one.
    marked(&api, &owner, json!({ "ids": [nid(&first_o)] })).await;
    join(&api, &r[2], &gid, "let me in 2").await;
    let fresh_o = wait_item(&api, &owner, "a new item after reading", |i| {
        on_group(i, "join_request", &gid) && i["notification_id"] != first_o["notification_id"]
    })
    .await;
    assert_ne!(fresh_o["notification_id"], first_o["notification_id"], "a read item is not joined: {fresh_o}");
    assert_item(&fresh_o, "group", "join_request", &r[2], target.clone(), "after reading");
    let l = items(&api, &owner).await;
    let old = l.iter().find(|i| i["notification_id"] == first_o["notification_id"]).unwrap_or_else(|| panic!("the read item stays: {l:#?}"));
    assert_eq!((old["read"].as_bool(), old["actor_count"].as_i64()), (Some(true), Some(2)), "the read item is unchanged: {old}");
    assert_eq!(jr(&l).len(), 2, "{l:#?}");
    let c = wait_item(&api, admin, "the admin's item with three actors", |i| on_group(i, "join_request", &gid) && i["actor_count"] == 3).await;
    assert_eq!(c["actors"], json!([r[2].id, r[1].id, r[0].id]), "{c}");

    // A fourth: the newest three are kept.
    join(&api, &r[3], &gid, "let me in 3").await;
    let c = wait_item(&api, admin, "the admin's item with four actors", |i| on_group(i, "join_request", &gid) && i["actor_count"] == 4).await;
    assert_eq!(c["notification_id"], first_a["notification_id"], "{c}");
    assert_eq!(c["actors"], json!([r[3].id, r[2].id, r[1].id]), "actors are the newest three: {c}");
    let o = wait_item(&api, &owner, "the owner's new item coalesced", |i| i["notification_id"] == fresh_o["notification_id"] && i["actor_count"] == 2).await;
    assert_eq!(o["actors"], json!([r[3].id, r[2].id]), "{o}");

    // The admin deletes it: the next request makes a new item.
    status(remove(&api, admin, &nid(&first_a)).await, 200, "deleting the coalesced item");
    join(&api, &r[4], &gid, "let me in 4").await;
    let fresh_a = wait_item(&api, admin, "a new item after deleting", |i| {
        on_group(i, "join_request", &gid) && i["notification_id"] != first_a["notification_id"]
    })
    .await;
    assert_ne!(fresh_a["notification_id"], first_a["notification_id"], "a deleted item is not joined: {fresh_a}");
    assert_item(&fresh_a, "group", "join_request", &r[4], target.clone(), "after deleting");
    let o = wait_item(&api, &owner, "the owner's item with three actors", |i| i["notification_id"] == fresh_o["notification_id"] && i["actor_count"] == 3).await;
    assert_eq!(o["actors"], json!([r[4].id, r[3].id, r[2].id]), "{o}");
}

#[tokio::test]
async fn approving_or_rejecting_a_join_request_tells_the_requester() {
    let api = Api::new();
    let (owner, f) = crate::chat::owner_with_friends(&api, "nfdec", 1).await;
    let admin = &f[0];
    let rs = new_users(&api, "nfdecr", 2).await;
    let (gid, _, _) = create_group(&api, &owner, &[admin], json!({ "join_policy": "approval" })).await;
    set_role(&api, &owner, &gid, admin, "admin").await;
    let target = json!({ "type": "group", "id": gid });
    let yes = join(&api, &rs[0], &gid, "yes please").await;
    let no = join(&api, &rs[1], &gid, "me too").await;

    decide(&api, &owner, &gid, &yes, "approve").await;
    decide(&api, admin, &gid, &no, "reject").await;
    let i = wait_item(&api, &rs[0], "join_approved", |i| i["kind"] == "join_approved").await;
    assert_item(&i, "group", "join_approved", &owner, target.clone(), "approved by the owner");
    let i = wait_item(&api, &rs[1], "join_rejected", |i| i["kind"] == "join_rejected").await;
    assert_item(&i, "group", "join_rejected", admin, target.clone(), "rejected by the admin");
}

// ---------------------------------------------------------------------------
// Suppression.

#[tokio::test]
async fn an_actor_the_recipient_blocked_makes_no_item() {
    let api = Api::new();
    let us = new_users(&api, "nfblk", 3).await;
    let (blocked, ulla, vera) = (&us[0], &us[1], &us[2]);
    befriend(&api, blocked, ulla).await;
    befriend(&api, blocked, vera).await;
    block(&api, ulla, blocked).await;

    // The blocked user creates a group with ulla and vera: vera is told, ulla is not.
    let (gid, _, _) = create_group(&api, blocked, &[ulla, vera], json!({})).await;
    let v = wait_item(&api, vera, "vera's added item (the control)", |i| on_group(i, "added", &gid)).await;
    assert_item(&v, "group", "added", blocked, json!({ "type": "group", "id": gid }), "vera");
    // A later item of ulla's from the same group (vera, made admin, kicks her).
    set_role(&api, blocked, &gid, vera, "admin").await;
    kick(&api, vera, &gid, ulla).await;
    let l = wait_list(&api, ulla, "ulla's removed item", |l| l.iter().any(|i| on_group(i, "removed", &gid))).await;
    // (The social item from befriending, before the block, is older.)
    let from_blocked: Vec<&Value> =
        l.iter().filter(|i| i["category"] == "group" && i["actors"].as_array().unwrap().iter().any(|a| a == blocked.id.as_str())).collect();
    assert!(from_blocked.is_empty(), "an actor the recipient blocked makes no item: {l:#?}");
    assert!(!l.iter().any(|i| on_group(i, "added", &gid)), "{l:#?}");
}

#[tokio::test]
async fn with_friends_notifications_off_no_social_item_is_made() {
    let api = Api::new();
    let us = new_users(&api, "nfoff", 3).await;
    let (quiet, asker, pal) = (&us[0], &us[1], &us[2]);
    befriend(&api, quiet, pal).await; // quiet asked: pal gets the request, quiet the acceptance
    wait_item(&api, quiet, "quiet's acceptance, before the change", |i| by(i, "friend_accepted", pal)).await;
    set(&api, quiet, json!({ "notifications": { "categories": { "friends": false } } })).await;

    let rid = ask(&api, asker, quiet, "no notice please").await;
    accept(&api, quiet, &rid).await;
    // The acceptance (same pair, after the request) reaches the asker: the request was processed.
    wait_item(&api, asker, "the asker's friend_accepted (the control)", |i| by(i, "friend_accepted", quiet)).await;
    // A later item of quiet's (groups stay on) shows their inbox is up to date.
    let (gid, _, _) = create_group(&api, pal, &[quiet], json!({})).await;
    let l = wait_list(&api, quiet, "quiet's added item", |l| l.iter().any(|i| on_group(i, "added", &gid))).await;
    assert!(!l.iter().any(|i| i["actors"][0] == asker.id.as_str()), "friends off: no social item: {l:#?}");
    let social: Vec<&str> = l.iter().filter(|i| i["category"] == "social").map(|i| str_of(i, "kind")).collect();
    assert_eq!(social, vec!["friend_accepted"], "only the item from before the change: {l:#?}");
}

#[tokio::test]
async fn with_groups_notifications_off_no_group_item_is_made() {
    let api = Api::new();
    let (owner, f) = crate::chat::owner_with_friends(&api, "nfgoff", 2).await;
    let (quiet, loud) = (&f[0], &f[1]);
    set(&api, quiet, json!({ "notifications": { "categories": { "groups": false } } })).await;
    let (gid, _, _) = create_group(&api, &owner, &[quiet, loud], json!({})).await;
    // The same event tells the other member: the notifier has decided on it.
    wait_item(&api, loud, "the other member's added item (the control)", |i| on_group(i, "added", &gid)).await;

    // On again: the kick that follows is told, and shows the inbox is up to date.
    set(&api, quiet, json!({ "notifications": { "categories": { "groups": true } } })).await;
    kick(&api, &owner, &gid, quiet).await;
    let l = wait_list(&api, quiet, "the removed item once groups are on", |l| l.iter().any(|i| on_group(i, "removed", &gid))).await;
    assert!(!l.iter().any(|i| on_group(i, "added", &gid)), "groups off: no group item: {l:#?}");
}

// ---------------------------------------------------------------------------
// Reading.

/// A user with six unread items: four social (an acceptance and three
/// requests), two group (added to two groups). Returns (user, items).
async fn six_items(api: &Api, prefix: &str) -> (User, Vec<Value>) {
    let us = new_users(api, prefix, 5).await;
    let (u, friend) = (&us[0], &us[1]);
    befriend(api, u, friend).await;
    for s in &us[2..] {
        ask(api, s, u, "hello").await;
    }
    for _ in 0..2 {
        create_group(api, friend, &[u], json!({})).await;
    }
    let l = wait_list(api, u, "six items", |l| l.len() == 6).await;
    let mut us = us;
    (us.remove(0), l)
}

#[tokio::test]
async fn items_are_marked_read_by_ids_by_category_up_to_a_position_and_all() {
    let api = Api::new();
    let (u, all) = six_items(&api, "nfread").await;
    assert!(all.iter().all(|i| i["read"] == false), "{all:#?}");
    wait_badge(&api, &u, json!({ "total": 6, "messages": 0, "notifications": counts(6, 4, 2, 0) }), "six unread").await;
    let social: Vec<&Value> = all.iter().filter(|i| i["category"] == "social").collect();
    assert_eq!(social.len(), 4, "{all:#?}");

    // By ids.
    let one = nid(social[0]);
    assert_eq!(marked(&api, &u, json!({ "ids": [one] })).await, counts(5, 3, 2, 0), "after reading one social item");
    wait_list(&api, &u, "the item shows read", |l| l.iter().all(|i| (i["notification_id"] == one.as_str()) == (i["read"] == true))).await;
    // Again: nothing changes.
    assert_eq!(marked(&api, &u, json!({ "ids": [one] })).await, counts(5, 3, 2, 0), "reading a read item again changes nothing");

    // By category.
    assert_eq!(marked(&api, &u, json!({ "category": "group" })).await, counts(3, 3, 0, 0), "after reading the group category");
    let l = wait_list(&api, &u, "group items read", |l| l.iter().filter(|i| i["category"] == "group").all(|i| i["read"] == true)).await;
    assert_eq!(l.iter().filter(|i| i["read"] == false).count(), 3, "{l:#?}");

    // Up to a position: every item at or below it.
    let mut unread: Vec<&Value> = l.iter().filter(|i| i["read"] == false).collect();
    unread.sort_by_key(|i| position(i));
    let cut = position(unread[1]);
    let above = nid(unread[2]);
    assert_eq!(marked(&api, &u, json!({ "up_to": cut })).await, counts(1, 1, 0, 0), "after reading up to {cut}");
    let l = wait_list(&api, &u, "up_to applied", |l| l.iter().filter(|i| i["read"] == false).count() == 1).await;
    for i in &l {
        if position(i) <= cut {
            assert_eq!(i["read"], true, "every item at or below {cut} is read: {i}");
        }
    }
    let still: Vec<String> = l.iter().filter(|i| i["read"] == false).map(nid).collect();
    assert_eq!(still, vec![above], "the item above {cut} stays unread: {l:#?}");

    // A category with nothing unread.
    assert_eq!(marked(&api, &u, json!({ "category": "system" })).await, counts(1, 1, 0, 0));
    // All.
    assert_eq!(marked(&api, &u, json!({ "all": true })).await, counts(0, 0, 0, 0), "after reading all");
    wait_list(&api, &u, "all read", |l| l.iter().all(|i| i["read"] == true)).await;
    wait_badge(&api, &u, json!({ "total": 0, "messages": 0, "notifications": counts(0, 0, 0, 0) }), "nothing unread").await;
    assert_eq!(items(&api, &u).await.len(), 6, "reading deletes nothing");
}

#[tokio::test]
async fn reading_another_users_an_unknown_or_a_deleted_id_is_404_and_marks_nothing() {
    let api = Api::new();
    let us = new_users(&api, "nf404", 4).await;
    let (u, v, s1, s2) = (&us[0], &us[1], &us[2], &us[3]);
    ask(&api, s1, u, "one").await;
    ask(&api, s2, u, "two").await;
    ask(&api, s1, v, "three").await;
    let ul = wait_list(&api, u, "u's two items", |l| l.len() == 2).await;
    let vl = wait_list(&api, v, "v's item", |l| l.len() == 1).await;
    let (u1, u2, v1) = (nid(&ul[0]), nid(&ul[1]), nid(&vl[0]));

    let a = mark(&api, u, json!({ "ids": [u1, v1] })).await;
    assert_eq!(status(a, 404, "another user's id among the ids").error_kind(), "not_found");
    let a = mark(&api, u, json!({ "ids": [random_id()] })).await;
    status(a, 404, "an unknown id");
    let a = mark(&api, v, json!({ "ids": [u2] })).await;
    status(a, 404, "reading someone else's item");
    // Nothing was marked, for either user.
    assert!(items(&api, u).await.iter().all(|i| i["read"] == false), "a refused read marks nothing");
    assert!(items(&api, v).await.iter().all(|i| i["read"] == false), "a refused read marks nothing");
    wait_badge(&api, u, json!({ "total": 2, "messages": 0, "notifications": counts(2, 2, 0, 0) }), "u still has two unread").await;

    // A deleted id is unknown too.
    status(remove(&api, u, &u1).await, 200, "deleting");
    status(mark(&api, u, json!({ "ids": [u1, u2] })).await, 404, "a deleted id among the ids");
    let l = items(&api, u).await;
    assert_eq!(l.len(), 1, "{l:#?}");
    assert_eq!((l[0]["notification_id"].as_str(), l[0]["read"].as_bool()), (Some(u2.as_str()), Some(false)), "nothing marked: {l:#?}");
    assert_eq!(marked(&api, u, json!({ "ids": [u2] })).await, counts(0, 0, 0, 0));
}

#[tokio::test]
async fn bad_read_bodies_are_refused_and_mark_nothing() {
    let api = Api::new();
    let (u, _) = six_items(&api, "nfbadr").await;
    let ids201: Vec<String> = (0..201).map(|_| random_id()).collect();
    let mut problems = Vec::new();
    problems.extend(bad_field_problem(mark(&api, &u, json!({ "ids": ids201 })).await, "ids", "201 ids"));
    problems.extend(bad_field_problem(mark(&api, &u, json!({ "ids": [] })).await, "ids", "no ids"));
    problems.extend(bad_field_problem(mark(&api, &u, json!({ "category": "bogus" })).await, "category", "an unknown category"));
    // Not exactly one of all, category, up_to, ids: 422 naming `all`.
    for body in [json!({}), json!({ "all": true, "category": "social" }), json!({ "up_to": 1, "ids": [random_id()] })] {
        problems.extend(bad_field_problem(mark(&api, &u, body.clone()).await, "all", &format!("{body}")));
    }
    problems.extend(bad_field_problem(mark(&api, &u, json!({ "ids": ["not-a-uuid"] })).await, "ids", "a malformed id"));
    problems.extend(bad_field_problem(mark(&api, &u, json!({ "up_to": "high" })).await, "up_to", "a position that is not a number"));
    assert!(items(&api, &u).await.iter().all(|i| i["read"] == false), "a refused read marks nothing");
    // 200 ids are fine by count (here unknown: 404, not 400).
    let ids200: Vec<String> = (0..200).map(|_| random_id()).collect();
    status(mark(&api, &u, json!({ "ids": ids200 })).await, 404, "200 unknown ids");
    assert_no_problems(problems);
}

#[tokio::test]
async fn unread_true_and_category_filter_the_list() {
    let api = Api::new();
    let (u, all) = six_items(&api, "nffilt").await;
    let social: Vec<String> = all.iter().filter(|i| i["category"] == "social").map(nid).collect();
    let group: Vec<String> = all.iter().filter(|i| i["category"] == "group").map(nid).collect();
    marked(&api, &u, json!({ "ids": [social[0], group[0]] })).await;
    let l = wait_list(&api, &u, "two read", |l| l.iter().filter(|i| i["read"] == true).count() == 2).await;
    let want_unread: Vec<String> = l.iter().filter(|i| i["read"] == false).map(nid).collect();

    let (got, _) = page(&api, &u, "?unread=true").await;
    assert_eq!(got.iter().map(nid).collect::<Vec<_>>(), want_unread, "unread=true lists exactly the unread items");
    let (got, _) = page(&api, &u, "?category=social").await;
    assert_eq!(got.iter().map(nid).collect::<Vec<_>>(), l.iter().filter(|i| i["category"] == "social").map(nid).collect::<Vec<_>>());
    let (got, _) = page(&api, &u, "?category=group&unread=true").await;
    assert_eq!(got.iter().map(nid).collect::<Vec<_>>(), vec![group[1].clone()], "both filters at once");
    let (got, next) = page(&api, &u, "?category=system").await;
    assert!(got.is_empty() && next.is_none(), "nothing makes system items yet: {got:#?}");
}

#[tokio::test]
async fn pages_follow_next_before_without_repeats_or_gaps_even_while_items_arrive() {
    let api = Api::new();
    let us = new_users(&api, "nfpage", 9).await;
    let u = &us[0];
    for s in &us[1..8] {
        ask(&api, s, u, "page me").await;
    }
    let all = wait_list(&api, u, "seven items", |l| l.len() == 7).await;
    let want: Vec<String> = all.iter().map(nid).collect();

    let (first, mut next) = page(&api, u, "?limit=3").await;
    assert_eq!(first.len(), 3, "{first:#?}");
    assert_eq!(next, Some(position(&first[2])), "next_before is the last item's position when more may follow");
    let mut got: Vec<String> = first.iter().map(nid).collect();

    // A new item arrives on top meanwhile.
    ask(&api, &us[8], u, "late").await;
    wait_list(&api, u, "the eighth item", |l| l.len() == 8).await;

    let mut pages = 1;
    while let Some(before) = next {
        let (items, n) = page(&api, u, &format!("?limit=3&before={before}")).await;
        assert!(items.iter().all(|i| position(i) < before), "a page holds only items below `before` {before}: {items:#?}");
        if let Some(nb) = n {
            assert_eq!(Some(nb), items.last().map(position), "next_before is the last item's position");
        }
        got.extend(items.iter().map(nid));
        next = n;
        pages += 1;
        assert!(pages < 10, "paging does not end: {got:?}");
    }
    assert_eq!(got, want, "the pages together are the list, without repeats or gaps");
    let unique_ids: HashSet<&String> = got.iter().collect();
    assert_eq!(unique_ids.len(), got.len(), "no repeats");

    // Default limit 20, limit=1 gives one.
    let (one, n) = page(&api, u, "?limit=1").await;
    assert_eq!(one.len(), 1);
    assert_eq!(n, Some(position(&one[0])));
    let (default, n) = page(&api, u, "").await;
    assert_eq!(default.len(), 8, "{default:#?}");
    assert_eq!(n, None, "nothing more follows");
}

#[tokio::test]
async fn bad_list_parameters_are_422_naming_the_field() {
    let api = Api::new();
    let u = new_user(&api, "nfbadq").await;
    let mut problems = Vec::new();
    for q in ["?category=bogus", "?category=messages"] {
        problems.extend(bad_field_problem(list(&api, &u, q).await, "category", q));
    }
    for q in ["?limit=0", "?limit=51", "?limit=-1", "?limit=ten", "?limit=2.5"] {
        problems.extend(bad_field_problem(list(&api, &u, q).await, "limit", q));
    }
    for q in ["?before=abc", "?before=1.5"] {
        problems.extend(bad_field_problem(list(&api, &u, q).await, "before", q));
    }
    for q in ["?limit=1", "?limit=50", "?category=social", "?category=group", "?category=moment", "?category=system", "?before=1", "?unread=true", "?unread=false"] {
        status(list(&api, &u, q).await, 200, q);
    }
    assert_no_problems(problems);
}

#[tokio::test]
async fn inbox_calls_without_a_valid_token_are_401() {
    let api = Api::new();
    for token in [None, Some("not-a-token")] {
        for (m, path, body) in [
            (Method::GET, INBOX.to_owned(), None),
            (Method::GET, BADGE.to_owned(), None),
            (Method::GET, TOKENS.to_owned(), None),
            (Method::POST, READ.to_owned(), Some(json!({ "all": true }))),
            (Method::DELETE, format!("{INBOX}/{}", random_id()), None),
            (Method::POST, TOKENS.to_owned(), Some(json!({ "device_id": "d1", "platform": "fcm", "token": "t" }))),
            (Method::DELETE, format!("{TOKENS}/d1"), None),
        ] {
            let a = api.call(m.clone(), &path, token, body).await;
            assert_eq!(status(a, 401, &format!("{m} {path} with {token:?}")).error_kind(), "unauthorized");
        }
    }
}

// ---------------------------------------------------------------------------
// Deleting.

#[tokio::test]
async fn a_deleted_item_is_gone_and_deleting_it_again_or_anothers_is_404() {
    let api = Api::new();
    let us = new_users(&api, "nfdel", 4).await;
    let (u, v, s1, s2) = (&us[0], &us[1], &us[2], &us[3]);
    ask(&api, s1, u, "a").await;
    ask(&api, s2, u, "b").await;
    ask(&api, s2, v, "c").await;
    let ul = wait_list(&api, u, "two items", |l| l.len() == 2).await;
    let vl = wait_list(&api, v, "one item", |l| l.len() == 1).await;
    let (gone, kept, vs) = (nid(&ul[0]), nid(&ul[1]), nid(&vl[0]));

    let a = status(remove(&api, u, &gone).await, 200, "deleting one's own item");
    assert_eq!(a.data().clone(), json!({ "notification_id": gone, "deleted": true }));
    let l = wait_list(&api, u, "the item gone", |l| l.len() == 1).await;
    assert_eq!(nid(&l[0]), kept);
    wait_badge(&api, u, json!({ "total": 1, "messages": 0, "notifications": counts(1, 1, 0, 0) }), "a deleted unread item is not counted").await;
    let (unread, _) = page(&api, u, "?unread=true").await;
    assert_eq!(unread.iter().map(nid).collect::<Vec<_>>(), vec![kept.clone()], "deleted items are never listed");

    assert_eq!(status(remove(&api, u, &gone).await, 404, "deleting twice").error_kind(), "not_found");
    status(remove(&api, u, &vs).await, 404, "deleting another user's item");
    status(remove(&api, u, &random_id()).await, 404, "deleting an unknown item");
    let l = items(&api, v).await;
    assert_eq!(l.iter().map(nid).collect::<Vec<_>>(), vec![vs], "the other user's item stays");
}

// ---------------------------------------------------------------------------
// The badge.

#[tokio::test]
async fn the_badge_counts_unread_messages_of_unmuted_conversations_and_unread_items() {
    let api = Api::new();
    let us = new_users(&api, "nfbadge", 3).await;
    let (u, a, b) = (&us[0], &us[1], &us[2]);
    befriend(&api, u, a).await; // u asked both: two friend_accepted items
    befriend(&api, u, b).await;
    wait_list(&api, u, "two acceptances", |l| l.len() == 2).await;

    sent(&api, a, text_to(u, "a1")).await;
    sent(&api, a, text_to(u, "a2")).await;
    for t in ["b1", "b2", "b3"] {
        sent(&api, b, text_to(u, t)).await;
    }
    mute(&api, u, &direct_id(u, b), true).await;
    wait_badge(&api, u, json!({ "total": 4, "messages": 2, "notifications": counts(2, 2, 0, 0) }), "two unread messages of the unmuted conversation, two items").await;

    // As the conversation list counts them.
    let convs = status(api.get("/api/chat/conversations", Some(&u.token)).await, 200, "conversations");
    let unmuted: i64 = convs.data()["conversations"].as_array().unwrap().iter().filter(|c| c["muted"] != true).map(|c| c["unread"].as_i64().unwrap()).sum();
    assert_eq!(unmuted, 2, "{}", convs.body);

    // Reading the messages and the items brings it down; unmuting counts the muted ones.
    status(api.put("/api/chat/read", Some(&u.token), json!({ "conversation_id": direct_id(u, a), "seq": 2 })).await, 200, "reading");
    wait_badge(&api, u, json!({ "total": 2, "messages": 0, "notifications": counts(2, 2, 0, 0) }), "messages read").await;
    marked(&api, u, json!({ "all": true })).await;
    wait_badge(&api, u, json!({ "total": 0, "messages": 0, "notifications": counts(0, 0, 0, 0) }), "everything read").await;
    mute(&api, u, &direct_id(u, b), false).await;
    wait_badge(&api, u, json!({ "total": 3, "messages": 3, "notifications": counts(0, 0, 0, 0) }), "unmuted").await;
}

// ---------------------------------------------------------------------------
// Push tokens.

#[tokio::test]
async fn push_tokens_are_registered_listed_without_the_token_replaced_and_revoked() {
    let api = Api::new();
    let (u, other) = tokio::join!(new_user(&api, "nftok"), new_user(&api, "nftok"));
    assert!(tokens(&api, &u.token).await.is_empty(), "a new user has no tokens");
    let (t1, t2, t3) = (push_token(), push_token(), push_token());
    let edge_device = "Az09._:-".repeat(8); // 64 characters, every kind allowed
    registered(&api, &u.token, "phone-1", "apns", &t1).await;
    registered(&api, &u.token, &edge_device, "webpush", &t2).await;
    wait_devices(&api, &u.token, &["phone-1", edge_device.as_str()], "two devices").await;
    let listed = tokens(&api, &u.token).await;
    let phone = listed.iter().find(|t| t["device_id"] == "phone-1").unwrap().clone();
    assert_eq!(phone["platform"], "apns");
    now_ish(&phone["registered_at"], "registered_at");
    let raw = status(api.get(TOKENS, Some(&u.token)).await, 200, "the list").body.to_string();
    assert!(!raw.contains(&t1) && !raw.contains(&t2), "the token itself is never answered: {raw}");
    assert!(tokens(&api, &other.token).await.is_empty(), "nobody else's tokens are listed");

    // Registering the device again replaces its token.
    registered(&api, &u.token, "phone-1", "fcm", &t3).await;
    let deadline = Instant::now() + SETTLE;
    loop {
        let l = tokens(&api, &u.token).await;
        assert_eq!(devices(&l), {
            let mut d = vec!["phone-1".to_owned(), edge_device.clone()];
            d.sort();
            d
        }, "one token per device: {l:#?}");
        let p = l.iter().find(|t| t["device_id"] == "phone-1").unwrap();
        if p["platform"] == "fcm" {
            assert!(instant(&p["registered_at"]).unwrap() >= instant(&phone["registered_at"]).unwrap(), "{p}");
            break;
        }
        assert!(Instant::now() < deadline, "the replacement is never listed: {l:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Revoked: once; then 404. Another user cannot revoke it.
    let a = delete(&api, &format!("{TOKENS}/phone-1"), Some(&other.token)).await;
    status(a, 404, "revoking a device of another user");
    let a = status(delete(&api, &format!("{TOKENS}/phone-1"), Some(&u.token)).await, 200, "revoking");
    assert_eq!(a.data().clone(), json!({ "device_id": "phone-1", "revoked": true }));
    wait_devices(&api, &u.token, &[edge_device.as_str()], "revoked").await;
    assert_eq!(status(delete(&api, &format!("{TOKENS}/phone-1"), Some(&u.token)).await, 404, "revoking twice").error_kind(), "not_found");
    status(delete(&api, &format!("{TOKENS}/never-registered"), Some(&u.token)).await, 404, "a device without a token");
}

#[tokio::test]
async fn bad_push_token_fields_are_422_naming_the_field_and_register_nothing() {
    let api = Api::new();
    let u = new_user(&api, "nftokbad").await;
    let ok = |d: &str, p: &str, t: &str| json!({ "device_id": d, "platform": p, "token": t });
    let long_device = "d".repeat(65);
    let long_token = "t".repeat(4097);
    let cases = [
        ("device_id", ok("", "fcm", "tok")),
        ("device_id", ok(&long_device, "fcm", "tok")),
        ("device_id", ok("my phone", "fcm", "tok")),
        ("device_id", ok("a/b", "fcm", "tok")),
        ("device_id", ok("tél", "fcm", "tok")),
        ("platform", ok("d1", "ios", "tok")),
        ("platform", ok("d1", "APNS", "tok")),
        ("platform", ok("d1", "", "tok")),
        ("platform", ok("d1", "gcm", "tok")),
        ("token", ok("d1", "fcm", "")),
        ("token", ok("d1", "fcm", &long_token)),
        ("token", ok("d1", "fcm", "a\nb")),
        ("token", ok("d1", "fcm", "a\u{0}b")),
        ("token", ok("d1", "fcm", "a\u{7f}b")),
    ];
    let mut problems = Vec::new();
    for (field, body) in cases {
        let what = format!("{} (field {field})", body.to_string().chars().take(120).collect::<String>());
        problems.extend(bad_field_problem(register(&api, &u.token, body).await, field, &what));
    }
    // The longest token is fine.
    registered(&api, &u.token, "d-ok", "webpush", &"t".repeat(4096)).await;
    wait_devices(&api, &u.token, &["d-ok"], "only the good registration").await;
    assert_no_problems(problems);
}

#[tokio::test]
async fn a_push_token_is_not_listed_once_the_session_that_registered_it_logged_out() {
    let api = Api::new();
    let u = new_user(&api, "nftokses").await;
    let other_session = api.login(&u.name).await["access_token"].as_str().unwrap().to_owned();
    registered(&api, &u.token, "first-session", "apns", &push_token()).await;
    registered(&api, &other_session, "second-session", "fcm", &push_token()).await;
    wait_devices(&api, &other_session, &["first-session", "second-session"], "both sessions' tokens").await;

    status(api.post("/api/auth/logout", Some(&u.token), json!({})).await, 200, "logging out");
    wait_devices(&api, &other_session, &["second-session"], "the logged-out session's token is not listed").await;
    // Not revivable by the old session.
    status(api.get(TOKENS, Some(&u.token)).await, 401, "the ended session");
}

// ---------------------------------------------------------------------------
// Events.

#[tokio::test]
async fn notification_created_is_appended_per_recipient_keyed_by_them() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "nfev"), new_user(&api, "nfev"));
    let text = format!("event {}", unique("m"));
    let rid = ask(&api, &ann, &bob, &text).await;
    let item = wait_item(&api, &bob, "the item", |i| i["kind"] == "friend_request").await;

    let bob_id = bob.id.clone();
    let created = records(NOTIFICATIONS_TOPIC, move |v| v["event_type"] == "NotificationCreated" && v["payload"]["user_id"] == bob_id.as_str()).await;
    let ids: HashSet<&str> = created.iter().map(|(_, v)| str_of(&v["payload"], "notification_id")).collect();
    assert_eq!(ids.len(), 1, "one NotificationCreated for one item: {created:#?}");
    let (key, ev) = &created[0];
    assert_eq!(key, &bob.id, "keyed by the recipient: {ev}");
    assert_eq!(ev["actor"]["kind"], "system", "appended by the notifier: {ev}");
    let p = &ev["payload"];
    assert_eq!(p["notification_id"], item["notification_id"], "{ev}");
    assert_eq!((p["category"].as_str(), p["kind"].as_str()), (Some("social"), Some("friend_request")), "{ev}");
    assert_eq!(p["actor_id"], ann.id.as_str(), "{ev}");
    assert_eq!(p["target"], json!({ "type": "friend_request", "id": rid }), "{ev}");
    assert_eq!(p["text"], text.as_str(), "{ev}");
    assert!(p.get("group_key").is_none_or(Value::is_null), "no group_key on a friend request: {ev}");
    let rid2 = rid.clone();
    let source = records("beaver.relations.v1", move |v| v["event_type"] == "FriendRequestSent" && v.to_string().contains(&rid2)).await;
    assert_eq!(source.len(), 1, "{source:#?}");
    assert_eq!(p["source_event_id"], source[0].1["event_id"], "the source event is the FriendRequestSent: {ev}");

    // Reading appends NotificationsRead for the user.
    marked(&api, &bob, json!({ "ids": [nid(&item)] })).await;
    let bob_id = bob.id.clone();
    let read = records(NOTIFICATIONS_TOPIC, move |v| v["event_type"] == "NotificationsRead" && v["payload"]["user_id"] == bob_id.as_str()).await;
    assert_eq!(read.len(), 1, "{read:#?}");
    assert_eq!(read[0].0, bob.id, "keyed by the user");
    assert_eq!(read[0].1["payload"]["ids"], json!([nid(&item)]), "{:?}", read[0]);
}

// ---------------------------------------------------------------------------
// Offline push jobs.

#[tokio::test]
async fn an_offline_user_with_a_push_token_gets_a_push_job_for_a_direct_message() {
    let api = Api::new();
    let (a, u) = crate::chat::friends_pair(&api, "nfpush").await; // u got a friend_request item
    let (device, tok) = with_token(&api, &u).await;
    with_token(&api, &a).await; // the sender has a token too, and is offline
    wait_badge(&api, &u, json!({ "total": 1, "messages": 0, "notifications": counts(1, 1, 0, 0) }), "u's item").await;
    let text = format!("hello there {}", unique("m"));
    let m = sent(&api, &a, text_to(&u, &text)).await;

    let env = wait_message_job(&u, &m, "the job for the message").await;
    let p = &env["payload"];
    assert_eq!(p["reason"], "message", "{p}");
    assert_eq!(p["title"], a.nickname.as_str(), "with previews, the title is the sender's nickname: {p}");
    assert_eq!(p["body"], text.as_str(), "with previews, the body is the message preview: {p}");
    assert_eq!(p["data"], json!({ "conversation_id": direct_id(&a, &u), "seq": seq(&m), "message_id": mid(&m) }), "{p}");
    assert!(job_tokens(p).contains(&(device.clone(), "fcm".to_owned(), tok.clone())), "the job carries the registered token: {p}");
    let first_badge = p.clone();
    let source = p["source_event_id"].as_str().unwrap().to_owned();
    let message_id = mid(&m);
    let sequenced = records("beaver.sequenced.v1", move |v| v["event_type"] == "MessageSequenced" && v["payload"]["message_id"] == message_id.as_str()).await;
    assert!(!sequenced.is_empty(), "the message is on beaver.sequenced.v1");
    assert_eq!(source, str_of(&sequenced[0].1, "event_id"), "the source event is the MessageSequenced: {p}");

    // A long message: the body is the preview the conversation list shows.
    let long = format!("{}{}", "x".repeat(120), unique("tail"));
    let m2 = sent(&api, &a, text_to(&u, &long)).await;
    let convs = status(api.get("/api/chat/conversations", Some(&u.token)).await, 200, "conversations");
    let preview = convs.data()["conversations"].as_array().unwrap().iter().find(|c| c["conversation_id"] == direct_id(&a, &u).as_str()).unwrap()["last_message"]["text"].clone();
    let env2 = wait_message_job(&u, &m2, "the job for the long message").await;
    assert_eq!(env2["payload"]["body"], preview, "the body is the conversation list's preview: {env2}");
    assert_ne!(env2["payload"]["job_id"], p["job_id"], "one job per message");

    // One job id per (message, user), however often it was appended; none for the sender.
    for mm in [&m, &m2] {
        let jobs = message_jobs(&u, &mid(mm));
        let ids: HashSet<&str> = jobs.iter().map(|j| str_of(j, "job_id")).collect();
        assert_eq!(ids.len(), 1, "one job id per message and user: {jobs:#?}");
        assert_no_message_job(&a, mm, "the sender is never pushed their own message");
    }
    assert_eq!(first_badge["badge"], 2, "the badge total when the job was made: one unread message and one item: {first_badge}");
}

#[tokio::test]
async fn with_previews_off_a_push_job_says_only_beaver_and_new_message() {
    let api = Api::new();
    let (a, u) = crate::chat::friends_pair(&api, "nfprev").await;
    with_token(&api, &u).await;
    set(&api, &u, json!({ "notifications": { "previews": false } })).await;
    let m = sent(&api, &a, text_to(&u, "a secret")).await;
    let env = wait_message_job(&u, &m, "the job").await;
    let p = &env["payload"];
    assert_eq!((p["title"].as_str(), p["body"].as_str()), (Some("Beaver"), Some("New message")), "previews off: {p}");
    assert!(!env.to_string().contains("a secret"), "the text is nowhere in the job: {env}");
    assert_eq!(p["data"], json!({ "conversation_id": direct_id(&a, &u), "seq": seq(&m), "message_id": mid(&m) }), "{p}");
}

#[tokio::test]
async fn no_push_job_while_the_user_has_a_live_websocket() {
    let api = Api::new();
    let (a, u) = crate::chat::friends_pair(&api, "nflive").await;
    with_token(&api, &u).await;
    with_token(&api, &a).await;
    let mut ws = socket(&u).await;
    wait_online(&api, &u, true).await;
    let live = sent(&api, &a, text_to(&u, "you are online")).await;
    ws.expect_message(&mid(&live)).await;
    // The worker is past the message while the socket is still open.
    reply_control(&api, &u, &a).await;
    ws.close().await;
    wait_online(&api, &u, false).await;

    // The control: the next message of the same conversation, now offline.
    let offline = sent(&api, &a, text_to(&u, "you are offline")).await;
    wait_message_job(&u, &offline, "the job once offline").await;
    assert_no_message_job(&u, &live, "a message while the user had a live socket");
}

#[tokio::test]
async fn a_user_without_a_usable_push_token_gets_no_push_job() {
    let api = Api::new();
    let (a, u) = crate::chat::friends_pair(&api, "nfnotok").await;
    with_token(&api, &a).await;
    let before = sent(&api, &a, text_to(&u, "no token yet")).await;
    reply_control(&api, &u, &a).await;
    with_token(&api, &u).await;
    let after = sent(&api, &a, text_to(&u, "now with a token")).await;
    wait_message_job(&u, &after, "the job once a token is registered").await;
    assert_no_message_job(&u, &before, "a message to a user without a token");
}

#[tokio::test]
async fn no_push_job_for_a_muted_conversation_or_a_message_hidden_from_the_user() {
    let api = Api::new();
    let (a, u) = crate::chat::friends_pair(&api, "nfmute").await;
    let w = control_recipient(&api, &a, "nfmutew").await;
    with_token(&api, &u).await;
    with_token(&api, &a).await;
    let conv = direct_id(&a, &u);
    let first = sent(&api, &a, text_to(&u, "first")).await;
    wait_message_job(&u, &first, "the job before muting").await;

    mute(&api, &u, &conv, true).await;
    let muted = sent(&api, &a, text_to(&u, "muted")).await;
    reply_control(&api, &u, &a).await;
    mute(&api, &u, &conv, false).await;

    block(&api, &u, &a).await;
    let hidden = sent(&api, &a, text_to(&u, "hidden")).await;
    control(&api, &a, &w).await;
    status(delete(&api, &format!("/api/friend/blocks/{}", a.id), Some(&u.token)).await, 200, "unblocking");

    let last = sent(&api, &a, text_to(&u, "unmuted and unblocked")).await;
    wait_message_job(&u, &last, "the job once unmuted and unblocked").await;
    assert_no_message_job(&u, &muted, "a message in a conversation the user muted");
    assert_no_message_job(&u, &hidden, "a message hidden from the user (they blocked the sender)");
}

#[tokio::test]
async fn no_push_job_with_push_none_or_messages_off() {
    let api = Api::new();
    let (a, u) = crate::chat::friends_pair(&api, "nfnone").await;
    with_token(&api, &u).await;
    with_token(&api, &a).await;

    set(&api, &u, json!({ "notifications": { "push": "none" } })).await;
    let none = sent(&api, &a, text_to(&u, "push none")).await;
    reply_control(&api, &u, &a).await;
    set(&api, &u, json!({ "notifications": { "push": "all", "categories": { "messages": false } } })).await;
    let off = sent(&api, &a, text_to(&u, "messages off")).await;
    reply_control(&api, &u, &a).await;
    set(&api, &u, json!({ "notifications": { "categories": { "messages": true } } })).await;

    let on = sent(&api, &a, text_to(&u, "all on")).await;
    wait_message_job(&u, &on, "the job with push all").await;
    assert_no_message_job(&u, &none, "push none");
    assert_no_message_job(&u, &off, "categories.messages off");
}

#[tokio::test]
async fn no_push_job_during_do_not_disturb_hours() {
    let api = Api::new();
    let (a, u) = crate::chat::friends_pair(&api, "nfdnd").await;
    with_token(&api, &u).await;
    with_token(&api, &a).await;
    let now = OffsetDateTime::now_utc();
    let hm = |t: OffsetDateTime| format!("{:02}:{:02}", t.hour(), t.minute());
    let (start, end) = (hm(now - time::Duration::hours(1)), hm(now + time::Duration::hours(1)));
    set(&api, &u, json!({ "notifications": { "do_not_disturb": { "enabled": true, "start": start, "end": end, "time_zone": "UTC" } } })).await;
    let quiet = sent(&api, &a, text_to(&u, "sleeping")).await;
    reply_control(&api, &u, &a).await;

    // Hours that do not include now: pushed.
    let (s2, e2) = (hm(now + time::Duration::hours(3)), hm(now + time::Duration::hours(5)));
    set(&api, &u, json!({ "notifications": { "do_not_disturb": { "start": s2, "end": e2 } } })).await;
    let awake = sent(&api, &a, text_to(&u, "awake")).await;
    wait_message_job(&u, &awake, "the job outside the do-not-disturb hours").await;
    assert_no_message_job(&u, &quiet, "a message within the do-not-disturb hours");
}

#[tokio::test]
async fn with_push_mentions_a_group_message_pushes_only_when_it_mentions_the_user() {
    let api = Api::new();
    let (owner, f) = crate::chat::owner_with_friends(&api, "nfment", 2).await;
    let (u, v) = (&f[0], &f[1]);
    with_token(&api, &owner).await;
    with_token(&api, u).await;
    with_token(&api, v).await;
    set(&api, u, json!({ "notifications": { "push": "mentions" } })).await;
    let (_, conv, name) = create_group(&api, &owner, &[u, v], json!({})).await;

    // Inbox items still push with mentions.
    let env = wait_job(u, "the job for the added item", |p| p["reason"] == "notification" && p["data"]["kind"] == "added").await;
    assert_eq!(env["payload"]["data"]["category"], "group", "{env}");

    let plain = sent(&api, &owner, text_in(&conv, "no mention")).await;
    // The same message pushes v (push all): the control.
    let vj = wait_message_job(v, &plain, "v's job (push all)").await;
    assert_eq!(vj["payload"]["title"], name.as_str(), "a group message's title is the group's name: {vj}");
    assert_eq!(vj["payload"]["data"], json!({ "conversation_id": conv, "seq": seq(&plain), "message_id": mid(&plain) }), "{vj}");
    let mut body = text_in(&conv, "hey you");
    body["mentions"] = json!([u.id]);
    let mentioned = sent(&api, &owner, body).await;
    let convs = status(api.get("/api/chat/conversations", Some(&u.token)).await, 200, "conversations");
    let preview = convs.data()["conversations"].as_array().unwrap().iter().find(|c| c["conversation_id"] == conv.as_str()).unwrap()["last_message"]["text"].clone();
    assert_eq!(preview, "hey you", "the conversation list's preview: {}", convs.body);
    let uj = wait_message_job(u, &mentioned, "u's job when mentioned").await;
    assert_eq!(uj["payload"]["title"], name.as_str(), "a group message's title is the group's name: {uj}");
    assert_ne!(uj["payload"]["job_id"], wait_message_job(v, &mentioned, "v's job").await["payload"]["job_id"], "one job per user");
    assert_no_message_job(u, &plain, "a group message without a mention, push mentions");

    // A direct message still pushes with mentions.
    let dm = sent(&api, &owner, text_to(u, "direct")).await;
    wait_message_job(u, &dm, "a direct message with push mentions").await;

    // Never the sender, never for the system notices (seq 1 is the creation notice).
    wait_message_job(v, &dm_control(&api, &owner, v).await, "v's control").await;
    for m in [&plain, &mentioned] {
        assert_no_message_job(&owner, m, "the sender");
    }
    for user in [&owner, u, v] {
        let notices: Vec<(String, Value)> = jobs_of(user).into_iter().filter(|(_, e)| e["payload"]["data"]["conversation_id"] == conv.as_str() && e["payload"]["data"]["seq"] == 1).collect();
        assert!(notices.is_empty(), "no push for a system notice: {notices:#?}");
    }
    // In a group the preview is prefixed with the sender's name (docs/services.md, "Offline push jobs").
    let sender = status(api.get("/api/user/profile", Some(&owner.token)).await, 200, "the sender's profile");
    let name = sender.data()["nickname"].as_str().filter(|n| !n.is_empty()).or(sender.data()["username"].as_str()).unwrap().to_owned();
    assert_eq!(uj["payload"]["body"], format!("{name}: {}", preview.as_str().unwrap()), "with previews, a group message's body is the sender's name and the preview: {uj}");
}

/// `from` sends `to` a direct message; the send answer.
async fn dm_control(api: &Api, from: &User, to: &User) -> Value {
    sent(api, from, text_to(to, "control")).await
}

#[tokio::test]
async fn an_inbox_item_makes_a_notification_push_job() {
    let api = Api::new();
    let us = new_users(&api, "nfnpush", 3).await;
    let (u, x, y) = (&us[0], &us[1], &us[2]);
    let (device, tok) = with_token(&api, u).await;
    let text = format!("let's be friends {}", unique("m"));
    ask(&api, x, u, &text).await;
    let item = wait_item(&api, u, "the item", |i| by(i, "friend_request", x)).await;
    let env = wait_job(u, "the job for the item", |p| p["reason"] == "notification" && p["data"]["notification_id"] == item["notification_id"]).await;
    let p = &env["payload"];
    assert_eq!(p["data"], json!({ "notification_id": item["notification_id"], "category": "social", "kind": "friend_request" }), "{p}");
    assert_eq!(p["body"], text.as_str(), "with previews, the body is the notification's text: {p}");
    assert_eq!(p["title"], x.nickname.as_str(), "with previews, the title is the sender's (actor's) nickname: {p}");
    assert!(job_tokens(p).contains(&(device, "fcm".to_owned(), tok)), "{p}");
    let first_job = p.clone();

    set(&api, u, json!({ "notifications": { "previews": false } })).await;
    ask(&api, y, u, "secret text").await;
    let item = wait_item(&api, u, "the second item", |i| by(i, "friend_request", y)).await;
    let env = wait_job(u, "the second job", |p| p["data"]["notification_id"] == item["notification_id"]).await;
    let p = &env["payload"];
    assert_eq!((p["title"].as_str(), p["body"].as_str()), (Some("Beaver"), Some("New notification")), "previews off: {p}");
    assert!(first_job["badge"].as_i64().unwrap() >= 1, "the badge total when the job was made counts the new unread item: {first_job}");
}

#[tokio::test]
async fn a_token_of_an_ended_session_or_registered_since_by_another_user_is_not_used() {
    let api = Api::new();
    let (a, u) = crate::chat::friends_pair(&api, "nftokuse").await;
    let x = new_user(&api, "nftokusex").await;
    befriend(&api, &a, &x).await;
    let second = api.login(&u.name).await["access_token"].as_str().unwrap().to_owned();
    let (t1, t2, t3) = (push_token(), push_token(), push_token());
    registered(&api, &u.token, "kept", "apns", &t1).await;
    registered(&api, &second, "ended", "fcm", &t2).await;
    registered(&api, &u.token, "handed-on", "fcm", &t3).await;
    wait_devices(&api, &u.token, &["ended", "handed-on", "kept"], "three devices").await;
    // The device changed hands: x registers the same token.
    registered(&api, &x.token, "x-phone", "fcm", &t3).await;
    wait_devices(&api, &x.token, &["x-phone"], "x's device").await;
    status(api.post("/api/auth/logout", Some(&second), json!({})).await, 200, "logging out the second session");
    // Listed are the usable tokens: not the ended session's, not the one used by x now.
    wait_devices(&api, &u.token, &["kept"], "u's usable tokens").await;

    let m = sent(&api, &a, text_to(&u, "which tokens")).await;
    let env = wait_message_job(&u, &m, "u's job").await;
    let toks = job_tokens(&env["payload"]);
    assert!(toks.contains(&("kept".to_owned(), "apns".to_owned(), t1.clone())), "the live session's token: {toks:?}");
    assert!(!toks.iter().any(|(_, _, t)| *t == t2), "no push uses the token of an ended session: {toks:?}");
    assert!(!toks.iter().any(|(_, _, t)| *t == t3), "only the newer registration of a token is used: {toks:?}");

    let mx = sent(&api, &a, text_to(&x, "yours now")).await;
    let env = wait_message_job(&x, &mx, "x's job").await;
    assert_eq!(job_tokens(&env["payload"]), vec![("x-phone".to_owned(), "fcm".to_owned(), t3)], "the newer registration is used");
}
