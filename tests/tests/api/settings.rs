//! Settings, `GET` and `PATCH /api/user/settings`, as docs/services.md
//! ("Settings") specifies them: the defaults, JSON merge patch semantics,
//! the field rules, `UserSettingsChanged` on `beaver.users.v1`, and what each
//! privacy flag does to friend requests, search, presence and read receipts.
//! Written from the spec alone.

use crate::chat::{direct_id, friends_pair, owner_with_friends, sent, seq, text_in, text_to};
use crate::friends::{befriend, find, ids, new_user, sorted, User};
use crate::helpers::{each_record, events_where, unique, unique_phone, Answer, Api, PASSWORD};
use crate::ws::{connect, percent, Ws, GATEWAY, WAIT};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const SETTINGS: &str = "/api/user/settings";
const USERS_TOPIC: &str = "beaver.users.v1";
/// How long to watch for a frame that must not arrive, after a positive control.
const QUIET: Duration = Duration::from_millis(1500);
/// How long a change that is allowed to propagate may take.
const SETTLE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Helpers.

/// The spec's example: a document with every field at its default.
fn defaults() -> Value {
    json!({
        "privacy": { "friend_requests": "everyone", "searchable_by_email": true, "searchable_by_phone": true,
                     "show_online": true, "read_receipts": true },
        "notifications": { "push": "all", "previews": true,
                           "categories": { "messages": true, "groups": true, "friends": true, "moments": true, "calls": true, "system": true },
                           "do_not_disturb": { "enabled": false, "start": "22:00", "end": "07:00", "time_zone": "UTC" } },
        "client": {},
        "version": 0
    })
}

async fn get_settings(api: &Api, token: Option<&str>) -> Answer {
    api.get(SETTINGS, token).await
}

/// The caller's document (200 expected).
async fn mine(api: &Api, user: &User) -> Value {
    let a = get_settings(api, Some(&user.token)).await;
    assert_eq!(a.status.as_u16(), 200, "GET {SETTINGS}: {}", a.body);
    a.expect(200).data().clone()
}

async fn patch(api: &Api, token: Option<&str>, body: Value) -> Answer {
    api.call(Method::PATCH, SETTINGS, token, Some(body)).await
}

/// A PATCH with a raw body and an explicit content type.
async fn patch_raw(api: &Api, token: &str, content_type: &str, body: &str) -> Answer {
    api.send(api.raw(Method::PATCH, SETTINGS).bearer_auth(token).header("content-type", content_type).body(body.to_owned())).await
}

/// Patches, expects 200 with a whole document that GET then shows; returns it.
async fn patched(api: &Api, user: &User, body: Value) -> Value {
    let a = patch(api, Some(&user.token), body.clone()).await;
    assert_eq!(a.status.as_u16(), 200, "PATCH {body}: {}", a.body);
    accepted(api, user, a.expect(200), &body.to_string()).await
}

/// The answer to an accepted PATCH: a whole document, the one GET shows.
async fn accepted(api: &Api, user: &User, a: Answer, what: &str) -> Value {
    let doc = a.data().clone();
    assert_shape(&doc, what);
    assert_eq!(mine(api, user).await, doc, "GET shows what PATCH {what} answered");
    doc
}

/// Every field of the spec's document is there with its JSON type; nothing else
/// (outside `client`), `client` an object, `version` a non-negative integer.
fn assert_shape(doc: &Value, what: &str) {
    fn same_shape(got: &Value, want: &Value, path: &str, what: &str) {
        match want {
            Value::Object(w) => {
                let g = got.as_object().unwrap_or_else(|| panic!("{what}: {path} is an object: {got}"));
                let mut gk: Vec<&String> = g.keys().collect();
                let mut wk: Vec<&String> = w.keys().collect();
                gk.sort();
                wk.sort();
                assert_eq!(gk, wk, "{what}: the keys of {path}");
                for (k, v) in w {
                    same_shape(&g[k], v, &format!("{path}.{k}"), what);
                }
            }
            Value::Bool(_) => assert!(got.is_boolean(), "{what}: {path} is a boolean: {got}"),
            Value::String(_) => assert!(got.is_string(), "{what}: {path} is a string: {got}"),
            _ => unreachable!(),
        }
    }
    let d = defaults();
    let top = doc.as_object().unwrap_or_else(|| panic!("{what}: the document is an object: {doc}"));
    let mut keys: Vec<&String> = top.keys().collect();
    keys.sort();
    assert_eq!(keys, ["client", "notifications", "privacy", "version"], "{what}: the document's keys: {doc}");
    same_shape(&doc["privacy"], &d["privacy"], "privacy", what);
    same_shape(&doc["notifications"], &d["notifications"], "notifications", what);
    assert!(doc["client"].is_object(), "{what}: client is an object: {doc}");
    assert!(doc["version"].as_i64().is_some_and(|v| v >= 0), "{what}: version is a non-negative integer: {doc}");
}

/// Asserts a 422 `invalid_field` naming `field`.
fn assert_invalid(a: Answer, field: &str, what: &str) {
    assert_eq!(a.status.as_u16(), 422, "{what}: {}", a.body);
    let a = a.expect(422);
    assert_eq!(a.error_kind(), "invalid_field", "{what}: {}", a.body);
    assert_eq!(a.data()["field"], field, "{what}: {}", a.body);
}

/// Every `UserSettingsChanged` of `user_id` on `beaver.users.v1`, in order, with its key.
async fn settings_events(user_id: &str) -> Vec<(String, Value)> {
    let id = user_id.to_owned();
    tokio::task::spawn_blocking(move || {
        use rdkafka::message::Message;
        let mut out = Vec::new();
        each_record(USERS_TOPIC, |m| {
            let Some(p) = m.payload() else { return };
            let v: Value = serde_json::from_slice(p).unwrap_or(Value::Null);
            if v["event_type"] == "UserSettingsChanged" && v["payload"]["user_id"] == id.as_str() {
                out.push((String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(), v));
            }
        });
        out
    })
    .await
    .unwrap()
}

/// The event is `user`'s, keyed by their id, and carries the whole document `doc`.
fn assert_event_carries(event: &(String, Value), user: &User, doc: &Value) {
    let (key, ev) = event;
    assert_eq!(key, &user.id, "UserSettingsChanged is keyed by the user id: {ev}");
    assert_eq!(ev["aggregate_id"], user.id.as_str(), "{ev}");
    let p = &ev["payload"];
    assert_eq!(p["user_id"], user.id.as_str(), "{ev}");
    let s = &p["settings"];
    for part in ["privacy", "notifications", "client"] {
        assert_eq!(s[part], doc[part], "the event carries the whole new document ({part}): {ev} vs {doc}");
    }
    if let Some(v) = s.get("version") {
        assert_eq!(v, &doc["version"], "a version in the event is the document's: {ev}");
    }
}

/// A user registered with an e-mail address and a phone number.
async fn new_user_with(api: &Api, prefix: &str, email: &str, phone: &str) -> User {
    let name = unique(prefix);
    let nickname = format!("Nick {}", &name[name.len() - 12..]);
    let a = api
        .post("/api/user/register", None, json!({ "username": name, "password": PASSWORD, "nickname": nickname, "email": email, "phone": phone }))
        .await
        .expect(200);
    let id = a.data()["user_id"].as_str().unwrap().to_owned();
    let token = api.login(&name).await["access_token"].as_str().unwrap().to_owned();
    User { id, name, nickname, token }
}

async fn ask(api: &Api, from: &User, to: &User) -> Answer {
    api.post("/api/friend/requests", Some(&from.token), json!({ "to_user_id": to.id })).await
}

/// `from` asks `to`; the request is accepted as pending. Returns the request id.
async fn asked(api: &Api, from: &User, to: &User) -> String {
    let a = ask(api, from, to).await;
    assert_eq!(a.status.as_u16(), 200, "{} asking {}: {}", from.name, to.name, a.body);
    let a = a.expect(200);
    assert_eq!(a.data()["status"], "pending", "{}", a.body);
    a.data()["request_id"].as_str().unwrap_or_else(|| panic!("no request_id: {}", a.body)).to_owned()
}

/// `from` asking `to` is 403 `not_accepting_requests`.
async fn refused_request(api: &Api, from: &User, to: &User, what: &str) {
    let a = ask(api, from, to).await;
    assert_eq!(a.status.as_u16(), 403, "{what}: {}", a.body);
    let a = a.expect(403);
    assert_eq!(a.error_kind(), "not_accepting_requests", "{what}: {}", a.body);
}

/// The user ids of everyone who asked `user` (incoming requests).
async fn incoming_from(api: &Api, user: &User) -> Vec<String> {
    let a = api.get("/api/friend/requests?direction=incoming", Some(&user.token)).await.expect(200);
    ids(&a.data()["requests"], "from_user_id")
}

/// Whether `searcher`'s search for `q` lists `target`.
async fn finds(api: &Api, searcher: &User, q: &str, target: &User) -> bool {
    let a = api.get(&format!("/api/user/search?q={}", percent(q)), Some(&searcher.token)).await.expect(200);
    let users = a.data()["users"].as_array().unwrap_or_else(|| panic!("a users list: {}", a.body));
    users.iter().any(|u| u["username"] == target.name.as_str() || u["user_id"] == target.id.as_str())
}

/// `viewer`'s `GET /api/user/online` entry for `user_id`.
async fn online_entry(api: &Api, viewer: &User, user_id: &str) -> Value {
    let a = api.get(&format!("/api/user/online?user_ids={user_id}"), Some(&viewer.token)).await.expect(200);
    find(&a.data()["users"], "user_id", user_id).unwrap_or_else(|| panic!("the answer lists every asked user: {}", a.body)).clone()
}

/// Waits (bounded) until `viewer` sees `user_id` exactly as `want`.
async fn wait_online(api: &Api, viewer: &User, user_id: &str, want: Value, what: &str) {
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        let e = online_entry(api, viewer, user_id).await;
        if e == want {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: want {want}, still {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (bounded) until `searcher`'s search for `q` lists `target` (`want`) or not.
async fn wait_finds(api: &Api, searcher: &User, q: &str, target: &User, want: bool, what: &str) {
    let deadline = std::time::Instant::now() + SETTLE;
    while finds(api, searcher, q, target).await != want {
        assert!(std::time::Instant::now() < deadline, "{what}: searching {q:?} should {}find {}", if want { "" } else { "not " }, target.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A WebSocket of `user` through the gateway (a fresh device id).
async fn socket(user: &User, platform: &str) -> Ws {
    let ws = connect(GATEWAY, &user.token, &unique("dev"), platform).await;
    assert_eq!(ws.ready["user_id"], user.id.as_str(), "{}", ws.ready);
    ws
}

async fn mark_read(api: &Api, user: &User, conv: &str, seq: i64) {
    let a = api.put("/api/chat/read", Some(&user.token), json!({ "conversation_id": conv, "seq": seq })).await;
    assert_eq!(a.status.as_u16(), 200, "{} reading {conv} up to {seq}: {}", user.name, a.body);
    a.expect(200);
}

async fn receipts(api: &Api, user: &User, conv: &str, seq: i64) -> Value {
    let a = api.get(&format!("/api/chat/receipts?conversation_id={conv}&seq={seq}"), Some(&user.token)).await;
    assert_eq!(a.status.as_u16(), 200, "receipts of {conv} for {}: {}", user.name, a.body);
    a.expect(200).data().clone()
}

fn mid(v: &Value) -> String {
    v["message_id"].as_str().unwrap_or_else(|| panic!("no message_id in {v}")).to_owned()
}

// ---------------------------------------------------------------------------
// Reading.

#[tokio::test]
async fn a_new_user_reads_every_default_at_version_0() {
    let api = Api::new();
    let ann = new_user(&api, "setdef").await;
    let doc = mine(&api, &ann).await;
    assert_shape(&doc, "the defaults");
    assert_eq!(doc, defaults(), "a new user's settings are the spec's defaults");
    // Reading appends nothing.
    assert!(settings_events(&ann.id).await.is_empty());
}

#[tokio::test]
async fn settings_calls_without_a_valid_token_are_401() {
    let api = Api::new();
    for token in [None, Some("not-a-token")] {
        let a = get_settings(&api, token).await;
        assert_eq!(a.status.as_u16(), 401, "GET with {token:?}: {}", a.body);
        assert_eq!(a.expect(401).error_kind(), "unauthorized");
        let a = patch(&api, token, json!({ "privacy": { "show_online": false } })).await;
        assert_eq!(a.status.as_u16(), 401, "PATCH with {token:?}: {}", a.body);
        assert_eq!(a.expect(401).error_kind(), "unauthorized");
    }
}

#[tokio::test]
async fn nobody_elses_settings_can_be_read() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "setoth"), new_user(&api, "setoth"));
    let bobs = patched(&api, &bob, json!({ "privacy": { "friend_requests": "nobody" }, "client": { "secret": "bob's" } })).await;
    assert_eq!(bobs["version"], 1);
    // Asking for bob's document by id gives ann her own, or a refusal; never bob's.
    let a = api.get(&format!("{SETTINGS}?user_id={}", bob.id), Some(&ann.token)).await;
    match a.status.as_u16() {
        200 => assert_eq!(a.data().clone(), defaults(), "ann is answered her own document: {}", a.body),
        s => assert!((400..500).contains(&s), "{}", a.body),
    }
    assert_eq!(mine(&api, &ann).await, defaults());
}

// ---------------------------------------------------------------------------
// Merge patch semantics.

#[tokio::test]
async fn a_patch_merges_objects_replaces_values_and_null_restores_defaults() {
    let api = Api::new();
    let ann = new_user(&api, "setmrg").await;
    let mut docs = Vec::new();

    // Nested merges keep the siblings.
    let d1 = patched(
        &api,
        &ann,
        json!({ "privacy": { "show_online": false },
                "notifications": { "categories": { "groups": false },
                                   "do_not_disturb": { "enabled": true, "time_zone": "Europe/Berlin" } } }),
    )
    .await;
    let mut want = defaults();
    want["privacy"]["show_online"] = json!(false);
    want["notifications"]["categories"]["groups"] = json!(false);
    want["notifications"]["do_not_disturb"]["enabled"] = json!(true);
    want["notifications"]["do_not_disturb"]["time_zone"] = json!("Europe/Berlin");
    want["version"] = json!(1);
    assert_eq!(d1, want, "the first change");
    docs.push(d1);

    // A value replaces; what the patch does not name stays.
    let d2 = patched(&api, &ann, json!({ "notifications": { "push": "mentions", "do_not_disturb": { "start": "23:30" } },
                                          "privacy": { "friend_requests": "friends_of_friends" } }))
    .await;
    want["notifications"]["push"] = json!("mentions");
    want["notifications"]["do_not_disturb"]["start"] = json!("23:30");
    want["privacy"]["friend_requests"] = json!("friends_of_friends");
    want["version"] = json!(2);
    assert_eq!(d2, want, "the second change");
    docs.push(d2);

    // null puts the default back, for a value ...
    let d3 = patched(&api, &ann, json!({ "notifications": { "do_not_disturb": { "time_zone": null } }, "privacy": { "show_online": null } })).await;
    want["notifications"]["do_not_disturb"]["time_zone"] = json!("UTC");
    want["privacy"]["show_online"] = json!(true);
    want["version"] = json!(3);
    assert_eq!(d3, want, "null restores single values");
    docs.push(d3);

    // ... and for a whole object (privacy keeps its one change).
    let d4 = patched(&api, &ann, json!({ "notifications": null })).await;
    want["notifications"] = defaults()["notifications"].clone();
    want["version"] = json!(4);
    assert_eq!(d4, want, "null restores a whole object");
    docs.push(d4);

    let d5 = patched(&api, &ann, json!({ "privacy": null })).await;
    let mut all_default = defaults();
    all_default["version"] = json!(5);
    assert_eq!(d5, all_default, "back to the defaults, at version 5");
    docs.push(d5);

    // One event per change, each carrying the whole new document.
    let events = settings_events(&ann.id).await;
    assert_eq!(events.len(), 5, "{events:#?}");
    for (e, d) in events.iter().zip(&docs) {
        assert_eq!(e.1["event_type"], "UserSettingsChanged");
        assert_event_carries(e, &ann, d);
    }
}

#[tokio::test]
async fn the_client_part_is_stored_as_given_and_merged_like_the_rest() {
    let api = Api::new();
    let ann = new_user(&api, "setcli").await;
    // Keys inside client are free, whatever they look like.
    let d1 = patched(&api, &ann, json!({ "client": { "theme": "dark", "layout": { "a": 1, "b": [1, 2] }, "privacy": "not the real one", "n": 2.5 } })).await;
    assert_eq!(d1["client"], json!({ "theme": "dark", "layout": { "a": 1, "b": [1, 2] }, "privacy": "not the real one", "n": 2.5 }));
    assert_eq!(d1["privacy"], defaults()["privacy"], "a privacy key inside client is the client's");
    assert_eq!(d1["version"], 1);

    let d2 = patched(&api, &ann, json!({ "client": { "layout": { "a": null, "c": "x" }, "theme": "light" } })).await;
    assert_eq!(d2["client"], json!({ "theme": "light", "layout": { "b": [1, 2], "c": "x" }, "privacy": "not the real one", "n": 2.5 }));
    assert_eq!(d2["version"], 2);

    let d3 = patched(&api, &ann, json!({ "client": null })).await;
    assert_eq!(d3["client"], json!({}), "null empties client");
    assert_eq!(d3["version"], 3);
    let mut want = defaults();
    want["version"] = json!(3);
    assert_eq!(d3, want);

    let events = settings_events(&ann.id).await;
    assert_eq!(events.len(), 3, "{events:#?}");
    assert_event_carries(&events[0], &ann, &d1);
    assert_event_carries(&events[1], &ann, &d2);
    assert_event_carries(&events[2], &ann, &d3);
}

#[tokio::test]
async fn a_patch_that_changes_nothing_keeps_the_version_and_appends_nothing() {
    let api = Api::new();
    let ann = new_user(&api, "setnop").await;
    let no_ops = [
        json!({}),
        json!({ "privacy": { "show_online": true } }),
        json!({ "privacy": { "friend_requests": null } }),
        json!({ "notifications": { "do_not_disturb": { "start": "22:00", "time_zone": "UTC" } } }),
        json!({ "notifications": null }),
        json!({ "client": {} }),
        json!({ "client": { "absent": null } }),
    ];
    for p in &no_ops {
        let d = patched(&api, &ann, p.clone()).await;
        assert_eq!(d, defaults(), "{p} changes nothing on a new user");
    }
    assert!(settings_events(&ann.id).await.is_empty(), "no-op patches appended something");

    let d1 = patched(&api, &ann, json!({ "privacy": { "read_receipts": false }, "client": { "k": "v" } })).await;
    assert_eq!(d1["version"], 1);
    assert_eq!(d1["privacy"]["read_receipts"], false);
    for p in [json!({ "privacy": { "read_receipts": false } }), json!({ "client": { "k": "v" } }), json!({})] {
        let d = patched(&api, &ann, p.clone()).await;
        assert_eq!(d, d1, "{p} repeats what is stored: the version stays");
    }
    let events = settings_events(&ann.id).await;
    assert_eq!(events.len(), 1, "only the one change was appended: {events:#?}");
    assert_event_carries(&events[0], &ann, &d1);

    let d2 = patched(&api, &ann, json!({ "privacy": { "read_receipts": null } })).await;
    assert_eq!(d2["version"], 2);
    assert_eq!(d2["privacy"]["read_receipts"], true);
    let events = settings_events(&ann.id).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_event_carries(&events[1], &ann, &d2);
}

#[tokio::test]
async fn a_patch_is_taken_as_application_json_and_as_application_merge_patch_json() {
    let api = Api::new();
    let ann = new_user(&api, "setct").await;
    let a = patch_raw(&api, &ann.token, "application/json", r#"{"notifications":{"push":"none"}}"#).await;
    assert_eq!(a.status.as_u16(), 200, "application/json: {}", a.body);
    let d1 = accepted(&api, &ann, a.expect(200), "as application/json").await;
    assert_eq!(d1["notifications"]["push"], "none");
    assert_eq!(d1["version"], 1);

    let a = patch_raw(&api, &ann.token, "application/merge-patch+json", r#"{"notifications":{"push":null,"previews":false}}"#).await;
    assert_eq!(a.status.as_u16(), 200, "application/merge-patch+json: {}", a.body);
    let d2 = accepted(&api, &ann, a.expect(200), "as application/merge-patch+json").await;
    let mut want = defaults();
    want["notifications"]["previews"] = json!(false);
    want["version"] = json!(2);
    assert_eq!(d2, want);
}

// ---------------------------------------------------------------------------
// Rules.

#[tokio::test]
async fn every_broken_rule_is_422_invalid_field_naming_the_json_path_and_changes_nothing() {
    let api = Api::new();
    let ann = new_user(&api, "set422").await;
    let base = patched(&api, &ann, json!({ "privacy": { "friend_requests": "nobody" }, "client": { "k": "v" } })).await;
    assert_eq!(base["version"], 1);

    let dnd = |k: &str, v: Value| json!({ "notifications": { "do_not_disturb": { k: v } } });
    let cases: Vec<(&str, Value, &str)> = vec![
        // Unknown keys, at the top and nested.
        ("an unknown top-level key", json!({ "colour": "red" }), "colour"),
        ("an unknown key in privacy", json!({ "privacy": { "show_typing": true } }), "privacy.show_typing"),
        ("an unknown key in notifications", json!({ "notifications": { "sound": "ding" } }), "notifications.sound"),
        ("an unknown key in categories", json!({ "notifications": { "categories": { "stories": true } } }), "notifications.categories.stories"),
        ("an unknown key in do_not_disturb", dnd("until", json!("08:00")), "notifications.do_not_disturb.until"),
        // Wrong types.
        ("privacy as a string", json!({ "privacy": "everyone" }), "privacy"),
        ("notifications as a list", json!({ "notifications": [] }), "notifications"),
        ("show_online as a string", json!({ "privacy": { "show_online": "yes" } }), "privacy.show_online"),
        ("searchable_by_email as a number", json!({ "privacy": { "searchable_by_email": 1 } }), "privacy.searchable_by_email"),
        ("searchable_by_phone as a string", json!({ "privacy": { "searchable_by_phone": "false" } }), "privacy.searchable_by_phone"),
        ("read_receipts as an object", json!({ "privacy": { "read_receipts": {} } }), "privacy.read_receipts"),
        ("previews as a string", json!({ "notifications": { "previews": "true" } }), "notifications.previews"),
        ("categories as a boolean", json!({ "notifications": { "categories": true } }), "notifications.categories"),
        ("a category as a number", json!({ "notifications": { "categories": { "messages": 0 } } }), "notifications.categories.messages"),
        ("do_not_disturb as a string", json!({ "notifications": { "do_not_disturb": "on" } }), "notifications.do_not_disturb"),
        ("enabled as a string", dnd("enabled", json!("on")), "notifications.do_not_disturb.enabled"),
        // friend_requests.
        ("friend_requests as a number", json!({ "privacy": { "friend_requests": 5 } }), "privacy.friend_requests"),
        ("an unknown friend_requests", json!({ "privacy": { "friend_requests": "friends" } }), "privacy.friend_requests"),
        ("an upper-case friend_requests", json!({ "privacy": { "friend_requests": "Everyone" } }), "privacy.friend_requests"),
        ("an empty friend_requests", json!({ "privacy": { "friend_requests": "" } }), "privacy.friend_requests"),
        // push.
        ("an unknown push", json!({ "notifications": { "push": "some" } }), "notifications.push"),
        ("an upper-case push", json!({ "notifications": { "push": "ALL" } }), "notifications.push"),
        ("push as a boolean", json!({ "notifications": { "push": true } }), "notifications.push"),
        // HH:MM.
        ("start 24:00", dnd("start", json!("24:00")), "notifications.do_not_disturb.start"),
        ("start 7:5", dnd("start", json!("7:5")), "notifications.do_not_disturb.start"),
        ("start ab:cd", dnd("start", json!("ab:cd")), "notifications.do_not_disturb.start"),
        ("start 12:60", dnd("start", json!("12:60")), "notifications.do_not_disturb.start"),
        ("start with seconds", dnd("start", json!("07:00:00")), "notifications.do_not_disturb.start"),
        ("an empty start", dnd("start", json!("")), "notifications.do_not_disturb.start"),
        ("start as a number", dnd("start", json!(700)), "notifications.do_not_disturb.start"),
        ("end 24:00", dnd("end", json!("24:00")), "notifications.do_not_disturb.end"),
        ("end 7:5", dnd("end", json!("7:5")), "notifications.do_not_disturb.end"),
        ("end ab:cd", dnd("end", json!("ab:cd")), "notifications.do_not_disturb.end"),
        // Time zones.
        ("a time zone that is not IANA", dnd("time_zone", json!("Mars/Olympus")), "notifications.do_not_disturb.time_zone"),
        ("an empty time zone", dnd("time_zone", json!("")), "notifications.do_not_disturb.time_zone"),
        ("a time zone as a number", dnd("time_zone", json!(2)), "notifications.do_not_disturb.time_zone"),
        // client.
        ("client as a string", json!({ "client": "x" }), "client"),
        ("client as a list", json!({ "client": [1, 2] }), "client"),
        ("client as a number", json!({ "client": 7 }), "client"),
        ("a client of 4,097 bytes", json!({ "client": { "k": "x".repeat(4089) } }), "client"),
        ("a client of 10,000 bytes", json!({ "client": { "k": "v", "big": "y".repeat(10_000) } }), "client"),
        // A valid change next to a broken one: the whole patch is refused.
        ("a valid change beside a bad value", json!({ "privacy": { "show_online": false, "friend_requests": "nobody2" } }), "privacy.friend_requests"),
        ("a valid change beside an unknown key", json!({ "notifications": { "push": "none" }, "colour": "red" }), "colour"),
    ];
    for (what, body, field) in cases {
        assert_invalid(patch(&api, Some(&ann.token), body).await, field, what);
    }
    // A patch that is not an object at all.
    for (what, raw) in [("a list", "[]"), ("a list of a patch", r#"[{"privacy":{"show_online":false}}]"#), ("a string", r#""x""#), ("a number", "5"), ("true", "true"), ("null", "null")] {
        for ct in ["application/json", "application/merge-patch+json"] {
            assert_invalid(patch_raw(&api, &ann.token, ct, raw).await, "body", &format!("{what} as {ct}"));
        }
    }
    assert_eq!(mine(&api, &ann).await, base, "refused patches changed nothing");
    assert_eq!(settings_events(&ann.id).await.len(), 1, "refused patches appended nothing");

    // The edges of each rule are accepted.
    let d = patched(
        &api,
        &ann,
        json!({ "notifications": { "do_not_disturb": { "start": "00:00", "end": "23:59", "time_zone": "Europe/Berlin" } },
                "client": { "k": "x".repeat(4088) } }),
    )
    .await;
    assert_eq!(d["notifications"]["do_not_disturb"], json!({ "enabled": false, "start": "00:00", "end": "23:59", "time_zone": "Europe/Berlin" }));
    assert_eq!(serde_json::to_string(&d["client"]).unwrap().len(), 4096, "a client of exactly 4,096 bytes");
    assert_eq!(d["version"], 2);
    let d = patched(&api, &ann, json!({ "notifications": { "do_not_disturb": { "start": "23:59", "end": "00:00", "time_zone": "UTC" } } })).await;
    assert_eq!(d["notifications"]["do_not_disturb"], json!({ "enabled": false, "start": "23:59", "end": "00:00", "time_zone": "UTC" }));
    assert_eq!(d["version"], 3);
    for (fr, push) in [("friends_of_friends", "mentions"), ("everyone", "none"), ("nobody", "all")] {
        let d = patched(&api, &ann, json!({ "privacy": { "friend_requests": fr }, "notifications": { "push": push } })).await;
        assert_eq!((d["privacy"]["friend_requests"].as_str(), d["notifications"]["push"].as_str()), (Some(fr), Some(push)));
    }
}

// ---------------------------------------------------------------------------
// friend_requests.

#[tokio::test]
async fn friend_requests_nobody_refuses_new_requests_but_a_pending_one_can_still_be_accepted() {
    let api = Api::new();
    let (ann, early, stranger) = tokio::join!(new_user(&api, "setfrn"), new_user(&api, "setfrn"), new_user(&api, "setfrn"));
    let rid = asked(&api, &early, &ann).await;

    let d = patched(&api, &ann, json!({ "privacy": { "friend_requests": "nobody" } })).await;
    assert_eq!(d["privacy"]["friend_requests"], "nobody");
    refused_request(&api, &stranger, &ann, "a stranger asking a user who takes no requests").await;
    let incoming = incoming_from(&api, &ann).await;
    assert!(!incoming.contains(&stranger.id), "the refused request must not reach ann: {incoming:?}");
    assert!(incoming.contains(&early.id), "the earlier request is not withdrawn: {incoming:?}");

    // The request pending from before is not withdrawn, and accepting it works.
    let a = api.post(&format!("/api/friend/requests/{rid}/accept"), Some(&ann.token), json!({})).await;
    assert_eq!(a.status.as_u16(), 200, "accepting a request pending from before closing: {}", a.body);
    let a = a.expect(200);
    assert_eq!(a.data()["status"], "accepted", "{}", a.body);
    assert_eq!(a.data()["friend_user_id"], early.id.as_str(), "{}", a.body);
    let list = api.get("/api/friend/list", Some(&ann.token)).await.expect(200);
    assert_eq!(sorted(ids(&list.data()["friends"], "user_id")), vec![early.id.clone()], "{}", list.body);

    // Even a friend of a friend is refused while requests are closed.
    refused_request(&api, &stranger, &ann, "still closed").await;
    befriend(&api, &early, &stranger).await;
    refused_request(&api, &stranger, &ann, "a friend of a friend asking a user who takes no requests").await;

    // Open again: everyone may ask.
    let d = patched(&api, &ann, json!({ "privacy": { "friend_requests": "everyone" } })).await;
    assert_eq!(d["privacy"]["friend_requests"], "everyone");
    asked(&api, &stranger, &ann).await;
}

#[tokio::test]
async fn friend_requests_friends_of_friends_needs_a_friend_in_common() {
    let api = Api::new();
    let (ann, mutual, known, stranger) =
        tokio::join!(new_user(&api, "setfof"), new_user(&api, "setfof"), new_user(&api, "setfof"), new_user(&api, "setfof"));
    befriend(&api, &ann, &mutual).await;
    befriend(&api, &mutual, &known).await;

    let d = patched(&api, &ann, json!({ "privacy": { "friend_requests": "friends_of_friends" } })).await;
    assert_eq!(d["privacy"]["friend_requests"], "friends_of_friends");
    refused_request(&api, &stranger, &ann, "a stranger with no friend in common").await;
    assert!(!incoming_from(&api, &ann).await.contains(&stranger.id), "the refused request must not reach ann");
    // With a friend in common, the request goes through.
    asked(&api, &known, &ann).await;
    assert!(incoming_from(&api, &ann).await.contains(&known.id));

    // everyone: the stranger may ask too.
    patched(&api, &ann, json!({ "privacy": { "friend_requests": "everyone" } })).await;
    asked(&api, &stranger, &ann).await;
}

// ---------------------------------------------------------------------------
// Search.

#[tokio::test]
async fn exact_email_and_phone_search_follow_the_searchable_flags() {
    let api = Api::new();
    let email = format!("{}@example.org", unique("mail"));
    let phone = unique_phone();
    let (target, searcher) = tokio::join!(new_user_with(&api, "setsrch", &email, &phone), new_user(&api, "setsrchr"));


    // While allowed: found by the exact e-mail (in any letter case) and the exact phone.
    wait_finds(&api, &searcher, &email, &target, true, "the exact e-mail").await;
    assert!(finds(&api, &searcher, &email.to_uppercase(), &target).await, "the e-mail in another letter case");
    assert!(finds(&api, &searcher, &phone, &target).await, "the exact phone");
    assert!(!finds(&api, &searcher, &email[..email.len() - 4], &target).await, "only the exact e-mail matches, not a part of it");

    // searchable_by_email off: the e-mail no longer finds the user; the phone, the username and the nickname still do.
    let d = patched(&api, &target, json!({ "privacy": { "searchable_by_email": false } })).await;
    assert_eq!(d["privacy"]["searchable_by_email"], false);
    assert!(!finds(&api, &searcher, &email, &target).await, "the e-mail finds a user who turned searchable_by_email off");
    assert!(!finds(&api, &searcher, &email.to_uppercase(), &target).await, "the upper-case e-mail finds a user who turned searchable_by_email off");
    assert!(finds(&api, &searcher, &phone, &target).await, "the phone is still allowed");
    assert!(finds(&api, &searcher, &target.name, &target).await, "username search is unchanged");

    // searchable_by_phone off too.
    let d = patched(&api, &target, json!({ "privacy": { "searchable_by_phone": false } })).await;
    assert_eq!(d["privacy"]["searchable_by_phone"], false);
    assert!(!finds(&api, &searcher, &phone, &target).await, "the phone finds a user who turned searchable_by_phone off");
    assert!(!finds(&api, &searcher, &email, &target).await);
    assert!(finds(&api, &searcher, &target.name, &target).await, "username search is unchanged");
    assert!(finds(&api, &searcher, &target.nickname, &target).await, "nickname search is unchanged");

    // Back on (null restores the default, true).
    let d = patched(&api, &target, json!({ "privacy": { "searchable_by_email": null, "searchable_by_phone": null } })).await;
    assert_eq!(d["privacy"], defaults()["privacy"]);
    wait_finds(&api, &searcher, &email, &target, true, "the e-mail once allowed again").await;
    wait_finds(&api, &searcher, &phone, &target, true, "the phone once allowed again").await;
}

#[tokio::test]
async fn only_the_phone_can_be_hidden_while_the_email_stays_searchable() {
    let api = Api::new();
    let email = format!("{}@example.org", unique("mail"));
    let phone = unique_phone();
    let (target, searcher) = tokio::join!(new_user_with(&api, "setsrph", &email, &phone), new_user(&api, "setsrphr"));
    wait_finds(&api, &searcher, &phone, &target, true, "the exact phone").await;
    patched(&api, &target, json!({ "privacy": { "searchable_by_phone": false } })).await;
    assert!(!finds(&api, &searcher, &phone, &target).await, "the phone finds a user who turned searchable_by_phone off");
    assert!(finds(&api, &searcher, &email, &target).await, "the e-mail is still allowed");
}

// ---------------------------------------------------------------------------
// show_online.

#[tokio::test]
async fn a_user_hiding_online_state_looks_offline_to_a_friend_but_not_to_themselves() {
    let api = Api::new();
    let (friend, hider) = friends_pair(&api, "setonl").await;
    let d = patched(&api, &hider, json!({ "privacy": { "show_online": false } })).await;
    assert_eq!(d["privacy"]["show_online"], false);
    let _ws = socket(&hider, "web").await;

    // The user's own view is not filtered: online, on web.
    wait_online(&api, &hider, &hider.id, json!({ "user_id": hider.id, "online": true, "platforms": ["web"] }), "the hider's own view").await;
    // To the friend, offline.
    let e = online_entry(&api, &friend, &hider.id).await;
    assert_eq!(e, json!({ "user_id": hider.id, "online": false, "platforms": [] }), "a friend sees a user with show_online off as offline");

    // Shown again: the friend sees the truth.
    let d = patched(&api, &hider, json!({ "privacy": { "show_online": true } })).await;
    assert_eq!(d["privacy"]["show_online"], true);
    wait_online(&api, &friend, &hider.id, json!({ "user_id": hider.id, "online": true, "platforms": ["web"] }), "the friend once show_online is on").await;
}

#[tokio::test]
async fn friends_get_no_presence_frames_for_a_user_hiding_online_state() {
    let api = Api::new();
    let (friend, hider, shown) = tokio::join!(new_user(&api, "setpres"), new_user(&api, "setpres"), new_user(&api, "setpres"));
    befriend(&api, &friend, &hider).await;
    befriend(&api, &friend, &shown).await;
    patched(&api, &hider, json!({ "privacy": { "show_online": false } })).await;

    let mut friend_ws = socket(&friend, "web").await;
    let hider_ws = socket(&hider, "web").await;
    let shown_ws = socket(&shown, "web").await;
    // The control: a user who shows their state comes online after the hider, and the friend is told.
    let f = friend_ws.expect_where("presence", |d| d["user_id"] == shown.id.as_str(), WAIT).await;
    assert_eq!(f["data"]["online"], true, "{f}");
    friend_ws.assert_no("presence", |d| d["user_id"] == hider.id.as_str(), QUIET, "a presence frame for a user with show_online off coming online").await;

    // Going offline: the same.
    hider_ws.close().await;
    shown_ws.close().await;
    let f = friend_ws.expect_where("presence", |d| d["user_id"] == shown.id.as_str(), WAIT).await;
    assert_eq!(f["data"]["online"], false, "{f}");
    friend_ws.assert_no("presence", |d| d["user_id"] == hider.id.as_str(), QUIET, "a presence frame for a user with show_online off going offline").await;
}

// ---------------------------------------------------------------------------
// read_receipts.

/// `reader`'s `ConversationRead` events in `conv`, in order.
async fn read_events(conv: &str, reader: &User) -> Vec<Value> {
    let (conv, reader) = (conv.to_owned(), reader.id.clone());
    events_where("beaver.messages.v1", move |e| e["event_type"] == "ConversationRead" && e["aggregate_id"] == conv.as_str() && e["payload"]["user_id"] == reader.as_str()).await
}

#[tokio::test]
async fn with_read_receipts_off_a_direct_peer_gets_no_read_frame_and_a_null_peer_read_seq() {
    let api = Api::new();
    let (peer, reader) = friends_pair(&api, "setrr").await;
    let conv = direct_id(&peer, &reader);
    let d = patched(&api, &reader, json!({ "privacy": { "read_receipts": false } })).await;
    assert_eq!(d["privacy"]["read_receipts"], false);

    let mut reader_ws = socket(&reader, "web").await;
    let mut peer_ws = socket(&peer, "web").await;
    sent(&api, &peer, text_to(&reader, "one")).await;
    let two = sent(&api, &peer, text_to(&reader, "two")).await;
    assert_eq!(seq(&two), 2);
    reader_ws.expect_message(&mid(&two)).await;

    mark_read(&api, &reader, &conv, 2).await;
    // The reader's own device is told (the control) ...
    let f = reader_ws.expect_where("conversation.read", |d| d["user_id"] == reader.id.as_str(), WAIT).await;
    assert_eq!((f["data"]["conversation_id"].as_str(), f["data"]["seq"].as_i64()), (Some(conv.as_str()), Some(2)), "{f}");
    // ... the peer is not.
    peer_ws.assert_no("conversation.read", |d| d["user_id"] == reader.id.as_str(), QUIET, "a read receipt from a user with read_receipts off").await;
    let r = receipts(&api, &peer, &conv, 2).await;
    assert!(r["peer_read_seq"].is_null(), "the peer's receipt is null while read_receipts is off: {r}");
    // The reader's own view is not filtered.
    let list = api.get("/api/chat/conversations", Some(&reader.token)).await.expect(200);
    let entry = find(&list.data()["conversations"], "conversation_id", &conv).unwrap_or_else(|| panic!("{}", list.body));
    assert_eq!(entry["read_seq"], 2, "the reader's cursor moved: {entry}");
    let mine = receipts(&api, &reader, &conv, 2).await;
    assert_eq!(mine["peer_read_seq"], 2, "the reader still sees the peer's cursor (moved by sending): {mine}");

    // Receipts on again: the peer's receipt follows the current setting.
    let d = patched(&api, &reader, json!({ "privacy": { "read_receipts": true } })).await;
    assert_eq!(d["privacy"]["read_receipts"], true);
    let r = receipts(&api, &peer, &conv, 2).await;
    assert_eq!(r["peer_read_seq"], 2, "with read_receipts on, the peer sees the reader's cursor: {r}");
    let three = sent(&api, &peer, text_to(&reader, "three")).await;
    reader_ws.expect_message(&mid(&three)).await;
    mark_read(&api, &reader, &conv, seq(&three)).await;
    let f = peer_ws.expect_where("conversation.read", |d| d["user_id"] == reader.id.as_str(), WAIT).await;
    assert_eq!((f["data"]["conversation_id"].as_str(), f["data"]["seq"].as_i64()), (Some(conv.as_str()), Some(3)), "{f}");
    let r = receipts(&api, &peer, &conv, 3).await;
    assert_eq!(r["peer_read_seq"], 3, "{r}");

    // The private read is recorded as such (schema v2, receipt: false); the public one is not.
    let events = read_events(&conv, &reader).await;
    let private: Vec<&Value> = events.iter().filter(|e| e["payload"]["seq"] == 2).collect();
    assert_eq!(private.len(), 1, "{events:#?}");
    assert_eq!(private[0]["schema_version"], 2, "{}", private[0]);
    assert_eq!(private[0]["payload"]["receipt"], false, "{}", private[0]);
    let public: Vec<&Value> = events.iter().filter(|e| e["payload"]["seq"] == 3).collect();
    assert_eq!(public.len(), 1, "{events:#?}");
    assert_ne!(public[0]["payload"]["receipt"], false, "{}", public[0]);
}

#[tokio::test]
async fn in_a_group_readers_leave_out_a_member_with_read_receipts_off() {
    let api = Api::new();
    let (owner, f) = owner_with_friends(&api, "setgrr", 2).await;
    let (quiet, open) = (&f[0], &f[1]);
    patched(&api, quiet, json!({ "privacy": { "read_receipts": false } })).await;
    let a = api
        .post("/api/group", Some(&owner.token), json!({ "name": unique("setgrp"), "member_ids": [quiet.id, open.id] }))
        .await
        .expect(200);
    let conv = a.data()["conversation_id"].as_str().unwrap().to_owned();
    let m = sent(&api, &owner, text_in(&conv, "read me")).await;
    let s = seq(&m);
    mark_read(&api, quiet, &conv, s).await;
    mark_read(&api, open, &conv, s).await;

    let r = receipts(&api, &owner, &conv, s).await;
    assert_eq!(ids(&r["readers"], "user_id"), vec![open.id.clone()], "the sender sees only the member who shares receipts: {r}");
    let r = receipts(&api, open, &conv, s).await;
    assert_eq!(ids(&r["readers"], "user_id"), vec![open.id.clone()], "another member neither: {r}");
    // The user's own view is not filtered.
    let r = receipts(&api, quiet, &conv, s).await;
    assert_eq!(sorted(ids(&r["readers"], "user_id")), sorted(vec![quiet.id.clone(), open.id.clone()]), "the quiet member's own view: {r}");

    // Receipts follow the current setting.
    patched(&api, quiet, json!({ "privacy": { "read_receipts": null } })).await;
    let r = receipts(&api, &owner, &conv, s).await;
    assert_eq!(sorted(ids(&r["readers"], "user_id")), sorted(vec![quiet.id.clone(), open.id.clone()]), "with read_receipts on again: {r}");
}
