//! `/api/friend/…`: friend requests, decisions, remarks, unfriending, blocks.

use crate::{
    app::{relation, Answer, Origin},
    AppState,
};
use axum::extract::State;
use beaver_platform::{
    http::{ApiJson, ApiPath},
    openapi::Envelope,
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_request))
        .routes(routes!(accept))
        .routes(routes!(reject))
        .routes(routes!(set_remark))
        .routes(routes!(remove))
        .routes(routes!(block))
        .routes(routes!(unblock))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    to_user_id: Uuid,
    /// A note to the receiver (up to 200 characters).
    #[serde(default)]
    message: String,
}

/// Asks a user to be friends; if they had already asked, that request is accepted instead.
#[utoipa::path(post, path = "/api/friend/requests", tag = "friends", request_body = SendRequest,
    responses(
        (status = 200, description = "The request (`pending`), or theirs `accepted`.", body = Envelope<relation::RequestAnswer>),
        (status = 403, description = "`not_accepting_requests`, `blocked` or `user_blocked`."),
        (status = 404, description = "No such user."),
        (status = 409, description = "`already_friends` or `request_pending`."),
    ))]
async fn send_request(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<SendRequest>) -> Answer<relation::RequestAnswer> {
    relation::send_request(&s, &origin, req.to_user_id, req.message).await
}

/// Accepts a friend request sent to the caller.
#[utoipa::path(post, path = "/api/friend/requests/{request_id}/accept", tag = "friends",
    params(("request_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<relation::RequestAnswer>),
        (status = 409, description = "`request_not_pending`."),
    ))]
async fn accept(State(s): State<AppState>, origin: Origin, ApiPath(id): ApiPath<Uuid>) -> Answer<relation::RequestAnswer> {
    relation::answer_request(&s, &origin, id, true).await
}

/// Rejects a friend request sent to the caller.
#[utoipa::path(post, path = "/api/friend/requests/{request_id}/reject", tag = "friends",
    params(("request_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<relation::RequestAnswer>),
        (status = 409, description = "`request_not_pending`."),
    ))]
async fn reject(State(s): State<AppState>, origin: Origin, ApiPath(id): ApiPath<Uuid>) -> Answer<relation::RequestAnswer> {
    relation::answer_request(&s, &origin, id, false).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SetRemark {
    remark: String,
}

/// Sets the caller's private name for a friend.
#[utoipa::path(put, path = "/api/friend/{user_id}/remark", tag = "friends", request_body = SetRemark,
    params(("user_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<relation::RemarkAnswer>),
        (status = 403, description = "`not_friends`."),
    ))]
async fn set_remark(State(s): State<AppState>, origin: Origin, ApiPath(friend): ApiPath<Uuid>, ApiJson(req): ApiJson<SetRemark>) -> Answer<relation::RemarkAnswer> {
    relation::set_remark(&s, &origin, friend, req.remark).await
}

/// Ends a friendship (both sides).
#[utoipa::path(delete, path = "/api/friend/{user_id}", tag = "friends",
    params(("user_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<relation::RemovedAnswer>),
        (status = 403, description = "`not_friends`."),
    ))]
async fn remove(State(s): State<AppState>, origin: Origin, ApiPath(friend): ApiPath<Uuid>) -> Answer<relation::RemovedAnswer> {
    relation::remove(&s, &origin, friend).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Block {
    user_id: Uuid,
}

/// Blocks a user: no messages, requests or moments either way.
#[utoipa::path(post, path = "/api/friend/blocks", tag = "friends", request_body = Block,
    responses(
        (status = 200, body = Envelope<relation::BlockAnswer>),
        (status = 404, description = "No such user."),
    ))]
async fn block(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<Block>) -> Answer<relation::BlockAnswer> {
    relation::set_blocked(&s, &origin, req.user_id, true).await
}

/// Unblocks a user.
#[utoipa::path(delete, path = "/api/friend/blocks/{user_id}", tag = "friends",
    params(("user_id" = Uuid, Path)),
    responses((status = 200, body = Envelope<relation::BlockAnswer>)))]
async fn unblock(State(s): State<AppState>, origin: Origin, ApiPath(user): ApiPath<Uuid>) -> Answer<relation::BlockAnswer> {
    relation::set_blocked(&s, &origin, user, false).await
}
