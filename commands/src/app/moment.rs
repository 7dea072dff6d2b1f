//! Moments (docs/services.md, "Moments"): the facts are loaded from the
//! read models (the moment, whether the actor and the author are friends
//! with no block now, the media files), `domain::moment` decides, the
//! events go to `beaver.moments.v1` and the answer waits until the moments
//! projection shows them. Changes to one moment are serialised by a lock on
//! the moment (a like decided twice at once would notify twice).

use super::{Created, Origin, Written};
use crate::{store::consistency::AggregateLock, AppState};
use beaver_events::{topics, MomentEvent};
use beaver_platform::http::ApiError;
use beaver_readmodel::{files, moment as read, progress::MOMENTS_PROJECTOR};
use beaver_writemodel::domain::{
    moment::{self as rules, CommentFacts, CommentRequest, MediaFacts, MomentFacts, PostRequest, Standing},
    Ctx,
};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Posted {
    /// A UUIDv7 (ids order by time).
    pub moment_id: Uuid,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = moment::Deleted)]
pub struct Deleted {
    pub moment_id: Uuid,
    /// Always `true`.
    pub deleted: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Liked {
    pub moment_id: Uuid,
    /// Whether the caller now likes the moment.
    pub liked: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Commented {
    pub comment_id: Uuid,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommentDeleted {
    pub comment_id: Uuid,
    /// Always `true`.
    pub deleted: bool,
}

fn now_text(ctx: &Ctx) -> String {
    ctx.now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

async fn lock(s: &AppState, moment_id: Uuid) -> Result<AggregateLock, ApiError> {
    AggregateLock::acquire(s, "moment", moment_id.to_string(), MOMENTS_PROJECTOR, topics::MOMENTS).await
}

async fn facts(s: &AppState, moment_id: Uuid) -> Result<Option<MomentFacts>, ApiError> {
    Ok(read::facts(&s.pool, moment_id)
        .await?
        .map(|f| MomentFacts { author_id: f.author_id, visibility: f.visibility, users: f.users, deleted: f.deleted }))
}

async fn standing(s: &AppState, me: Uuid, m: Option<&MomentFacts>) -> Result<Standing, ApiError> {
    match m {
        Some(m) if m.author_id != me => {
            let (friends, blocked) = read::standing(&s.pool, me, m.author_id).await?;
            Ok(Standing { friends, blocked })
        }
        _ => Ok(Standing::default()),
    }
}

/// `POST /api/moment`.
pub async fn post(s: &AppState, origin: &Origin, req: PostRequest) -> Result<Created<Posted>, ApiError> {
    let me = origin.actor;
    let mut media = Vec::new();
    for id in req.media_ids()? {
        media.push(files::load(&s.pool, id).await?.and_then(|f| {
            Some(MediaFacts {
                file_id: id,
                owner_id: Uuid::try_parse(&f.owner_id).ok()?,
                stored: f.status == "stored",
                kind: f.kind.unwrap_or_default(),
                width: f.width.map(|w| w.max(0) as u32),
                height: f.height.map(|h| h.max(0) as u32),
            })
        }));
    }
    let friends = if req.user_ids()?.is_empty() { Default::default() } else { read::friends_of(&s.pool, me).await? };
    let ctx = Ctx::live(me);
    let event = rules::decide_post(&req, &media, &friends, &ctx)?;
    let moment_id = event.moment_id();
    let visible = s.append_all(vec![event], origin, MOMENTS_PROJECTOR).await?;
    Ok(Created { visible, repeat: false, data: Posted { moment_id, created_at: now_text(&ctx) } })
}

/// `DELETE /api/moment/{id}`.
pub async fn delete(s: &AppState, origin: &Origin, moment_id: Uuid) -> Result<Written<Deleted>, ApiError> {
    let lock = lock(s, moment_id).await?;
    let m = facts(s, moment_id).await?;
    let event = rules::decide_delete(moment_id, m.as_ref(), &Ctx::live(origin.actor))?;
    let visible = s.append_locked(lock, vec![event], origin, MOMENTS_PROJECTOR).await?;
    Ok(Written::new(visible, Deleted { moment_id, deleted: true }))
}

/// `PUT` / `DELETE /api/moment/{id}/like`.
pub async fn like(s: &AppState, origin: &Origin, moment_id: Uuid, on: bool) -> Result<Written<Liked>, ApiError> {
    let me = origin.actor;
    let lock = lock(s, moment_id).await?;
    let m = facts(s, moment_id).await?;
    let standing = standing(s, me, m.as_ref()).await?;
    let liked = read::has_liked(&s.pool, moment_id, me).await?;
    let decided = rules::decide_like(moment_id, m.as_ref(), standing, liked, on, &Ctx::live(me))?;
    let visible = s.append_locked(lock, decided.into_iter().collect::<Vec<MomentEvent>>(), origin, MOMENTS_PROJECTOR).await?;
    Ok(Written::new(visible, Liked { moment_id, liked: on }))
}

/// `POST /api/moment/{id}/comments`.
pub async fn comment(s: &AppState, origin: &Origin, moment_id: Uuid, req: CommentRequest) -> Result<Created<Commented>, ApiError> {
    let me = origin.actor;
    let lock = lock(s, moment_id).await?;
    let m = facts(s, moment_id).await?;
    let standing = standing(s, me, m.as_ref()).await?;
    let reply = match req.reply_to()? {
        None => None,
        Some(id) => comment_facts(s, me, m.as_ref(), id).await?,
    };
    let ctx = Ctx::live(me);
    let event = rules::decide_comment(moment_id, m.as_ref(), standing, &req, reply.as_ref(), &ctx)?;
    let MomentEvent::MomentCommented(c) = &event else { unreachable!("decide_comment comments") };
    let comment_id = c.comment_id;
    let visible = s.append_locked(lock, vec![event], origin, MOMENTS_PROJECTOR).await?;
    Ok(Created { visible, repeat: false, data: Commented { comment_id, created_at: now_text(&ctx) } })
}

/// A comment's facts, with whether its writer may be shown to `me` (the
/// moment's author, `me`, or a friend of `me`).
async fn comment_facts(s: &AppState, me: Uuid, m: Option<&MomentFacts>, comment_id: Uuid) -> Result<Option<CommentFacts>, ApiError> {
    let Some((moment_id, writer, deleted)) = read::comment(&s.pool, comment_id).await? else { return Ok(None) };
    let shown = writer == me || m.is_some_and(|m| m.author_id == writer) || read::standing(&s.pool, me, writer).await?.0;
    Ok(Some(CommentFacts { moment_id, user_id: writer, deleted, shown }))
}

/// `DELETE /api/moment/{id}/comments/{comment_id}`.
pub async fn delete_comment(s: &AppState, origin: &Origin, moment_id: Uuid, comment_id: Uuid) -> Result<Written<CommentDeleted>, ApiError> {
    let me = origin.actor;
    let lock = lock(s, moment_id).await?;
    let m = facts(s, moment_id).await?;
    let c = comment_facts(s, me, m.as_ref(), comment_id).await?;
    let event = rules::decide_delete_comment(moment_id, comment_id, m.as_ref(), c.as_ref(), &Ctx::live(me))?;
    let visible = s.append_locked(lock, vec![event], origin, MOMENTS_PROJECTOR).await?;
    Ok(Written::new(visible, CommentDeleted { comment_id, deleted: true }))
}
