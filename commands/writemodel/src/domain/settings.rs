//! A user's settings (`PATCH /api/user/settings`): a JSON merge patch
//! (RFC 7396) applied to the current document, then read back as the typed
//! document so that every error names its JSON path, then checked field by
//! field. The whole new document is the event; a patch that changes
//! nothing is no event.

use super::{Ctx, DomainError};
use beaver_events::user::{Settings, UserEvent, UserSettingsChanged};
use serde_json::Value;

/// The largest `client` section, as JSON bytes.
pub const CLIENT_MAX_BYTES: usize = 4096;

fn invalid(path: &str, why: impl Into<String>) -> DomainError {
    DomainError::InvalidAt(if path.is_empty() { "body".to_owned() } else { path.to_owned() }, why.into())
}

/// The JSON path of a serde error (for an unknown field, the unknown key).
fn error_path(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path: Vec<String> = e
        .path()
        .iter()
        .filter_map(|seg| match seg {
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            _ => None,
        })
        .collect();
    path.join(".")
}

/// Every key that is an object in `shape` (the default document) is an object
/// in `doc` too (or absent: the default fills it).
fn check_objects(shape: &Value, doc: &Value, path: &str) -> Result<(), DomainError> {
    let (Value::Object(shape), Value::Object(doc)) = (shape, doc) else { return Ok(()) };
    for (key, inner) in shape {
        let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        match (inner, doc.get(key)) {
            (Value::Object(_), Some(v)) if !v.is_object() => return Err(invalid(&here, format!("{here} must be an object"))),
            (Value::Object(_), Some(v)) => check_objects(inner, v, &here)?,
            _ => {}
        }
    }
    Ok(())
}

/// `HH:MM`, 00:00–23:59.
fn clock(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 5 && b[2] == b':' && b.iter().enumerate().all(|(i, c)| i == 2 || c.is_ascii_digit()) && {
        let (h, m) = (&v[..2], &v[3..]);
        h.parse::<u8>().is_ok_and(|h| h < 24) && m.parse::<u8>().is_ok_and(|m| m < 60)
    }
}

/// Applies `patch` to `current`; the event when the document changes.
pub fn decide_patch(current: &Settings, patch: Value, ctx: &Ctx) -> Result<Option<UserEvent>, DomainError> {
    if !patch.is_object() {
        return Err(invalid("body", "the body must be a JSON object (a JSON merge patch)"));
    }
    let mut doc = serde_json::to_value(current).expect("settings serialise");
    json_patch::merge(&mut doc, &patch);
    // serde reads a struct from an array too (field by field): every part
    // that is an object in the document must still be one.
    check_objects(&serde_json::to_value(Settings::default()).expect("settings serialise"), &doc, "")?;
    // `null` removed a key: the typed document fills its default back in.
    let next: Settings = serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = error_path(&e);
        let why = e.inner().to_string();
        invalid(&path, format!("{}: {why}", if path.is_empty() { "body" } else { &path }))
    })?;
    let dnd = &next.notifications.do_not_disturb;
    for (path, value) in [("notifications.do_not_disturb.start", &dnd.start), ("notifications.do_not_disturb.end", &dnd.end)] {
        if !clock(value) {
            return Err(invalid(path, format!("{path} must be HH:MM (00:00 to 23:59)")));
        }
    }
    if dnd.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(invalid("notifications.do_not_disturb.time_zone", "time_zone must be an IANA time zone name, e.g. Europe/Berlin"));
    }
    let client_bytes = serde_json::to_vec(&next.client).map(|v| v.len()).unwrap_or(usize::MAX);
    if client_bytes > CLIENT_MAX_BYTES {
        return Err(invalid("client", format!("client must be at most {CLIENT_MAX_BYTES} bytes of JSON")));
    }
    if next == *current {
        return Ok(None);
    }
    Ok(Some(UserEvent::UserSettingsChanged(UserSettingsChanged { user_id: ctx.actor, settings: next })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{ctx, user};
    use beaver_events::user::{FriendRequestPolicy, PushLevel};
    use serde_json::json;

    fn patched(current: &Settings, patch: Value) -> Settings {
        match decide_patch(current, patch, &ctx(user())).unwrap() {
            Some(UserEvent::UserSettingsChanged(e)) => e.settings,
            other => panic!("{other:?}"),
        }
    }

    fn field(patch: Value) -> String {
        decide_patch(&Settings::default(), patch, &ctx(user())).unwrap_err().field().unwrap().to_owned()
    }

    #[test]
    fn a_patch_merges_replaces_and_null_restores_the_default() {
        let s = patched(&Settings::default(), json!({ "privacy": { "show_online": false, "friend_requests": "nobody" }, "client": { "theme": "dark" } }));
        assert!(!s.privacy.show_online && s.privacy.read_receipts, "siblings kept");
        assert_eq!(s.privacy.friend_requests, FriendRequestPolicy::Nobody);
        let s = patched(&s, json!({ "privacy": { "show_online": null }, "notifications": { "push": "mentions" } }));
        assert!(s.privacy.show_online, "null puts the default back");
        assert_eq!((s.privacy.friend_requests, s.notifications.push), (FriendRequestPolicy::Nobody, PushLevel::Mentions));
        assert_eq!(s.client["theme"], "dark");
        assert!(decide_patch(&s, json!({ "privacy": { "show_online": true } }), &ctx(user())).unwrap().is_none(), "no change, no event");
    }

    #[test]
    fn every_error_names_its_json_path() {
        assert_eq!(field(json!({ "privacy": { "friend_requests": "friends" } })), "privacy.friend_requests");
        assert_eq!(field(json!({ "privacy": { "show_online": "no" } })), "privacy.show_online");
        assert_eq!(field(json!({ "notifications": { "push": "loud" } })), "notifications.push");
        assert_eq!(field(json!({ "notifications": { "do_not_disturb": { "start": "24:00" } } })), "notifications.do_not_disturb.start");
        assert_eq!(field(json!({ "notifications": { "do_not_disturb": { "end": "7:5" } } })), "notifications.do_not_disturb.end");
        assert_eq!(field(json!({ "notifications": { "do_not_disturb": { "time_zone": "Mars/Olympus" } } })), "notifications.do_not_disturb.time_zone");
        assert_eq!(field(json!({ "privacy": { "shoe_size": 44 } })), "privacy.shoe_size");
        assert_eq!(field(json!({ "colour": "red" })), "colour");
        assert_eq!(field(json!({ "client": { "blob": "x".repeat(CLIENT_MAX_BYTES) } })), "client");
        assert_eq!(field(json!({ "client": 3 })), "client");
        assert_eq!(field(json!({ "notifications": [] })), "notifications", "serde would read a struct from an array");
        assert_eq!(field(json!({ "notifications": { "categories": [true] } })), "notifications.categories");
        assert_eq!(field(json!(["privacy"])), "body");
        assert!(patched(&Settings::default(), json!({ "notifications": { "do_not_disturb": { "time_zone": "Europe/Berlin", "start": "23:59" } } }))
            .notifications
            .do_not_disturb
            .enabled
            .eq(&false));
    }
}
