//! `/api/group/…`: creating, changing and dissolving groups; members, roles,
//! mutes, join requests.

use crate::{
    app::{group as app, Answer, Origin},
    AppState,
};
use axum::{
    extract::State,
    routing::{delete, post, put},
    Router,
};
use beaver_events::group::Role;
use beaver_platform::http::{ApiJson, ApiPath};
use beaver_writemodel::domain::group::{CreateGroup, UpdateGroup};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/group", post(create))
        .route("/api/group/{group_id}", put(update).delete(dissolve))
        .route("/api/group/{group_id}/members", post(invite))
        .route("/api/group/{group_id}/members/{user_id}", delete(kick))
        .route("/api/group/{group_id}/members/{user_id}/role", put(set_role))
        .route("/api/group/{group_id}/members/{user_id}/mute", put(mute))
        .route("/api/group/{group_id}/join", post(join))
        .route("/api/group/{group_id}/join-requests/{request_id}/approve", post(approve))
        .route("/api/group/{group_id}/join-requests/{request_id}/reject", post(reject))
        .route("/api/group/{group_id}/leave", post(leave))
        .route("/api/group/{group_id}/transfer", post(transfer))
        .route("/api/group/{group_id}/mute-all", put(mute_all))
        .route("/api/group/{group_id}/nickname", put(set_nickname))
}

async fn create(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<CreateGroup>) -> Answer<app::Created> {
    app::create(&s, &origin, req).await
}

async fn update(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>, ApiJson(req): ApiJson<UpdateGroup>) -> Answer<app::Updated> {
    app::update(&s, &origin, group_id, req).await
}

async fn dissolve(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>) -> Answer<app::Dissolved> {
    app::dissolve(&s, &origin, group_id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Invite {
    user_ids: Vec<Uuid>,
}

async fn invite(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>, ApiJson(req): ApiJson<Invite>) -> Answer<app::Invited> {
    app::invite(&s, &origin, group_id, req.user_ids).await
}

async fn kick(State(s): State<AppState>, origin: Origin, ApiPath((group_id, user_id)): ApiPath<(Uuid, Uuid)>) -> Answer<app::Removed> {
    app::kick(&s, &origin, group_id, user_id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRole {
    role: Role,
}

async fn set_role(State(s): State<AppState>, origin: Origin, ApiPath((group_id, user_id)): ApiPath<(Uuid, Uuid)>, ApiJson(req): ApiJson<SetRole>) -> Answer<app::RoleSet> {
    app::set_role(&s, &origin, group_id, user_id, req.role).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mute {
    #[serde(with = "time::serde::rfc3339::option")]
    until: Option<OffsetDateTime>,
}

async fn mute(State(s): State<AppState>, origin: Origin, ApiPath((group_id, user_id)): ApiPath<(Uuid, Uuid)>, ApiJson(req): ApiJson<Mute>) -> Answer<app::Muted> {
    app::mute(&s, &origin, group_id, user_id, req.until).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Join {
    #[serde(default)]
    message: String,
}

async fn join(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>, ApiJson(req): ApiJson<Join>) -> Answer<app::Joined> {
    app::join(&s, &origin, group_id, req.message).await
}

async fn approve(State(s): State<AppState>, origin: Origin, ApiPath((group_id, request_id)): ApiPath<(Uuid, Uuid)>) -> Answer<app::RequestDecided> {
    app::answer_join_request(&s, &origin, group_id, request_id, true).await
}

async fn reject(State(s): State<AppState>, origin: Origin, ApiPath((group_id, request_id)): ApiPath<(Uuid, Uuid)>) -> Answer<app::RequestDecided> {
    app::answer_join_request(&s, &origin, group_id, request_id, false).await
}

async fn leave(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>) -> Answer<app::Left> {
    app::leave(&s, &origin, group_id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    user_id: Uuid,
}

async fn transfer(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>, ApiJson(req): ApiJson<Transfer>) -> Answer<app::Transferred> {
    app::transfer(&s, &origin, group_id, req.user_id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MuteAll {
    muted: bool,
}

async fn mute_all(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>, ApiJson(req): ApiJson<MuteAll>) -> Answer<app::MuteAllSet> {
    app::mute_all(&s, &origin, group_id, req.muted).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Nickname {
    nickname: String,
}

async fn set_nickname(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>, ApiJson(req): ApiJson<Nickname>) -> Answer<app::NicknameSet> {
    app::set_nickname(&s, &origin, group_id, req.nickname).await
}
