//! Client analytics, `POST /api/track/events`, as docs/services.md ("Track")
//! specifies it: partial acceptance with per-event errors, clamped clocks,
//! an optional token, rate limits, and every accepted event on
//! `beaver.track.v1` once the answer came.

use crate::helpers::{read_topic, unique, Api};
use reqwest::Method;
use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, Duration, OffsetDateTime};

fn ts(offset: Duration) -> String {
    (OffsetDateTime::now_utc() + offset).format(&Rfc3339).unwrap()
}

/// The track events carrying `marker` in their props, in topic order per device.
async fn tracked(marker: &str) -> Vec<Value> {
    read_topic(beaver_events::topics::TRACK).await.into_iter().filter(|v| v["payload"]["props"]["marker"] == marker).collect()
}

fn batch(device: &str, events: Vec<Value>) -> Value {
    json!({ "device_id": device, "platform": "ios", "app_version": "2.1.0", "events": events })
}

#[tokio::test]
async fn a_signed_in_batch_appends_its_good_events_and_names_the_bad_ones_by_index() {
    let api = Api::new();
    let (user_id, token, _) = api.signed_up(&unique("track")).await;
    let (marker, device) = (unique("m"), unique("dev"));
    let events = vec![
        json!({ "name": "app.open", "ts": ts(Duration::ZERO), "props": { "marker": marker, "cold": true }, "client_event_id": "e1" }),
        json!({ "name": "Not A Name", "ts": ts(Duration::ZERO), "props": { "marker": marker } }),
        json!({ "name": "chat.send_tapped", "ts": ts(-Duration::days(30)), "props": { "marker": marker, "ms": 42 } }),
        json!({ "name": "chat.scroll", "ts": ts(Duration::ZERO), "props": { "marker": marker, "deep": { "no": 1 } } }),
    ];
    let a = api.post("/api/track/events", Some(&token), batch(&device, events)).await.expect(202);
    assert_eq!(a.data()["accepted"], 2, "{}", a.body);
    let rejected: Vec<(u64, &str)> = a.data()["rejected"].as_array().unwrap().iter().map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str().unwrap())).collect();
    assert_eq!(rejected, vec![(1, "name"), (3, "props")], "{}", a.body);
    assert!(a.data()["rejected"][0]["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(a.data()["clamped"], json!([2]));

    // Answered means appended: both accepted events are on the topic now.
    let on_topic = tracked(&marker).await;
    assert_eq!(on_topic.len(), 2, "{on_topic:#?}");
    for e in &on_topic {
        assert_eq!(e["event_type"], "ClientEventTracked");
        assert_eq!(e["aggregate_id"], device.as_str(), "keyed by device");
        assert_eq!(e["actor"], json!({ "kind": "user", "id": user_id }));
        let p = &e["payload"];
        assert_eq!((p["user_id"].as_str(), p["device_id"].as_str(), p["platform"].as_str(), p["app_version"].as_str()), (Some(user_id.as_str()), Some(device.as_str()), Some("ios"), Some("2.1.0")));
    }
    let open = on_topic.iter().find(|e| e["payload"]["name"] == "app.open").unwrap();
    assert_eq!((open["payload"]["client_event_id"].as_str(), open["payload"]["client_ts_clamped"].as_bool()), (Some("e1"), Some(false)));
    let old = on_topic.iter().find(|e| e["payload"]["name"] == "chat.send_tapped").unwrap();
    assert_eq!(old["payload"]["client_ts_clamped"], true);
    let clamped_to = OffsetDateTime::parse(old["payload"]["client_ts"].as_str().unwrap(), &Rfc3339).unwrap();
    let received = OffsetDateTime::parse(old["occurred_at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!((received - clamped_to - Duration::days(7)).abs() < Duration::seconds(5), "clamped to 7 days before receipt: {clamped_to} vs {received}");
}

#[tokio::test]
async fn an_anonymous_batch_is_accepted_without_a_user_and_a_bad_token_is_refused() {
    let api = Api::new();
    let (marker, device) = (unique("m"), unique("dev"));
    let one = || vec![json!({ "name": "app.open", "ts": ts(Duration::ZERO), "props": { "marker": marker } })];
    api.post("/api/track/events", None, batch(&device, one())).await.expect(202);
    let a = api.post("/api/track/events", Some("not-a-token"), batch(&device, one())).await.expect(401);
    assert_eq!(a.error_kind(), "unauthorized");
    let on_topic = tracked(&marker).await;
    assert_eq!(on_topic.len(), 1, "only the anonymous batch is on the topic: {on_topic:#?}");
    assert!(on_topic[0]["payload"]["user_id"].is_null());
    assert_eq!(on_topic[0]["actor"], json!({ "kind": "system" }));
}

#[tokio::test]
async fn a_bad_batch_is_refused_whole_naming_the_field_and_appends_nothing() {
    let api = Api::new();
    let marker = unique("m");
    let good = json!({ "name": "app.open", "ts": ts(Duration::ZERO), "props": { "marker": marker } });
    let cases = [
        (json!({ "device_id": "has space", "platform": "ios", "events": [good.clone()] }), "device_id"),
        (json!({ "device_id": unique("dev"), "platform": "tv", "events": [good.clone()] }), "platform"),
        (json!({ "device_id": unique("dev"), "platform": "ios", "events": [] }), "events"),
        (json!({ "device_id": unique("dev"), "platform": "ios", "events": vec![good.clone(); 101] }), "events"),
    ];
    for (body, field) in cases {
        let a = api.post("/api/track/events", None, body).await.expect(422);
        assert_eq!(a.data()["field"], field, "{}", a.body);
    }
    let unknown = json!({ "device_id": unique("dev"), "platform": "ios", "events": [good], "extra": 1 });
    api.post("/api/track/events", None, unknown).await.expect(422);
    assert!(tracked(&marker).await.is_empty(), "a refused batch appended something");
}

#[tokio::test]
async fn a_device_sending_more_than_ten_batches_a_minute_gets_429() {
    let api = Api::new();
    let (_, token, _) = api.signed_up(&unique("trackrl")).await;
    let device = unique("dev");
    let one = || batch(&device, vec![json!({ "name": "tick", "ts": ts(Duration::ZERO) })]);
    for i in 0..10 {
        let a = api.post("/api/track/events", Some(&token), one()).await;
        assert_eq!(a.status.as_u16(), 202, "batch {i}: {}", a.body);
    }
    let refused = api.send(api.raw(Method::POST, "/api/track/events").bearer_auth(&token).json(&one())).await.expect(429);
    assert_eq!(refused.error_kind(), "too_many_requests", "{}", refused.body);
    assert!(refused.data()["retry_after"].as_u64().is_some_and(|s| (1..=60).contains(&s)), "{}", refused.body);
}
