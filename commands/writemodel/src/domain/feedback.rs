//! Feedback: a user submits (`POST /api/feedback`), an operator changes its
//! status (`beaver-admin feedback status`). Two decisions:
//!
//! - [`decide_submit`] checks the request field by field (naming the
//!   field), and that a report has a target while nothing else does. Whether
//!   the target is one the reporter may see, the repeat of a
//!   `client_feedback_id` and the daily limit need the read models and
//!   Redis: the app layer checks them around this decision.
//! - [`decide_status`]: the operator's change against the stored feedback;
//!   the same status with no new reply changes nothing.

use super::{Ctx, DomainError};
use beaver_events::feedback::{
    Category, ClientInfo, FeedbackEvent, FeedbackStatusChanged, FeedbackSubmitted, Status, Target, TargetType,
};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

pub const TEXT_MAX_CHARS: usize = 5_000;
pub const REPLY_MAX_CHARS: usize = 2_000;
pub const CLIENT_ID_MAX: usize = 64;
pub const APP_VERSION_MAX: usize = 32;
/// Submissions per user in any 24 hours.
pub const PER_DAY: usize = 10;

/// The request body. Every field is read as a JSON value and checked here,
/// so that a missing or mistyped one is named; only an unknown field is
/// refused by the JSON reader as a whole.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[schema(as = feedback::SubmitRequest)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    #[serde(default)]
    #[schema(value_type = beaver_events::feedback::Category, required = true)]
    pub category: Value,
    /// 1–5,000 characters after trimming; no control characters but `\n` and `\t`.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub text: Value,
    /// Required for a `report` (a user, a message or a group the reporter can see), refused for the other categories.
    #[serde(default)]
    #[schema(value_type = Option<beaver_events::feedback::Target>)]
    pub target: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<beaver_events::feedback::ClientInfo>)]
    pub client: Option<Value>,
    /// An idempotency key, 1–64 characters of `A-Z a-z 0-9 _ -`: a repeat answers the original.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_feedback_id: Option<Value>,
}

fn invalid(field: &'static str, why: impl Into<String>) -> DomainError {
    DomainError::Invalid(field, why.into())
}

/// The client's idempotency key, checked (read before anything else, so a
/// repeat is recognised without deciding again).
pub fn client_feedback_id(req: &SubmitRequest) -> Result<Option<String>, DomainError> {
    let bad = || invalid("client_feedback_id", format!("client_feedback_id must be 1 to {CLIENT_ID_MAX} characters of A-Z a-z 0-9 _ -"));
    match &req.client_feedback_id {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if (1..=CLIENT_ID_MAX).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') => {
            Ok(Some(id.clone()))
        }
        Some(_) => Err(bad()),
    }
}

fn category(v: &Value) -> Result<Category, DomainError> {
    match v.as_str() {
        Some("bug") => Ok(Category::Bug),
        Some("feature") => Ok(Category::Feature),
        Some("other") => Ok(Category::Other),
        Some("report") => Ok(Category::Report),
        _ => Err(invalid("category", "category must be one of bug, feature, other, report")),
    }
}

/// Free text: trimmed, non-empty, at most `max` characters, no control characters but newlines and tabs.
fn text(field: &'static str, raw: &str, max: usize) -> Result<String, DomainError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(invalid(field, format!("{field} must not be empty")));
    }
    if t.chars().count() > max {
        return Err(invalid(field, format!("{field} must be at most {max} characters")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(invalid(field, format!("{field} must not contain control characters")));
    }
    Ok(t.to_owned())
}

fn target(v: &Value) -> Result<Target, DomainError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        #[serde(rename = "type")]
        kind: TargetType,
        id: Uuid,
    }
    // serde would read the struct from an array too: only an object is one.
    v.is_object()
        .then(|| serde_json::from_value::<Raw>(v.clone()).ok())
        .flatten()
        .ok_or(())
        .map(|r| Target { kind: r.kind, id: r.id })
        .map_err(|_| invalid("target", "target must be {\"type\": \"user\" | \"message\" | \"group\", \"id\": <uuid>}"))
}

fn client(v: &Value) -> Result<ClientInfo, DomainError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        platform: String,
        #[serde(default)]
        app_version: Option<String>,
    }
    let shape = || invalid("client", "client must be {\"platform\": <platform>, \"app_version\"?: <version>}");
    if !v.is_object() {
        return Err(shape());
    }
    let raw: Raw = serde_json::from_value(v.clone()).map_err(|_| shape())?;
    if !super::track::PLATFORMS.contains(&raw.platform.as_str()) {
        return Err(invalid("client", format!("client.platform must be one of {}", super::track::PLATFORMS.join(", "))));
    }
    if let Some(version) = &raw.app_version {
        let ok = (1..=APP_VERSION_MAX).contains(&version.len()) && version.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
        if !ok {
            return Err(invalid("client", format!("client.app_version must be 1 to {APP_VERSION_MAX} characters of A-Z a-z 0-9 . _ + -")));
        }
    }
    Ok(ClientInfo { platform: raw.platform, app_version: raw.app_version })
}

/// Decides a submission by `ctx.actor`: the one `FeedbackSubmitted`, with a new id.
pub fn decide_submit(req: SubmitRequest, ctx: &Ctx) -> Result<FeedbackEvent, DomainError> {
    let category = category(&req.category)?;
    let text = text("text", req.text.as_str().ok_or_else(|| invalid("text", "text must be a string"))?, TEXT_MAX_CHARS)?;
    let target = match (&req.target, category) {
        (None | Some(Value::Null), Category::Report) => return Err(invalid("target", "a report needs a target")),
        (None | Some(Value::Null), _) => None,
        (Some(_), c) if c != Category::Report => return Err(invalid("target", "only a report has a target")),
        (Some(v), _) => Some(target(v)?),
    };
    if matches!(&target, Some(Target { kind: TargetType::User, id }) if *id == ctx.actor) {
        return Err(invalid("target", "you cannot report yourself"));
    }
    let client = match &req.client {
        None | Some(Value::Null) => None,
        Some(v) => Some(client(v)?),
    };
    let client_feedback_id = client_feedback_id(&req)?;
    Ok(FeedbackEvent::FeedbackSubmitted(FeedbackSubmitted {
        feedback_id: ctx.new_id(),
        user_id: ctx.actor,
        category,
        text,
        target,
        client,
        client_feedback_id,
    }))
}

/// What a status change needs to know of the stored feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackState {
    pub feedback_id: Uuid,
    pub user_id: Uuid,
    pub status: Status,
    pub reply: Option<String>,
}

/// Decides an operator's status change of an existing piece of feedback:
/// no event when the status is the same and no new reply comes with it.
pub fn decide_status(state: &FeedbackState, status: Status, reply: Option<&str>) -> Result<Vec<FeedbackEvent>, DomainError> {
    let reply = reply.map(|r| text("reply", r, REPLY_MAX_CHARS)).transpose()?;
    if status == state.status && (reply.is_none() || reply == state.reply) {
        return Ok(vec![]);
    }
    Ok(vec![FeedbackEvent::FeedbackStatusChanged(FeedbackStatusChanged {
        feedback_id: state.feedback_id,
        user_id: state.user_id,
        status,
        reply,
    })])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{ctx, id, user};
    use serde_json::json;

    fn req(body: Value) -> SubmitRequest {
        serde_json::from_value(body).unwrap()
    }

    fn field(body: Value, me: Uuid) -> &'static str {
        decide_submit(req(body), &ctx(me)).unwrap_err().kind()
    }

    #[test]
    fn a_bug_report_becomes_one_event_with_a_new_id_and_trimmed_text() {
        let me = user();
        let FeedbackEvent::FeedbackSubmitted(e) = decide_submit(req(json!({ "category": "bug", "text": "  it crashed\n " })), &ctx(me)).unwrap() else {
            panic!()
        };
        assert_eq!((e.feedback_id, e.user_id, e.category, e.text.as_str()), (id(1), me, Category::Bug, "it crashed"));
        assert_eq!((e.target, e.client, e.client_feedback_id), (None, None, None));
    }

    #[test]
    fn a_report_needs_a_target_and_nothing_else_may_have_one() {
        let me = user();
        let someone = json!({ "type": "user", "id": user() });
        assert_eq!(field(json!({ "category": "report", "text": "x" }), me), "target");
        assert_eq!(field(json!({ "category": "bug", "text": "x", "target": someone }), me), "target");
        assert_eq!(field(json!({ "category": "report", "text": "x", "target": { "type": "post", "id": user() } }), me), "target");
        assert_eq!(field(json!({ "category": "report", "text": "x", "target": { "type": "user", "id": me } }), me), "target", "not yourself");
        let ok = decide_submit(req(json!({ "category": "report", "text": "spam", "target": someone })), &ctx(me)).unwrap();
        let FeedbackEvent::FeedbackSubmitted(e) = ok else { panic!() };
        assert_eq!(e.target.unwrap().kind, TargetType::User);
    }

    #[test]
    fn each_bad_field_is_named() {
        let me = user();
        assert_eq!(field(json!({ "category": "praise", "text": "x" }), me), "category");
        assert_eq!(field(json!({ "category": 1, "text": "x" }), me), "category");
        assert_eq!(field(json!({ "text": "x" }), me), "category");
        assert_eq!(field(json!({ "category": "bug" }), me), "text");
        assert_eq!(field(json!({ "category": "bug", "text": 5 }), me), "text");
        assert_eq!(field(json!({ "category": "bug", "text": "   " }), me), "text");
        assert_eq!(field(json!({ "category": "bug", "text": "a\u{7}b" }), me), "text");
        assert_eq!(field(json!({ "category": "bug", "text": "é".repeat(TEXT_MAX_CHARS + 1) }), me), "text");
        assert!(decide_submit(req(json!({ "category": "bug", "text": "é".repeat(TEXT_MAX_CHARS) })), &ctx(me)).is_ok(), "characters, not bytes");
        assert_eq!(field(json!({ "category": "bug", "text": "x", "client": { "platform": "nokia" } }), me), "client");
        assert_eq!(field(json!({ "category": "bug", "text": "x", "client": { "platform": "ios", "app_version": "2 1" } }), me), "client");
        assert_eq!(field(json!({ "category": "bug", "text": "x", "client": "ios" }), me), "client");
        assert_eq!(field(json!({ "category": "bug", "text": "x", "client": ["ios", "1.0"] }), me), "client");
        assert_eq!(field(json!({ "category": "report", "text": "x", "target": ["user", user()] }), me), "target");
        assert_eq!(field(json!({ "category": "bug", "text": "x", "client_feedback_id": "a b" }), me), "client_feedback_id");
        assert_eq!(field(json!({ "category": "bug", "text": "x", "client_feedback_id": "a".repeat(65) }), me), "client_feedback_id");
        assert!(serde_json::from_value::<SubmitRequest>(json!({ "category": "bug", "text": "x", "extra": 1 })).is_err());
    }

    #[test]
    fn the_same_status_without_a_new_reply_changes_nothing() {
        let state = FeedbackState { feedback_id: id(1), user_id: user(), status: Status::Open, reply: None };
        assert!(decide_status(&state, Status::Open, None).unwrap().is_empty());
        let moved = decide_status(&state, Status::Resolved, Some(" fixed in 2.1 ")).unwrap();
        let [FeedbackEvent::FeedbackStatusChanged(e)] = moved.as_slice() else { panic!("{moved:?}") };
        assert_eq!((e.status, e.reply.as_deref(), e.user_id), (Status::Resolved, Some("fixed in 2.1"), state.user_id));
        let replied = FeedbackState { status: Status::Resolved, reply: Some("fixed in 2.1".into()), ..state.clone() };
        assert!(decide_status(&replied, Status::Resolved, Some("fixed in 2.1")).unwrap().is_empty());
        assert_eq!(decide_status(&replied, Status::Resolved, Some("actually 2.2")).unwrap().len(), 1, "a new reply is news");
        assert_eq!(decide_status(&state, Status::Rejected, Some(&"x".repeat(REPLY_MAX_CHARS + 1))).unwrap_err().kind(), "reply");
    }
}
