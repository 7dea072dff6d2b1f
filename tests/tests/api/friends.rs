//! Friends: requests, the friend list, remarks, blocks and incremental sync,
//! end to end, as docs/social.md specifies them.

use crate::helpers::{events_mentioning, unique, Answer, Api, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Shared helpers (also used by groups.rs).

/// A registered, logged-in user with a known nickname.
pub(crate) struct User {
    pub id: String,
    pub name: String,
    pub nickname: String,
    pub token: String,
}

/// Registers `unique(prefix)` with a nickname and logs in.
pub(crate) async fn new_user(api: &Api, prefix: &str) -> User {
    let name = unique(prefix);
    let nickname = format!("Nick {}", &name[name.len() - 12..]);
    let id = api
        .post("/api/user/register", None, json!({ "username": name, "password": PASSWORD, "nickname": nickname }))
        .await
        .expect(200)
        .data()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = api.login(&name).await["access_token"].as_str().unwrap().to_owned();
    User { id, name, nickname, token }
}

/// `n` new users, signed up concurrently.
pub(crate) async fn new_users(api: &Api, prefix: &str, n: usize) -> Vec<User> {
    futures::future::join_all((0..n).map(|_| new_user(api, prefix))).await
}

pub(crate) async fn delete(api: &Api, path: &str, token: Option<&str>) -> Answer {
    api.call(Method::DELETE, path, token, None).await
}

/// `a` asks `b`, `b` accepts: afterwards they are friends.
pub(crate) async fn befriend(api: &Api, a: &User, b: &User) {
    let asked = api.post("/api/friend/requests", Some(&a.token), json!({ "to_user_id": b.id })).await.expect(200);
    assert_eq!(asked.data()["status"], "pending", "{}", asked.body);
    let rid = asked.data()["request_id"].as_str().unwrap().to_owned();
    let accepted = api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&b.token), json!({})).await.expect(200);
    assert_eq!(accepted.data()["status"], "accepted", "{}", accepted.body);
    assert_eq!(accepted.data()["friend_user_id"], a.id.as_str(), "{}", accepted.body);
}

/// `center` befriends every one of `others`, concurrently.
pub(crate) async fn befriend_all(api: &Api, center: &User, others: &[&User]) {
    futures::future::join_all(others.iter().map(|o| befriend(api, center, o))).await;
}

/// The element of the JSON array `list` whose `key` equals `id`.
pub(crate) fn find<'a>(list: &'a Value, key: &str, id: &str) -> Option<&'a Value> {
    list.as_array().unwrap_or_else(|| panic!("expected a list, got {list}")).iter().find(|e| e[key] == id)
}

/// The `key` of every element of the JSON array `list` (elements that are
/// plain strings are taken as the id themselves).
pub(crate) fn ids(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("expected a list, got {list}"))
        .iter()
        .map(|e| match e {
            Value::String(s) => s.clone(),
            _ => e[key].as_str().unwrap_or_else(|| panic!("no {key} in {e}")).to_owned(),
        })
        .collect()
}

pub(crate) fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Null or the empty string: an unset optional text.
pub(crate) fn blank(v: &Value) -> bool {
    v.as_str().map_or(v.is_null(), str::is_empty)
}

/// The `version` of a list answer.
pub(crate) fn version(a: &Answer) -> i64 {
    a.data()["version"].as_i64().unwrap_or_else(|| panic!("a list answer needs an integer version: {}", a.body))
}

pub(crate) async fn assert_nothing_appended(marker: &str) {
    let found = events_mentioning(marker).await;
    assert!(found.is_empty(), "a refused command appended events: {found:#?}");
}

/// Every event on any topic that mentions both users.
async fn events_between(a: &str, b: &str) -> Vec<Value> {
    events_mentioning(a).await.into_iter().filter(|e| e.to_string().contains(b)).collect()
}

async fn ask(api: &Api, from: &User, to: &str, message: Option<&str>) -> Answer {
    let body = match message {
        Some(m) => json!({ "to_user_id": to, "message": m }),
        None => json!({ "to_user_id": to }),
    };
    api.post("/api/friend/requests", Some(&from.token), body).await
}

fn request_id(a: &Answer) -> String {
    a.data()["request_id"].as_str().unwrap_or_else(|| panic!("no request_id: {}", a.body)).to_owned()
}

async fn friend_list(api: &Api, user: &User) -> Answer {
    api.get("/api/friend/list", Some(&user.token)).await.expect(200)
}

async fn requests(api: &Api, user: &User, query: &str) -> Answer {
    api.get(&format!("/api/friend/requests{query}"), Some(&user.token)).await.expect(200)
}

fn friend_ids(list: &Answer) -> Vec<String> {
    sorted(ids(&list.data()["friends"], "user_id"))
}

// ---------------------------------------------------------------------------
// Requests.

#[tokio::test]
async fn an_accepted_request_puts_each_user_in_the_others_friend_list() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"));
    let marker = unique("hello");

    let asked = ask(&api, &ann, &bob.id, Some(&marker)).await.expect(200);
    assert_eq!(asked.data()["status"], "pending", "{}", asked.body);
    let rid = request_id(&asked);

    let incoming = requests(&api, &bob, "?direction=incoming").await;
    version(&incoming);
    let r = find(&incoming.data()["requests"], "request_id", &rid).unwrap_or_else(|| panic!("bob must see ann's request: {}", incoming.body));
    assert_eq!(r["from_user_id"], ann.id.as_str());
    assert_eq!(r["to_user_id"], bob.id.as_str());
    assert_eq!(r["message"], marker.as_str());
    assert_eq!(r["status"], "pending");
    assert!(!r["created_at"].is_null() && !r["updated_at"].is_null(), "{r}");
    assert!(r["version"].is_i64(), "{r}");

    let outgoing = requests(&api, &ann, "?direction=outgoing").await;
    assert!(find(&outgoing.data()["requests"], "request_id", &rid).is_some(), "ann must see her own request: {}", outgoing.body);
    // Each side sees it only in its own direction...
    assert!(find(&requests(&api, &ann, "?direction=incoming").await.data()["requests"], "request_id", &rid).is_none());
    assert!(find(&requests(&api, &bob, "?direction=outgoing").await.data()["requests"], "request_id", &rid).is_none());
    // ... and without a direction, both directions are listed.
    assert!(find(&requests(&api, &bob, "").await.data()["requests"], "request_id", &rid).is_some());
    assert!(find(&requests(&api, &ann, "").await.data()["requests"], "request_id", &rid).is_some());

    let accepted = api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&bob.token), json!({})).await.expect(200);
    assert_eq!(accepted.data()["request_id"], rid.as_str());
    assert_eq!(accepted.data()["status"], "accepted");
    assert_eq!(accepted.data()["friend_user_id"], ann.id.as_str());

    for (me, other) in [(&ann, &bob), (&bob, &ann)] {
        let list = friend_list(&api, me).await;
        assert_eq!(friend_ids(&list), vec![other.id.clone()], "{}", list.body);
        let f = &list.data()["friends"][0];
        assert_eq!(f["username"], other.name.as_str(), "{f}");
        assert_eq!(f["nickname"], other.nickname.as_str(), "{f}");
        assert!(blank(&f["remark"]), "no remark was set: {f}");
        assert!(f.get("avatar").is_some(), "{f}");
        assert!(!f["since"].is_null(), "{f}");
        assert!(f["version"].is_i64(), "{f}");
        assert_eq!(list.data()["removed"], json!([]), "without since_version nothing is removed: {}", list.body);
        version(&list);
    }

    // A decided request, if still listed, is no longer pending.
    let incoming = requests(&api, &bob, "?direction=incoming").await;
    if let Some(r) = find(&incoming.data()["requests"], "request_id", &rid) {
        assert_eq!(r["status"], "accepted", "{r}");
    }
    // The request is a recorded change: its message is in the log (which also
    // shows that the "nothing appended" checks elsewhere look in the right place).
    assert!(!events_mentioning(&marker).await.is_empty(), "the friend request must be an event");
}

#[tokio::test]
async fn a_rejected_request_makes_no_friends_and_may_be_asked_again() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"));
    let rid = request_id(&ask(&api, &ann, &bob.id, None).await.expect(200));

    let rejected = api.post(&format!("/api/friend/requests/{rid}/reject"), Some(&bob.token), json!({})).await.expect(200);
    assert_eq!(rejected.data()["request_id"], rid.as_str());
    assert_eq!(rejected.data()["status"], "rejected");

    assert!(friend_ids(&friend_list(&api, &ann).await).is_empty());
    assert!(friend_ids(&friend_list(&api, &bob).await).is_empty());
    let outgoing = requests(&api, &ann, "?direction=outgoing").await;
    if let Some(r) = find(&outgoing.data()["requests"], "request_id", &rid) {
        assert_eq!(r["status"], "rejected", "{r}");
    }

    // The request is no longer pending, so ann may ask again.
    let again = ask(&api, &ann, &bob.id, None).await.expect(200);
    assert_eq!(again.data()["status"], "pending");
    assert_ne!(request_id(&again), rid);
}

#[tokio::test]
async fn deciding_a_request_that_is_no_longer_pending_is_409_request_not_pending() {
    let api = Api::new();
    let (ann, bob, cid) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"), new_user(&api, "cid"));
    let accepted = request_id(&ask(&api, &ann, &bob.id, None).await.expect(200));
    api.post(&format!("/api/friend/requests/{accepted}/accept"), Some(&bob.token), json!({})).await.expect(200);
    let rejected = request_id(&ask(&api, &cid, &bob.id, None).await.expect(200));
    api.post(&format!("/api/friend/requests/{rejected}/reject"), Some(&bob.token), json!({})).await.expect(200);

    for rid in [&accepted, &rejected] {
        for decision in ["accept", "reject"] {
            let a = api.post(&format!("/api/friend/requests/{rid}/{decision}"), Some(&bob.token), json!({})).await.expect(409);
            assert_eq!(a.error_kind(), "request_not_pending", "{}", a.body);
        }
    }
    // The second decision changed nothing.
    assert_eq!(friend_ids(&friend_list(&api, &bob).await), vec![ann.id.clone()]);
}

#[tokio::test]
async fn when_both_users_ask_each_other_the_second_request_accepts_the_first() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"));
    let first = request_id(&ask(&api, &ann, &bob.id, None).await.expect(200));

    let second = ask(&api, &bob, &ann.id, None).await.expect(200);
    assert_eq!(second.data()["status"], "accepted", "{}", second.body);
    assert_eq!(second.data()["request_id"], first.as_str(), "the answer names ann's request: {}", second.body);

    assert_eq!(friend_ids(&friend_list(&api, &ann).await), vec![bob.id.clone()]);
    assert_eq!(friend_ids(&friend_list(&api, &bob).await), vec![ann.id.clone()]);
    // Nothing is left pending between them.
    for (user, direction) in [(&bob, "incoming"), (&ann, "outgoing"), (&ann, "incoming"), (&bob, "outgoing")] {
        let list = requests(&api, user, &format!("?direction={direction}")).await;
        for r in list.data()["requests"].as_array().unwrap() {
            assert_ne!(r["status"], "pending", "{direction} of {}: {r}", user.name);
        }
    }
}

#[tokio::test]
async fn a_request_to_yourself_or_with_an_overlong_message_is_422_and_appends_nothing() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"));
    let marker = unique("selfish");

    let to_self = ask(&api, &ann, &ann.id, Some(&marker)).await.expect(422);
    assert_eq!(to_self.error_kind(), "invalid_field", "{}", to_self.body);
    assert_eq!(to_self.data()["field"], "to_user_id", "{}", to_self.body);

    let long = format!("{marker}{}", "x".repeat(201 - marker.chars().count()));
    let too_long = ask(&api, &ann, &bob.id, Some(&long)).await.expect(422);
    assert_eq!(too_long.data()["field"], "message", "{}", too_long.body);

    assert_nothing_appended(&marker).await;
    assert!(requests(&api, &bob, "?direction=incoming").await.data()["requests"].as_array().unwrap().is_empty());

    // 200 characters (not bytes) is still fine.
    let ok = ask(&api, &ann, &bob.id, Some(&"é".repeat(200))).await.expect(200);
    assert_eq!(ok.data()["status"], "pending");
}

#[tokio::test]
async fn a_request_to_a_friend_is_409_already_friends() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"));
    befriend(&api, &ann, &bob).await;
    for (from, to) in [(&ann, &bob), (&bob, &ann)] {
        let a = ask(&api, from, &to.id, None).await.expect(409);
        assert_eq!(a.error_kind(), "already_friends", "{}", a.body);
    }
}

#[tokio::test]
async fn a_second_request_while_the_first_is_pending_is_409_request_pending_and_appends_nothing() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"));
    let first = request_id(&ask(&api, &ann, &bob.id, Some("hi")).await.expect(200));
    let marker = unique("again");
    let a = ask(&api, &ann, &bob.id, Some(&marker)).await.expect(409);
    assert_eq!(a.error_kind(), "request_pending", "{}", a.body);
    assert_nothing_appended(&marker).await;

    let incoming = requests(&api, &bob, "?direction=incoming").await;
    assert_eq!(ids(&incoming.data()["requests"], "request_id"), vec![first], "{}", incoming.body);
}

#[tokio::test]
async fn a_request_to_someone_you_blocked_is_409_user_blocked() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"));
    api.post("/api/friend/blocks", Some(&ann.token), json!({ "user_id": bob.id })).await.expect(200);
    let a = ask(&api, &ann, &bob.id, None).await.expect(409);
    assert_eq!(a.error_kind(), "user_blocked", "{}", a.body);
}

#[tokio::test]
async fn a_request_from_a_blocked_user_looks_pending_to_the_sender_but_never_reaches_the_recipient() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"));
    api.post("/api/friend/blocks", Some(&bob.token), json!({ "user_id": ann.id })).await.expect(200);

    let asked = ask(&api, &ann, &bob.id, Some("let me in")).await.expect(200);
    assert_eq!(asked.data()["status"], "pending", "the blocked sender must not learn of the block: {}", asked.body);
    let rid = request_id(&asked);

    let outgoing = requests(&api, &ann, "?direction=outgoing").await;
    let r = find(&outgoing.data()["requests"], "request_id", &rid).unwrap_or_else(|| panic!("listed for the sender: {}", outgoing.body));
    assert_eq!(r["status"], "pending");

    for query in ["?direction=incoming", "", "?since_version=0"] {
        let seen = requests(&api, &bob, query).await;
        let list = &seen.data()["requests"];
        assert!(find(list, "request_id", &rid).is_none(), "the recipient must not see it ({query}): {}", seen.body);
        assert!(find(list, "from_user_id", &ann.id).is_none(), "the recipient must not see it ({query}): {}", seen.body);
    }
    assert!(friend_ids(&friend_list(&api, &bob).await).is_empty());
}

#[tokio::test]
async fn only_the_recipient_may_decide_a_request_for_anyone_else_it_does_not_exist() {
    let api = Api::new();
    let (ann, bob, cid) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"), new_user(&api, "cid"));
    let rid = request_id(&ask(&api, &ann, &bob.id, None).await.expect(200));

    for someone in [&ann, &cid] {
        for decision in ["accept", "reject"] {
            let a = api.post(&format!("/api/friend/requests/{rid}/{decision}"), Some(&someone.token), json!({})).await.expect(404);
            assert_eq!(a.error_kind(), "not_found", "{} {decision}: {}", someone.name, a.body);
        }
    }
    // Still pending for bob, who can accept it.
    let incoming = requests(&api, &bob, "?direction=incoming").await;
    assert_eq!(find(&incoming.data()["requests"], "request_id", &rid).unwrap()["status"], "pending");
    api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&bob.token), json!({})).await.expect(200);

    // An unknown request is 404 too, a malformed request id 400.
    let unknown = uuid::Uuid::new_v4();
    let a = api.post(&format!("/api/friend/requests/{unknown}/accept"), Some(&bob.token), json!({})).await.expect(404);
    assert_eq!(a.error_kind(), "not_found");
    api.post("/api/friend/requests/not-a-uuid/accept", Some(&bob.token), json!({})).await.expect(400);
    api.post("/api/friend/requests/not-a-uuid/reject", Some(&bob.token), json!({})).await.expect(400);
}

// ---------------------------------------------------------------------------
// Remarks and unfriending.

#[tokio::test]
async fn a_remark_is_shown_only_in_its_authors_list_and_an_empty_one_clears_it() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"));
    befriend(&api, &ann, &bob).await;

    let set = api.put(&format!("/api/friend/{}/remark", bob.id), Some(&ann.token), json!({ "remark": "Bobby from work" })).await.expect(200);
    assert_eq!(set.data()["user_id"], bob.id.as_str());
    assert_eq!(set.data()["remark"], "Bobby from work");
    let list = friend_list(&api, &ann).await;
    assert_eq!(find(&list.data()["friends"], "user_id", &bob.id).unwrap()["remark"], "Bobby from work");
    let theirs = friend_list(&api, &bob).await;
    assert!(blank(&find(&theirs.data()["friends"], "user_id", &ann.id).unwrap()["remark"]), "{}", theirs.body);

    // 32 characters (not bytes) is the limit.
    let longest = "ü".repeat(32);
    api.put(&format!("/api/friend/{}/remark", bob.id), Some(&ann.token), json!({ "remark": longest })).await.expect(200);
    let marker = unique("remark");
    let too_long = format!("{marker}{}", "r".repeat(33 - marker.chars().count()));
    let a = api.put(&format!("/api/friend/{}/remark", bob.id), Some(&ann.token), json!({ "remark": too_long })).await.expect(422);
    assert_eq!(a.data()["field"], "remark", "{}", a.body);
    let list = friend_list(&api, &ann).await;
    assert_eq!(find(&list.data()["friends"], "user_id", &bob.id).unwrap()["remark"], longest.as_str());

    let cleared = api.put(&format!("/api/friend/{}/remark", bob.id), Some(&ann.token), json!({ "remark": "" })).await.expect(200);
    assert!(blank(&cleared.data()["remark"]), "{}", cleared.body);
    let list = friend_list(&api, &ann).await;
    assert!(blank(&find(&list.data()["friends"], "user_id", &bob.id).unwrap()["remark"]), "{}", list.body);

    assert_nothing_appended(&marker).await;
}

#[tokio::test]
async fn a_remark_on_someone_who_is_not_a_friend_is_404() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"));
    // The spec names no error kind here, only the status.
    api.put(&format!("/api/friend/{}/remark", bob.id), Some(&ann.token), json!({ "remark": "stranger" })).await.expect(404);
    // ... nor on a former friend.
    befriend(&api, &ann, &bob).await;
    delete(&api, &format!("/api/friend/{}", bob.id), Some(&ann.token)).await.expect(200);
    api.put(&format!("/api/friend/{}/remark", bob.id), Some(&ann.token), json!({ "remark": "ex" })).await.expect(404);
}

#[tokio::test]
async fn unfriending_removes_the_friendship_on_both_sides_and_a_non_friend_is_deleted_as_a_no_op() {
    let api = Api::new();
    let (ann, bob, cid) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"), new_user(&api, "cid"));
    befriend(&api, &ann, &bob).await;

    let removed = delete(&api, &format!("/api/friend/{}", bob.id), Some(&ann.token)).await.expect(200);
    assert_eq!(removed.data()["user_id"], bob.id.as_str());
    assert_eq!(removed.data()["removed"], true);
    assert!(friend_ids(&friend_list(&api, &ann).await).is_empty());
    assert!(friend_ids(&friend_list(&api, &bob).await).is_empty());

    // Deleting someone who is not (or no longer) a friend succeeds...
    let again = delete(&api, &format!("/api/friend/{}", ann.id), Some(&bob.token)).await.expect(200);
    assert_eq!(again.data()["user_id"], ann.id.as_str());
    let stranger = delete(&api, &format!("/api/friend/{}", cid.id), Some(&ann.token)).await.expect(200);
    assert_eq!(stranger.data()["user_id"], cid.id.as_str());
    // ... and appends nothing: no event ever mentions both ann and cid.
    let between = events_between(&cid.id, &ann.id).await;
    assert!(between.is_empty(), "deleting a non-friend appended: {between:#?}");

    // Once unfriended, they may become friends again.
    befriend(&api, &bob, &ann).await;
    assert_eq!(friend_ids(&friend_list(&api, &ann).await), vec![bob.id.clone()]);
}

// ---------------------------------------------------------------------------
// Blocks.

#[tokio::test]
async fn blocking_and_unblocking_are_idempotent_and_shown_in_the_block_list() {
    let api = Api::new();
    let (ann, bob, cid) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"), new_user(&api, "cid"));

    let blocked = api.post("/api/friend/blocks", Some(&ann.token), json!({ "user_id": bob.id })).await.expect(200);
    assert_eq!(blocked.data()["user_id"], bob.id.as_str());
    assert_eq!(blocked.data()["blocked"], true);
    let list = api.get("/api/friend/blocks", Some(&ann.token)).await.expect(200);
    version(&list);
    assert_eq!(ids(&list.data()["blocks"], "user_id"), vec![bob.id.clone()], "{}", list.body);
    let b = &list.data()["blocks"][0];
    assert_eq!(b["username"], bob.name.as_str());
    assert_eq!(b["nickname"], bob.nickname.as_str());
    assert!(b.get("avatar").is_some(), "{b}");
    assert!(!b["blocked_at"].is_null(), "{b}");
    assert!(b["version"].is_i64(), "{b}");
    assert_eq!(list.data()["removed"], json!([]));
    // bob does not see ann's block of him in his own list.
    let his = api.get("/api/friend/blocks", Some(&bob.token)).await.expect(200);
    assert!(his.data()["blocks"].as_array().unwrap().is_empty(), "{}", his.body);

    let recorded = events_between(&ann.id, &bob.id).await.len();
    assert!(recorded >= 1, "the block must be an event");

    // Blocking again and unblocking someone never blocked succeed and append nothing.
    let again = api.post("/api/friend/blocks", Some(&ann.token), json!({ "user_id": bob.id })).await.expect(200);
    assert_eq!(again.data()["blocked"], true);
    let never = delete(&api, &format!("/api/friend/blocks/{}", cid.id), Some(&ann.token)).await.expect(200);
    assert_eq!(never.data()["user_id"], cid.id.as_str());
    assert_eq!(never.data()["blocked"], false);
    let about_ann = events_mentioning(&ann.id).await;
    assert_eq!(about_ann.iter().filter(|e| e.to_string().contains(&bob.id)).count(), recorded, "blocking twice appended");
    assert_eq!(about_ann.iter().filter(|e| e.to_string().contains(&cid.id)).count(), 0, "unblocking a non-blocked user appended");
    let list = api.get("/api/friend/blocks", Some(&ann.token)).await.expect(200);
    assert_eq!(ids(&list.data()["blocks"], "user_id"), vec![bob.id.clone()], "listed once: {}", list.body);

    let unblocked = delete(&api, &format!("/api/friend/blocks/{}", bob.id), Some(&ann.token)).await.expect(200);
    assert_eq!(unblocked.data()["user_id"], bob.id.as_str());
    assert_eq!(unblocked.data()["blocked"], false);
    let list = api.get("/api/friend/blocks", Some(&ann.token)).await.expect(200);
    assert!(list.data()["blocks"].as_array().unwrap().is_empty(), "{}", list.body);
    delete(&api, &format!("/api/friend/blocks/{}", bob.id), Some(&ann.token)).await.expect(200);

    // Unblocked, ann may ask bob again.
    ask(&api, &ann, &bob.id, None).await.expect(200);
}

#[tokio::test]
async fn blocking_yourself_is_422() {
    let api = Api::new();
    let ann = new_user(&api, "ann").await;
    api.post("/api/friend/blocks", Some(&ann.token), json!({ "user_id": ann.id })).await.expect(422);
    let list = api.get("/api/friend/blocks", Some(&ann.token)).await.expect(200);
    assert!(list.data()["blocks"].as_array().unwrap().is_empty(), "{}", list.body);
}

#[tokio::test]
async fn blocking_a_friend_does_not_end_the_friendship() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "ann"), new_user(&api, "bob"));
    befriend(&api, &ann, &bob).await;
    api.post("/api/friend/blocks", Some(&ann.token), json!({ "user_id": bob.id })).await.expect(200);
    assert_eq!(friend_ids(&friend_list(&api, &ann).await), vec![bob.id.clone()]);
    assert_eq!(friend_ids(&friend_list(&api, &bob).await), vec![ann.id.clone()]);
}

// ---------------------------------------------------------------------------
// Ids, auth.

#[tokio::test]
async fn an_unknown_user_is_404_and_a_malformed_user_id_in_the_path_is_400() {
    let api = Api::new();
    let ann = new_user(&api, "ann").await;
    let unknown = uuid::Uuid::new_v4().to_string();

    let a = ask(&api, &ann, &unknown, None).await.expect(404);
    assert_eq!(a.error_kind(), "not_found", "{}", a.body);
    let a = api.post("/api/friend/blocks", Some(&ann.token), json!({ "user_id": unknown })).await.expect(404);
    assert_eq!(a.error_kind(), "not_found", "{}", a.body);
    let a = api.put(&format!("/api/friend/{unknown}/remark"), Some(&ann.token), json!({ "remark": "x" })).await.expect(404);
    assert_eq!(a.error_kind(), "not_found", "{}", a.body);

    api.put("/api/friend/not-a-uuid/remark", Some(&ann.token), json!({ "remark": "x" })).await.expect(400);
    delete(&api, "/api/friend/not-a-uuid", Some(&ann.token)).await.expect(400);
    delete(&api, "/api/friend/blocks/not-a-uuid", Some(&ann.token)).await.expect(400);
}

#[tokio::test]
async fn friend_calls_without_a_token_are_401() {
    let api = Api::new();
    let id = uuid::Uuid::new_v4();
    api.post("/api/friend/requests", None, json!({ "to_user_id": id })).await.expect(401);
    api.post(&format!("/api/friend/requests/{id}/accept"), None, json!({})).await.expect(401);
    api.post(&format!("/api/friend/requests/{id}/reject"), None, json!({})).await.expect(401);
    api.get("/api/friend/requests", None).await.expect(401);
    api.get("/api/friend/list", None).await.expect(401);
    api.put(&format!("/api/friend/{id}/remark"), None, json!({ "remark": "x" })).await.expect(401);
    delete(&api, &format!("/api/friend/{id}"), None).await.expect(401);
    api.post("/api/friend/blocks", None, json!({ "user_id": id })).await.expect(401);
    delete(&api, &format!("/api/friend/blocks/{id}"), None).await.expect(401);
    api.get("/api/friend/blocks", None).await.expect(401);
    api.get("/api/friend/list", Some("not.a.jwt")).await.expect(401);
}

// ---------------------------------------------------------------------------
// Incremental sync.

#[tokio::test]
async fn the_friend_list_syncs_incrementally_from_a_version() {
    let api = Api::new();
    let users = new_users(&api, "sync", 4).await;
    let (ann, bob, cid, dan) = (&users[0], &users[1], &users[2], &users[3]);
    befriend_all(&api, ann, &[bob, cid]).await;

    let before = friend_list(&api, ann).await;
    let v0 = version(&before);
    assert_eq!(friend_ids(&before), sorted(vec![bob.id.clone(), cid.id.clone()]));
    let bob_v0 = version(&friend_list(&api, bob).await);

    befriend(&api, ann, dan).await;
    delete(&api, &format!("/api/friend/{}", bob.id), Some(&ann.token)).await.expect(200);

    let delta = api.get(&format!("/api/friend/list?since_version={v0}"), Some(&ann.token)).await.expect(200);
    let v1 = version(&delta);
    assert!(v1 > v0, "the version must grow with changes: {v0} -> {}", delta.body);
    assert_ne!(delta.data()["full_sync"], true, "{}", delta.body);
    assert_eq!(friend_ids(&delta), vec![dan.id.clone()], "only the new friend is in the delta: {}", delta.body);
    let added_at = delta.data()["friends"][0]["version"].as_i64().unwrap();
    assert!(added_at > v0 && added_at <= v1, "{}", delta.body);
    assert_eq!(delta.data()["friends"][0]["username"], dan.name.as_str());
    assert_eq!(ids(&delta.data()["removed"], "user_id"), vec![bob.id.clone()], "{}", delta.body);
    let removed_at = delta.data()["removed"][0]["version"].as_i64().unwrap();
    assert!(removed_at > v0 && removed_at <= v1, "{}", delta.body);

    // The other side of the unfriending sees it as a removal too.
    let bobs = api.get(&format!("/api/friend/list?since_version={bob_v0}"), Some(&bob.token)).await.expect(200);
    assert_eq!(ids(&bobs.data()["removed"], "user_id"), vec![ann.id.clone()], "{}", bobs.body);
    assert!(bobs.data()["removed"][0]["version"].as_i64().unwrap() > bob_v0);
    assert!(friend_ids(&bobs).is_empty(), "{}", bobs.body);

    // Without since_version: the full list, nothing removed.
    let full = friend_list(&api, ann).await;
    assert_eq!(friend_ids(&full), sorted(vec![cid.id.clone(), dan.id.clone()]));
    assert_eq!(full.data()["removed"], json!([]));
    assert_eq!(version(&full), v1);

    // Up to date: nothing new.
    let none = api.get(&format!("/api/friend/list?since_version={v1}"), Some(&ann.token)).await.expect(200);
    assert!(friend_ids(&none).is_empty(), "{}", none.body);
    assert_eq!(none.data()["removed"], json!([]), "{}", none.body);
    assert_eq!(version(&none), v1);

    // A version from the future (a rebuilt read model): the full list, flagged.
    let ahead = api.get(&format!("/api/friend/list?since_version={}", v1 + 1000), Some(&ann.token)).await.expect(200);
    assert_eq!(ahead.data()["full_sync"], true, "{}", ahead.body);
    assert_eq!(friend_ids(&ahead), sorted(vec![cid.id.clone(), dan.id.clone()]), "{}", ahead.body);
}

#[tokio::test]
async fn the_block_and_request_lists_sync_incrementally_too() {
    let api = Api::new();
    let users = new_users(&api, "sync", 4).await;
    let (ann, bob, cid, dan) = (&users[0], &users[1], &users[2], &users[3]);

    // Blocks.
    api.post("/api/friend/blocks", Some(&ann.token), json!({ "user_id": bob.id })).await.expect(200);
    let v0 = version(&api.get("/api/friend/blocks", Some(&ann.token)).await.expect(200));
    delete(&api, &format!("/api/friend/blocks/{}", bob.id), Some(&ann.token)).await.expect(200);
    api.post("/api/friend/blocks", Some(&ann.token), json!({ "user_id": cid.id })).await.expect(200);
    let delta = api.get(&format!("/api/friend/blocks?since_version={v0}"), Some(&ann.token)).await.expect(200);
    assert!(version(&delta) > v0, "{}", delta.body);
    assert_eq!(ids(&delta.data()["blocks"], "user_id"), vec![cid.id.clone()], "{}", delta.body);
    assert!(delta.data()["blocks"][0]["version"].as_i64().unwrap() > v0);
    assert_eq!(ids(&delta.data()["removed"], "user_id"), vec![bob.id.clone()], "{}", delta.body);
    assert!(delta.data()["removed"][0]["version"].as_i64().unwrap() > v0);

    // Incoming requests.
    let first = request_id(&ask(&api, cid, &dan.id, None).await.expect(200));
    let r0 = version(&requests(&api, dan, "?direction=incoming").await);
    let second = request_id(&ask(&api, bob, &dan.id, None).await.expect(200));
    let delta = requests(&api, dan, &format!("?direction=incoming&since_version={r0}")).await;
    assert!(version(&delta) > r0, "{}", delta.body);
    let listed = ids(&delta.data()["requests"], "request_id");
    assert!(listed.contains(&second), "{}", delta.body);
    assert!(!listed.contains(&first), "an unchanged request is not in the delta: {}", delta.body);
}
