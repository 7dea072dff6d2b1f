//! Client analytics (`POST /api/track/events`). Not an aggregate: nothing is
//! loaded and no rule depends on earlier events, so `decide` takes no state.
//! It checks the batch (its device, platform and size: a bad batch appends
//! nothing) and then each event on its own — one bad event is rejected with
//! its index and reason while the others are accepted — and clamps client
//! clocks into a plausible window.

use super::{Ctx, DomainError};
use beaver_events::track::{ClientEventTracked, TrackEvent};
use serde::Deserialize;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub const MAX_EVENTS: usize = 100;
pub const MAX_PROPS: usize = 50;
pub const MAX_PROP_STRING: usize = 256;
pub const MAX_PROPS_BYTES: usize = 4096;
/// A client clock further back than this is clamped.
pub const PAST: Duration = Duration::days(7);
/// A client clock further ahead than this is clamped.
pub const FUTURE: Duration = Duration::hours(1);
pub const PLATFORMS: &[&str] = &["ios", "android", "web", "desktop", "mac", "windows"];

/// The request body.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackBatch {
    /// 1–128 characters of `A-Z a-z 0-9 . _ -`.
    #[schema(min_length = 1, max_length = 128)]
    pub device_id: String,
    /// `ios`, `android`, `web`, `desktop`, `mac` or `windows`.
    pub platform: String,
    /// 1–32 characters without spaces.
    #[serde(default)]
    pub app_version: Option<String>,
    /// 1–100 events. Each is checked on its own: a malformed one is listed
    /// in the answer's `rejected` (the others are accepted), not refused with 422.
    #[schema(value_type = Vec<ClientEvent>, min_items = 1, max_items = 100)]
    pub events: Vec<Value>,
}

/// One event as the client sends it (read per event, so a malformed one is
/// rejected alone).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = track::ClientEvent)]
#[serde(deny_unknown_fields)]
struct ClientEvent {
    /// `^[a-z][a-z0-9_.]{0,63}$`.
    #[schema(pattern = "^[a-z][a-z0-9_.]{0,63}$")]
    name: String,
    /// The client's clock (RFC 3339); clamped to 7 days back and 1 hour ahead of the server's.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    ts: OffsetDateTime,
    /// Flat: at most 50 keys of 1–64 characters, each value a string (≤ 256 bytes), a number or a boolean; ≤ 4 KiB in all.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    props: Option<Map<String, Value>>,
    /// 1–64 characters.
    #[serde(default)]
    client_event_id: Option<String>,
}

/// An event the batch did not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub index: usize,
    /// The offending field (`name`, `ts`, `props`, `client_event_id`, `event`).
    pub field: &'static str,
    pub reason: String,
}

/// What a batch decides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decided {
    /// The events to append, each with its index in the batch.
    pub accepted: Vec<(usize, TrackEvent)>,
    pub rejected: Vec<Rejected>,
    /// Indexes of accepted events whose `ts` was clamped.
    pub clamped: Vec<usize>,
}

fn invalid(field: &'static str, why: impl Into<String>) -> DomainError {
    DomainError::Invalid(field, why.into())
}

/// A client's device id: 1–128 characters of `A-Z a-z 0-9 . _ -`.
pub fn check_device_id(device_id: &str) -> Result<(), DomainError> {
    let ok = (1..=128).contains(&device_id.len()) && device_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ok.then_some(()).ok_or_else(|| invalid("device_id", "device_id must be 1 to 128 characters of A-Z a-z 0-9 . _ -"))
}

/// Decides a batch sent by `user` (None: no token) at `ctx.now`.
pub fn decide(batch: TrackBatch, user: Option<Uuid>, ctx: &Ctx) -> Result<Decided, DomainError> {
    check_device_id(&batch.device_id)?;
    if !PLATFORMS.contains(&batch.platform.as_str()) {
        return Err(invalid("platform", format!("platform must be one of {}", PLATFORMS.join(", "))));
    }
    if let Some(v) = &batch.app_version {
        if v.is_empty() || v.len() > 32 || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid("app_version", "app_version must be 1 to 32 characters without spaces"));
        }
    }
    if batch.events.is_empty() || batch.events.len() > MAX_EVENTS {
        return Err(invalid("events", format!("events must list 1 to {MAX_EVENTS} events")));
    }
    let mut decided = Decided::default();
    for (index, raw) in batch.events.into_iter().enumerate() {
        match event(raw, ctx.now) {
            Ok((name, client_ts, clamped, props, client_event_id)) => {
                if clamped {
                    decided.clamped.push(index);
                }
                let tracked = ClientEventTracked {
                    device_id: batch.device_id.clone(),
                    user_id: user,
                    platform: batch.platform.clone(),
                    app_version: batch.app_version.clone(),
                    name,
                    client_ts,
                    client_ts_clamped: clamped,
                    props,
                    client_event_id,
                };
                decided.accepted.push((index, TrackEvent::ClientEventTracked(tracked)));
            }
            Err((field, reason)) => decided.rejected.push(Rejected { index, field, reason }),
        }
    }
    Ok(decided)
}

type Checked = (String, OffsetDateTime, bool, Map<String, Value>, Option<String>);

fn event(raw: Value, now: OffsetDateTime) -> Result<Checked, (&'static str, String)> {
    let e: ClientEvent = serde_json::from_value(raw).map_err(|e| ("event", format!("not an event: {e}")))?;
    let name_ok = (1..=64).contains(&e.name.len())
        && e.name.starts_with(|c: char| c.is_ascii_lowercase())
        && e.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    if !name_ok {
        return Err(("name", "name must match ^[a-z][a-z0-9_.]{0,63}$".into()));
    }
    let props = e.props.unwrap_or_default();
    if props.len() > MAX_PROPS {
        return Err(("props", format!("props has at most {MAX_PROPS} keys")));
    }
    for (k, v) in &props {
        let flat = match v {
            Value::String(s) => s.len() <= MAX_PROP_STRING,
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        };
        if k.is_empty() || k.len() > 64 || !flat {
            return Err(("props", format!("props.{k} must be a string of at most {MAX_PROP_STRING} bytes, a number or a boolean")));
        }
    }
    if Value::Object(props.clone()).to_string().len() > MAX_PROPS_BYTES {
        return Err(("props", format!("props must be at most {MAX_PROPS_BYTES} bytes")));
    }
    if let Some(id) = &e.client_event_id {
        if id.is_empty() || id.len() > 64 || id.chars().any(|c| c.is_control()) {
            return Err(("client_event_id", "client_event_id must be 1 to 64 characters".into()));
        }
    }
    let (earliest, latest) = (now - PAST, now + FUTURE);
    let ts = e.ts.to_offset(time::UtcOffset::UTC);
    let clamped_ts = ts.clamp(earliest, latest);
    Ok((e.name, clamped_ts, clamped_ts != ts, props, e.client_event_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{ctx, user};
    use serde_json::json;

    fn batch(events: Vec<Value>) -> TrackBatch {
        TrackBatch { device_id: "dev-1".into(), platform: "web".into(), app_version: Some("1.0.0".into()), events }
    }

    fn at(c: &Ctx, offset: Duration) -> String {
        (c.now + offset).format(&time::format_description::well_known::Rfc3339).unwrap()
    }

    #[test]
    fn given_a_mixed_batch_good_events_are_accepted_and_bad_ones_rejected_by_index() {
        let (me, c) = (user(), ctx(user()));
        let events = vec![
            json!({ "name": "app.open", "ts": at(&c, Duration::ZERO) }),
            json!({ "name": "Bad Name", "ts": at(&c, Duration::ZERO) }),
            json!({ "name": "chat.send", "ts": at(&c, Duration::ZERO), "props": { "nested": { "no": 1 } } }),
            json!({ "name": "chat.send", "ts": "yesterday" }),
            json!({ "name": "chat.send", "ts": at(&c, Duration::ZERO), "props": { "ms": 12, "ok": true, "screen": "chat" }, "client_event_id": "e1" }),
        ];
        let d = decide(batch(events), Some(me), &c).unwrap();
        assert_eq!(d.accepted.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 4]);
        assert_eq!(d.rejected.iter().map(|r| (r.index, r.field)).collect::<Vec<_>>(), vec![(1, "name"), (2, "props"), (3, "event")]);
        let TrackEvent::ClientEventTracked(e) = &d.accepted[1].1;
        assert_eq!((e.user_id, e.device_id.as_str(), e.platform.as_str(), e.client_event_id.as_deref()), (Some(me), "dev-1", "web", Some("e1")));
        assert_eq!(e.props["ms"], json!(12));
    }

    #[test]
    fn client_clocks_outside_the_window_are_clamped_and_flagged() {
        let c = ctx(user());
        let events = vec![
            json!({ "name": "a", "ts": at(&c, -Duration::days(30)) }),
            json!({ "name": "b", "ts": at(&c, Duration::days(2)) }),
            json!({ "name": "c", "ts": at(&c, -Duration::days(6)) }),
        ];
        let d = decide(batch(events), None, &c).unwrap();
        assert_eq!(d.clamped, vec![0, 1]);
        let ts = |i: usize| match &d.accepted[i].1 {
            TrackEvent::ClientEventTracked(e) => (e.client_ts, e.client_ts_clamped, e.user_id),
        };
        assert_eq!(ts(0), (c.now - PAST, true, None));
        assert_eq!(ts(1), (c.now + FUTURE, true, None));
        assert!(!ts(2).1);
    }

    #[test]
    fn a_bad_batch_is_refused_whole() {
        let c = ctx(user());
        let one = || vec![json!({ "name": "a", "ts": at(&c, Duration::ZERO) })];
        let kind = |b: TrackBatch| decide(b, None, &c).unwrap_err().kind();
        assert_eq!(kind(TrackBatch { device_id: "has space".into(), ..batch(one()) }), "device_id");
        assert_eq!(kind(TrackBatch { platform: "tv".into(), ..batch(one()) }), "platform");
        assert_eq!(kind(TrackBatch { app_version: Some("".into()), ..batch(one()) }), "app_version");
        assert_eq!(kind(batch(vec![])), "events");
        assert_eq!(kind(batch((0..=MAX_EVENTS).map(|_| json!({ "name": "a", "ts": at(&c, Duration::ZERO) })).collect())), "events");
    }

    #[test]
    fn props_are_bounded_in_keys_string_length_and_bytes() {
        let c = ctx(user());
        let with = |props: Value| json!({ "name": "a", "ts": at(&c, Duration::ZERO), "props": props });
        let many: Map<String, Value> = (0..=MAX_PROPS).map(|i| (format!("k{i}"), json!(1))).collect();
        let long = json!({ "s": "x".repeat(MAX_PROP_STRING + 1) });
        let heavy: Map<String, Value> = (0..20).map(|i| (format!("k{i}"), json!("x".repeat(250)))).collect();
        let d = decide(batch(vec![with(Value::Object(many)), with(long), with(Value::Object(heavy)), with(json!({ "list": [1] }))]), None, &c).unwrap();
        assert!(d.accepted.is_empty());
        assert!(d.rejected.iter().all(|r| r.field == "props"), "{:?}", d.rejected);
    }
}
