//! Notifications: the user's own actions on their inbox and push tokens
//! (docs/services.md, "Notifications"). Inbox items themselves are not
//! decided here: the notifier derives them from other aggregates' events
//! ([`derive`]).
//!
//! - [`parse_read`] checks a read request (exactly one selector; ids as
//!   UUIDs, 1 to [`MAX_IDS`]); [`decide_read`] refuses ids that are not all
//!   the caller's undeleted items (404, nothing marked).
//! - [`decide_delete`], [`decide_register`], [`decide_revoke`].

pub mod derive;
pub mod push;

use super::{Ctx, DomainError};
use beaver_events::notification::{
    Category, NotificationDeleted, NotificationEvent, NotificationsRead, PushPlatform, PushTokenRegistered, PushTokenRevoked,
};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// Ids one read request may name.
pub const MAX_IDS: usize = 200;
pub const DEVICE_ID_MAX: usize = 64;
pub const TOKEN_MAX: usize = 4096;

fn invalid(field: &'static str, why: impl Into<String>) -> DomainError {
    DomainError::Invalid(field, why.into())
}

/// `POST /api/notification/read`; each field read as a JSON value so that a
/// mistyped one is named.
/// Exactly one of the four (a `null` one counts as absent).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// `true`: every item.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub all: Option<Value>,
    /// Every item of a category.
    #[serde(default)]
    #[schema(value_type = Option<Category>)]
    pub category: Option<Value>,
    /// Every item at or below this position.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub up_to: Option<Value>,
    /// 1 to 200 of the caller's notification ids.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Uuid>>, min_items = 1, max_items = 200)]
    pub ids: Option<Value>,
}

/// What a read request selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    All,
    Category(Category),
    UpTo(i64),
    Ids(Vec<Uuid>),
}

/// The request's one selector.
pub fn parse_read(req: &ReadRequest) -> Result<Selector, DomainError> {
    let present = |v: &Option<Value>| !matches!(v, None | Some(Value::Null));
    let given = [present(&req.all), present(&req.category), present(&req.up_to), present(&req.ids)].iter().filter(|p| **p).count();
    if given != 1 {
        return Err(invalid("all", "give exactly one of all, category, up_to, ids"));
    }
    if let Some(v) = req.all.as_ref().filter(|v| !v.is_null()) {
        return match v {
            Value::Bool(true) => Ok(Selector::All),
            _ => Err(invalid("all", "all must be true")),
        };
    }
    if let Some(v) = req.category.as_ref().filter(|v| !v.is_null()) {
        return v.as_str().and_then(Category::parse).map(Selector::Category).ok_or_else(|| invalid("category", "category must be social, group, moment, call or system"));
    }
    if let Some(v) = req.up_to.as_ref().filter(|v| !v.is_null()) {
        return v.as_i64().filter(|n| *n >= 0).map(Selector::UpTo).ok_or_else(|| invalid("up_to", "up_to must be a position (a non-negative integer)"));
    }
    let bad = || invalid("ids", format!("ids must be 1 to {MAX_IDS} notification ids"));
    let Some(Value::Array(items)) = &req.ids else { return Err(bad()) };
    if items.is_empty() || items.len() > MAX_IDS {
        return Err(bad());
    }
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = item.as_str().and_then(|s| Uuid::try_parse(s).ok()).ok_or_else(bad)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(Selector::Ids(ids))
}

/// Marks the selection read; `owned` is how many of the selected ids are the
/// caller's undeleted items (unused for the other selectors).
pub fn decide_read(selector: Selector, owned: usize, ctx: &Ctx) -> Result<NotificationEvent, DomainError> {
    let mut read = NotificationsRead { user_id: ctx.actor, all: false, category: None, up_to: None, ids: vec![] };
    match selector {
        Selector::All => read.all = true,
        Selector::Category(c) => read.category = Some(c),
        Selector::UpTo(n) => read.up_to = Some(n),
        Selector::Ids(ids) => {
            if owned != ids.len() {
                return Err(DomainError::NotFound("notification not found".into()));
            }
            read.ids = ids;
        }
    }
    Ok(NotificationEvent::NotificationsRead(read))
}

/// Deletes one of the caller's items (`exists`: it is theirs and not deleted).
pub fn decide_delete(exists: bool, notification_id: Uuid, ctx: &Ctx) -> Result<NotificationEvent, DomainError> {
    if !exists {
        return Err(DomainError::NotFound("notification not found".into()));
    }
    Ok(NotificationEvent::NotificationDeleted(NotificationDeleted { user_id: ctx.actor, notification_id }))
}

/// `POST /api/notification/push-tokens`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 1 to 64 of `A-Z a-z 0-9 . _ : -`.
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9._:-]{1,64}$")]
    pub device_id: Value,
    #[serde(default)]
    #[schema(value_type = PushPlatform, required = true)]
    pub platform: Value,
    /// The push service's token: 1 to 4,096 printable ASCII characters (no spaces).
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = "^[!-~]{1,4096}$")]
    pub token: Value,
}

/// A device id as the API accepts it.
pub fn device_id(raw: &str) -> Result<String, DomainError> {
    let ok = (1..=DEVICE_ID_MAX).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(invalid("device_id", format!("device_id must be 1 to {DEVICE_ID_MAX} of A-Z a-z 0-9 . _ : -")))
    }
}

/// Registers a token for the calling session's device.
pub fn decide_register(req: RegisterRequest, session_id: Uuid, ctx: &Ctx) -> Result<NotificationEvent, DomainError> {
    let device_id = device_id(req.device_id.as_str().unwrap_or(""))?;
    let platform = req.platform.as_str().and_then(PushPlatform::parse).ok_or_else(|| invalid("platform", "platform must be apns, fcm or webpush"))?;
    let token = match req.token.as_str() {
        Some(t) if (1..=TOKEN_MAX).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic()) => t.to_owned(),
        _ => return Err(invalid("token", format!("token must be 1 to {TOKEN_MAX} printable ASCII characters"))),
    };
    Ok(NotificationEvent::PushTokenRegistered(PushTokenRegistered { user_id: ctx.actor, session_id, device_id, platform, token }))
}

/// Removes the caller's token of a device (`has`: one exists).
pub fn decide_revoke(has: bool, device_id: String, ctx: &Ctx) -> Result<NotificationEvent, DomainError> {
    if !has {
        return Err(DomainError::NotFound("no push token for this device".into()));
    }
    Ok(NotificationEvent::PushTokenRevoked(PushTokenRevoked { user_id: ctx.actor, device_id }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{ctx, user};
    use serde_json::json;

    fn req(v: Value) -> ReadRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_read_names_exactly_one_selection() {
        assert_eq!(parse_read(&req(json!({"all": true}))), Ok(Selector::All));
        assert_eq!(parse_read(&req(json!({"category": "group"}))), Ok(Selector::Category(Category::Group)));
        assert_eq!(parse_read(&req(json!({"up_to": 7}))), Ok(Selector::UpTo(7)));
        assert_eq!(parse_read(&req(json!({}))).unwrap_err().field(), Some("all"));
        assert_eq!(parse_read(&req(json!({"all": true, "category": "social"}))).unwrap_err().field(), Some("all"));
        assert_eq!(parse_read(&req(json!({"all": false}))).unwrap_err().field(), Some("all"));
        assert_eq!(parse_read(&req(json!({"category": "moments"}))).unwrap_err().field(), Some("category"));
        assert_eq!(parse_read(&req(json!({"up_to": -1}))).unwrap_err().field(), Some("up_to"));
        assert_eq!(parse_read(&req(json!({"up_to": "3"}))).unwrap_err().field(), Some("up_to"));
    }

    #[test]
    fn ids_are_uuids_one_to_two_hundred_deduplicated() {
        let id = Uuid::now_v7();
        assert_eq!(parse_read(&req(json!({"ids": [id, id]}))), Ok(Selector::Ids(vec![id])));
        assert_eq!(parse_read(&req(json!({"ids": []}))).unwrap_err().field(), Some("ids"));
        assert_eq!(parse_read(&req(json!({"ids": ["nope"]}))).unwrap_err().field(), Some("ids"));
        let many: Vec<Uuid> = (0..=MAX_IDS).map(|_| Uuid::now_v7()).collect();
        assert_eq!(parse_read(&req(json!({ "ids": many }))).unwrap_err().field(), Some("ids"));
    }

    #[test]
    fn ids_not_all_the_callers_mark_nothing() {
        let me = user();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(decide_read(Selector::Ids(vec![a, b]), 1, &ctx(me)), Err(DomainError::NotFound("notification not found".into())));
        let NotificationEvent::NotificationsRead(r) = decide_read(Selector::Ids(vec![a, b]), 2, &ctx(me)).unwrap() else { panic!() };
        assert_eq!((r.user_id, r.ids, r.all), (me, vec![a, b], false));
    }

    #[test]
    fn a_token_is_checked_field_by_field() {
        let me = user();
        let ok = |d: &str, p: &str, t: &str| decide_register(RegisterRequest { device_id: json!(d), platform: json!(p), token: json!(t) }, Uuid::nil(), &ctx(me));
        assert!(ok("phone-1", "apns", "abc").is_ok());
        assert_eq!(ok("", "apns", "abc").unwrap_err().field(), Some("device_id"));
        assert_eq!(ok("a b", "apns", "abc").unwrap_err().field(), Some("device_id"));
        assert_eq!(ok(&"x".repeat(65), "apns", "abc").unwrap_err().field(), Some("device_id"));
        assert_eq!(ok("p", "sms", "abc").unwrap_err().field(), Some("platform"));
        assert_eq!(ok("p", "fcm", "").unwrap_err().field(), Some("token"));
        assert_eq!(ok("p", "fcm", &"t".repeat(4097)).unwrap_err().field(), Some("token"));
        assert_eq!(ok("p", "fcm", "has space").unwrap_err().field(), Some("token"));
    }

    #[test]
    fn deleting_or_revoking_what_is_not_there_is_404() {
        let me = user();
        assert!(matches!(decide_delete(false, Uuid::now_v7(), &ctx(me)), Err(DomainError::NotFound(_))));
        assert!(matches!(decide_revoke(false, "d".into(), &ctx(me)), Err(DomainError::NotFound(_))));
        assert!(decide_revoke(true, "d".into(), &ctx(me)).is_ok());
    }
}
