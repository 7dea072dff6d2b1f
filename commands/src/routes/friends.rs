//! Friend commands: requests, decisions, remarks, unfriending, blocks.

use crate::{
    consistency::AggregateLock,
    domain::friends::{self, PairView, RequestView, SendOutcome},
    written, AppState, Origin,
};
use axum::{
    extract::State,
    response::Response,
    routing::{delete, post, put},
    Extension, Router,
};
use beaver_events::{relation::pair_key, topics, RelationEvent};
use beaver_platform::{
    auth::AuthUser,
    http::{ApiError, ApiJson, ApiPath, CorrelationId},
};
use beaver_readmodel::{progress::RELATIONS_PROJECTOR, relation, user as users};
use serde::Deserialize;
use serde_json::json;
use sqlx::MySqlPool;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/friend/requests", post(send_request))
        .route("/api/friend/requests/{request_id}/accept", post(accept))
        .route("/api/friend/requests/{request_id}/reject", post(reject))
        .route("/api/friend/{user_id}/remark", put(set_remark))
        .route("/api/friend/{user_id}", delete(remove))
        .route("/api/friend/blocks", post(block))
        .route("/api/friend/blocks/{user_id}", delete(unblock))
}

/// 404 unless `user_id` has an account.
pub async fn ensure_user(pool: &MySqlPool, user_id: Uuid) -> Result<(), ApiError> {
    match users::exists(pool, user_id).await? {
        true => Ok(()),
        false => Err(ApiError::NotFound("user not found".into())),
    }
}

/// What is between `me` and `them`, from the relation read models.
pub async fn load_pair(pool: &MySqlPool, me: Uuid, them: Uuid) -> Result<PairView, ApiError> {
    let row = relation::pair(pool, me, them).await?;
    Ok(PairView {
        friends: row.friends,
        i_blocked_them: row.i_blocked_them,
        they_blocked_me: row.they_blocked_me,
        my_pending_request: row.my_pending_request,
        their_pending_request: row.their_pending_request,
    })
}

async fn lock_pair(s: &AppState, a: Uuid, b: Uuid) -> Result<AggregateLock, ApiError> {
    AggregateLock::acquire(s, "relation", pair_key(a, b), RELATIONS_PROJECTOR, topics::RELATIONS).await
}

fn origin(user: &AuthUser, correlation: CorrelationId) -> Origin {
    Origin { actor: user.user_id, correlation: correlation.0 }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    to_user_id: Uuid,
    #[serde(default)]
    message: String,
}

async fn send_request(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiJson(req): ApiJson<SendRequest>,
) -> Result<Response, ApiError> {
    let (me, them) = (user.user_id, req.to_user_id);
    if me != them {
        ensure_user(&s.pool, them).await?;
    }
    let lock = lock_pair(&s, me, them).await?;
    let view = load_pair(&s.pool, me, them).await?;
    let (event, outcome) = friends::decide_send_request(me, them, &view, Uuid::now_v7(), &req.message)?;
    let visible = s.append_locked(lock, vec![event], &origin(&user, c), RELATIONS_PROJECTOR).await?;
    let data = match outcome {
        SendOutcome::Pending(id) => json!({ "request_id": id, "status": "pending" }),
        SendOutcome::Accepted(id) => json!({ "request_id": id, "status": "accepted", "friend_user_id": them }),
    };
    Ok(written(visible, data))
}

async fn load_request(pool: &MySqlPool, request_id: Uuid) -> Result<Option<RequestView>, ApiError> {
    Ok(relation::request(pool, request_id).await?.map(|r| RequestView {
        request_id,
        from_user_id: r.from_user_id,
        to_user_id: r.to_user_id,
        pending: r.pending,
        hidden_from_recipient: r.hidden_from_recipient,
    }))
}

async fn decide(s: AppState, c: CorrelationId, user: AuthUser, request_id: Uuid, accept: bool) -> Result<Response, ApiError> {
    let me = user.user_id;
    // Lock the pair the request belongs to; only its recipient gets further.
    let Some(found) = load_request(&s.pool, request_id).await?.filter(|r| r.to_user_id == me) else {
        return Err(ApiError::NotFound("no such friend request".into()));
    };
    let lock = lock_pair(&s, found.from_user_id, me).await?;
    let request = load_request(&s.pool, request_id).await?;
    let event = friends::decide_request(me, request.as_ref(), accept)?;
    let visible = s.append_locked(lock, vec![event], &origin(&user, c), RELATIONS_PROJECTOR).await?;
    let data = if accept {
        json!({ "request_id": request_id, "status": "accepted", "friend_user_id": found.from_user_id })
    } else {
        json!({ "request_id": request_id, "status": "rejected" })
    };
    Ok(written(visible, data))
}

async fn accept(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiPath(id): ApiPath<Uuid>) -> Result<Response, ApiError> {
    decide(s, c, user, id, true).await
}

async fn reject(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiPath(id): ApiPath<Uuid>) -> Result<Response, ApiError> {
    decide(s, c, user, id, false).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRemark {
    remark: String,
}

async fn set_remark(
    State(s): State<AppState>,
    Extension(c): Extension<CorrelationId>,
    user: AuthUser,
    ApiPath(them): ApiPath<Uuid>,
    ApiJson(req): ApiJson<SetRemark>,
) -> Result<Response, ApiError> {
    let me = user.user_id;
    let lock = lock_pair(&s, me, them).await?;
    let view = load_pair(&s.pool, me, them).await?;
    let event = friends::decide_remark(me, them, &view, &req.remark)?;
    let remark = match &event {
        RelationEvent::FriendRemarkSet(e) => e.remark.clone(),
        _ => unreachable!("decide_remark sets a remark"),
    };
    let visible = s.append_locked(lock, vec![event], &origin(&user, c), RELATIONS_PROJECTOR).await?;
    Ok(written(visible, json!({ "user_id": them, "remark": remark })))
}

async fn remove(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiPath(them): ApiPath<Uuid>) -> Result<Response, ApiError> {
    let me = user.user_id;
    ensure_user(&s.pool, them).await?;
    let lock = lock_pair(&s, me, them).await?;
    let view = load_pair(&s.pool, me, them).await?;
    let events: Vec<RelationEvent> = friends::decide_remove(me, them, &view).into_iter().collect();
    let visible = s.append_locked(lock, events, &origin(&user, c), RELATIONS_PROJECTOR).await?;
    Ok(written(visible, json!({ "user_id": them, "removed": true })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Block {
    user_id: Uuid,
}

async fn block(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiJson(req): ApiJson<Block>) -> Result<Response, ApiError> {
    let (me, them) = (user.user_id, req.user_id);
    if me != them {
        ensure_user(&s.pool, them).await?;
    }
    let lock = lock_pair(&s, me, them).await?;
    let view = load_pair(&s.pool, me, them).await?;
    let events: Vec<RelationEvent> = friends::decide_block(me, them, &view)?.into_iter().collect();
    let visible = s.append_locked(lock, events, &origin(&user, c), RELATIONS_PROJECTOR).await?;
    Ok(written(visible, json!({ "user_id": them, "blocked": true })))
}

async fn unblock(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, user: AuthUser, ApiPath(them): ApiPath<Uuid>) -> Result<Response, ApiError> {
    let me = user.user_id;
    ensure_user(&s.pool, them).await?;
    let lock = lock_pair(&s, me, them).await?;
    let view = load_pair(&s.pool, me, them).await?;
    let events: Vec<RelationEvent> = friends::decide_unblock(me, them, &view).into_iter().collect();
    let visible = s.append_locked(lock, events, &origin(&user, c), RELATIONS_PROJECTOR).await?;
    Ok(written(visible, json!({ "user_id": them, "blocked": false })))
}
