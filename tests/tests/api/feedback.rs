//! Feedback, `POST /api/feedback` and `GET /api/feedback/mine`, as
//! docs/services.md ("Feedback") specifies them: the field rules, report
//! targets the reporter can see, idempotent repeats, the daily limit, the
//! caller's own list, and `FeedbackSubmitted` on `beaver.feedback.v1`.
//! Written from the spec alone; the operator side is in tests/admin/services.rs.

use crate::chat::{friends_pair, sent, text_to};
use crate::friends::{new_user, User};
use crate::helpers::{records_where, eventually, read_topic, unique, Answer, Api};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

const TOPIC: &str = "beaver.feedback.v1";

async fn submit(api: &Api, user: &User, body: Value) -> Answer {
    api.post("/api/feedback", Some(&user.token), body).await
}

/// Submits `body`, expects 201 and a well-formed answer; returns the answer's data.
async fn submitted(api: &Api, user: &User, body: Value) -> Value {
    let a = submit(api, user, body).await.expect(201);
    assert_created(&a);
    a.data().clone()
}

/// A 201 answer: `{feedback_id (UUIDv7), status: "open", created_at}`.
fn assert_created(a: &Answer) {
    let d = a.data();
    let id = d["feedback_id"].as_str().unwrap_or_else(|| panic!("a feedback_id: {}", a.body));
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("feedback_id is a UUID ({e}): {}", a.body));
    assert_eq!(uuid.get_version_num(), 7, "feedback_id is a UUIDv7: {}", a.body);
    assert_eq!(d["status"], "open", "{}", a.body);
    assert!(instant(&d["created_at"]).is_some(), "created_at in RFC 3339: {}", a.body);
}

fn fid(v: &Value) -> String {
    v["feedback_id"].as_str().unwrap_or_else(|| panic!("no feedback_id in {v}")).to_owned()
}

fn instant(v: &Value) -> Option<OffsetDateTime> {
    v.as_str().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

fn bug(text: &str) -> Value {
    json!({ "category": "bug", "text": text })
}

fn report(kind: &str, id: &str, text: &str) -> Value {
    json!({ "category": "report", "text": text, "target": { "type": kind, "id": id } })
}

async fn mine(api: &Api, user: &User, query: &str) -> Answer {
    api.get(&format!("/api/feedback/mine{query}"), Some(&user.token)).await
}

/// One page of `user`'s list (200 expected): (entries, has_more).
async fn page(api: &Api, user: &User, query: &str) -> (Vec<Value>, bool) {
    let a = mine(api, user, query).await.expect(200);
    let list = a.data()["feedback"].as_array().unwrap_or_else(|| panic!("a feedback list: {}", a.body)).clone();
    let more = a.data()["has_more"].as_bool().unwrap_or_else(|| panic!("a boolean has_more: {}", a.body));
    (list, more)
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter().map(fid).collect()
}

/// Every `beaver.feedback.v1` record submitted or changed for `user_id`, in topic order.
async fn events_of(user_id: &str) -> Vec<Value> {
    read_topic(TOPIC).await.into_iter().filter(|e| e["payload"]["user_id"] == user_id).collect()
}

/// The (key, value) of every `beaver.feedback.v1` record whose value mentions `marker`.
async fn keyed_records(marker: &str) -> Vec<(String, Value)> {
    let marker = marker.to_owned();
    records_where(TOPIC, move |_, v| v.to_string().contains(&marker)).await.into_iter().map(|(k, _, v)| (k, v)).collect()
}

/// Asserts a 422 `invalid_field` naming `field`.
fn assert_invalid(a: Answer, field: &str, what: &str) {
    assert_eq!(a.status.as_u16(), 422, "{what}: {}", a.body);
    assert_eq!(a.error_kind(), "invalid_field", "{what}: {}", a.body);
    assert_eq!(a.data()["field"], field, "{what}: {}", a.body);
}

// ---------------------------------------------------------------------------
// Submitting.

#[tokio::test]
async fn a_submission_is_answered_201_listed_at_once_and_appended_as_feedback_submitted() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "fbsub"), new_user(&api, "fbsubt"));
    let (marker, cfid) = (unique("spam"), unique("fb"));
    let body = json!({
        "category": "report", "text": format!("spam from this account {marker}"),
        "target": { "type": "user", "id": bob.id },
        "client": { "platform": "ios", "app_version": "2.1.0" }, "client_feedback_id": cfid,
    });
    let d = submitted(&api, &ann, body).await;
    let id = fid(&d);

    // The answer comes once the list shows it: no waiting.
    let (list, more) = page(&api, &ann, "").await;
    assert!(!more);
    assert_eq!(list.len(), 1, "{list:#?}");
    let e = &list[0];
    assert_eq!(e["feedback_id"], id.as_str());
    assert_eq!(e["category"], "report");
    assert_eq!(e["text"], format!("spam from this account {marker}"));
    assert_eq!(e["target"], json!({ "type": "user", "id": bob.id }));
    assert_eq!(e["client"], json!({ "platform": "ios", "app_version": "2.1.0" }));
    assert_eq!(e["status"], "open");
    assert!(e["reply"].is_null(), "no reply yet: {e}");
    assert_eq!(instant(&e["created_at"]), instant(&d["created_at"]), "created_at as answered: {e} vs {d}");
    let updated = instant(&e["updated_at"]).unwrap_or_else(|| panic!("updated_at in RFC 3339: {e}"));
    assert!(updated >= instant(&e["created_at"]).unwrap(), "{e}");

    // Exactly one event, keyed and identified by the feedback id, the user its actor.
    let records = keyed_records(&id).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    let (key, ev) = &records[0];
    assert_eq!(key, &id, "keyed by feedback id");
    assert_eq!(ev["event_type"], "FeedbackSubmitted");
    assert_eq!(ev["aggregate_id"], id.as_str());
    assert_eq!(ev["actor"], json!({ "kind": "user", "id": ann.id }));
    let p = &ev["payload"];
    assert_eq!(p["feedback_id"], id.as_str());
    assert_eq!(p["user_id"], ann.id.as_str());
    assert_eq!(p["category"], "report");
    assert_eq!(p["text"], format!("spam from this account {marker}"));
    assert_eq!(p["target"], json!({ "type": "user", "id": bob.id }));
    assert_eq!(p["client"], json!({ "platform": "ios", "app_version": "2.1.0" }));
    assert_eq!(p["client_feedback_id"], cfid.as_str());
}

#[tokio::test]
async fn a_plain_bug_has_null_target_client_and_reply_and_its_event_omits_them() {
    let api = Api::new();
    let ann = new_user(&api, "fbplain").await;
    let text = format!("line one {}\n\tindented line two", unique("m"));
    let id = fid(&submitted(&api, &ann, bug(&text)).await);
    let (list, _) = page(&api, &ann, "").await;
    assert_eq!(ids(&list), vec![id.clone()]);
    let e = &list[0];
    assert_eq!(e["category"], "bug");
    assert_eq!(e["text"], text.as_str(), "\\n and \\t are kept");
    for key in ["target", "client", "reply"] {
        assert!(e.get(key).is_some_and(Value::is_null), "{key} is present and null: {e}");
    }
    let events = events_of(&ann.id).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let p = &events[0]["payload"];
    assert_eq!(events[0]["event_type"], "FeedbackSubmitted");
    assert_eq!(p["text"], text.as_str());
    for key in ["target", "client", "client_feedback_id"] {
        assert!(p[key].is_null(), "no {key} in the event: {p}");
    }
}

#[tokio::test]
async fn every_category_and_platform_and_the_edges_of_each_rule_are_accepted() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "fbedge"), new_user(&api, "fbedget"));
    let bodies = [
        json!({ "category": "feature", "text": "x", "client": { "platform": "android", "app_version": "a" } }),
        // app_version is optional, as in Track.
        json!({ "category": "feature", "text": "no version", "client": { "platform": "ios" } }),
        json!({ "category": "other", "text": "y".repeat(5000), "client": { "platform": "web", "app_version": "2.1.0+build_7-rc.1" } }),
        // 5,000 characters after trimming (two-byte characters: characters, not bytes, count).
        json!({ "category": "bug", "text": format!("  {}  ", "é".repeat(5000)), "client": { "platform": "desktop", "app_version": "v".repeat(32) } }),
        json!({ "category": "bug", "text": "mac", "client": { "platform": "mac", "app_version": "1" }, "client_feedback_id": "A".repeat(64) }),
        json!({ "category": "bug", "text": "win", "client": { "platform": "windows", "app_version": "1" }, "client_feedback_id": "a-Z_0" }),
        json!({ "category": "report", "text": "r", "target": { "type": "user", "id": bob.id } }),
    ];
    for body in bodies {
        let a = submit(&api, &ann, body.clone()).await;
        assert_eq!(a.status.as_u16(), 201, "{body}: {}", a.body);
        assert_created(&a.expect(201));
    }
    let (list, _) = page(&api, &ann, "").await;
    assert_eq!(list.len(), 7, "{list:#?}");
    let cats: Vec<&str> = list.iter().map(|e| e["category"].as_str().unwrap()).collect();
    assert_eq!(cats, ["report", "bug", "bug", "bug", "other", "feature", "feature"], "newest first");
    assert_eq!(list[5]["client"], json!({ "platform": "ios", "app_version": null }));
}

#[tokio::test]
async fn every_broken_rule_is_422_invalid_field_naming_the_field_and_appends_nothing() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "fb422"), new_user(&api, "fb422t"));
    let target = json!({ "type": "user", "id": bob.id });
    let with = |extra: Value| {
        let mut b = json!({ "category": "bug", "text": "fine" });
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no category", json!({ "text": "fine" }), "category"),
        ("an unknown category", json!({ "category": "spam", "text": "fine" }), "category"),
        ("an upper-case category", json!({ "category": "Bug", "text": "fine" }), "category"),
        ("a category that is not a string", json!({ "category": 5, "text": "fine" }), "category"),
        ("no text", json!({ "category": "bug" }), "text"),
        ("an empty text", with(json!({ "text": "" })), "text"),
        ("a blank text", with(json!({ "text": " \n\t  " })), "text"),
        ("a text of 5,001 characters", with(json!({ "text": "t".repeat(5001) })), "text"),
        ("a text of 5,001 two-byte characters", with(json!({ "text": "é".repeat(5001) })), "text"),
        ("a text with NUL", with(json!({ "text": "a\u{0}b" })), "text"),
        ("a text with a bell", with(json!({ "text": "a\u{7}b" })), "text"),
        ("a text with a carriage return", with(json!({ "text": "a\r\nb" })), "text"),
        ("a text with an escape", with(json!({ "text": "a\u{1b}[31mb" })), "text"),
        ("a text with DEL", with(json!({ "text": "a\u{7f}b" })), "text"),
        ("a text that is not a string", with(json!({ "text": 42 })), "text"),
        ("a report without a target", json!({ "category": "report", "text": "fine" }), "target"),
        ("a bug with a target", with(json!({ "target": target })), "target"),
        ("a feature with a target", json!({ "category": "feature", "text": "fine", "target": target }), "target"),
        ("an other with a target", json!({ "category": "other", "text": "fine", "target": target }), "target"),
        ("a target of an unknown type", json!({ "category": "report", "text": "fine", "target": { "type": "channel", "id": bob.id } }), "target"),
        ("a target id that is no UUID", json!({ "category": "report", "text": "fine", "target": { "type": "user", "id": "bob" } }), "target"),
        ("a target without an id", json!({ "category": "report", "text": "fine", "target": { "type": "user" } }), "target"),
        ("a target without a type", json!({ "category": "report", "text": "fine", "target": { "id": bob.id } }), "target"),
        ("a target that is a string", json!({ "category": "report", "text": "fine", "target": bob.id }), "target"),
        ("a reporter reporting themselves", json!({ "category": "report", "text": "fine", "target": { "type": "user", "id": ann.id } }), "target"),
        ("an unknown platform", with(json!({ "client": { "platform": "tv", "app_version": "1" } })), "client"),
        ("an upper-case platform", with(json!({ "client": { "platform": "IOS", "app_version": "1" } })), "client"),
        ("a client without a platform", with(json!({ "client": { "app_version": "1" } })), "client"),
        ("an empty app_version", with(json!({ "client": { "platform": "ios", "app_version": "" } })), "client"),
        ("an app_version of 33 characters", with(json!({ "client": { "platform": "ios", "app_version": "1".repeat(33) } })), "client"),
        ("an app_version with a space", with(json!({ "client": { "platform": "ios", "app_version": "2.1 beta" } })), "client"),
        ("an app_version with a slash", with(json!({ "client": { "platform": "ios", "app_version": "2.1/3" } })), "client"),
        ("a client that is a string", with(json!({ "client": "ios" })), "client"),
        ("an empty client_feedback_id", with(json!({ "client_feedback_id": "" })), "client_feedback_id"),
        ("a client_feedback_id of 65 characters", with(json!({ "client_feedback_id": "f".repeat(65) })), "client_feedback_id"),
        ("a client_feedback_id with a dot", with(json!({ "client_feedback_id": "fb.1" })), "client_feedback_id"),
        ("a client_feedback_id with a space", with(json!({ "client_feedback_id": "fb 1" })), "client_feedback_id"),
        ("a client_feedback_id that is a number", with(json!({ "client_feedback_id": 7 })), "client_feedback_id"),
    ];
    for (what, body, field) in cases {
        assert_invalid(submit(&api, &ann, body).await, field, what);
    }
    // Unknown fields, at the top and inside the objects, and a JSON body that is not an object: 422 too.
    let unknown = [
        ("an unknown top-level field", with(json!({ "priority": "high" }))),
        ("an unknown field in client", with(json!({ "client": { "platform": "ios", "app_version": "1", "os": "17" } }))),
        ("an unknown field in target", json!({ "category": "report", "text": "fine", "target": { "type": "user", "id": bob.id, "why": "x" } })),
    ];
    for (what, body) in unknown {
        let a = submit(&api, &ann, body).await;
        assert_eq!(a.status.as_u16(), 422, "{what}: {}", a.body);
        a.expect(422);
    }
    let raw = api.raw(Method::POST, "/api/feedback").bearer_auth(&ann.token).header("content-type", "application/json").body("{\"category\": \"bug\", \"text\": ");
    // A body that is not JSON at all is 400, as everywhere in the API.
    assert_eq!(api.send(raw).await.expect(400).error_kind(), "bad_request");
    let raw = api.raw(Method::POST, "/api/feedback").bearer_auth(&ann.token).header("content-type", "application/json").body("[\"bug\"]");
    api.send(raw).await.expect(422);

    // Nothing appended, nothing listed.
    assert!(events_of(&ann.id).await.is_empty(), "a refused submission appended something");
    let (list, more) = page(&api, &ann, "").await;
    assert!(list.is_empty() && !more, "{list:#?}");
}

#[tokio::test]
async fn feedback_calls_without_a_valid_token_are_401_and_append_nothing() {
    let api = Api::new();
    let marker = unique("anon");
    for token in [None, Some("not-a-token")] {
        let a = api.post("/api/feedback", token, bug(&marker)).await.expect(401);
        assert_eq!(a.error_kind(), "unauthorized", "{}", a.body);
        let a = api.get("/api/feedback/mine", token).await.expect(401);
        assert_eq!(a.error_kind(), "unauthorized", "{}", a.body);
    }
    assert!(keyed_records(&marker).await.is_empty());
}

// ---------------------------------------------------------------------------
// Report targets.

#[tokio::test]
async fn any_existing_user_may_be_reported_but_an_unknown_one_is_404_and_yourself_422() {
    let api = Api::new();
    let (ann, bob, carl) = tokio::join!(new_user(&api, "fbuser"), new_user(&api, "fbuser"), new_user(&api, "fbuser"));
    // No friendship needed: any existing user.
    let d = submitted(&api, &ann, report("user", &bob.id, "rude")).await;
    submitted(&api, &carl, report("user", &bob.id, "rude too")).await;
    let a = submit(&api, &ann, report("user", &uuid::Uuid::new_v4().to_string(), "ghost")).await.expect(404);
    assert_eq!(a.error_kind(), "not_found", "{}", a.body);
    assert_invalid(submit(&api, &ann, report("user", &ann.id, "me")).await, "target", "reporting yourself");
    // The id of an existing user given as another kind of target does not exist.
    for kind in ["message", "group"] {
        let a = submit(&api, &ann, report(kind, &bob.id, "wrong kind")).await.expect(404);
        assert_eq!(a.error_kind(), "not_found", "a user id as a {kind}: {}", a.body);
    }
    let mine = events_of(&ann.id).await;
    assert_eq!(mine.len(), 1, "only the one report was appended: {mine:#?}");
    assert_eq!(mine[0]["payload"]["feedback_id"], d["feedback_id"]);
}

#[tokio::test]
async fn a_message_may_be_reported_by_a_reader_of_its_conversation_and_is_404_for_anyone_else_or_once_recalled() {
    let api = Api::new();
    let ((ann, bob), carl) = tokio::join!(friends_pair(&api, "fbmsg"), new_user(&api, "fbmsgx"));
    let m = sent(&api, &ann, text_to(&bob, "buy cheap watches")).await;
    let mid = m["message_id"].as_str().unwrap().to_owned();
    // The recipient reads it, so may report it (once the message is readable).
    let ok = eventually(Duration::from_secs(10), || async {
        let a = submit(&api, &bob, report("message", &mid, "spam message")).await;
        (a.status.as_u16() == 201).then_some(a)
    })
    .await
    .expect("the recipient may report a message of their conversation");
    assert_created(&ok.expect(201));
    // A stranger cannot read the conversation: the message does not exist for them.
    let a = submit(&api, &carl, report("message", &mid, "spam message")).await.expect(404);
    assert_eq!(a.error_kind(), "not_found", "{}", a.body);
    // Neither does an unknown message, nor the message's id as a user or group.
    submit(&api, &bob, report("message", &uuid::Uuid::new_v4().to_string(), "ghost")).await.expect(404);
    submit(&api, &bob, report("user", &mid, "wrong kind")).await.expect(404);
    submit(&api, &bob, report("group", &mid, "wrong kind")).await.expect(404);

    // A recalled message cannot be reported.
    let gone = sent(&api, &ann, text_to(&bob, "oops")).await;
    let gone_id = gone["message_id"].as_str().unwrap().to_owned();
    let conv = gone["conversation_id"].as_str().unwrap().to_owned();
    api.post(&format!("/api/chat/messages/{gone_id}/recall"), Some(&ann.token), json!({})).await.expect(200);
    eventually(Duration::from_secs(10), || async {
        let a = api.get(&format!("/api/chat/messages?conversation_id={conv}&limit=100"), Some(&bob.token)).await.expect(200);
        a.data()["messages"].as_array().unwrap().iter().any(|x| x["message_id"] == gone_id.as_str() && x["recalled"] == true).then_some(())
    })
    .await
    .expect("the recall shows in the conversation");
    let a = submit(&api, &bob, report("message", &gone_id, "recalled")).await.expect(404);
    assert_eq!(a.error_kind(), "not_found", "{}", a.body);

    assert_eq!(events_of(&bob.id).await.len(), 1, "only the one accepted report was appended");
    assert!(events_of(&carl.id).await.is_empty());
}

#[tokio::test]
async fn a_group_may_be_reported_by_its_members_and_is_404_for_anyone_else() {
    let api = Api::new();
    let ((owner, member), carl) = tokio::join!(friends_pair(&api, "fbgrp"), new_user(&api, "fbgrpx"));
    let a = api.post("/api/group", Some(&owner.token), json!({ "name": unique("fbgrp"), "member_ids": [member.id] })).await.expect(200);
    let gid = a.data()["group_id"].as_str().unwrap().to_owned();
    let ok = eventually(Duration::from_secs(10), || async {
        let a = submit(&api, &member, report("group", &gid, "scam group")).await;
        (a.status.as_u16() == 201).then_some(a)
    })
    .await
    .expect("a member may report their group");
    let id = fid(ok.expect(201).data());
    let (list, _) = page(&api, &member, "").await;
    assert_eq!(list[0]["target"], json!({ "type": "group", "id": gid }), "{list:#?}");
    assert_eq!(list[0]["feedback_id"], id.as_str());
    let a = submit(&api, &carl, report("group", &gid, "scam group")).await.expect(404);
    assert_eq!(a.error_kind(), "not_found", "{}", a.body);
    submit(&api, &member, report("group", &uuid::Uuid::new_v4().to_string(), "ghost")).await.expect(404);
    // The owner, a member too, may report it; its id as a user does not exist.
    submitted(&api, &owner, report("group", &gid, "own group")).await;
    submit(&api, &member, report("user", &gid, "wrong kind")).await.expect(404);
    assert_eq!(events_of(&member.id).await.len(), 1);
    assert!(events_of(&carl.id).await.is_empty());
}

// ---------------------------------------------------------------------------
// Idempotency and the daily limit.

#[tokio::test]
async fn a_repeat_with_the_same_client_feedback_id_answers_200_with_the_original_and_appends_nothing() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "fbrep"), new_user(&api, "fbrep"));
    let cfid = unique("fb");
    let first = submitted(&api, &ann, json!({ "category": "bug", "text": "crash on start", "client_feedback_id": cfid })).await;
    // Whatever the rest of the body says.
    let again = submit(&api, &ann, json!({ "category": "feature", "text": "something else entirely", "client_feedback_id": cfid })).await.expect(200);
    assert_eq!(again.data()["feedback_id"], first["feedback_id"], "{}", again.body);
    assert_eq!(again.data()["status"], "open");
    assert_eq!(instant(&again.data()["created_at"]), instant(&first["created_at"]), "{}", again.body);
    let (list, _) = page(&api, &ann, "").await;
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["text"], "crash on start", "the original is kept");
    assert_eq!(list[0]["category"], "bug");

    // Another user's equal id is unrelated; an id differing only in case is another id.
    let theirs = submitted(&api, &bob, json!({ "category": "bug", "text": "crash on start", "client_feedback_id": cfid })).await;
    assert_ne!(theirs["feedback_id"], first["feedback_id"]);
    let upper = submitted(&api, &ann, json!({ "category": "bug", "text": "crash on start", "client_feedback_id": cfid.to_uppercase() })).await;
    assert_ne!(upper["feedback_id"], first["feedback_id"], "client_feedback_id is compared exactly");
    // Without a client id, equal bodies are two submissions.
    let a1 = submitted(&api, &ann, bug("same")).await;
    let a2 = submitted(&api, &ann, bug("same")).await;
    assert_ne!(a1["feedback_id"], a2["feedback_id"]);

    let events = events_of(&ann.id).await;
    assert_eq!(events.len(), 4, "the repeat appended nothing: {events:#?}");
    assert_eq!(events.iter().filter(|e| e["payload"]["client_feedback_id"] == cfid.as_str()).count(), 1);
    assert_eq!(events_of(&bob.id).await.len(), 1);
}

#[tokio::test]
async fn the_eleventh_submission_of_a_day_is_429_with_retry_after_and_repeats_and_refusals_do_not_count() {
    let api = Api::new();
    let ann = new_user(&api, "fblimit").await;
    // Refusals first: they use up nothing.
    submit(&api, &ann, json!({ "category": "nope", "text": "x" })).await.expect(422);
    submit(&api, &ann, report("user", &uuid::Uuid::new_v4().to_string(), "ghost")).await.expect(404);
    let cfid = unique("fb");
    let first = submitted(&api, &ann, json!({ "category": "bug", "text": "one", "client_feedback_id": cfid })).await;
    for i in 2..=10 {
        // A repeat in between uses up nothing either.
        submit(&api, &ann, json!({ "category": "bug", "text": "again", "client_feedback_id": cfid })).await.expect(200);
        let a = submit(&api, &ann, bug(&format!("number {i}"))).await;
        assert_eq!(a.status.as_u16(), 201, "submission {i}: {}", a.body);
    }
    let refused = submit(&api, &ann, bug("number 11")).await.expect(429);
    assert_eq!(refused.error_kind(), "too_many_requests", "{}", refused.body);
    let retry = refused.data()["retry_after"].as_u64().unwrap_or_else(|| panic!("an integer retry_after: {}", refused.body));
    assert!((86_400 - 120..=86_400).contains(&retry), "seconds until the oldest of the ten is 24 h old: {}", refused.body);
    // Still refused, and a repeat of an accepted one still answers the original.
    submit(&api, &ann, bug("number 12")).await.expect(429);
    let again = submit(&api, &ann, json!({ "category": "bug", "text": "one", "client_feedback_id": cfid })).await.expect(200);
    assert_eq!(again.data()["feedback_id"], first["feedback_id"]);

    let events = events_of(&ann.id).await;
    assert_eq!(events.len(), 10, "ten appended, no more: {events:#?}");
    let (list, more) = page(&api, &ann, "").await;
    assert_eq!(list.len(), 10);
    assert!(!more);
    assert!(list.iter().all(|e| e["text"] != "number 11" && e["text"] != "number 12"));
}

// ---------------------------------------------------------------------------
// The caller's list.

#[tokio::test]
async fn mine_lists_newest_first_in_cursor_pages_and_never_another_users_feedback() {
    let api = Api::new();
    let (ann, bob) = tokio::join!(new_user(&api, "fbmine"), new_user(&api, "fbmine"));
    let mut sent_ids = Vec::new();
    for i in 1..=5 {
        sent_ids.push(fid(&submitted(&api, &ann, bug(&format!("ann {i}"))).await));
    }
    let bobs = fid(&submitted(&api, &bob, bug("bob 1")).await);
    let newest_first: Vec<String> = sent_ids.iter().rev().cloned().collect();

    let (all, more) = page(&api, &ann, "").await;
    assert_eq!(ids(&all), newest_first, "default page: all five, newest first");
    assert!(!more);
    let texts: Vec<&str> = all.iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["ann 5", "ann 4", "ann 3", "ann 2", "ann 1"]);
    let mut sorted = ids(&all);
    sorted.sort();
    sorted.reverse();
    assert_eq!(sorted, newest_first, "ordered by id, descending");

    let (p1, more) = page(&api, &ann, "?limit=2").await;
    assert_eq!(ids(&p1), newest_first[..2]);
    assert!(more);
    let (p2, more) = page(&api, &ann, &format!("?before={}&limit=2", newest_first[1])).await;
    assert_eq!(ids(&p2), newest_first[2..4]);
    assert!(more);
    let (p3, more) = page(&api, &ann, &format!("?limit=2&before={}", newest_first[3])).await;
    assert_eq!(ids(&p3), newest_first[4..]);
    assert!(!more);
    let (p, more) = page(&api, &ann, &format!("?before={}", newest_first[4])).await;
    assert!(p.is_empty() && !more, "nothing before the oldest: {p:#?}");
    // Exactly the rest fits: no more; one short: more.
    let (p, more) = page(&api, &ann, "?limit=5").await;
    assert_eq!(p.len(), 5);
    assert!(!more, "has_more is false when the page holds the last one");
    let (p, more) = page(&api, &ann, "?limit=4").await;
    assert_eq!(p.len(), 4);
    assert!(more);
    let (p, _) = page(&api, &ann, "?limit=50").await;
    assert_eq!(p.len(), 5);
    let (p, _) = page(&api, &ann, "?limit=1").await;
    assert_eq!(ids(&p), newest_first[..1]);

    // Bob's feedback never shows in Ann's list, even with his id as the cursor.
    let (p, _) = page(&api, &ann, &format!("?before={bobs}")).await;
    assert_eq!(ids(&p), newest_first, "before Bob's (newer) id: all of Ann's, none of his");
    let (b, more) = page(&api, &bob, "").await;
    assert_eq!(ids(&b), vec![bobs]);
    assert!(!more);
}

#[tokio::test]
async fn a_malformed_before_or_a_limit_outside_1_to_50_is_422_naming_it() {
    let api = Api::new();
    let ann = new_user(&api, "fbmine422").await;
    submitted(&api, &ann, bug("one")).await;
    for q in ["?before=not-a-uuid", "?before=123", "?before=00000000-0000-0000-0000-00000000000g"] {
        assert_invalid(mine(&api, &ann, q).await, "before", q);
    }
    for q in ["?limit=0", "?limit=51", "?limit=-1", "?limit=abc", "?limit=1.5"] {
        assert_invalid(mine(&api, &ann, q).await, "limit", q);
    }
}
