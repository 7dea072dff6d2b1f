//! Moments (docs/services.md, "Moments"): posting, deleting, likes and
//! comments. The one rule every decision starts from is [`can_see`]: a
//! moment the actor may not see is 404, as if it did not exist. The app
//! layer loads the facts (the moment, the pair's friendship and blocks now,
//! the media files) from the read models.

use super::{Ctx, DomainError};
use beaver_events::moment::{Media, MomentCommentDeleted, MomentCommented, MomentDeleted, MomentEvent, MomentLike, MomentPosted, Visibility};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use uuid::Uuid;

pub const TEXT_MAX: usize = 2_000;
pub const MEDIA_MAX: usize = 9;
pub const USERS_MAX: usize = 200;
pub const COMMENT_MAX: usize = 500;

fn invalid(field: &'static str, why: impl Into<String>) -> DomainError {
    DomainError::Invalid(field, why.into())
}

fn not_found() -> DomainError {
    DomainError::NotFound("moment not found".into())
}

/// What the rules need to know of a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MomentFacts {
    pub author_id: Uuid,
    pub visibility: Visibility,
    pub users: Vec<Uuid>,
    pub deleted: bool,
}

/// How the viewer and the author stand now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    pub friends: bool,
    /// Either has blocked the other.
    pub blocked: bool,
}

/// Whether `viewer` may see the moment now.
pub fn can_see(viewer: Uuid, m: &MomentFacts, standing: Standing) -> bool {
    if m.deleted {
        return false;
    }
    viewer == m.author_id || (standing.friends && !standing.blocked && m.visibility.allows(m.users.contains(&viewer)))
}

/// A stored file offered as a moment's media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFacts {
    pub file_id: Uuid,
    pub owner_id: Uuid,
    pub stored: bool,
    pub kind: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// `POST /api/moment`, each field read as a JSON value so that a mistyped one is named.
/// At least one of `text` and `media`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostRequest {
    /// At most 2,000 characters, no control characters but newline and tab.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub text: Option<Value>,
    /// 0 to 9 of the caller's own stored files of kind `image` or `video`, in order.
    #[serde(default)]
    #[schema(value_type = Option<Vec<MediaRef>>, max_items = 9)]
    pub media: Option<Value>,
    /// Default `friends`.
    #[serde(default)]
    #[schema(value_type = Option<Visibility>)]
    pub visibility: Option<Value>,
    /// 1 to 200 of the caller's friends: required for `selected` and `except`, refused otherwise.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Uuid>>, min_items = 1, max_items = 200)]
    pub users: Option<Value>,
}

/// One of a new moment's media: a stored file's id (only for the REST
/// contract; `PostRequest::media_ids` reads the JSON).
#[derive(utoipa::ToSchema)]
#[schema(as = moment::MediaRef)]
#[allow(dead_code)]
pub struct MediaRef {
    file_id: Uuid,
}

impl PostRequest {
    /// The media's file ids, checked for shape (at most [`MEDIA_MAX`]).
    pub fn media_ids(&self) -> Result<Vec<Uuid>, DomainError> {
        let bad = || invalid("media", format!("media must be 0 to {MEDIA_MAX} items of the form {{\"file_id\": <id>}}"));
        let items = match &self.media {
            None | Some(Value::Null) => return Ok(vec![]),
            Some(Value::Array(items)) if items.len() <= MEDIA_MAX => items,
            _ => return Err(bad()),
        };
        items.iter().map(|i| i.get("file_id").and_then(Value::as_str).and_then(|s| Uuid::try_parse(s).ok()).ok_or_else(bad)).collect()
    }

    /// The `users` list, checked for shape.
    pub fn user_ids(&self) -> Result<Vec<Uuid>, DomainError> {
        let bad = || invalid("users", format!("users must be 1 to {USERS_MAX} user ids"));
        match &self.users {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(items)) if (1..=USERS_MAX).contains(&items.len()) => {
                let mut ids = Vec::with_capacity(items.len());
                for i in items {
                    let id = i.as_str().and_then(|s| Uuid::try_parse(s).ok()).ok_or_else(bad)?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                Ok(ids)
            }
            _ => Err(bad()),
        }
    }
}

/// A new moment. `files`: the facts of [`PostRequest::media_ids`], in order
/// (`None`: no such file); `friends`: the author's friends now.
pub fn decide_post(req: &PostRequest, files: &[Option<MediaFacts>], friends: &HashSet<Uuid>, ctx: &Ctx) -> Result<MomentEvent, DomainError> {
    let text = match &req.text {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(t)) => t.trim().to_owned(),
        Some(_) => return Err(invalid("text", "text must be a string")),
    };
    if text.chars().count() > TEXT_MAX || text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(invalid("text", format!("text must be at most {TEXT_MAX} characters without control characters")));
    }
    let ids = req.media_ids()?;
    let mut media = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let own = files.get(i).cloned().flatten().filter(|f| f.file_id == *id && f.owner_id == ctx.actor && f.stored && (f.kind == "image" || f.kind == "video"));
        let Some(f) = own else {
            return Err(invalid("media", format!("media[{i}] must be one of your own stored images or videos")));
        };
        media.push(Media { file_id: f.file_id, kind: f.kind, width: f.width, height: f.height });
    }
    if text.is_empty() && media.is_empty() {
        return Err(invalid("text", "a moment needs text or media"));
    }
    let visibility = match &req.visibility {
        None | Some(Value::Null) => Visibility::Friends,
        Some(v) => v.as_str().and_then(Visibility::parse).ok_or_else(|| invalid("visibility", "visibility must be friends, private, selected or except"))?,
    };
    let users = req.user_ids()?;
    match visibility {
        Visibility::Selected | Visibility::Except if users.is_empty() => return Err(invalid("users", "users is required for selected and except")),
        Visibility::Friends | Visibility::Private if !users.is_empty() => return Err(invalid("users", "users is only for selected and except")),
        _ => {}
    }
    if let Some(stranger) = users.iter().find(|u| !friends.contains(u)) {
        return Err(invalid("users", format!("{stranger} is not your friend")));
    }
    Ok(MomentEvent::MomentPosted(MomentPosted { moment_id: ctx.new_id(), author_id: ctx.actor, text, media, visibility, users }))
}

/// Deletes a moment: its author only (anyone else: 404).
pub fn decide_delete(moment_id: Uuid, m: Option<&MomentFacts>, ctx: &Ctx) -> Result<MomentEvent, DomainError> {
    match m {
        Some(m) if !m.deleted && m.author_id == ctx.actor => Ok(MomentEvent::MomentDeleted(MomentDeleted { moment_id, author_id: ctx.actor })),
        _ => Err(not_found()),
    }
}

/// Likes (`on`) or unlikes a visible moment; nothing when already so.
pub fn decide_like(moment_id: Uuid, m: Option<&MomentFacts>, standing: Standing, liked: bool, on: bool, ctx: &Ctx) -> Result<Option<MomentEvent>, DomainError> {
    let m = m.filter(|m| can_see(ctx.actor, m, standing)).ok_or_else(not_found)?;
    if liked == on {
        return Ok(None);
    }
    let like = MomentLike { moment_id, author_id: m.author_id, user_id: ctx.actor };
    Ok(Some(if on { MomentEvent::MomentLiked(like) } else { MomentEvent::MomentUnliked(like) }))
}

/// `POST /api/moment/{id}/comments`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    /// 1 to 500 characters, no control characters but newline.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 500)]
    pub text: Value,
    /// A comment of this moment the caller can see.
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub reply_to: Option<Value>,
}

impl CommentRequest {
    /// The comment replied to, if any (a malformed id names nothing: 404).
    pub fn reply_to(&self) -> Result<Option<Uuid>, DomainError> {
        match &self.reply_to {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_str().and_then(|s| Uuid::try_parse(s).ok()).map(Some).ok_or_else(|| DomainError::NotFound("comment not found".into())),
        }
    }
}

/// A comment as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentFacts {
    pub moment_id: Uuid,
    pub user_id: Uuid,
    pub deleted: bool,
    /// The commenter may be shown to the actor (the moment's author, the
    /// actor, or the actor's friend).
    pub shown: bool,
}

/// A comment on a visible moment; a reply must be to a shown, undeleted
/// comment of the same moment (else 404).
pub fn decide_comment(
    moment_id: Uuid,
    m: Option<&MomentFacts>,
    standing: Standing,
    req: &CommentRequest,
    reply: Option<&CommentFacts>,
    ctx: &Ctx,
) -> Result<MomentEvent, DomainError> {
    let m = m.filter(|m| can_see(ctx.actor, m, standing)).ok_or_else(not_found)?;
    let text = req.text.as_str().map(str::trim).unwrap_or_default();
    if text.is_empty() || text.chars().count() > COMMENT_MAX || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid("text", format!("text must be 1 to {COMMENT_MAX} characters without control characters")));
    }
    let reply_to = req.reply_to()?;
    let reply_to_user_id = match reply_to {
        None => None,
        Some(_) => match reply {
            Some(c) if c.moment_id == moment_id && !c.deleted && c.shown => Some(c.user_id),
            _ => return Err(DomainError::NotFound("comment not found".into())),
        },
    };
    Ok(MomentEvent::MomentCommented(MomentCommented {
        moment_id,
        author_id: m.author_id,
        comment_id: ctx.new_id(),
        user_id: ctx.actor,
        text: text.to_owned(),
        reply_to,
        reply_to_user_id,
    }))
}

/// Deletes a comment: its writer or the moment's author (else 404).
pub fn decide_delete_comment(moment_id: Uuid, comment_id: Uuid, m: Option<&MomentFacts>, c: Option<&CommentFacts>, ctx: &Ctx) -> Result<MomentEvent, DomainError> {
    let gone = || DomainError::NotFound("comment not found".into());
    let (m, c) = (m.filter(|m| !m.deleted).ok_or_else(gone)?, c.ok_or_else(gone)?);
    if c.moment_id != moment_id || c.deleted || (c.user_id != ctx.actor && m.author_id != ctx.actor) {
        return Err(gone());
    }
    Ok(MomentEvent::MomentCommentDeleted(MomentCommentDeleted { moment_id, comment_id, user_id: ctx.actor }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{ctx, user};
    use serde_json::json;

    fn moment(author: Uuid, visibility: Visibility, users: Vec<Uuid>) -> MomentFacts {
        MomentFacts { author_id: author, visibility, users, deleted: false }
    }

    const FRIENDS: Standing = Standing { friends: true, blocked: false };

    #[test]
    fn who_may_see_a_moment() {
        let (a, f, s) = (user(), user(), user());
        assert!(can_see(a, &moment(a, Visibility::Private, vec![]), Standing::default()), "the author always");
        assert!(can_see(f, &moment(a, Visibility::Friends, vec![]), FRIENDS));
        assert!(!can_see(s, &moment(a, Visibility::Friends, vec![]), Standing::default()), "a stranger never");
        assert!(!can_see(f, &moment(a, Visibility::Friends, vec![]), Standing { friends: true, blocked: true }), "a block hides");
        assert!(!can_see(f, &moment(a, Visibility::Private, vec![]), FRIENDS));
        assert!(can_see(f, &moment(a, Visibility::Selected, vec![f]), FRIENDS));
        assert!(!can_see(f, &moment(a, Visibility::Selected, vec![s]), FRIENDS));
        assert!(!can_see(f, &moment(a, Visibility::Except, vec![f]), FRIENDS));
        assert!(can_see(f, &moment(a, Visibility::Except, vec![s]), FRIENDS));
        assert!(!can_see(s, &moment(a, Visibility::Selected, vec![s]), Standing::default()), "a listed stranger still is no friend");
        assert!(!can_see(a, &MomentFacts { deleted: true, ..moment(a, Visibility::Friends, vec![]) }, Standing::default()));
    }

    fn post(v: Value) -> PostRequest {
        serde_json::from_value(v).unwrap()
    }

    fn image(id: Uuid, owner: Uuid) -> Option<MediaFacts> {
        Some(MediaFacts { file_id: id, owner_id: owner, stored: true, kind: "image".into(), width: Some(10), height: Some(10) })
    }

    #[test]
    fn a_post_needs_text_or_own_media_and_a_list_only_where_it_means_something() {
        let (me, f) = (user(), user());
        let friends: HashSet<Uuid> = [f].into();
        let field = |r: Result<MomentEvent, DomainError>| r.unwrap_err().field().map(str::to_owned);
        assert_eq!(field(decide_post(&post(json!({})), &[], &friends, &ctx(me))).as_deref(), Some("text"));
        assert_eq!(field(decide_post(&post(json!({"text": "x".repeat(2001)})), &[], &friends, &ctx(me))).as_deref(), Some("text"));
        let file = Uuid::now_v7();
        let req = post(json!({"media": [{"file_id": file}]}));
        assert!(decide_post(&req, &[image(file, me)], &friends, &ctx(me)).is_ok());
        assert_eq!(field(decide_post(&req, &[image(file, f)], &friends, &ctx(me))).as_deref(), Some("media"), "someone else's file");
        assert_eq!(field(decide_post(&req, &[None], &friends, &ctx(me))).as_deref(), Some("media"));
        let ten: Vec<Value> = (0..10).map(|_| json!({"file_id": Uuid::now_v7()})).collect();
        assert_eq!(field(decide_post(&post(json!({"text": "t", "media": ten})), &[], &friends, &ctx(me))).as_deref(), Some("media"));
        assert_eq!(field(decide_post(&post(json!({"text": "t", "visibility": "selected"})), &[], &friends, &ctx(me))).as_deref(), Some("users"));
        assert_eq!(field(decide_post(&post(json!({"text": "t", "users": [f]})), &[], &friends, &ctx(me))).as_deref(), Some("users"));
        assert_eq!(field(decide_post(&post(json!({"text": "t", "visibility": "except", "users": [user()]})), &[], &friends, &ctx(me))).as_deref(), Some("users"));
        assert_eq!(field(decide_post(&post(json!({"text": "t", "visibility": "public"})), &[], &friends, &ctx(me))).as_deref(), Some("visibility"));
        let MomentEvent::MomentPosted(p) = decide_post(&post(json!({"text": " hi ", "visibility": "selected", "users": [f, f]})), &[], &friends, &ctx(me)).unwrap() else { panic!() };
        assert_eq!((p.text.as_str(), p.visibility, p.users, p.author_id), ("hi", Visibility::Selected, vec![f], me));
    }

    #[test]
    fn likes_are_idempotent_and_need_sight() {
        let (a, f, s, id) = (user(), user(), user(), Uuid::now_v7());
        let m = moment(a, Visibility::Friends, vec![]);
        assert!(matches!(decide_like(id, Some(&m), Standing::default(), false, true, &ctx(s)), Err(DomainError::NotFound(_))));
        assert!(matches!(decide_like(id, None, FRIENDS, false, true, &ctx(f)), Err(DomainError::NotFound(_))));
        assert_eq!(decide_like(id, Some(&m), FRIENDS, true, true, &ctx(f)), Ok(None));
        assert!(matches!(decide_like(id, Some(&m), FRIENDS, false, true, &ctx(f)), Ok(Some(MomentEvent::MomentLiked(_)))));
        assert!(matches!(decide_like(id, Some(&m), FRIENDS, true, false, &ctx(f)), Ok(Some(MomentEvent::MomentUnliked(_)))));
    }

    #[test]
    fn comments_reply_only_to_shown_comments_of_the_same_moment_and_are_deleted_by_writer_or_author() {
        let (a, f, g, id) = (user(), user(), user(), Uuid::now_v7());
        let m = moment(a, Visibility::Friends, vec![]);
        let req = |reply: Option<Uuid>| CommentRequest { text: json!("nice"), reply_to: reply.map(|r| json!(r)) };
        let shown = CommentFacts { moment_id: id, user_id: g, deleted: false, shown: true };
        let MomentEvent::MomentCommented(c) = decide_comment(id, Some(&m), FRIENDS, &req(Some(Uuid::now_v7())), Some(&shown), &ctx(f)).unwrap() else { panic!() };
        assert_eq!((c.reply_to_user_id, c.author_id), (Some(g), a));
        let hidden = CommentFacts { shown: false, ..shown.clone() };
        assert!(matches!(decide_comment(id, Some(&m), FRIENDS, &req(Some(Uuid::now_v7())), Some(&hidden), &ctx(f)), Err(DomainError::NotFound(_))));
        let elsewhere = CommentFacts { moment_id: Uuid::now_v7(), ..shown.clone() };
        assert!(matches!(decide_comment(id, Some(&m), FRIENDS, &req(Some(Uuid::now_v7())), Some(&elsewhere), &ctx(f)), Err(DomainError::NotFound(_))));
        let empty = CommentRequest { text: json!("  "), reply_to: None };
        assert_eq!(decide_comment(id, Some(&m), FRIENDS, &empty, None, &ctx(f)).unwrap_err().field(), Some("text"));
        let cid = Uuid::now_v7();
        let by_f = CommentFacts { moment_id: id, user_id: f, deleted: false, shown: true };
        assert!(decide_delete_comment(id, cid, Some(&m), Some(&by_f), &ctx(f)).is_ok(), "its writer");
        assert!(decide_delete_comment(id, cid, Some(&m), Some(&by_f), &ctx(a)).is_ok(), "the moment's author");
        assert!(decide_delete_comment(id, cid, Some(&m), Some(&by_f), &ctx(g)).is_err(), "anyone else");
        assert!(decide_delete(id, Some(&m), &ctx(f)).is_err() && decide_delete(id, Some(&m), &ctx(a)).is_ok());
    }
}
