//! Moments (the friends' feed), as docs/services.md ("Moments") specifies
//! them: who may see a moment (friends, no block either way, the visibility
//! `friends` / `private` / `selected` / `except`, not deleted), checked now
//! at every read and write, with 404 `not_found` — the answer for an unknown
//! id — for everything else; posting and its validation; the timeline and a
//! user's page (newest first, full pages whatever is hidden, `before` /
//! `next_before` without repeats or gaps); backfill when a friendship starts
//! or a block is lifted; likes and comments (idempotent likes, replies,
//! deletion by the writer or the author, shown only from the author, the
//! viewer and the viewer's friends); deleting a moment; the `moment.new` and
//! `moment.activity` frames; the inbox items `moment_liked` (coalesced),
//! `moment_commented` and `moment_replied` and the settings switch
//! `notifications.categories.moments`; the `beaver.moments.v1` events.
//! Images are uploaded as "Files and uploads" specifies, with the helpers of
//! `files.rs`. Written from the spec alone.
//!
//! The spec does not say that a moment write is readable the moment it is
//! answered, so reads that must show a write poll until `SETTLE`. Friend,
//! block and unfriend commands answer once projected (docs/social.md), and
//! moment reads check "against the live friendships and blocks", so what a
//! friendship change hides is asserted at once, without polling. Every
//! check that something does *not* happen (a frame, an item, a like shown)
//! is made after a positive control that went through the same path later.

use crate::files::{id_of, png, text as plain_text, upload};
use crate::friends::{befriend, befriend_all, delete, new_user, new_users, User};
use crate::helpers::{each_record, instant, unique, Answer, Api};
use crate::ws::{connect, Ws};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const MOMENT: &str = "/api/moment";
const TIMELINE: &str = "/api/moment/timeline";
const INBOX: &str = "/api/notification";
const SETTINGS: &str = "/api/user/settings";
const TOPIC: &str = "beaver.moments.v1";
/// How long a projection, the notifier or a frame may take.
const SETTLE: Duration = Duration::from_secs(20);
/// How long to watch for a frame or an item that must not come, after a positive control.
const QUIET: Duration = Duration::from_millis(1500);
/// Every socket of these tests is on ws-push node 1, so a frame that reaches
/// one user shows that the node has read the event for all of them.
const NODE: u16 = 1;
/// The fields of a moment as shown.
const MOMENT_KEYS: &[&str] =
    &["moment_id", "author_id", "text", "media", "visibility", "users", "created_at", "likes", "like_count", "liked", "comments", "comment_count"];
/// The fields of a comment as shown.
const COMMENT_KEYS: &[&str] = &["comment_id", "user_id", "text", "reply_to", "reply_to_user_id", "created_at"];
/// The fields of a medium as shown.
const MEDIA_KEYS: &[&str] = &["file_id", "url", "kind", "width", "height"];

// ---------------------------------------------------------------------------
// Answers.

fn status(a: Answer, want: u16, what: &str) -> Answer {
    assert_eq!(a.status.as_u16(), want, "{what}: {}", a.body);
    a.expect(want)
}

/// 404 `not_found`.
fn assert_not_found(a: Answer, what: &str) -> Answer {
    let a = status(a, 404, what);
    assert_eq!(a.error_kind(), "not_found", "{what}: 404 not_found: {}", a.body);
    a
}

/// `s` with every UUID in it replaced by `<id>`.
fn without_ids(s: &str) -> String {
    let b = s.as_bytes();
    let (mut out, mut i) = (String::new(), 0);
    while i < b.len() {
        if i + 36 <= b.len() && s.is_char_boundary(i + 36) && uuid::Uuid::parse_str(&s[i..i + 36]).is_ok() && b[i + 8] == b'-' {
            out.push_str("<id>");
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// 404, and the very answer an unknown id gets (`unknown`): the same `data`
/// and message (ids in them aside).
fn assert_hidden(a: Answer, unknown: &Answer, what: &str) {
    let a = assert_not_found(a, what);
    assert_eq!(
        without_ids(&a.data().to_string()),
        without_ids(&unknown.data().to_string()),
        "{what}: a hidden moment is answered as an unknown id: {} vs {}",
        a.body,
        unknown.body
    );
    assert_eq!(
        without_ids(&a.body["message"].to_string()),
        without_ids(&unknown.body["message"].to_string()),
        "{what}: the same message as for an unknown id: {} vs {}",
        a.body,
        unknown.body
    );
}

/// What is wrong with `a` as a refusal with one of `codes` naming `field` (None: nothing).
fn refusal_problem(a: &Answer, codes: &[u16], field: &str, what: &str) -> Option<String> {
    let got = a.status.as_u16();
    let ok = codes.contains(&got) && a.body["code"] == got && a.data()["field"] == field;
    (!ok).then(|| format!("{what}: want {codes:?} naming {field}, got {got}: {}", a.body))
}

/// A refusal with one of `codes` whose `data.field` is `field`.
fn assert_refused(a: Answer, codes: &[u16], field: &str, what: &str) {
    let got = a.status.as_u16();
    assert!(codes.contains(&got), "{what}: want {codes:?} naming {field}, got {got}: {}", a.body);
    let a = a.expect(got);
    assert_eq!(a.data()["field"], field, "{what}: the refusal names the field {field}: {}", a.body);
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("a string {k}: {v}"))
}

fn uuid_version(s: &str, what: &str) -> usize {
    uuid::Uuid::parse_str(s).unwrap_or_else(|e| panic!("{what} is a UUID ({e}): {s}")).get_version_num()
}

fn now_ish(v: &Value, what: &str) {
    let t = instant(v).unwrap_or_else(|| panic!("{what} is a time: {v}"));
    assert!((t - OffsetDateTime::now_utc()).abs() < time::Duration::minutes(5), "{what} is about now: {v}");
}

fn random_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn user_ids(users: &[&User]) -> Vec<String> {
    users.iter().map(|u| u.id.clone()).collect()
}

// ---------------------------------------------------------------------------
// Moments: writes.

async fn post(api: &Api, user: &User, body: Value) -> Answer {
    api.post(MOMENT, Some(&user.token), body).await
}

/// Posts `body` as `user`: 201 `{moment_id (UUIDv7), created_at (now)}`; the id.
async fn posted(api: &Api, user: &User, body: Value) -> String {
    let a = status(post(api, user, body.clone()).await, 201, &format!("{} posting {body}", user.name));
    let id = str_of(a.data(), "moment_id").to_owned();
    assert_eq!(uuid_version(&id, "moment_id"), 7, "moment_id is a UUIDv7: {}", a.body);
    now_ish(&a.data()["created_at"], "the post's created_at");
    id
}

/// Posts a `friends` moment with `text`; its id.
async fn posted_text(api: &Api, user: &User, text: &str) -> String {
    posted(api, user, json!({ "text": text })).await
}

async fn delete_moment(api: &Api, user: &User, mid: &str) -> Answer {
    delete(api, &format!("{MOMENT}/{mid}"), Some(&user.token)).await
}

async fn like(api: &Api, user: &User, mid: &str) -> Answer {
    api.put(&format!("{MOMENT}/{mid}/like"), Some(&user.token), json!({})).await
}

async fn unlike(api: &Api, user: &User, mid: &str) -> Answer {
    delete(api, &format!("{MOMENT}/{mid}/like"), Some(&user.token)).await
}

/// Likes (`true`) or unlikes: 200 `{moment_id, liked}`.
async fn liked(api: &Api, user: &User, mid: &str, on: bool) {
    let a = if on { like(api, user, mid).await } else { unlike(api, user, mid).await };
    let a = status(a, 200, &format!("{} {} {mid}", user.name, if on { "liking" } else { "unliking" }));
    assert_eq!(a.data().clone(), json!({ "moment_id": mid, "liked": on }), "{}", a.body);
}

async fn comment(api: &Api, user: &User, mid: &str, body: Value) -> Answer {
    api.post(&format!("{MOMENT}/{mid}/comments"), Some(&user.token), body).await
}

/// Comments `text` (replying to `reply_to`): 201 `{comment_id, created_at}`; the comment's id.
async fn commented(api: &Api, user: &User, mid: &str, text: &str, reply_to: Option<&str>) -> String {
    let body = match reply_to {
        Some(r) => json!({ "text": text, "reply_to": r }),
        None => json!({ "text": text }),
    };
    let a = status(comment(api, user, mid, body.clone()).await, 201, &format!("{} commenting {body} on {mid}", user.name));
    let id = str_of(a.data(), "comment_id").to_owned();
    uuid_version(&id, "comment_id");
    now_ish(&a.data()["created_at"], "the comment's created_at");
    id
}

async fn delete_comment(api: &Api, user: &User, mid: &str, cid: &str) -> Answer {
    delete(api, &format!("{MOMENT}/{mid}/comments/{cid}"), Some(&user.token)).await
}

// ---------------------------------------------------------------------------
// Moments: reads.

/// Every field of a moment as `viewer` is shown it, the counts counting what is shown.
fn assert_moment_shape(m: &Value, viewer: &User, what: &str) {
    for k in MOMENT_KEYS {
        assert!(m.get(*k).is_some(), "{what}: a moment has {k}: {m}");
    }
    uuid_version(str_of(m, "moment_id"), "moment_id");
    uuid_version(str_of(m, "author_id"), "author_id");
    instant(&m["created_at"]).unwrap_or_else(|| panic!("{what}: created_at is a time: {m}"));
    for medium in m["media"].as_array().unwrap_or_else(|| panic!("{what}: media is a list: {m}")) {
        for k in MEDIA_KEYS {
            assert!(medium.get(*k).is_some(), "{what}: a medium has {k}: {m}");
        }
    }
    let likes = m["likes"].as_array().unwrap_or_else(|| panic!("{what}: likes is a list: {m}"));
    assert!(likes.iter().all(Value::is_string), "{what}: likes are user ids: {m}");
    assert_eq!(m["like_count"].as_u64(), Some(likes.len() as u64), "{what}: like_count counts the likes shown: {m}");
    let mine = likes.iter().any(|l| l == viewer.id.as_str());
    assert_eq!(m["liked"], mine, "{what}: liked says whether the viewer's like is among them: {m}");
    let comments = m["comments"].as_array().unwrap_or_else(|| panic!("{what}: comments is a list: {m}"));
    for c in comments {
        for k in COMMENT_KEYS {
            assert!(c.get(*k).is_some(), "{what}: a comment has {k}: {m}");
        }
    }
    assert_eq!(m["comment_count"].as_u64(), Some(comments.len() as u64), "{what}: comment_count counts the comments shown: {m}");
    if m["author_id"] != viewer.id.as_str() {
        assert!(m["visibility"].is_null(), "{what}: visibility is shown to the author only: {m}");
        assert!(m["users"].is_null(), "{what}: users are shown to the author only: {m}");
    }
}

fn like_ids(m: &Value) -> Vec<String> {
    m["likes"].as_array().unwrap_or_else(|| panic!("likes: {m}")).iter().map(|l| l.as_str().unwrap_or("?").to_owned()).collect()
}

fn comment_ids(m: &Value) -> Vec<String> {
    sorted(m["comments"].as_array().unwrap_or_else(|| panic!("comments: {m}")).iter().map(|c| str_of(c, "comment_id").to_owned()).collect())
}

fn comment_of<'a>(m: &'a Value, cid: &str) -> &'a Value {
    m["comments"].as_array().unwrap().iter().find(|c| c["comment_id"] == cid).unwrap_or_else(|| panic!("comment {cid} in {m}"))
}

async fn get(api: &Api, user: &User, mid: &str) -> Answer {
    api.get(&format!("{MOMENT}/{mid}"), Some(&user.token)).await
}

/// `user`'s view of `mid` (200, well-formed) right now.
async fn view_now(api: &Api, user: &User, mid: &str, what: &str) -> Value {
    let a = status(get(api, user, mid).await, 200, &format!("{what}: {} reading {mid}", user.name));
    let d = a.data().clone();
    assert_moment_shape(&d, user, what);
    assert_eq!(d["moment_id"], mid, "{what}: {d}");
    d
}

/// Polls `user`'s view of `mid` until it is 200 and satisfies `pred`; that view.
async fn view_where(api: &Api, user: &User, mid: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + SETTLE;
    loop {
        let a = get(api, user, mid).await;
        if a.status.as_u16() == 200 {
            let d = a.data().clone();
            assert_moment_shape(&d, user, what);
            if pred(&d) {
                return d;
            }
        }
        assert!(Instant::now() < deadline, "{what}: {}'s view of {mid} never got there within {SETTLE:?}: {}", user.name, a.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until `user` can read `mid`; that view.
async fn view(api: &Api, user: &User, mid: &str, what: &str) -> Value {
    view_where(api, user, mid, what, |_| true).await
}

/// Polls until `user` gets 404 for `mid`; the answer.
async fn wait_gone(api: &Api, user: &User, mid: &str, what: &str) -> Answer {
    let deadline = Instant::now() + SETTLE;
    loop {
        let a = get(api, user, mid).await;
        if a.status.as_u16() != 200 {
            return assert_not_found(a, what);
        }
        assert!(Instant::now() < deadline, "{what}: {mid} is still readable by {} after {SETTLE:?}: {}", user.name, a.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The answers for a moment id nobody ever used, per call.
struct Unknown {
    get: Answer,
    like: Answer,
    unlike: Answer,
    comment: Answer,
}

async fn unknown_answer(api: &Api, user: &User) -> Unknown {
    let id = random_id();
    Unknown {
        get: assert_not_found(get(api, user, &id).await, "reading an unknown moment"),
        like: assert_not_found(like(api, user, &id).await, "liking an unknown moment"),
        unlike: assert_not_found(unlike(api, user, &id).await, "unliking an unknown moment"),
        comment: assert_not_found(comment(api, user, &id, json!({ "text": "anyone?" })).await, "commenting on an unknown moment"),
    }
}

/// One page of `path` (a timeline or a user page) as `user` sees it: 200,
/// well-formed moments, newest first; (moments, next_before).
async fn page(api: &Api, user: &User, path: &str) -> (Vec<Value>, Option<String>) {
    let what = format!("{} GET {path}", user.name);
    let a = status(api.get(path, Some(&user.token)).await, 200, &what);
    let list = a.data()["moments"].as_array().unwrap_or_else(|| panic!("{what}: a moments list: {}", a.body)).clone();
    for m in &list {
        assert_moment_shape(m, user, &what);
    }
    let ids = mids(&list);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{what}: newest first (UUIDv7 ids decreasing): {ids:?}");
    let times: Vec<OffsetDateTime> = list.iter().map(|m| instant(&m["created_at"]).unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{what}: newest first by created_at: {times:?}");
    let nb = &a.data()["next_before"];
    assert!(nb.is_null() || nb.is_string(), "{what}: next_before is a moment id or null: {}", a.body);
    if let Some(n) = nb.as_str() {
        assert_eq!(Some(n), ids.last().map(String::as_str), "{what}: next_before is the last moment's id: {}", a.body);
    }
    (list, nb.as_str().map(str::to_owned))
}

fn mids(list: &[Value]) -> Vec<String> {
    list.iter().map(|m| str_of(m, "moment_id").to_owned()).collect()
}

fn user_path(author: &User) -> String {
    format!("{MOMENT}/user/{}", author.id)
}

/// `user`'s whole timeline (one page of 50 holds every test user's), newest first.
async fn timeline_ids(api: &Api, user: &User) -> Vec<String> {
    let (list, next) = page(api, user, &format!("{TIMELINE}?limit=50")).await;
    assert!(next.is_none() && list.len() < 50, "a test user's timeline fits one page of 50");
    mids(&list)
}

/// Polls `user`'s timeline until `pred` holds; its ids.
async fn wait_timeline(api: &Api, user: &User, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let ids = timeline_ids(api, user).await;
        if pred(&ids) {
            return ids;
        }
        assert!(Instant::now() < deadline, "{what}: {}'s timeline never got there within {SETTLE:?}: {ids:?}", user.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ids of `author`'s moments on their page as `viewer` sees it (one page of 50).
async fn user_page_ids(api: &Api, viewer: &User, author: &User) -> Vec<String> {
    let (list, next) = page(api, viewer, &format!("{}?limit=50", user_path(author))).await;
    assert!(next.is_none(), "a test user's page fits one page of 50");
    assert!(list.iter().all(|m| m["author_id"] == author.id.as_str()), "a user's page holds their moments only: {list:#?}");
    mids(&list)
}

/// Walks every page of `path` with `limit` from `before`: a page with more to
/// follow is full, a short page is the last; every id, in page order.
async fn walk(api: &Api, user: &User, path: &str, limit: usize, before: Option<&str>) -> Vec<String> {
    let mut all = Vec::new();
    let mut before = before.map(str::to_owned);
    for _ in 0..100 {
        let q = match &before {
            Some(b) => format!("{path}?limit={limit}&before={b}"),
            None => format!("{path}?limit={limit}"),
        };
        let (list, next) = page(api, user, &q).await;
        assert!(list.len() <= limit, "{q}: at most limit moments: {}", list.len());
        if list.len() < limit {
            assert!(next.is_none(), "{q}: a short page ({} of {limit}) is the last: next_before must be null", list.len());
        }
        all.extend(mids(&list));
        match next {
            Some(n) => {
                assert_eq!(list.len(), limit, "{q}: a page with more to follow is full");
                before = Some(n);
            }
            None => return all,
        }
    }
    panic!("{path}: more than 100 pages");
}

// ---------------------------------------------------------------------------
// Friends, blocks, settings, files, sockets, the inbox.

async fn unfriend(api: &Api, by: &User, other: &User) {
    status(delete(api, &format!("/api/friend/{}", other.id), Some(&by.token)).await, 200, &format!("{} unfriending {}", by.name, other.name));
}

async fn block(api: &Api, by: &User, who: &User) {
    let a = api.post("/api/friend/blocks", Some(&by.token), json!({ "user_id": who.id })).await;
    status(a, 200, &format!("{} blocking {}", by.name, who.name));
}

async fn unblock(api: &Api, by: &User, who: &User) {
    status(delete(api, &format!("/api/friend/blocks/{}", who.id), Some(&by.token)).await, 200, &format!("{} unblocking {}", by.name, who.name));
}

async fn set(api: &Api, user: &User, patch: Value) -> Value {
    let a = api.call(Method::PATCH, SETTINGS, Some(&user.token), Some(patch.clone())).await;
    status(a, 200, &format!("PATCH {SETTINGS} {patch}")).data().clone()
}

/// A fresh `w`×`h` PNG uploaded by `user` for moments; its file id.
async fn image(api: &Api, user: &User, w: u32, h: u32) -> String {
    id_of(&upload(api, user, &format!("m{w}x{h}.png"), "moment", &png(w, h)).await)
}

async fn socket(user: &User) -> Ws {
    connect(NODE, &user.token, &unique("mdev"), "web").await
}

/// `user`'s inbox items of category `moment`, newest activity first.
async fn moment_items(api: &Api, user: &User) -> Vec<Value> {
    let a = status(api.get(&format!("{INBOX}?limit=50"), Some(&user.token)).await, 200, &format!("{}'s inbox", user.name));
    let items = a.data()["items"].as_array().unwrap_or_else(|| panic!("an items list: {}", a.body)).clone();
    assert!(items.len() < 50, "a test user has fewer than 50 items");
    items.into_iter().filter(|i| i["category"] == "moment").collect()
}

/// Polls `user`'s moment items until `pred` holds; them.
async fn wait_items(api: &Api, user: &User, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let items = moment_items(api, user).await;
        if pred(&items) {
            return items;
        }
        assert!(Instant::now() < deadline, "{what}: {}'s moment items never got there within {SETTLE:?}: {items:#?}", user.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Watches `user`'s moment items for `within` and panics if one satisfies `bad`.
async fn assert_no_item(api: &Api, user: &User, within: Duration, what: &str, bad: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        let items = moment_items(api, user).await;
        if let Some(i) = items.iter().find(|i| bad(i)) {
            panic!("{what}: unexpected item in {}'s inbox: {i}", user.name);
        }
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An unread `moment` item of `kind` by `actors` (newest first) about `mid`.
fn assert_item(item: &Value, kind: &str, actors: &[&User], mid: &str, what: &str) {
    assert_eq!(item["category"], "moment", "{what}: {item}");
    assert_eq!(item["kind"], kind, "{what}: {item}");
    assert_eq!(item["actors"], json!(user_ids(actors)), "{what}: the actors, newest first: {item}");
    assert_eq!(item["actor_count"], actors.len() as u64, "{what}: {item}");
    assert_eq!(item["read"], false, "{what}: {item}");
    assert!(item["target"].to_string().contains(mid), "{what}: the item's target names the moment {mid}: {item}");
    now_ish(&item["created_at"], what);
}

fn has_actor(item: &Value, who: &User) -> bool {
    item["actors"].as_array().is_some_and(|a| a.iter().any(|x| x == who.id.as_str()))
}

// ---------------------------------------------------------------------------
// 1. Who may see a moment.

#[tokio::test]
async fn a_private_selected_or_except_moment_never_reaches_a_user_outside_its_audience() {
    let api = Api::new();
    let us = new_users(&api, "mvis", 4).await;
    let (author, f1, f2, s) = (&us[0], &us[1], &us[2], &us[3]);
    befriend_all(&api, author, &[f1, f2]).await;
    let (mut w1, mut w2, mut ws) = tokio::join!(socket(f1), socket(f2), socket(s));

    let private = posted(&api, author, json!({ "text": "only me", "visibility": "private" })).await;
    let selected = posted(&api, author, json!({ "text": "only f1", "visibility": "selected", "users": [f1.id] })).await;
    let except = posted(&api, author, json!({ "text": "all but f1", "visibility": "except", "users": [f1.id] })).await;
    let everyone = posted(&api, author, json!({ "text": "all my friends" })).await;
    // (moment, who besides the author may see it), newest last.
    let cases: Vec<(&str, Vec<&User>)> = vec![(&private, vec![]), (&selected, vec![f1]), (&except, vec![f2]), (&everyone, vec![f1, f2])];
    let may_see = |u: &User, m: &str| u.id == author.id || cases.iter().any(|(id, who)| *id == m && who.iter().any(|w| w.id == u.id));

    // Frames: each allowed friend's socket gets `moment.new` (the positive
    // controls, read by the same node as every other socket here) ...
    for (w, mine) in [(&mut w1, [&selected, &everyone]), (&mut w2, [&except, &everyone])] {
        for m in mine {
            let f = w.expect_where("moment.new", |d| d["moment_id"] == m.as_str(), SETTLE).await;
            assert_eq!(f["data"]["author_id"], author.id.as_str(), "moment.new names the author: {f}");
        }
    }
    // ... and no socket gets one for a moment its user may not see.
    let (p, sel, exc, all) = (private.as_str(), selected.as_str(), except.as_str(), everyone.as_str());
    tokio::join!(
        w1.assert_no("moment.new", |d| d["moment_id"] == p || d["moment_id"] == exc, QUIET, "f1: no moment.new for the private or except:[f1] moment"),
        w2.assert_no("moment.new", |d| d["moment_id"] == p || d["moment_id"] == sel, QUIET, "f2: no moment.new for the private or selected:[f1] moment"),
        ws.assert_no(
            "moment.new",
            |d| d["author_id"] == author.id.as_str() || [p, sel, exc, all].iter().any(|m| d["moment_id"] == *m),
            QUIET,
            "a stranger gets no moment.new at all"
        ),
    );

    // Reads. The author sees all four, newest first; each friend their own.
    let newest_first = [all, exc, sel, p];
    let expect = |u: &User| -> Vec<String> { newest_first.iter().filter(|m| may_see(u, **m)).map(|m| m.to_string()).collect() };
    wait_timeline(&api, author, "the author's timeline", |ids| ids == expect(author).as_slice()).await;
    wait_timeline(&api, f1, "f1's timeline (the control)", |ids| ids.contains(&selected) && ids.contains(&everyone)).await;
    wait_timeline(&api, f2, "f2's timeline (the control)", |ids| ids.contains(&except) && ids.contains(&everyone)).await;
    let unknown = unknown_answer(&api, s).await;
    for u in [author, f1, f2, s] {
        assert_eq!(timeline_ids(&api, u).await, expect(u), "{}'s timeline shows exactly what they may see", u.name);
        assert_eq!(user_page_ids(&api, u, author).await, expect(u), "the author's page as {} sees it", u.name);
        for m in newest_first {
            let what = format!("{} reading {m}", u.name);
            if may_see(u, m) {
                view_now(&api, u, m, &what).await;
            } else {
                assert_hidden(get(&api, u, m).await, &unknown.get, &what);
            }
        }
    }
    let (_, next) = page(&api, s, &user_path(author)).await;
    assert!(next.is_none(), "a stranger's page is an empty list");

    // Visibility and users: to the author only.
    let shown = |m: &Value| (m["visibility"].clone(), m["users"].clone());
    let v = view_now(&api, author, sel, "the author").await;
    assert_eq!(shown(&v), (json!("selected"), json!([f1.id])), "{v}");
    let v = view_now(&api, author, exc, "the author").await;
    assert_eq!(shown(&v), (json!("except"), json!([f1.id])), "{v}");
    let v = view_now(&api, author, p, "the author").await;
    assert_eq!(v["visibility"], "private", "{v}");
    assert!(v["users"].is_null() || v["users"] == json!([]), "no users for a private moment: {v}");
    let v = view_now(&api, author, all, "the author").await;
    assert_eq!(v["visibility"], "friends", "the default visibility: {v}");
    assert!(v["users"].is_null() || v["users"] == json!([]), "no users for a friends moment: {v}");
    view_now(&api, f1, sel, "f1 (not the author): visibility and users null").await;

    // Writes: 404 where not visible (likes, unlikes, comments); allowed users may.
    for u in [f1, f2, s] {
        for m in newest_first {
            let what = format!("{} on {m}", u.name);
            if may_see(u, m) {
                liked(&api, u, m, true).await;
                commented(&api, u, m, &format!("from {}", u.name), None).await;
            } else {
                assert_hidden(like(&api, u, m).await, &unknown.like, &format!("{what}: like"));
                assert_hidden(unlike(&api, u, m).await, &unknown.unlike, &format!("{what}: unlike"));
                assert_hidden(comment(&api, u, m, json!({ "text": "let me in" })).await, &unknown.comment, &format!("{what}: comment"));
            }
        }
    }
    // The author likes and comments each last (same moment, so after the
    // refused writes): once that shows, nothing else did.
    for m in newest_first {
        liked(&api, author, m, true).await;
        commented(&api, author, m, "mine", None).await;
        let v = view_where(&api, author, m, "the author's own like and comment", |v| {
            like_ids(v).contains(&author.id) && v["comments"].as_array().unwrap().iter().any(|c| c["user_id"] == author.id.as_str())
        })
        .await;
        let allowed: Vec<String> = [f1, f2].iter().filter(|u| may_see(**u, m)).map(|u| u.id.clone()).collect();
        let mut want = allowed.clone();
        want.push(author.id.clone());
        assert_eq!(sorted(like_ids(&v)), sorted(want.clone()), "{m}: likes only from users who may see it: {v}");
        let commenters: Vec<String> = v["comments"].as_array().unwrap().iter().map(|c| str_of(c, "user_id").to_owned()).collect();
        assert_eq!(sorted(commenters), sorted(want), "{m}: comments only from users who may see it: {v}");
    }
    for w in [w1, w2, ws] {
        w.close().await;
    }
}

#[tokio::test]
async fn unfriending_hides_a_moment_seen_before_at_once_and_befriending_again_brings_it_back() {
    let api = Api::new();
    let us = new_users(&api, "munf", 3).await;
    let (author, ex, other) = (&us[0], &us[1], &us[2]);
    befriend_all(&api, author, &[ex, other]).await;
    let m = posted_text(&api, author, "before the split").await;
    view(&api, ex, &m, "ex sees it while a friend").await;
    wait_timeline(&api, ex, "ex's timeline while a friend", |ids| ids.to_vec() == vec![m.clone()]).await;
    liked(&api, ex, &m, true).await;
    view_where(&api, author, &m, "ex's like shown to the author", |v| like_ids(v) == [ex.id.clone()]).await;

    unfriend(&api, author, ex).await;
    // At once: the ex-friend cannot read, list, like or comment on it.
    let unknown = unknown_answer(&api, ex).await;
    assert_hidden(get(&api, ex, &m).await, &unknown.get, "the ex-friend reading a moment seen before");
    assert_eq!(timeline_ids(&api, ex).await, Vec::<String>::new(), "it left the ex-friend's timeline");
    assert_eq!(user_page_ids(&api, ex, author).await, Vec::<String>::new(), "the author's page is empty for the ex-friend");
    assert_hidden(like(&api, ex, &m).await, &unknown.like, "the ex-friend liking");
    assert_hidden(unlike(&api, ex, &m).await, &unknown.unlike, "the ex-friend unliking");
    assert_hidden(comment(&api, ex, &m, json!({ "text": "still here?" })).await, &unknown.comment, "the ex-friend commenting");
    // The other friend still sees it; the ex-friend is no longer among the
    // users whose likes the author is shown (the author, the viewer, the viewer's friends).
    let v = view_now(&api, other, &m, "the remaining friend").await;
    assert_eq!(like_ids(&v), Vec::<String>::new(), "the ex-friend is no friend of the other friend: {v}");
    let v = view_now(&api, author, &m, "the author after the split").await;
    assert_eq!(like_ids(&v), Vec::<String>::new(), "a like by someone no longer the author's friend is not shown nor counted: {v}");

    // Friends again: the moment comes back (backfill) and can be read.
    befriend(&api, ex, author).await;
    wait_timeline(&api, ex, "the moment back in the ex-friend's timeline", |ids| ids.to_vec() == vec![m.clone()]).await;
    view(&api, ex, &m, "the friend again").await;
}

#[tokio::test]
async fn a_block_either_way_hides_the_authors_moments_at_once_and_lifting_it_shows_them_again() {
    let api = Api::new();
    let us = new_users(&api, "mblk", 4).await;
    let (author, v, w, c) = (&us[0], &us[1], &us[2], &us[3]);
    befriend_all(&api, author, &[v, w, c]).await;
    befriend(&api, v, c).await;
    // The author's and c's moments, interleaved.
    let mut mine = Vec::new();
    let mut cs = Vec::new();
    for i in 0..3 {
        mine.push(posted_text(&api, author, &format!("author {i}")).await);
        cs.push(posted_text(&api, c, &format!("c {i}")).await);
    }
    let everything: Vec<String> = (0..3).rev().flat_map(|i| [cs[i].clone(), mine[i].clone()]).collect();
    wait_timeline(&api, v, "v's timeline before the block", |ids| ids == everything.as_slice()).await;
    wait_timeline(&api, w, "w's timeline before the block", |ids| ids == mine.iter().rev().cloned().collect::<Vec<_>>().as_slice()).await;

    // The author blocks v; w blocks the author. Both lose the author's moments at once.
    block(&api, author, v).await;
    block(&api, w, author).await;
    let unknown = unknown_answer(&api, v).await;
    let only_c: Vec<String> = cs.iter().rev().cloned().collect();
    assert_eq!(walk(&api, v, TIMELINE, 2, None).await, only_c, "v's timeline at once: c's moments only, in full pages");
    assert_eq!(timeline_ids(&api, w).await, Vec::<String>::new(), "w's timeline at once: nothing of the author's");
    for (u, who) in [(v, "blocked by the author"), (w, "who blocked the author")] {
        assert_eq!(user_page_ids(&api, u, author).await, Vec::<String>::new(), "the author's page for the user {who}");
        for m in &mine {
            assert_hidden(get(&api, u, m).await, &unknown.get, &format!("reading, {who}"));
            assert_hidden(like(&api, u, m).await, &unknown.like, &format!("liking, {who}"));
            assert_hidden(comment(&api, u, m, json!({ "text": "hm" })).await, &unknown.comment, &format!("commenting, {who}"));
        }
    }
    view_now(&api, c, &mine[0], "c (no block) still reads the author's moment").await;

    // A moment posted during the block: c is told, v is not.
    let (mut vs, mut cws) = tokio::join!(socket(v), socket(c));
    let during = posted_text(&api, author, "during the block").await;
    cws.expect_where("moment.new", |d| d["moment_id"] == during.as_str(), SETTLE).await;
    vs.assert_no("moment.new", |d| d["moment_id"] == during.as_str(), QUIET, "no moment.new to a user the author blocked").await;
    assert_hidden(get(&api, v, &during).await, &unknown.get, "the moment posted during the block");

    // Lifted: the author's moments are back, including the one posted during the block.
    unblock(&api, author, v).await;
    unblock(&api, w, author).await;
    let mut back: Vec<String> = mine.clone();
    back.push(during.clone());
    for u in [v, w] {
        wait_timeline(&api, u, "the author's moments back after the block is lifted", |ids| back.iter().all(|m| ids.contains(m))).await;
        view(&api, u, &during, "after the block").await;
    }
    vs.close().await;
    cws.close().await;
}

#[tokio::test]
async fn a_new_friendship_backfills_each_others_recent_moments_that_the_visibility_allows() {
    let api = Api::new();
    let us = new_users(&api, "mbf", 3).await;
    let (author, newcomer, e) = (&us[0], &us[1], &us[2]);
    befriend(&api, author, e).await;
    let old = posted_text(&api, author, "old news").await;
    let private = posted(&api, author, json!({ "text": "diary", "visibility": "private" })).await;
    let not_e = posted(&api, author, json!({ "text": "not for e", "visibility": "except", "users": [e.id] })).await;
    let only_e = posted(&api, author, json!({ "text": "for e", "visibility": "selected", "users": [e.id] })).await;
    let theirs = posted_text(&api, newcomer, "newcomer's own").await;
    let their_private = posted(&api, newcomer, json!({ "text": "newcomer's diary", "visibility": "private" })).await;
    view(&api, e, &only_e, "e sees the moment selected for e (the control)").await;
    wait_timeline(&api, newcomer, "the newcomer's own timeline", |ids| ids.to_vec() == vec![their_private.clone(), theirs.clone()]).await;

    // Before: strangers.
    let unknown = unknown_answer(&api, newcomer).await;
    assert_hidden(get(&api, newcomer, &old).await, &unknown.get, "a stranger reading");
    assert_hidden(get(&api, author, &theirs).await, &unknown.get, "a stranger reading the newcomer's");

    befriend(&api, newcomer, author).await;
    // Each other's moments that the visibility allows, newest first, with the newcomer's own.
    let want_newcomer = vec![their_private.clone(), theirs.clone(), not_e.clone(), old.clone()];
    wait_timeline(&api, newcomer, "the newcomer's backfilled timeline", |ids| ids == want_newcomer.as_slice()).await;
    wait_timeline(&api, author, "the author's backfilled timeline", |ids| ids.contains(&theirs)).await;
    let ids = timeline_ids(&api, author).await;
    assert!(!ids.contains(&their_private), "the newcomer's private moment is not backfilled: {ids:?}");
    assert_eq!(ids, vec![theirs.clone(), only_e.clone(), not_e.clone(), private.clone(), old.clone()], "the author's timeline");
    for m in [&old, &not_e] {
        view_now(&api, newcomer, m, "a backfilled moment is readable").await;
    }
    for m in [&private, &only_e] {
        assert_hidden(get(&api, newcomer, m).await, &unknown.get, "a moment the visibility does not allow the newcomer");
    }
    // e is not the newcomer's friend: nothing of theirs.
    assert!(!timeline_ids(&api, e).await.contains(&theirs), "a friend of a friend gets nothing");
}

// ---------------------------------------------------------------------------
// 2. The timeline and a user's page.

#[tokio::test]
async fn the_timeline_is_own_and_friends_moments_newest_first_in_full_pages_without_repeats_or_gaps() {
    let api = Api::new();
    let us = new_users(&api, "mtl", 4).await;
    let (me, a, b, s) = (&us[0], &us[1], &us[2], &us[3]);
    befriend_all(&api, me, &[a, b]).await;
    befriend(&api, a, b).await;
    befriend(&api, a, s).await; // s: a friend of a friend

    let except_me = || json!({ "text": "not for me", "visibility": "except", "users": [me.id] });
    let v1 = posted_text(&api, me, "v1").await;
    let a1 = posted_text(&api, a, "a1").await;
    for _ in 0..5 {
        posted(&api, a, except_me()).await;
    }
    let b1 = posted_text(&api, b, "b1").await;
    posted_text(&api, s, "s1").await;
    posted(&api, a, json!({ "text": "a2", "visibility": "private" })).await;
    posted(&api, b, json!({ "text": "b2", "visibility": "selected", "users": [a.id] })).await;
    let a3 = posted_text(&api, a, "a3").await;
    let mut hidden = Vec::new();
    for _ in 0..5 {
        hidden.push(posted(&api, a, except_me()).await);
    }
    let v2 = posted(&api, me, json!({ "text": "v2", "visibility": "private" })).await;
    let b3 = posted_text(&api, b, "b3").await;
    let a4 = posted(&api, a, json!({ "text": "a4", "visibility": "selected", "users": [me.id] })).await;
    let v3 = posted(&api, me, json!({ "text": "v3", "visibility": "except", "users": [a.id] })).await;
    let b4 = posted_text(&api, b, "b4").await;
    let want: Vec<String> = [&b4, &v3, &a4, &b3, &v2, &a3, &b1, &a1, &v1].iter().map(|s| s.to_string()).collect();

    // Once everything is projected (a's friend b sees b4 and a sees a4 ...)
    view(&api, a, &b4, "a sees b4").await;
    let set: HashSet<String> = want.iter().cloned().collect();
    wait_timeline(&api, me, "my timeline holds every visible moment", |ids| ids.iter().cloned().collect::<HashSet<_>>() == set).await;
    // ... every page size walks the same list, in full pages.
    assert_eq!(timeline_ids(&api, me).await, want, "own and friends' moments I may see, newest first");
    for limit in [1, 2, 3, 4, 9] {
        assert_eq!(walk(&api, me, TIMELINE, limit, None).await, want, "the timeline walked with limit {limit}");
    }
    let (first, _) = page(&api, me, TIMELINE).await;
    assert_eq!(mids(&first), want, "the default limit (20) holds all nine");
    // `before` an id I may not see (a hidden moment of a's between a3 and v2).
    let (after_hidden, next) = page(&api, me, &format!("{TIMELINE}?limit=3&before={}", hidden[2])).await;
    assert_eq!(mids(&after_hidden), vec![a3.clone(), b1.clone(), a1.clone()], "before a hidden moment: the visible ones older than it");
    assert_eq!(next.as_deref(), Some(a1.as_str()), "more may follow");

    // a's page as I see it: only what I may see of a's, in full pages.
    let a_want = vec![a4.clone(), a3.clone(), a1.clone()];
    for limit in [1, 2, 3] {
        assert_eq!(walk(&api, me, &user_path(a), limit, None).await, a_want, "a's page walked with limit {limit}");
    }
    assert_eq!(walk(&api, me, &user_path(me), 2, None).await, vec![v3.clone(), v2.clone(), v1.clone()], "my own page: all of mine");
    // A friend of a friend: their page is empty for me, and nothing of theirs is in my timeline.
    assert_eq!(user_page_ids(&api, me, s).await, Vec::<String>::new(), "a stranger's page is empty");
}

// ---------------------------------------------------------------------------
// 3. Likes and comments.

#[tokio::test]
async fn likes_are_idempotent_and_shown_only_from_the_author_the_viewer_and_the_viewers_friends() {
    let api = Api::new();
    let us = new_users(&api, "mlike", 4).await;
    let (author, v, w, x) = (&us[0], &us[1], &us[2], &us[3]);
    befriend_all(&api, author, &[v, w, x]).await;
    befriend(&api, v, w).await; // x is the author's friend only
    let m = posted_text(&api, author, "like me").await;
    for u in [v, w, x] {
        view(&api, u, &m, "every friend sees it").await;
    }

    liked(&api, v, &m, true).await;
    liked(&api, v, &m, true).await; // twice: nothing changes
    liked(&api, x, &m, true).await;
    liked(&api, w, &m, true).await;
    let a = view_where(&api, author, &m, "the author sees every like", |d| like_ids(d).len() == 3).await;
    assert_eq!(like_ids(&a), vec![v.id.clone(), x.id.clone(), w.id.clone()], "the author sees every like, oldest first, v's once: {a}");
    assert_eq!(a["liked"], false, "{a}");
    let d = view_now(&api, v, &m, "v").await;
    assert_eq!(like_ids(&d), vec![v.id.clone(), w.id.clone()], "v sees own and friend w's like, not x's (not v's friend), count 2: {d}");
    assert_eq!(d["liked"], true, "{d}");
    let d = view_now(&api, w, &m, "w").await;
    assert_eq!(like_ids(&d), vec![v.id.clone(), w.id.clone()], "w sees v's (friend) and own: {d}");
    let d = view_now(&api, x, &m, "x").await;
    assert_eq!(like_ids(&d), vec![x.id.clone()], "x sees only own like: {d}");

    // Unliking, twice.
    liked(&api, v, &m, false).await;
    liked(&api, v, &m, false).await;
    let a = view_where(&api, author, &m, "v's like gone", |d| !like_ids(d).contains(&v.id)).await;
    assert_eq!(like_ids(&a), vec![x.id.clone(), w.id.clone()], "{a}");
    let d = view_now(&api, v, &m, "v after unliking").await;
    assert_eq!((like_ids(&d), d["liked"].clone()), (vec![w.id.clone()], json!(false)), "{d}");
    // The author's own like is shown to everyone who sees the moment.
    liked(&api, author, &m, true).await;
    view_where(&api, author, &m, "the author's own like", |d| d["liked"] == true).await;
    let d = view_now(&api, v, &m, "v sees the author's like").await;
    assert_eq!(like_ids(&d), vec![w.id.clone(), author.id.clone()], "{d}");
    let d = view_now(&api, x, &m, "x sees the author's like").await;
    assert_eq!(like_ids(&d), vec![x.id.clone(), author.id.clone()], "{d}");
}

#[tokio::test]
async fn comments_and_replies_are_shown_by_the_same_rule_and_deleted_by_their_writer_or_the_author_only() {
    let api = Api::new();
    let us = new_users(&api, "mcom", 4).await;
    let (author, v, w, x) = (&us[0], &us[1], &us[2], &us[3]);
    befriend_all(&api, author, &[v, w, x]).await;
    befriend(&api, v, w).await; // x is the author's friend only
    let m = posted_text(&api, author, "talk to me").await;
    let other = posted_text(&api, author, "another moment").await;
    for u in [v, w, x] {
        view(&api, u, &m, "every friend sees it").await;
    }

    let c1 = commented(&api, v, &m, "v says hi", None).await;
    let c2 = commented(&api, x, &m, "x says hi", None).await;
    let c3 = commented(&api, author, &m, "hi x", Some(&c2)).await;
    let c4 = commented(&api, w, &m, "hi v", Some(&c1)).await;
    let elsewhere = commented(&api, v, &other, "elsewhere", None).await;
    let a = view_where(&api, author, &m, "the author sees every comment", |d| d["comment_count"] == 4).await;
    assert_eq!(comment_ids(&a), sorted(vec![c1.clone(), c2.clone(), c3.clone(), c4.clone()]), "{a}");
    let r = comment_of(&a, &c3);
    assert_eq!(r["user_id"], author.id.as_str(), "{r}");
    assert_eq!(r["text"], "hi x", "{r}");
    assert_eq!(r["reply_to"], c2.as_str(), "{r}");
    assert_eq!(r["reply_to_user_id"], x.id.as_str(), "{r}");
    now_ish(&r["created_at"], "a comment's created_at");
    let plain = comment_of(&a, &c1);
    assert!(plain["reply_to"].is_null() && plain["reply_to_user_id"].is_null(), "a comment that replies to nothing: {plain}");
    assert_eq!(comment_of(&a, &c4)["reply_to_user_id"], v.id.as_str(), "{a}");

    // Shown only from the author, the viewer, the viewer's friends.
    let d = view_now(&api, v, &m, "v").await;
    assert_eq!(comment_ids(&d), sorted(vec![c1.clone(), c3.clone(), c4.clone()]), "v: not x's comment (x is not v's friend): {d}");
    let d = view_now(&api, x, &m, "x").await;
    assert_eq!(comment_ids(&d), sorted(vec![c2.clone(), c3.clone()]), "x: own and the author's only: {d}");

    // reply_to must be a comment of this moment the caller can see.
    let what = "v replying to x's comment, which v cannot see";
    assert_not_found(comment(&api, v, &m, json!({ "text": "hey", "reply_to": c2 })).await, what);
    assert_not_found(comment(&api, v, &m, json!({ "text": "hey", "reply_to": random_id() })).await, "a reply to an unknown comment");
    assert_not_found(comment(&api, v, &m, json!({ "text": "hey", "reply_to": elsewhere })).await, "a reply to another moment's comment");
    // Text: 1–500 characters.
    assert_refused(comment(&api, v, &m, json!({ "text": "" })).await, &[422], "text", "an empty comment");
    assert_refused(comment(&api, v, &m, json!({})).await, &[422], "text", "a comment without text");
    assert_refused(comment(&api, v, &m, json!({ "text": "ü".repeat(501) })).await, &[422], "text", "a comment of 501 characters");
    let long = commented(&api, v, &m, &"ü".repeat(500), None).await;

    // Deleting: the writer or the moment's author; anyone else 404.
    assert_not_found(delete_comment(&api, w, &m, &c3).await, "w deleting the author's comment");
    assert_not_found(delete_comment(&api, w, &m, &c1).await, "w deleting v's comment");
    assert_not_found(delete_comment(&api, x, &m, &c1).await, "x deleting v's comment");
    assert_not_found(delete_comment(&api, v, &m, &random_id()).await, "deleting an unknown comment");
    assert_not_found(delete_comment(&api, v, &other, &c1).await, "deleting a comment through another moment");
    let a = status(delete_comment(&api, v, &m, &c1).await, 200, "the writer deleting");
    assert_eq!(a.data().clone(), json!({ "comment_id": c1, "deleted": true }), "{}", a.body);
    let a = status(delete_comment(&api, author, &m, &c2).await, 200, "the author deleting x's comment");
    assert_eq!(a.data().clone(), json!({ "comment_id": c2, "deleted": true }), "{}", a.body);
    assert_not_found(delete_comment(&api, v, &m, &c1).await, "deleting a deleted comment");
    let want = sorted(vec![c3.clone(), c4.clone(), long.clone()]);
    let a = view_where(&api, author, &m, "the deleted comments gone", |d| comment_ids(d) == want).await;
    assert_eq!(a["comment_count"], 3, "{a}");
    let d = view_now(&api, x, &m, "x after the deletions").await;
    assert_eq!(comment_ids(&d), vec![c3.clone()], "{d}");
}

#[tokio::test]
async fn a_moment_shows_its_media_in_order_and_nine_is_the_most() {
    let api = Api::new();
    let (author, friend) = tokio::join!(new_user(&api, "mmed"), new_user(&api, "mmedf"));
    befriend(&api, &author, &friend).await;
    let mut files = Vec::new();
    for i in 0..10u32 {
        files.push((image(&api, &author, 20 + i, 10 + i).await, 20 + i, 10 + i));
    }
    let media = |n: usize| -> Value { json!(files[..n].iter().map(|(f, _, _)| json!({ "file_id": f })).collect::<Vec<_>>()) };
    assert_refused(post(&api, &author, json!({ "text": "ten", "media": media(10) })).await, &[422], "media", "ten media");

    let m = posted(&api, &author, json!({ "media": media(9) })).await; // media only, no text
    for u in [&author, &friend] {
        let d = view(&api, u, &m, "the moment with nine media").await;
        let got = d["media"].as_array().unwrap();
        assert_eq!(got.len(), 9, "{d}");
        for (g, (f, w, h)) in got.iter().zip(&files) {
            assert_eq!(g["file_id"], f.as_str(), "the media in order: {d}");
            assert_eq!(g["url"], format!("/api/file/{f}"), "{d}");
            assert_eq!(g["kind"], "image", "{d}");
            assert_eq!((g["width"].as_u64(), g["height"].as_u64()), (Some(*w as u64), Some(*h as u64)), "{d}");
        }
    }
}

// ---------------------------------------------------------------------------
// 4. Bad input.

#[tokio::test]
async fn bad_posts_are_refused_naming_the_field_and_append_nothing() {
    let api = Api::new();
    let us = new_users(&api, "mbad", 3).await;
    let (author, friend, stranger) = (&us[0], &us[1], &us[2]);
    befriend(&api, author, friend).await;
    let note_bytes = plain_text();
    let (theirs, note) = tokio::join!(image(&api, stranger, 12, 12), upload(&api, author, "notes.txt", "chat", &note_bytes));
    assert_eq!(note["kind"], "file", "{note}");
    let note = id_of(&note);
    let marker = unique("refused");
    let t = |s: &str| format!("{s} {marker}");

    // Every refusal is checked; the wrong ones are reported together at the end.
    let mut wrong: Vec<String> = Vec::new();
    wrong.extend(refusal_problem(&post(&api, author, json!({})).await, &[422], "text", "neither text nor media"));
    wrong.extend(refusal_problem(&post(&api, author, json!({ "media": [] })).await, &[422], "text", "no text and no media"));
    wrong.extend(refusal_problem(&post(&api, author, json!({ "text": t(&"x".repeat(2001)) })).await, &[422], "text", "text over 2,000 characters"));
    wrong.extend(refusal_problem(
        &post(&api, author, json!({ "text": t("x"), "media": [{ "file_id": theirs }] })).await,
        &[422],
        "media",
        "someone else's file",
    ));
    wrong.extend(refusal_problem(
        &post(&api, author, json!({ "text": t("x"), "media": [{ "file_id": random_id() }] })).await,
        &[422],
        "media",
        "an unknown file",
    ));
    wrong.extend(refusal_problem(
        &post(&api, author, json!({ "text": t("x"), "media": [{ "file_id": note }] })).await,
        &[422],
        "media",
        "a file that is not an image or video",
    ));
    wrong.extend(refusal_problem(
        &post(&api, author, json!({ "text": t("x"), "visibility": "public" })).await,
        &[422],
        "visibility",
        "an unknown visibility",
    ));
    for (body, what) in [
        (json!({ "text": t("x"), "visibility": "selected" }), "selected without users"),
        (json!({ "text": t("x"), "visibility": "except" }), "except without users"),
        (json!({ "text": t("x"), "visibility": "selected", "users": [] }), "selected with no users"),
        (json!({ "text": t("x"), "visibility": "friends", "users": [friend.id] }), "users with friends"),
        (json!({ "text": t("x"), "users": [friend.id] }), "users with the default visibility"),
        (json!({ "text": t("x"), "visibility": "private", "users": [friend.id] }), "users with private"),
        (json!({ "text": t("x"), "visibility": "selected", "users": [stranger.id] }), "a user who is not a friend"),
        (json!({ "text": t("x"), "visibility": "except", "users": [friend.id, random_id()] }), "an unknown user"),
        (json!({ "text": t("x"), "visibility": "selected", "users": [author.id] }), "oneself, not one's friend"),
    ] {
        wrong.extend(refusal_problem(&post(&api, author, body).await, &[422], "users", what));
    }
    let a = api.post(MOMENT, None, json!({ "text": t("x") })).await;
    status(a, 401, "posting without a token");
    let a = api.get(TIMELINE, None).await;
    status(a, 401, "the timeline without a token");

    // The limits themselves are fine: 2,000 characters (not bytes).
    let control = unique("accepted");
    let longest = posted(&api, author, json!({ "text": format!("{control}{}", "é".repeat(2000 - control.len())) })).await;
    let d = view(&api, friend, &longest, "the longest text").await;
    assert_eq!(d["text"].as_str().map(|s| s.chars().count()), Some(2000), "the text kept whole");
    let sel = posted(&api, author, json!({ "text": "selected, fine", "visibility": "selected", "users": [friend.id] })).await;
    view(&api, friend, &sel, "a good selected post").await;

    // Nothing refused reached the log: the accepted posts did.
    let (refused, accepted) = tokio::task::spawn_blocking(move || {
        let (mut refused, mut accepted) = (Vec::new(), 0);
        each_record(TOPIC, |m| {
            use rdkafka::message::Message;
            let text = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            if text.contains(&control) {
                accepted += 1;
            }
            if text.contains(&marker) {
                refused.push(text);
            }
        });
        (refused, accepted)
    })
    .await
    .unwrap();
    assert_eq!(accepted, 1, "the accepted post is on {TOPIC}");
    assert!(refused.is_empty(), "refused posts appended: {refused:#?}");
    assert!(wrong.is_empty(), "refusals that differ from the spec:\n{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------
// 5. Deleting a moment.

#[tokio::test]
async fn only_the_author_deletes_a_moment_which_is_then_gone_for_everyone() {
    let api = Api::new();
    let us = new_users(&api, "mdel", 4).await;
    let (author, f, g, stranger) = (&us[0], &us[1], &us[2], &us[3]);
    befriend_all(&api, author, &[f, g]).await;
    let older = posted_text(&api, author, "older").await;
    let m = posted_text(&api, author, "soon gone").await;
    let newer = posted_text(&api, author, "newer").await;
    wait_timeline(&api, f, "f's timeline", |ids| ids.to_vec() == vec![newer.clone(), m.clone(), older.clone()]).await;
    let c = commented(&api, f, &m, "nice", None).await;

    for u in [f, g, stranger] {
        assert_not_found(delete_moment(&api, u, &m).await, &format!("{} deleting the author's moment", u.name));
    }
    assert_not_found(delete_moment(&api, author, &random_id()).await, "deleting an unknown moment");
    view_now(&api, g, &m, "the moment survives the refused deletions").await;

    let a = status(delete_moment(&api, author, &m).await, 200, "the author deleting");
    assert_eq!(a.data().clone(), json!({ "moment_id": m, "deleted": true }), "{}", a.body);
    let unknown = unknown_answer(&api, author).await;
    wait_gone(&api, author, &m, "the author's own read of the deleted moment").await;
    assert_hidden(get(&api, author, &m).await, &unknown.get, "the author reading the deleted moment");
    for u in [f, g] {
        assert_hidden(get(&api, u, &m).await, &unknown.get, "a friend reading the deleted moment");
        assert_eq!(timeline_ids(&api, u).await, vec![newer.clone(), older.clone()], "gone from {}'s timeline", u.name);
        assert_eq!(user_page_ids(&api, u, author).await, vec![newer.clone(), older.clone()], "gone from the author's page");
        assert_hidden(like(&api, u, &m).await, &unknown.like, "liking a deleted moment");
        assert_hidden(comment(&api, u, &m, json!({ "text": "?" })).await, &unknown.comment, "commenting on a deleted moment");
    }
    assert_eq!(timeline_ids(&api, author).await, vec![newer.clone(), older.clone()], "gone from the author's timeline");
    assert_hidden(like(&api, author, &m).await, &unknown.like, "the author liking the deleted moment");
    assert_not_found(delete_comment(&api, f, &m, &c).await, "deleting a comment of a deleted moment");
    assert_not_found(delete_moment(&api, author, &m).await, "deleting it again");
    // A client whose last page ended at the deleted moment still pages on.
    let (rest, _) = page(&api, f, &format!("{TIMELINE}?limit=5&before={m}")).await;
    assert_eq!(mids(&rest), vec![older.clone()], "before a deleted moment: the older ones");
}

// ---------------------------------------------------------------------------
// 6. Frames and inbox items.

#[tokio::test]
async fn likes_comments_and_replies_send_moment_activity_to_the_author_and_the_replied_to_user_only() {
    let api = Api::new();
    let us = new_users(&api, "mact", 3).await;
    let (author, f1, f2) = (&us[0], &us[1], &us[2]);
    befriend_all(&api, author, &[f1, f2]).await;
    befriend(&api, f1, f2).await;
    let (mut wa, mut w1, mut w2) = tokio::join!(socket(author), socket(f1), socket(f2));
    let m = posted_text(&api, author, "activity").await;
    view(&api, f1, &m, "f1 sees it").await;

    liked(&api, f1, &m, true).await;
    let f = wa.expect_where("moment.activity", |d| d["kind"] == "like", SETTLE).await;
    let d = &f["data"];
    assert_eq!((d["moment_id"].as_str(), d["user_id"].as_str()), (Some(m.as_str()), Some(f1.id.as_str())), "{f}");
    assert!(d["comment_id"].is_null() && d["text"].is_null(), "a like has no comment: {f}");
    liked(&api, f1, &m, true).await; // again: nothing changes

    let c1 = commented(&api, f1, &m, "f1's comment", None).await;
    let f = wa.expect_where("moment.activity", |d| d["kind"] == "comment", SETTLE).await;
    let d = &f["data"];
    assert_eq!(d["moment_id"], m.as_str(), "{f}");
    assert_eq!(d["user_id"], f1.id.as_str(), "{f}");
    assert_eq!(d["comment_id"], c1.as_str(), "{f}");
    assert_eq!(d["text"], "f1's comment", "{f}");

    // The author's own like, comment and reply: nothing to the author; the reply reaches f1.
    liked(&api, author, &m, true).await;
    commented(&api, author, &m, "my own", None).await;
    let r = commented(&api, author, &m, "thanks f1", Some(&c1)).await;
    let f = w1.expect_where("moment.activity", |d| d["comment_id"] == r.as_str(), SETTLE).await;
    let d = &f["data"];
    assert_eq!(d["kind"], "reply", "{f}");
    assert_eq!((d["moment_id"].as_str(), d["user_id"].as_str()), (Some(m.as_str()), Some(author.id.as_str())), "{f}");
    assert_eq!(d["text"], "thanks f1", "{f}");

    // f2 replies to f1: f1 is told (reply), and so is the author.
    let r2 = commented(&api, f2, &m, "me too", Some(&c1)).await;
    let f = w1.expect_where("moment.activity", |d| d["comment_id"] == r2.as_str(), SETTLE).await;
    assert_eq!((f["data"]["kind"].as_str(), f["data"]["user_id"].as_str()), (Some("reply"), Some(f2.id.as_str())), "{f}");
    let f = wa.expect_where("moment.activity", |d| d["comment_id"] == r2.as_str(), SETTLE).await;
    assert_eq!(f["data"]["user_id"], f2.id.as_str(), "{f}");
    assert!(f["data"]["kind"] == "comment" || f["data"]["kind"] == "reply", "{f}");

    // Those were the moment's last events, read by this node: nothing else came.
    let me = author.id.clone();
    let one = f1.id.clone();
    tokio::join!(
        wa.assert_no("moment.activity", |d| d["user_id"] == me.as_str(), QUIET, "the author's own activity is not sent to the author"),
        w2.assert_no("moment.activity", |_| true, QUIET, "f2 neither wrote the moment nor was replied to"),
        w1.assert_no("moment.activity", |_| true, QUIET, "f1 gets the two replies to f1's comment only"),
    );
    wa.assert_no("moment.activity", |d| d["kind"] == "like" && d["user_id"] == one.as_str(), Duration::ZERO, "liking twice: one frame").await;
    for w in [wa, w1, w2] {
        w.close().await;
    }
}

#[tokio::test]
async fn likes_coalesce_into_one_moment_liked_item_while_unread_and_comments_and_replies_make_their_own() {
    let api = Api::new();
    let us = new_users(&api, "minb", 4).await;
    let (author, f1, f2, f3) = (&us[0], &us[1], &us[2], &us[3]);
    befriend_all(&api, author, &[f1, f2, f3]).await;
    let mut wa = socket(author).await;
    let m = posted_text(&api, author, "notify me").await;
    view(&api, f1, &m, "f1 sees it").await;

    liked(&api, f1, &m, true).await;
    let f = wa.expect_where("notification", |d| d["kind"] == "moment_liked", SETTLE).await;
    assert_eq!(f["data"]["category"], "moment", "{f}");
    assert_eq!(f["data"]["actor_id"], f1.id.as_str(), "{f}");
    assert_eq!(f["data"]["group_key"], format!("moment_like:{m}"), "{f}");
    liked(&api, f1, &m, true).await; // no second notification
    liked(&api, author, &m, true).await; // the author's own: none
    liked(&api, f2, &m, true).await;
    let items = wait_items(&api, author, "the coalesced like", |l| l.iter().any(|i| i["kind"] == "moment_liked" && has_actor(i, f2))).await;
    assert_eq!(items.len(), 1, "one moment item: {items:#?}");
    assert_item(&items[0], "moment_liked", &[f2, f1], &m, "two friends' likes, coalesced");

    // A comment and a reply make their own items.
    let c = commented(&api, f3, &m, "f3 here", None).await;
    let items = wait_items(&api, author, "the comment's item", |l| l.iter().any(|i| i["kind"] == "moment_commented")).await;
    assert_eq!(items.iter().map(|i| str_of(i, "kind")).collect::<Vec<_>>(), vec!["moment_commented", "moment_liked"], "{items:#?}");
    assert_item(&items[0], "moment_commented", &[f3], &m, "f3's comment");
    commented(&api, author, &m, "hi f3", Some(&c)).await;
    let got = wait_items(&api, f3, "f3's reply item", |l| !l.is_empty()).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_item(&got[0], "moment_replied", &[author], &m, "the author's reply to f3");

    // Once read, the next like makes a new item.
    let like_item = str_of(&items[1], "notification_id").to_owned();
    status(api.post(&format!("{INBOX}/read"), Some(&author.token), json!({ "ids": [like_item] })).await, 200, "reading the like item");
    liked(&api, f3, &m, true).await;
    let items = wait_items(&api, author, "a new like item after reading", |l| l.iter().any(|i| i["kind"] == "moment_liked" && has_actor(i, f3))).await;
    let likes: Vec<&Value> = items.iter().filter(|i| i["kind"] == "moment_liked").collect();
    assert_eq!(likes.len(), 2, "a like after the item was read makes a new one: {items:#?}");
    assert_item(likes[0], "moment_liked", &[f3], &m, "the new like item");
    assert_eq!(likes[1]["notification_id"], like_item.as_str(), "{items:#?}");
    assert_eq!((likes[1]["read"].clone(), likes[1]["actor_count"].clone()), (json!(true), json!(2)), "{items:#?}");
    // Never an item for the author's own reply.
    assert!(!items.iter().any(|i| has_actor(i, author)), "{items:#?}");
    wa.close().await;
}

#[tokio::test]
async fn with_moments_notifications_off_no_moment_item_is_made() {
    let api = Api::new();
    let us = new_users(&api, "moff", 3).await;
    let (author, quiet, f) = (&us[0], &us[1], &us[2]);
    befriend_all(&api, author, &[quiet, f]).await;
    befriend(&api, quiet, f).await;
    let s = status(api.get(SETTINGS, Some(&quiet.token)).await, 200, "settings");
    assert_eq!(s.data()["notifications"]["categories"]["moments"], true, "moments notifications are on by default: {}", s.body);
    let d = set(&api, quiet, json!({ "notifications": { "categories": { "moments": false } } })).await;
    assert_eq!(d["notifications"]["categories"]["moments"], false, "{d}");

    // On quiet's own moment: a like and a comment.
    let mq = posted_text(&api, quiet, "quiet's").await;
    view(&api, f, &mq, "f sees quiet's moment").await;
    liked(&api, f, &mq, true).await;
    commented(&api, f, &mq, "hello quiet", None).await;
    // On the author's moment: quiet comments, f replies to quiet. The author's
    // item from that same reply is the control.
    let m = posted_text(&api, author, "the author's").await;
    view(&api, quiet, &m, "quiet sees it").await;
    let cq = commented(&api, quiet, &m, "quiet speaks", None).await;
    view_where(&api, f, &m, "f sees quiet's comment", |d| comment_ids(d).contains(&cq)).await;
    commented(&api, f, &m, "answering quiet", Some(&cq)).await;
    wait_items(&api, author, "the author's item from f's reply (the control)", |l| l.iter().any(|i| has_actor(i, f))).await;
    assert_no_item(&api, quiet, QUIET * 2, "moments switched off", |_| true).await;

    // On again: the next like on quiet's moment makes an item.
    set(&api, quiet, json!({ "notifications": { "categories": { "moments": true } } })).await;
    let mq2 = posted_text(&api, quiet, "quiet's second").await;
    view(&api, author, &mq2, "the author sees it").await;
    liked(&api, author, &mq2, true).await;
    let items = wait_items(&api, quiet, "an item once moments are on again", |l| l.iter().any(|i| has_actor(i, author))).await;
    assert!(items.iter().all(|i| has_actor(i, author)), "only the item made after switching on: {items:#?}");
}

#[tokio::test]
async fn a_user_who_can_no_longer_see_a_moment_gets_no_activity_frame_and_no_item_for_it() {
    let api = Api::new();
    let us = new_users(&api, "mgone", 3).await;
    let (author, f1, f2) = (&us[0], &us[1], &us[2]);
    befriend_all(&api, author, &[f1, f2]).await;
    befriend(&api, f1, f2).await;
    let (mut wa, mut w1) = tokio::join!(socket(author), socket(f1));
    let m = posted_text(&api, author, "soon unfriended").await;
    view(&api, f1, &m, "f1 sees it").await;
    let c1 = commented(&api, f1, &m, "f1 was here", None).await;
    view_where(&api, f2, &m, "f2 sees f1's comment (f1 is f2's friend)", |d| comment_ids(d).contains(&c1)).await;

    unfriend(&api, author, f1).await;
    let r = commented(&api, f2, &m, "replying to f1", Some(&c1)).await;
    // The author is told (frame and item): the controls.
    wa.expect_where("moment.activity", |d| d["comment_id"] == r.as_str(), SETTLE).await;
    wait_items(&api, author, "the author's item for f2's reply", |l| l.iter().any(|i| has_actor(i, f2))).await;
    // f1, who may no longer see the moment, is told nothing.
    w1.assert_no("moment.activity", |d| d["moment_id"] == m.as_str(), QUIET, "no activity frame to a user who may no longer see the moment").await;
    assert_no_item(&api, f1, QUIET, "no item for a user who may no longer see the moment", |i| i["kind"] == "moment_replied").await;
    wa.close().await;
    w1.close().await;
}

// ---------------------------------------------------------------------------
// 7. Events.

#[tokio::test]
async fn moment_events_are_keyed_by_moment_id_and_carry_the_specified_fields() {
    let api = Api::new();
    let (author, f) = tokio::join!(new_user(&api, "mev"), new_user(&api, "mevf"));
    befriend(&api, &author, &f).await;
    let file = image(&api, &author, 33, 22).await;
    let m = posted(&api, &author, json!({ "text": "logged", "media": [{ "file_id": file }], "visibility": "selected", "users": [f.id] })).await;
    view(&api, &f, &m, "f sees it").await;
    liked(&api, &f, &m, true).await;
    let c = commented(&api, &f, &m, "logged comment", None).await;
    let r = commented(&api, &author, &m, "logged reply", Some(&c)).await;
    liked(&api, &f, &m, false).await;
    status(delete_comment(&api, &f, &m, &c).await, 200, "deleting the comment");
    status(delete_moment(&api, &author, &m).await, 200, "deleting the moment");

    let deadline = Instant::now() + SETTLE;
    let records = loop {
        let id = m.clone();
        let records = tokio::task::spawn_blocking(move || {
            use rdkafka::message::Message;
            let mut out: Vec<(String, Value)> = Vec::new();
            each_record(TOPIC, |rec| {
                let Some(p) = rec.payload() else { return };
                if String::from_utf8_lossy(p).contains(&id) {
                    out.push((String::from_utf8_lossy(rec.key().unwrap_or_default()).into_owned(), serde_json::from_slice(p).unwrap_or(Value::Null)));
                }
            });
            out
        })
        .await
        .unwrap();
        if records.iter().any(|(_, v)| v["event_type"] == "MomentDeleted") {
            break records;
        }
        assert!(Instant::now() < deadline, "MomentDeleted on {TOPIC} within {SETTLE:?}: {records:#?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let types: Vec<&str> = records.iter().map(|(_, v)| v["event_type"].as_str().unwrap_or("?")).collect();
    assert_eq!(
        types,
        vec!["MomentPosted", "MomentLiked", "MomentCommented", "MomentCommented", "MomentUnliked", "MomentCommentDeleted", "MomentDeleted"],
        "the moment's events in order: {records:#?}"
    );
    for (key, v) in &records {
        assert_eq!(key, &m, "keyed by the moment id: {v}");
        assert_eq!(v["payload"]["moment_id"], m.as_str(), "{v}");
    }
    let p = &records[0].1["payload"];
    assert_eq!(p["author_id"], author.id.as_str(), "{p}");
    assert_eq!(p["text"], "logged", "{p}");
    assert_eq!(p["visibility"], "selected", "{p}");
    assert_eq!(p["users"], json!([f.id]), "{p}");
    let md = &p["media"][0];
    assert_eq!((md["file_id"].as_str(), md["kind"].as_str()), (Some(file.as_str()), Some("image")), "{p}");
    assert_eq!((md["width"].as_u64(), md["height"].as_u64()), (Some(33), Some(22)), "{p}");
    for i in [1, 4] {
        let p = &records[i].1["payload"];
        assert_eq!((p["author_id"].as_str(), p["user_id"].as_str()), (Some(author.id.as_str()), Some(f.id.as_str())), "{p}");
    }
    let p = &records[2].1["payload"];
    assert_eq!((p["comment_id"].as_str(), p["user_id"].as_str(), p["text"].as_str()), (Some(c.as_str()), Some(f.id.as_str()), Some("logged comment")), "{p}");
    assert!(p["reply_to"].is_null() && p["reply_to_user_id"].is_null(), "{p}");
    let p = &records[3].1["payload"];
    assert_eq!(
        (p["comment_id"].as_str(), p["reply_to"].as_str(), p["reply_to_user_id"].as_str()),
        (Some(r.as_str()), Some(c.as_str()), Some(f.id.as_str())),
        "{p}"
    );
    assert_eq!(records[5].1["payload"]["comment_id"], c.as_str(), "{:?}", records[5]);
    assert_eq!(records[6].1["payload"]["author_id"], author.id.as_str(), "{:?}", records[6]);
}
