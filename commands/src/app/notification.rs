//! Notifications (docs/services.md, "Notifications"): the user's reads and
//! deletions of their inbox items and their push tokens. The items are made
//! by the notifier (projectors), never here. A user's actions are
//! serialised by a lock on the user; each answers once the notifications
//! projection shows it.

use super::{Origin, Written};
use crate::{store::consistency::AggregateLock, AppState};
use beaver_events::{notification::PushPlatform, topics, NotificationEvent};
use beaver_platform::http::ApiError;
use beaver_readmodel::{
    notification::{self as read, Unread},
    progress::NOTIFICATIONS_PROJECTOR,
};
use beaver_writemodel::domain::{
    notification::{self as rules, ReadRequest, RegisterRequest, Selector},
    Ctx,
};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadAnswer {
    /// The caller's unread counts after the change.
    pub unread: Unread,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = notification::Deleted)]
pub struct Deleted {
    pub notification_id: Uuid,
    /// Always `true`.
    pub deleted: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Registered {
    pub device_id: String,
    pub platform: PushPlatform,
    /// Always `true`.
    pub registered: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revoked {
    pub device_id: String,
    /// Always `true`.
    pub revoked: bool,
}

async fn lock(s: &AppState, user: Uuid) -> Result<AggregateLock, ApiError> {
    AggregateLock::acquire(s, "notifications", user.to_string(), NOTIFICATIONS_PROJECTOR, topics::NOTIFICATIONS).await
}

/// `POST /api/notification/read`.
pub async fn read(s: &AppState, origin: &Origin, req: ReadRequest) -> Result<Written<ReadAnswer>, ApiError> {
    let me = origin.actor;
    let selector = rules::parse_read(&req)?;
    let lock = lock(s, me).await?;
    let owned = match &selector {
        Selector::Ids(ids) => read::owned(&s.pool, me, ids).await?,
        _ => 0,
    };
    let event = rules::decide_read(selector, owned, &Ctx::live(me))?;
    let visible = s.append_locked(lock, vec![event], origin, NOTIFICATIONS_PROJECTOR).await?;
    let unread = read::unread(&mut s.redis.clone(), me).await.map_err(|e| ApiError::Unavailable(e.into()))?;
    Ok(Written::new(visible, ReadAnswer { unread }))
}

/// `DELETE /api/notification/{id}`.
pub async fn delete(s: &AppState, origin: &Origin, notification_id: Uuid) -> Result<Written<Deleted>, ApiError> {
    let me = origin.actor;
    let lock = lock(s, me).await?;
    let exists = read::owned(&s.pool, me, &[notification_id]).await? == 1;
    let event = rules::decide_delete(exists, notification_id, &Ctx::live(me))?;
    let visible = s.append_locked(lock, vec![event], origin, NOTIFICATIONS_PROJECTOR).await?;
    Ok(Written::new(visible, Deleted { notification_id, deleted: true }))
}

/// `POST /api/notification/push-tokens`: the token belongs to the calling session.
pub async fn register(s: &AppState, origin: &Origin, req: RegisterRequest) -> Result<Written<Registered>, ApiError> {
    let me = origin.actor;
    let event = rules::decide_register(req, origin.session, &Ctx::live(me))?;
    let NotificationEvent::PushTokenRegistered(t) = &event else { unreachable!("decide_register registers") };
    let answer = Registered { device_id: t.device_id.clone(), platform: t.platform, registered: true };
    let lock = lock(s, me).await?;
    let visible = s.append_locked(lock, vec![event], origin, NOTIFICATIONS_PROJECTOR).await?;
    Ok(Written::new(visible, answer))
}

/// `DELETE /api/notification/push-tokens/{device_id}`.
pub async fn revoke(s: &AppState, origin: &Origin, device_id: &str) -> Result<Written<Revoked>, ApiError> {
    let me = origin.actor;
    let device_id = rules::device_id(device_id).map_err(|_| ApiError::NotFound("no push token for this device".into()))?;
    let lock = lock(s, me).await?;
    let has = read::has_device(&s.pool, me, &device_id).await?;
    let event = rules::decide_revoke(has, device_id.clone(), &Ctx::live(me))?;
    let visible = s.append_locked(lock, vec![event], origin, NOTIFICATIONS_PROJECTOR).await?;
    Ok(Written::new(visible, Revoked { device_id, revoked: true }))
}
