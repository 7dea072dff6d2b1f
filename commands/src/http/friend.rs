//! `/api/friend/…`: friend requests, decisions, remarks, unfriending, blocks.

use crate::{
    app::{relation, Answer, Origin},
    AppState,
};
use axum::{
    extract::State,
    routing::{delete, post, put},
    Router,
};
use beaver_platform::http::{ApiJson, ApiPath};
use serde::Deserialize;
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    to_user_id: Uuid,
    #[serde(default)]
    message: String,
}

async fn send_request(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<SendRequest>) -> Answer<relation::RequestAnswer> {
    relation::send_request(&s, &origin, req.to_user_id, req.message).await
}

async fn accept(State(s): State<AppState>, origin: Origin, ApiPath(id): ApiPath<Uuid>) -> Answer<relation::RequestAnswer> {
    relation::answer_request(&s, &origin, id, true).await
}

async fn reject(State(s): State<AppState>, origin: Origin, ApiPath(id): ApiPath<Uuid>) -> Answer<relation::RequestAnswer> {
    relation::answer_request(&s, &origin, id, false).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRemark {
    remark: String,
}

async fn set_remark(State(s): State<AppState>, origin: Origin, ApiPath(friend): ApiPath<Uuid>, ApiJson(req): ApiJson<SetRemark>) -> Answer<relation::RemarkAnswer> {
    relation::set_remark(&s, &origin, friend, req.remark).await
}

async fn remove(State(s): State<AppState>, origin: Origin, ApiPath(friend): ApiPath<Uuid>) -> Answer<relation::RemovedAnswer> {
    relation::remove(&s, &origin, friend).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Block {
    user_id: Uuid,
}

async fn block(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<Block>) -> Answer<relation::BlockAnswer> {
    relation::set_blocked(&s, &origin, req.user_id, true).await
}

async fn unblock(State(s): State<AppState>, origin: Origin, ApiPath(user): ApiPath<Uuid>) -> Answer<relation::BlockAnswer> {
    relation::set_blocked(&s, &origin, user, false).await
}
