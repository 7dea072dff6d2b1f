//! The operator side of Feedback and System (docs/services.md, "Feedback" →
//! "Operator side", "System" → "App releases" and "Announcements"):
//! `beaver-admin feedback`, `release` and `announce` against the real stack,
//! checked through the gateway, the WebSocket and the topics. Written from
//! the spec alone.

use crate::helpers::{account, eventually, unique, Account, Api};
use crate::{admin, stdout, succeeded, LONG};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::process::Output;
use std::time::Duration;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

#[allow(dead_code)]
#[path = "../api/ws.rs"]
mod ws;

use ws::{connect, Ws, QUIET, WAIT};

const FEEDBACK: &str = "beaver.feedback.v1";
const SYSTEM: &str = "beaver.system.v1";
/// How long a projection may take to show an operator's action.
const SETTLE: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// Helpers.

async fn run(args: &[&str]) -> Output {
    admin(args, LONG).await
}

/// Everything the command wrote, stdout then stderr.
fn said(out: &Output) -> String {
    format!("{}\n{}", stdout(out), String::from_utf8_lossy(&out.stderr))
}

fn refused(out: &Output, code: Option<i32>, what: &str) {
    assert!(!out.status.success(), "{what} must be refused, but it succeeded:\n{}", said(out));
    if code.is_some() {
        assert_eq!(out.status.code(), code, "{what}: the exit code:\n{}", said(out));
    }
}

/// The whole stdout as one JSON document.
fn json_out(out: &Output) -> Value {
    let s = stdout(out);
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{s}"))
}

/// The (key, value) of every record of `topic` whose key or value mentions `marker`.
async fn records(topic: &'static str, marker: &str) -> Vec<(String, Value)> {
    let marker = marker.to_owned();
    let mentions = move |key: &str, v: &Value| key.contains(&marker) || v.to_string().contains(&marker);
    crate::helpers::records_where(topic, mentions).await.into_iter().map(|(k, _, v)| (k, v)).collect()
}

fn of_type<'a>(records: &'a [(String, Value)], event_type: &str) -> Vec<&'a (String, Value)> {
    records.iter().filter(|(_, v)| v["event_type"] == event_type).collect()
}

fn instant(v: &Value) -> Option<OffsetDateTime> {
    v.as_str().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

fn operator_actor(name: &str) -> Value {
    json!({ "kind": "operator", "id": name })
}

// Feedback.

/// Submits `body` as `user`, expects 201; returns the feedback id.
async fn submit(api: &Api, user: &Account, body: Value) -> String {
    let a = api.post("/api/feedback", Some(&user.token), body).await.expect(201);
    a.data()["feedback_id"].as_str().unwrap_or_else(|| panic!("a feedback_id: {}", a.body)).to_owned()
}

/// `user`'s entry `id` in `GET /api/feedback/mine`.
async fn entry(api: &Api, user: &Account, id: &str) -> Value {
    let a = api.get("/api/feedback/mine?limit=50", Some(&user.token)).await.expect(200);
    a.data()["feedback"]
        .as_array()
        .unwrap_or_else(|| panic!("a feedback list: {}", a.body))
        .iter()
        .find(|e| e["feedback_id"] == id)
        .unwrap_or_else(|| panic!("{id} is listed: {}", a.body))
        .clone()
}

/// Waits until `user`'s entry `id` satisfies `ok`; returns it.
async fn entry_when(api: &Api, user: &Account, id: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    match eventually(SETTLE, || async {
        let e = entry(api, user, id).await;
        ok(&e).then_some(e)
    })
    .await
    {
        Some(e) => e,
        None => panic!("{what}: the entry is still {}", entry(api, user, id).await),
    }
}

async fn status_changes(id: &str) -> Vec<(String, Value)> {
    records(FEEDBACK, id).await.into_iter().filter(|(_, v)| v["event_type"] == "FeedbackStatusChanged" && v["aggregate_id"] == id).collect()
}

async fn set_status(id: &str, status: &str, reply: Option<&str>, operator: &str, json: bool) -> Output {
    let mut args = vec!["feedback", "status", id, status];
    if let Some(r) = reply {
        args.extend(["--reply", r]);
    }
    args.extend(["--operator", operator]);
    if json {
        args.push("--json");
    }
    run(&args).await
}

// Releases.

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn download(app: &str, version: &str) -> String {
    format!("https://downloads.example.com/{app}/{version}/app.pkg")
}

/// `release publish` with the usual url, sha256 and size, and `extra` arguments.
async fn publish(app: &str, platform: &str, version: &str, extra: &[&str]) -> Output {
    let url = download(app, version);
    let mut args = vec!["release", "publish", "--app", app, "--platform", platform, "--version", version, "--url", &url, "--sha256", SHA];
    if !extra.contains(&"--size") {
        args.extend(["--size", "1048576"]);
    }
    args.extend(extra);
    run(&args).await
}

async fn published(app: &str, platform: &str, version: &str, extra: &[&str]) {
    let out = publish(app, platform, version, extra).await;
    succeeded(&out, &format!("release publish {app} {platform} {version} {extra:?}"));
}

async fn app_version(api: &Api, app: &str, platform: &str, version: &str, device: &str) -> Value {
    let a = api.get(&format!("/api/system/app-version?app_id={app}&platform={platform}&version={version}&device_id={device}"), None).await.expect(200);
    a.data().clone()
}

/// `(update, latest.version)` of an app-version answer.
fn verdict(d: &Value) -> (String, Option<String>) {
    let update = d["update"].as_str().unwrap_or_else(|| panic!("an update: {d}")).to_owned();
    let latest = &d["latest"];
    assert!(latest.is_null() || latest.is_object(), "latest is null or a release: {d}");
    if update == "none" {
        assert!(latest.is_null(), "update none has latest null: {d}");
    }
    (update, latest["version"].as_str().map(str::to_owned))
}

/// Asserts the answer for (`version`, `device`) now.
async fn answers(api: &Api, app: &str, platform: &str, version: &str, device: &str, update: &str, latest: Option<&str>) -> Value {
    let d = app_version(api, app, platform, version, device).await;
    assert_eq!(verdict(&d), (update.to_owned(), latest.map(str::to_owned)), "{app}/{platform} at {version} on {device}: {d}");
    d
}

/// Waits until the answer for (`version`, `device`) is (`update`, `latest`).
async fn comes_to(api: &Api, app: &str, platform: &str, version: &str, device: &str, update: &str, latest: Option<&str>) -> Value {
    let want = (update.to_owned(), latest.map(str::to_owned));
    let found = eventually(SETTLE, || async {
        let a = api.get(&format!("/api/system/app-version?app_id={app}&platform={platform}&version={version}&device_id={device}"), None).await;
        (a.status.as_u16() == 200 && verdict(a.data()) == want).then(|| a.data().clone())
    })
    .await;
    match found {
        Some(d) => d,
        None => {
            let a = api.get(&format!("/api/system/app-version?app_id={app}&platform={platform}&version={version}&device_id={device}"), None).await;
            panic!("{app}/{platform} at {version} on {device} should come to {want:?}, still {} {}", a.status, a.body)
        }
    }
}

/// The spec's rollout bucket of a device.
fn bucket(app: &str, platform: &str, device: &str) -> u64 {
    let digest = Sha256::digest(format!("{app}:{platform}:{device}").as_bytes());
    u64::from_be_bytes(digest[..8].try_into().unwrap()) % 100
}

/// A fresh device id whose bucket for (`app`, `platform`) is in `range`.
fn device_in(app: &str, platform: &str, range: Range<u64>) -> String {
    loop {
        let d = unique("dev");
        if range.contains(&bucket(app, platform, &d)) {
            return d;
        }
    }
}

// Announcements.

/// Now plus `secs` seconds, to the second, in RFC 3339.
fn at(secs: i64) -> (OffsetDateTime, String) {
    let t = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() + time::Duration::seconds(secs);
    (t, t.format(&Rfc3339).unwrap())
}

async fn announce(title: &str, body: &str, operator: &str, extra: &[&str]) -> Output {
    let mut args = vec!["announce", "--title", title, "--body", body, "--operator", operator];
    args.extend(extra);
    run(&args).await
}

/// `GET /api/system/announcements[?platform=]`.
async fn listing(api: &Api, user: &Account, platform: Option<&str>) -> Vec<Value> {
    let path = match platform {
        Some(p) => format!("/api/system/announcements?platform={p}"),
        None => "/api/system/announcements".to_owned(),
    };
    let a = api.get(&path, Some(&user.token)).await.expect(200);
    a.data()["announcements"].as_array().unwrap_or_else(|| panic!("an announcements list: {}", a.body)).clone()
}

fn titled<'a>(list: &'a [Value], title: &str) -> Option<&'a Value> {
    list.iter().find(|e| e["title"] == title)
}

/// Waits until the listing (for `platform`) shows the announcement `title`; returns its entry.
async fn listed(api: &Api, user: &Account, platform: Option<&str>, title: &str) -> Value {
    eventually(SETTLE, || async { titled(&listing(api, user, platform).await, title).cloned() })
        .await
        .unwrap_or_else(|| panic!("{title} is never listed for {platform:?}"))
}

async fn announcement_frame(ws: &mut Ws, title: &str, within: Duration) -> Value {
    ws.expect_where("system.announcement", |d| d["title"] == title, within).await
}

fn sorted_platforms(v: &Value) -> Vec<String> {
    let mut p: Vec<String> = v.as_array().unwrap_or_else(|| panic!("platforms is a list: {v}")).iter().map(|x| x.as_str().unwrap().to_owned()).collect();
    p.sort();
    p
}

// ---------------------------------------------------------------------------
// Feedback.

#[tokio::test]
async fn an_answer_shows_in_the_submitters_list_reaches_their_devices_and_is_appended_with_the_operator() {
    let api = Api::new();
    let ann = account(&api, "fbanswer").await;
    let cfid = unique("fb");
    let id = submit(&api, &ann, json!({ "category": "bug", "text": "crash on start", "client_feedback_id": cfid })).await;
    let mut web = connect(1, &ann.token, &unique("dev"), "web").await;
    let mut phone = connect(2, &ann.token, &unique("dev"), "ios").await;
    let (op, reply) = (unique("op"), format!("Fixed in 2.1.1, thanks! {}", unique("r")));

    let out = set_status(&id, "resolved", Some(&reply), &op, true).await;
    succeeded(&out, "feedback status resolved --json");
    let printed = json_out(&out);
    assert_eq!(printed["feedback_id"], id.as_str(), "{printed}");
    assert_eq!(printed["status"], "resolved", "{printed}");
    assert_eq!(printed["reply"], reply.as_str(), "{printed}");
    assert_eq!(printed["appended"], true, "{printed}");

    // Every device of the submitter gets the change.
    for (what, ws) in [("web on node 1", &mut web), ("ios on node 2", &mut phone)] {
        let f = ws.expect_where("feedback.updated", |d| d["feedback_id"] == id.as_str(), WAIT).await;
        let d = &f["data"];
        assert_eq!((d["status"].as_str(), d["reply"].as_str()), (Some("resolved"), Some(reply.as_str())), "{what}: {f}");
    }

    // The list shows status and reply.
    let e = entry_when(&api, &ann, &id, "resolved", |e| e["status"] == "resolved").await;
    assert_eq!(e["reply"], reply.as_str(), "{e}");
    assert!(instant(&e["updated_at"]).unwrap() >= instant(&e["created_at"]).unwrap(), "{e}");

    // One event, by the operator.
    let changes = status_changes(&id).await;
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let (key, ev) = &changes[0];
    assert_eq!(key, &id, "keyed by feedback id");
    assert_eq!(ev["actor"], operator_actor(&op));
    let p = &ev["payload"];
    assert_eq!(p["feedback_id"], id.as_str());
    assert_eq!(p["user_id"], ann.id.as_str());
    assert_eq!(p["status"], "resolved");
    assert_eq!(p["reply"], reply.as_str());

    // A repeat of the submission answers its current status.
    let again = eventually(SETTLE, || async {
        let a = api.post("/api/feedback", Some(&ann.token), json!({ "category": "bug", "text": "crash on start", "client_feedback_id": cfid })).await.expect(200);
        (a.data()["status"] == "resolved").then_some(a)
    })
    .await
    .expect("a repeat answers the current status, resolved");
    assert_eq!(again.data()["feedback_id"], id.as_str());
    assert_eq!(status_changes(&id).await.len(), 1);
}

#[tokio::test]
async fn an_unknown_id_a_bad_status_or_a_bad_reply_is_refused_and_appends_nothing() {
    let api = Api::new();
    let ann = account(&api, "fbrefuse").await;
    let op = unique("op");
    let ghost = uuid::Uuid::now_v7().to_string();
    let out = set_status(&ghost, "resolved", Some("hello"), &op, false).await;
    refused(&out, Some(1), "an unknown feedback id");
    assert!(records(FEEDBACK, &ghost).await.is_empty(), "nothing appended for the unknown id");
    refused(&set_status("not-an-id", "resolved", None, &op, false).await, None, "a malformed id");

    let id = submit(&api, &ann, json!({ "category": "feature", "text": "dark mode" })).await;
    refused(&set_status(&id, "closed", None, &op, false).await, None, "an unknown status");
    refused(&set_status(&id, "resolved", Some(""), &op, false).await, None, "an empty reply");
    refused(&set_status(&id, "resolved", Some(&"r".repeat(2001)), &op, false).await, None, "a reply of 2,001 characters");
    assert!(status_changes(&id).await.is_empty(), "a refused change appended something");
    assert_eq!(entry(&api, &ann, &id).await["status"], "open");

    // 2,000 characters are fine.
    let longest = "é".repeat(2000);
    succeeded(&set_status(&id, "rejected", Some(&longest), &op, false).await, "a reply of 2,000 characters");
    let e = entry_when(&api, &ann, &id, "rejected", |e| e["status"] == "rejected").await;
    assert_eq!(e["reply"], longest.as_str());
    assert_eq!(status_changes(&id).await.len(), 1);
}

#[tokio::test]
async fn the_same_status_without_a_new_reply_is_a_no_op() {
    let api = Api::new();
    let ann = account(&api, "fbnoop").await;
    let op = unique("op");
    let id = submit(&api, &ann, json!({ "category": "bug", "text": "sync is slow" })).await;

    // Open is its status already.
    let out = set_status(&id, "open", None, &op, false).await;
    succeeded(&out, "feedback status open (unchanged)");
    assert!(said(&out).contains("unchanged"), "says unchanged:\n{}", said(&out));
    let out = set_status(&id, "open", None, &op, true).await;
    succeeded(&out, "feedback status open --json (unchanged)");
    let printed = json_out(&out);
    assert_eq!((printed["feedback_id"].as_str(), printed["status"].as_str()), (Some(id.as_str()), Some("open")), "{printed}");
    assert_eq!(printed["appended"], false, "{printed}");
    assert!(status_changes(&id).await.is_empty());

    let out = set_status(&id, "in_progress", None, &op, true).await;
    succeeded(&out, "feedback status in_progress");
    assert_eq!(json_out(&out)["appended"], true);
    entry_when(&api, &ann, &id, "in progress", |e| e["status"] == "in_progress").await;
    let out = set_status(&id, "in_progress", None, &op, false).await;
    succeeded(&out, "feedback status in_progress again");
    assert!(said(&out).contains("unchanged"), "says unchanged:\n{}", said(&out));
    assert_eq!(status_changes(&id).await.len(), 1, "the repeat appended nothing");

    // The same status with a new reply is a change.
    let out = set_status(&id, "in_progress", Some("Looking into it"), &op, true).await;
    succeeded(&out, "feedback status in_progress --reply");
    assert_eq!(json_out(&out)["appended"], true);
    let e = entry_when(&api, &ann, &id, "replied", |e| e["reply"] == "Looking into it").await;
    assert_eq!(e["status"], "in_progress");
    let changes = status_changes(&id).await;
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert!(changes[0].1["payload"]["reply"].is_null(), "no reply in the first change: {:?}", changes[0]);
    assert_eq!(changes[1].1["payload"]["reply"], "Looking into it");
}

#[tokio::test]
async fn feedback_list_json_is_one_array_newest_first_with_user_ids_and_filters_by_status() {
    let api = Api::new();
    let ann = account(&api, "fblist").await;
    let op = unique("op");
    let (t1, t2) = (unique("first"), unique("second"));
    let first = submit(&api, &ann, json!({ "category": "bug", "text": t1 })).await;
    let second = submit(&api, &ann, json!({ "category": "feature", "text": t2, "client": { "platform": "android", "app_version": "3.0.0" } })).await;
    succeeded(&set_status(&first, "resolved", Some("done"), &op, false).await, "feedback status");
    entry_when(&api, &ann, &first, "resolved", |e| e["status"] == "resolved").await;

    let list = |status: Option<&'static str>| async move {
        let mut args = vec!["feedback", "list", "--json", "--limit", "100"];
        if let Some(s) = status {
            args.extend(["--status", s]);
        }
        let out = run(&args).await;
        succeeded(&out, &format!("feedback list {args:?}"));
        match json_out(&out) {
            Value::Array(a) => a,
            other => panic!("feedback list --json prints one JSON array: {other}"),
        }
    };
    let pos = |all: &[Value], id: &str| all.iter().position(|e| e["feedback_id"] == id);

    // Both, newest first (resolved state may take a moment to show; it did in the user's list).
    let all = eventually(SETTLE, || async {
        let all = list(None).await;
        (pos(&all, &first).is_some() && pos(&all, &second).is_some()).then_some(all)
    })
    .await
    .expect("feedback list shows both");
    assert!(pos(&all, &second) < pos(&all, &first), "newest first");
    let e1 = &all[pos(&all, &first).unwrap()];
    let e2 = &all[pos(&all, &second).unwrap()];
    assert_eq!(e1["user_id"], ann.id.as_str(), "{e1}");
    assert_eq!((e1["category"].as_str(), e1["text"].as_str(), e1["status"].as_str(), e1["reply"].as_str()), (Some("bug"), Some(t1.as_str()), Some("resolved"), Some("done")), "{e1}");
    assert!(e1["target"].is_null() && e1["client"].is_null(), "{e1}");
    assert_eq!(e2["user_id"], ann.id.as_str(), "{e2}");
    assert_eq!((e2["category"].as_str(), e2["text"].as_str(), e2["status"].as_str()), (Some("feature"), Some(t2.as_str()), Some("open")), "{e2}");
    assert!(e2["reply"].is_null(), "{e2}");
    assert_eq!(e2["client"], json!({ "platform": "android", "app_version": "3.0.0" }));
    for e in [e1, e2] {
        assert!(instant(&e["created_at"]).is_some() && instant(&e["updated_at"]).is_some(), "{e}");
    }

    let resolved = list(Some("resolved")).await;
    assert!(pos(&resolved, &first).is_some() && pos(&resolved, &second).is_none(), "only resolved ones: {resolved:#?}");
    assert!(resolved.iter().all(|e| e["status"] == "resolved"), "{resolved:#?}");
    let open = list(Some("open")).await;
    assert!(pos(&open, &second).is_some() && pos(&open, &first).is_none(), "only open ones");
    assert!(open.iter().all(|e| e["status"] == "open"));

    // --limit bounds the list; the table form works too.
    let out = run(&["feedback", "list", "--json", "--limit", "1"]).await;
    succeeded(&out, "feedback list --limit 1");
    assert_eq!(json_out(&out).as_array().map(Vec::len), Some(1));
    succeeded(&run(&["feedback", "list", "--limit", "5"]).await, "feedback list (table)");
    refused(&run(&["feedback", "list", "--status", "closed"]).await, None, "an unknown status filter");
}

// ---------------------------------------------------------------------------
// App releases.

#[tokio::test]
async fn app_version_answers_required_optional_or_none_by_the_newest_release_in_semver_order() {
    let api = Api::new();
    let (app, op) = (unique("app"), unique("op"));
    let dev = unique("dev");
    let a = api.get(&format!("/api/system/app-version?app_id={app}&platform=android&version=1.0.0&device_id={dev}"), None).await.expect(404);
    assert_eq!(a.error_kind(), "not_found", "{}", a.body);

    published(&app, "android", "1.9.0", &["--notes", "first", "--operator", &op]).await;
    published(&app, "android", "1.10.0", &["--notes", "second", "--min-supported", "1.2.0", "--size", "2048", "--operator", &op]).await;
    let d = comes_to(&api, &app, "android", "1.9.5", &dev, "optional", Some("1.10.0")).await;
    assert_eq!(
        d["latest"],
        json!({ "version": "1.10.0", "url": download(&app, "1.10.0"), "size": 2048, "sha256": SHA, "notes": "second" }),
        "the newest release in full: {d}"
    );
    answers(&api, &app, "android", "1.1.0", &dev, "required", Some("1.10.0")).await;
    answers(&api, &app, "android", "1.1.9", &dev, "required", Some("1.10.0")).await;
    answers(&api, &app, "android", "1.2.0-beta.1", &dev, "required", Some("1.10.0")).await;
    answers(&api, &app, "android", "1.2.0", &dev, "optional", Some("1.10.0")).await;
    answers(&api, &app, "android", "1.9.0", &dev, "optional", Some("1.10.0")).await;
    answers(&api, &app, "android", "1.10.0-rc.1", &dev, "optional", Some("1.10.0")).await;
    answers(&api, &app, "android", "1.10.0", &dev, "none", None).await;
    answers(&api, &app, "android", "1.11.0", &dev, "none", None).await;
    answers(&api, &app, "android", "10.0.0", &dev, "none", None).await;
    // Another platform of the same app was never published.
    api.get(&format!("/api/system/app-version?app_id={app}&platform=ios&version=1.0.0&device_id={dev}"), None).await.expect(404);

    // Two AppVersionPublished events, keyed by app and platform, by the operator.
    let recs = records(SYSTEM, &app).await;
    let published_events = of_type(&recs, "AppVersionPublished");
    assert_eq!(published_events.len(), 2, "{recs:#?}");
    for (key, ev) in published_events {
        assert_eq!(key, &format!("release:{app}:android"));
        assert_eq!(ev["actor"], operator_actor(&op), "{ev}");
    }
    assert_eq!(recs.len(), 2, "nothing else: {recs:#?}");
}

#[tokio::test]
async fn a_rollout_offers_a_release_to_the_devices_below_its_percentage_and_raising_it_adds_devices() {
    let api = Api::new();
    let (app, op) = (unique("app"), unique("op"));
    let p = "ios";
    let inside = device_in(&app, p, 0..30);
    let between = device_in(&app, p, 30..60);
    let outside = device_in(&app, p, 60..100);
    published(&app, p, "1.0.0", &["--operator", &op]).await;
    published(&app, p, "1.1.0", &["--rollout", "30", "--operator", &op]).await;

    comes_to(&api, &app, p, "1.0.0", &inside, "optional", Some("1.1.0")).await;
    answers(&api, &app, p, "1.0.0", &inside, "optional", Some("1.1.0")).await; // the same device, the same bucket
    answers(&api, &app, p, "1.0.0", &between, "none", None).await;
    answers(&api, &app, p, "1.0.0", &outside, "none", None).await;
    // Outside 1.1.0's rollout, the newest release that has the device is offered.
    answers(&api, &app, p, "0.9.0", &outside, "optional", Some("1.0.0")).await;
    answers(&api, &app, p, "0.9.0", &inside, "optional", Some("1.1.0")).await;

    let out = run(&["release", "rollout", &app, p, "1.1.0", "60", "--operator", &op]).await;
    succeeded(&out, "release rollout 60");
    comes_to(&api, &app, p, "1.0.0", &between, "optional", Some("1.1.0")).await;
    answers(&api, &app, p, "1.0.0", &inside, "optional", Some("1.1.0")).await;
    answers(&api, &app, p, "1.0.0", &outside, "none", None).await;
    // The same percentage again is a no-op; an unpublished version is refused.
    succeeded(&run(&["release", "rollout", &app, p, "1.1.0", "60", "--operator", &op]).await, "release rollout 60 again");
    refused(&run(&["release", "rollout", &app, p, "1.2.0", "50", "--operator", &op]).await, None, "a rollout of an unpublished version");
    let recs = records(SYSTEM, &app).await;
    let changed = of_type(&recs, "AppRolloutChanged");
    assert_eq!(changed.len(), 1, "{recs:#?}");
    assert_eq!(changed[0].0, format!("release:{app}:{p}"));
    assert_eq!(changed[0].1["actor"], operator_actor(&op));

    // Required goes by the newest release whatever its rollout, even 0.
    published(&app, p, "2.0.0", &["--rollout", "0", "--min-supported", "1.1.0", "--operator", &op]).await;
    comes_to(&api, &app, p, "1.0.0", &outside, "required", Some("2.0.0")).await;
    answers(&api, &app, p, "1.0.0", &inside, "required", Some("2.0.0")).await;
    // Not below the minimum: 2.0.0 reaches nobody at 0 %, so nothing newer is offered.
    answers(&api, &app, p, "1.1.0", &inside, "none", None).await;
    answers(&api, &app, p, "1.1.0", &outside, "none", None).await;
}

#[tokio::test]
async fn a_withdrawn_release_is_never_offered_the_one_before_it_is() {
    let api = Api::new();
    let (app, op) = (unique("app"), unique("op"));
    let (p, dev) = ("android", unique("dev"));
    published(&app, p, "1.0.0", &["--operator", &op]).await;
    published(&app, p, "1.1.0", &["--operator", &op]).await;
    published(&app, p, "1.2.0", &["--min-supported", "1.1.0", "--operator", &op]).await;
    comes_to(&api, &app, p, "1.0.0", &dev, "required", Some("1.2.0")).await;

    succeeded(&run(&["release", "withdraw", &app, p, "1.2.0", "--operator", &op]).await, "release withdraw 1.2.0");
    // 1.1.0 is the newest now, without a minimum.
    comes_to(&api, &app, p, "1.0.0", &dev, "optional", Some("1.1.0")).await;
    answers(&api, &app, p, "1.1.0", &dev, "none", None).await;
    answers(&api, &app, p, "1.1.5", &dev, "none", None).await;
    // Withdrawing again is a no-op; it cannot be published again nor rolled out.
    succeeded(&run(&["release", "withdraw", &app, p, "1.2.0", "--operator", &op]).await, "release withdraw 1.2.0 again");
    refused(&publish(&app, p, "1.2.0", &["--operator", &op]).await, Some(1), "publishing a withdrawn version again");
    refused(&run(&["release", "rollout", &app, p, "1.2.0", "50", "--operator", &op]).await, None, "a rollout of a withdrawn release");
    let recs = records(SYSTEM, &app).await;
    assert_eq!(of_type(&recs, "AppVersionWithdrawn").len(), 1, "{recs:#?}");
    assert_eq!(of_type(&recs, "AppVersionPublished").len(), 3, "{recs:#?}");
    assert!(of_type(&recs, "AppRolloutChanged").is_empty(), "{recs:#?}");
    for (key, ev) in of_type(&recs, "AppVersionWithdrawn") {
        assert_eq!(key, &format!("release:{app}:{p}"));
        assert_eq!(ev["actor"], operator_actor(&op));
    }

    succeeded(&run(&["release", "withdraw", &app, p, "1.1.0", "--operator", &op]).await, "release withdraw 1.1.0");
    comes_to(&api, &app, p, "1.0.0", &dev, "none", None).await;
    answers(&api, &app, p, "0.5.0", &dev, "optional", Some("1.0.0")).await;
    // Everything withdrawn: published once, so not 404, but nothing to offer.
    succeeded(&run(&["release", "withdraw", &app, p, "1.0.0", "--operator", &op]).await, "release withdraw 1.0.0");
    comes_to(&api, &app, p, "0.5.0", &dev, "none", None).await;
}

#[tokio::test]
async fn refused_publishes_exit_1_and_append_nothing() {
    let api = Api::new();
    let (app, op) = (unique("app"), unique("op"));
    let p = "ios";
    published(&app, p, "1.0.0", &["--operator", &op]).await;
    let dev = unique("dev");
    comes_to(&api, &app, p, "0.1.0", &dev, "optional", Some("1.0.0")).await;

    let url = download(&app, "1.5.0");
    let long_notes = "n".repeat(4001);
    let (bad_app_upper, bad_app_space) = (format!("{app}X"), format!("{app} x"));
    let long_app = format!("{app}{}", "a".repeat(65 - app.len()));
    let base = |app: &str, version: &str| -> Vec<String> {
        ["release", "publish", "--app", app, "--platform", p, "--version", version, "--url", &url, "--sha256", SHA, "--size", "1000", "--operator", &op]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let with = |mut args: Vec<String>, key: &str, value: &str| -> Vec<String> {
        match args.iter().position(|a| a == key) {
            Some(i) => args[i + 1] = value.to_owned(),
            None => args.extend([key.to_owned(), value.to_owned()]),
        }
        args
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("a malformed semver (1.5)", base(&app, "1.5")),
        ("a malformed semver (v1.5.0)", base(&app, "v1.5.0")),
        ("a malformed semver (1.5.0.1)", base(&app, "1.5.0.1")),
        ("an http:// url", with(base(&app, "1.5.0"), "--url", &format!("http://downloads.example.com/{app}/1.5.0/app.pkg"))),
        ("a url that is no url", with(base(&app, "1.5.0"), "--url", "downloads.example.com/app.pkg")),
        ("a short sha256", with(base(&app, "1.5.0"), "--sha256", &SHA[..63])),
        ("a long sha256", with(base(&app, "1.5.0"), "--sha256", &format!("{SHA}0"))),
        ("a sha256 with a non-hex digit", with(base(&app, "1.5.0"), "--sha256", &format!("{}g", &SHA[..63]))),
        ("a size of 0", with(base(&app, "1.5.0"), "--size", "0")),
        ("min_supported above version", with(base(&app, "1.5.0"), "--min-supported", "1.6.0")),
        ("a malformed min_supported", with(base(&app, "1.5.0"), "--min-supported", "1.6")),
        ("notes over 4,000 characters", with(base(&app, "1.5.0"), "--notes", &long_notes)),
        ("a version already published", base(&app, "1.0.0")),
        ("an app id with an upper-case letter", base(&bad_app_upper, "1.5.0")),
        ("an app id with a space", base(&bad_app_space, "1.5.0")),
        ("an app id of 65 characters", base(&long_app, "1.5.0")),
        ("an unknown platform", with(base(&app, "1.5.0"), "--platform", "tv")),
    ];
    let outs = futures::future::join_all(cases.iter().map(|(_, args)| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs).await
    }))
    .await;
    for ((what, _), out) in cases.iter().zip(&outs) {
        refused(out, Some(1), what);
    }
    // A rollout outside 0–100 is refused too.
    refused(&run(&with(base(&app, "1.5.0"), "--rollout", "101").iter().map(String::as_str).collect::<Vec<_>>()).await, None, "a rollout of 101");

    let recs = records(SYSTEM, &app).await;
    assert_eq!(recs.len(), 1, "only the first publish was appended: {recs:#?}");
    answers(&api, &app, p, "1.0.0", &dev, "none", None).await;

    // The edges are fine: min_supported equal to version, notes of 4,000 characters.
    let notes = "é".repeat(4000);
    published(&app, p, "1.1.0", &["--min-supported", "1.1.0", "--notes", &notes, "--operator", &op]).await;
    let d = comes_to(&api, &app, p, "1.0.0", &dev, "required", Some("1.1.0")).await;
    assert_eq!(d["latest"]["notes"], notes.as_str());
}

// ---------------------------------------------------------------------------
// Announcements.

#[tokio::test]
async fn an_announcement_reaches_the_sockets_of_its_platforms_only_and_is_listed_for_them() {
    let api = Api::new();
    let (a, b, c) = tokio::join!(account(&api, "annios"), account(&api, "annios"), account(&api, "annweb"));
    let mut ios1 = connect(1, &a.token, &unique("dev"), "ios").await;
    let mut ios2 = connect(2, &b.token, &unique("dev"), "ios").await;
    let mut web = connect(1, &c.token, &unique("dev"), "web").await;
    let (title, body, op) = (unique("maint"), format!("Maintenance tonight {}", unique("b")), unique("op"));
    let (ends, ends_s) = at(120);
    let out = announce(&title, &body, &op, &["--platforms", "ios,android", "--ends-at", &ends_s]).await;
    succeeded(&out, "announce --platforms ios,android");

    let f1 = announcement_frame(&mut ios1, &title, WAIT).await;
    let f2 = announcement_frame(&mut ios2, &title, WAIT).await;
    let d = &f1["data"];
    let id = d["announcement_id"].as_str().unwrap_or_else(|| panic!("an announcement_id: {f1}")).to_owned();
    assert_eq!(d["body"], body.as_str(), "{f1}");
    assert_eq!(instant(&d["ends_at"]), Some(ends), "{f1}");
    let starts = instant(&d["starts_at"]).unwrap_or_else(|| panic!("starts_at in RFC 3339: {f1}"));
    assert!(starts <= OffsetDateTime::now_utc(), "starts now by default: {f1}");
    assert!(OffsetDateTime::now_utc() - starts < time::Duration::seconds(60), "starts now by default: {f1}");
    assert_eq!(f2["data"]["announcement_id"], id.as_str(), "both nodes deliver the same announcement");
    web.assert_no("system.announcement", |d| d["title"] == title.as_str(), QUIET * 2, "a web socket got an ios/android announcement").await;

    for platform in [Some("ios"), Some("android"), None] {
        let e = listed(&api, &a, platform, &title).await;
        assert_eq!(e["announcement_id"], id.as_str(), "{e}");
        assert_eq!(e["body"], body.as_str(), "{e}");
        assert_eq!(sorted_platforms(&e["platforms"]), ["android", "ios"], "{e}");
        assert_eq!(instant(&e["starts_at"]), Some(starts), "{e}");
        assert_eq!(instant(&e["ends_at"]), Some(ends), "{e}");
    }
    for platform in ["web", "desktop"] {
        assert!(titled(&listing(&api, &a, Some(platform)).await, &title).is_none(), "not listed for {platform}");
    }

    let recs = records(SYSTEM, &title).await;
    assert_eq!(recs.len(), 1, "{recs:#?}");
    let (key, ev) = &recs[0];
    assert_eq!(ev["event_type"], "SystemAnnouncementPublished");
    assert_eq!(key, &format!("announcement:{id}"));
    assert_eq!(ev["actor"], operator_actor(&op));
    let p = &ev["payload"];
    assert_eq!((p["announcement_id"].as_str(), p["title"].as_str(), p["body"].as_str()), (Some(id.as_str()), Some(title.as_str()), Some(body.as_str())));
    assert_eq!(sorted_platforms(&p["platforms"]), ["android", "ios"]);
    assert_eq!(instant(&p["ends_at"]), Some(ends));
    assert_eq!(instant(&p["starts_at"]), Some(starts));
}

#[tokio::test]
async fn an_announcement_for_all_platforms_reaches_every_socket_and_a_later_socket_only_through_the_listing() {
    let api = Api::new();
    let (a, b, c) = tokio::join!(account(&api, "annall"), account(&api, "annall"), account(&api, "annall"));
    let mut sockets = [
        ("web on node 1", connect(1, &a.token, &unique("dev"), "web").await),
        ("android on node 2", connect(2, &b.token, &unique("dev"), "android").await),
        ("desktop on node 1", connect(1, &c.token, &unique("dev"), "desktop").await),
    ];
    let (title, op) = (unique("all"), unique("op"));
    let (_, ends_s) = at(60);
    succeeded(&announce(&title, "For everyone", &op, &["--ends-at", &ends_s]).await, "announce (all platforms)");
    for (what, ws) in sockets.iter_mut() {
        let f = announcement_frame(ws, &title, WAIT).await;
        assert_eq!(f["data"]["body"], "For everyone", "{what}: {f}");
    }
    let e = listed(&api, &a, Some("desktop"), &title).await;
    assert_eq!(e["platforms"], json!([]), "empty: all platforms: {e}");
    listed(&api, &a, Some("mac"), &title).await;
    listed(&api, &a, None, &title).await;

    // A socket that was not connected when it started does not get it.
    let mut late = connect(2, &a.token, &unique("dev"), "ios").await;
    late.assert_no("system.announcement", |d| d["title"] == title.as_str(), QUIET * 2, "a socket connected later got the announcement").await;
}

#[tokio::test]
async fn a_future_announcement_is_neither_listed_nor_delivered_before_it_starts_and_arrives_when_it_does() {
    let api = Api::new();
    let (a, b) = tokio::join!(account(&api, "annlater"), account(&api, "annlater"));
    let mut web = connect(1, &a.token, &unique("dev"), "web").await;
    let mut phone = connect(2, &b.token, &unique("dev"), "ios").await;
    let (title, op) = (unique("later"), unique("op"));
    let (starts, starts_s) = at(6);
    let (_, ends_s) = at(66);
    succeeded(&announce(&title, "Soon", &op, &["--starts-at", &starts_s, "--ends-at", &ends_s]).await, "announce --starts-at (future)");
    let before_start = || OffsetDateTime::now_utc() < starts - time::Duration::milliseconds(300);

    // Appended at once, but not current yet: neither listed nor delivered.
    let recs = eventually(Duration::from_secs(5), || async { Some(records(SYSTEM, &title).await).filter(|r| !r.is_empty()) }).await.expect("appended");
    assert_eq!(instant(&recs[0].1["payload"]["starts_at"]), Some(starts));
    assert!(before_start(), "the test was too slow to look before starts_at");
    let listed_early = titled(&listing(&api, &a, None).await, &title).is_some();
    assert!(!listed_early || !before_start(), "listed before it starts");
    let early = starts - time::Duration::milliseconds(500) - OffsetDateTime::now_utc();
    if early.is_positive() {
        web.assert_no("system.announcement", |d| d["title"] == title.as_str(), early.unsigned_abs(), "delivered before starts_at").await;
    }
    let listed_early = titled(&listing(&api, &a, Some("web")).await, &title).is_some();
    assert!(!listed_early || !before_start(), "listed before it starts");

    let f = announcement_frame(&mut web, &title, Duration::from_secs(2) + WAIT).await;
    let arrived = OffsetDateTime::now_utc();
    assert!(arrived >= starts - time::Duration::milliseconds(300), "delivered at {arrived}, before starts_at {starts}");
    assert!(arrived <= starts + time::Duration::seconds(5), "delivered at {arrived}, long after starts_at {starts}");
    assert_eq!(instant(&f["data"]["starts_at"]), Some(starts), "{f}");
    announcement_frame(&mut phone, &title, WAIT).await;
    listed(&api, &a, Some("web"), &title).await;
}

#[tokio::test]
async fn an_announcement_drops_out_of_the_listing_once_it_ends_and_an_ended_one_is_never_delivered() {
    let api = Api::new();
    let a = account(&api, "annend").await;
    let mut web = connect(1, &a.token, &unique("dev"), "web").await;
    let op = unique("op");
    let (expired, older, current) = (unique("expired"), unique("older"), unique("current"));
    let (_, s120) = at(-120);
    let (_, s60) = at(-60);
    let (_, s90) = at(-90);
    let (_, e30) = at(30);
    succeeded(&announce(&expired, "Over", &op, &["--platforms", "web", "--starts-at", &s120, "--ends-at", &s60]).await, "announce (already ended)");
    succeeded(&announce(&older, "Older", &op, &["--platforms", "web", "--starts-at", &s90, "--ends-at", &e30]).await, "announce (older)");
    let (ends, ends_s) = at(8);
    succeeded(&announce(&current, "Ends soon", &op, &["--platforms", "web", "--starts-at", &s60, "--ends-at", &ends_s]).await, "announce (ends soon)");

    // Started already: delivered at once; the ended one never.
    announcement_frame(&mut web, &older, WAIT).await;
    announcement_frame(&mut web, &current, WAIT).await;
    web.assert_no("system.announcement", |d| d["title"] == expired.as_str(), QUIET, "an ended announcement was delivered").await;

    // Listed newest starts_at first until it ends; the ended one never.
    let list = eventually(SETTLE, || async {
        let l = listing(&api, &a, Some("web")).await;
        (titled(&l, &current).is_some() && titled(&l, &older).is_some()).then_some(l)
    })
    .await
    .expect("both current announcements are listed");
    assert!(OffsetDateTime::now_utc() < ends, "the test was too slow to see the listing before ends_at");
    let pos = |t: &str| list.iter().position(|e| e["title"] == t);
    assert!(pos(&current) < pos(&older), "newest starts_at first: {list:#?}");
    assert!(pos(&expired).is_none(), "an ended announcement is listed: {list:#?}");
    let starts: Vec<OffsetDateTime> = list.iter().map(|e| instant(&e["starts_at"]).unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "the whole listing is newest starts_at first: {list:#?}");
    assert_eq!(instant(&titled(&list, &current).unwrap()["ends_at"]), Some(ends));

    let gone = eventually(Duration::from_secs(8) + SETTLE, || async {
        let l = listing(&api, &a, Some("web")).await;
        titled(&l, &current).is_none().then_some(l)
    })
    .await
    .expect("an ended announcement drops out of the listing");
    assert!(OffsetDateTime::now_utc() >= ends - time::Duration::milliseconds(500), "dropped out before ends_at");
    assert!(titled(&gone, &older).is_some(), "the older one is still current");
}

#[tokio::test]
async fn refused_announcements_exit_non_zero_and_append_nothing() {
    let marker = unique("badann");
    let op = unique("op");
    let (_, s60) = at(60);
    let (_, s30) = at(30);
    let pad = |n: usize| format!("{marker}{}", "x".repeat(n - marker.len()));
    let (title101, body2001) = (pad(101), pad(2001));
    let cases: Vec<(&str, String, String, Vec<String>)> = vec![
        ("ends before it starts", marker.clone(), "b".into(), vec!["--starts-at".into(), s60.clone(), "--ends-at".into(), s30.clone()]),
        ("ends when it starts", marker.clone(), "b".into(), vec!["--starts-at".into(), s60.clone(), "--ends-at".into(), s60.clone()]),
        ("ends before now, starting now", marker.clone(), "b".into(), vec!["--ends-at".into(), at(-30).1]),
        ("an empty title", String::new(), marker.clone(), vec![]),
        ("a title of 101 characters", title101, "b".into(), vec![]),
        ("an empty body", marker.clone(), String::new(), vec![]),
        ("a body of 2,001 characters", "t".into(), body2001, vec![]),
        ("an unknown platform", marker.clone(), "b".into(), vec!["--platforms".into(), "ios,tv".into()]),
        ("a starts-at that is no RFC 3339", marker.clone(), "b".into(), vec!["--starts-at".into(), "tomorrow".into()]),
    ];
    let outs = futures::future::join_all(cases.iter().map(|(_, title, body, extra)| {
        let op = op.clone();
        async move {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            announce(title, body, &op, &extra).await
        }
    }))
    .await;
    for ((what, ..), out) in cases.iter().zip(&outs) {
        refused(out, None, what);
    }
    assert!(records(SYSTEM, &marker).await.is_empty(), "a refused announcement was appended");

    // The edges are fine: a title of 100 characters, a body of 2,000.
    let (_, e30) = at(30);
    let out = announce(&pad(100), &"é".repeat(2000), &op, &["--platforms", "desktop,mac,windows", "--ends-at", &e30]).await;
    succeeded(&out, "announce at the edges");
    let recs = records(SYSTEM, &marker).await;
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(sorted_platforms(&recs[0].1["payload"]["platforms"]), ["desktop", "mac", "windows"]);
}

/// The inbox items of `user` of kind `announcement` about `announcement_id`.
async fn announcement_items(api: &Api, user: &Account, announcement_id: &str) -> Vec<Value> {
    let a = api.get("/api/notification?category=system&limit=50", Some(&user.token)).await.expect(200);
    let items = a.data()["items"].as_array().cloned().unwrap_or_default();
    items.into_iter().filter(|i| i["kind"] == "announcement" && i["target"]["id"] == announcement_id).collect()
}

#[tokio::test]
async fn an_announcement_with_inbox_is_one_system_item_in_every_inbox_once_it_starts_and_one_without_is_not() {
    let api = Api::new();
    let (a, b, off) = tokio::join!(account(&api, "annbox"), account(&api, "annbox"), account(&api, "annoff"));
    api.call(reqwest::Method::PATCH, "/api/user/settings", Some(&off.token), Some(json!({ "notifications": { "categories": { "system": false } } })))
        .await
        .expect(200);
    let (title, op) = (unique("inbox"), unique("op"));
    let (_, ends_s) = at(300);
    // Without --inbox: frames and the listing only (checked after the one with --inbox arrived).
    let (plain, op0) = (unique("plain"), unique("op"));
    succeeded(&announce(&plain, "Just a banner", &op0, &["--ends-at", &ends_s]).await, "announce without --inbox");
    let plain_id = listed(&api, &a, None, &plain).await["announcement_id"].as_str().unwrap().to_owned();
    succeeded(&announce(&title, "Read me", &op, &["--ends-at", &ends_s, "--inbox"]).await, "announce --inbox");
    let id = listed(&api, &a, None, &title).await["announcement_id"].as_str().unwrap().to_owned();
    // The notifier delivers started announcements on a 5 s clock.
    for user in [&a, &b] {
        let items = eventually(Duration::from_secs(30), || async {
            let items = announcement_items(&api, user, &id).await;
            (!items.is_empty()).then_some(items)
        })
        .await
        .unwrap_or_else(|| panic!("the announcement never reached {}'s inbox", user.id));
        assert_eq!(items.len(), 1, "one item per user: {items:?}");
        let i = &items[0];
        assert_eq!((i["category"].as_str(), i["read"].as_bool()), (Some("system"), Some(false)), "{i}");
        assert_eq!(i["text"], format!("{title}\nRead me"), "{i}");
    }
    // Switched off: nothing, with the two inboxes above as the control.
    assert!(announcement_items(&api, &off, &id).await.is_empty(), "a user with system notifications off got the announcement");
    assert!(announcement_items(&api, &a, &plain_id).await.is_empty(), "an announcement without --inbox reached an inbox");

    // Scheduled a few seconds ahead: not in the inbox before it starts, then once.
    let (later, op2) = (unique("later"), unique("op"));
    let (starts, starts_s) = at(8);
    succeeded(&announce(&later, "Soon", &op2, &["--starts-at", &starts_s, "--ends-at", &ends_s, "--inbox"]).await, "announce --starts-at --inbox");
    let later_id = records(SYSTEM, &later).await[0].1["payload"]["announcement_id"].as_str().unwrap().to_owned();
    while OffsetDateTime::now_utc() < starts - time::Duration::seconds(1) {
        assert!(announcement_items(&api, &a, &later_id).await.is_empty(), "a scheduled announcement reached the inbox before it started");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let items = eventually(Duration::from_secs(30), || async {
        let items = announcement_items(&api, &a, &later_id).await;
        (!items.is_empty()).then_some(items)
    })
    .await
    .expect("the scheduled announcement reaches the inbox once it starts");
    assert_eq!(items.len(), 1, "{items:?}");
}
