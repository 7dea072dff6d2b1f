//! `/api/call…` writes: start, accept, decline, cancel, hang up, invite,
//! join (docs/services.md, "Calls").

use crate::{
    app::{call as app, Answer, Created, Origin},
    AppState,
};
use axum::extract::State;
use beaver_platform::{
    http::{ApiError, ApiJson, ApiPath},
    openapi::Envelope,
};
use beaver_writemodel::domain::call::StartRequest;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(accept))
        .routes(routes!(decline))
        .routes(routes!(cancel))
        .routes(routes!(hangup))
        .routes(routes!(invite))
        .routes(routes!(join))
}

/// A call id from the path; a malformed one names nothing: 404.
fn id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::NotFound("call not found".into()))
}

/// Starts a call in a conversation: rings the 1:1 peer, or the group's members.
///
/// A 1:1 peer must be a friend with no block either way. In a group, the
/// invitees are the members in `user_ids` (default: every other member),
/// at most 7; busy invitees are skipped and listed in `busy`.
#[utoipa::path(post, path = "/api/call", tag = "calls", operation_id = "call_start", request_body = StartRequest,
    responses(
        (status = 201, description = "The call, ringing; the caller's `device_id` is bound.", body = Envelope<app::Started>),
        (status = 403, description = "`not_friends` or `blocked` (1:1)."),
        (status = 404, description = "`not_found`: no such conversation, or the caller is not in it."),
        (status = 409, description = "`busy`: the caller is in another call, or the peer (every invitee, in a group) is."),
        (status = 422, description = "`invalid_field` naming `conversation_id`, `media`, `device_id` or `user_ids` (given for a 1:1 call; not other members; more than 7)."),
    ))]
async fn start(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<StartRequest>) -> Result<Created<app::Started>, ApiError> {
    app::start(&s, &origin, req).await
}

/// Accepts a ringing call on one of the caller's devices.
#[utoipa::path(post, path = "/api/call/{call_id}/accept", tag = "calls", operation_id = "call_accept", request_body = app::DeviceRequest,
    params(("call_id" = Uuid, Path, description = "The call's id.")),
    responses(
        (status = 200, description = "The call's status after it (`active`).", body = Envelope<app::Status>),
        (status = 404, description = "`not_found`: no such call, or the caller is not invited to it."),
        (status = 409, description = "`already_answered`: the caller's other device answered; `call_ended`: the call (or the caller's part in it) is over."),
        (status = 422, description = "`invalid_field` naming `device_id`."),
    ))]
async fn accept(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>, ApiJson(req): ApiJson<app::DeviceRequest>) -> Answer<app::Status> {
    app::accept(&s, &origin, id(&raw)?, req).await
}

/// Declines a call that is ringing the caller.
#[utoipa::path(post, path = "/api/call/{call_id}/decline", tag = "calls", operation_id = "call_decline",
    params(("call_id" = Uuid, Path, description = "The call's id.")),
    responses(
        (status = 200, description = "The call's status after it.", body = Envelope<app::Status>),
        (status = 404, description = "`not_found`: no such call, or the caller is not part of it."),
        (status = 409, description = "`not_allowed`: the call is not ringing the caller (or has ended)."),
    ))]
async fn decline(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Status> {
    app::decline(&s, &origin, id(&raw)?).await
}

/// Cancels the caller's call before anyone answered; it ends.
#[utoipa::path(post, path = "/api/call/{call_id}/cancel", tag = "calls", operation_id = "call_cancel",
    params(("call_id" = Uuid, Path, description = "The call's id.")),
    responses(
        (status = 200, description = "The call's status after it (`ended`).", body = Envelope<app::Status>),
        (status = 404, description = "`not_found`: no such call, or the caller is not part of it."),
        (status = 409, description = "`not_allowed`: not the caller, someone already answered, or the call has ended."),
    ))]
async fn cancel(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Status> {
    app::cancel(&s, &origin, id(&raw)?).await
}

/// Leaves a call the caller is in (the caller before an answer: a cancel).
///
/// A 1:1 call, or a group call left with fewer than two participants, ends.
#[utoipa::path(post, path = "/api/call/{call_id}/hangup", tag = "calls", operation_id = "call_hangup",
    params(("call_id" = Uuid, Path, description = "The call's id.")),
    responses(
        (status = 200, description = "The call's status after it.", body = Envelope<app::Status>),
        (status = 404, description = "`not_found`: no such call, or the caller is not part of it."),
        (status = 409, description = "`not_allowed`: the caller is not in the call (or it has ended)."),
    ))]
async fn hangup(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Status> {
    app::hangup(&s, &origin, id(&raw)?).await
}

/// Rings more members into a group call the caller is in.
#[utoipa::path(post, path = "/api/call/{call_id}/invite", tag = "calls", operation_id = "call_invite", request_body = app::InviteRequest,
    params(("call_id" = Uuid, Path, description = "The call's id.")),
    responses(
        (status = 200, description = "Who is rung now, and who was skipped as busy (members already ringing or in the call are neither).", body = Envelope<app::Invited>),
        (status = 404, description = "`not_found`: no such call, or the caller is not part of it."),
        (status = 409, description = "`not_allowed`: the caller is not in the call (or it has ended)."),
        (status = 422, description = "`invalid_field` naming `user_ids`: missing or empty, not members of the group, not a group call, or over 8 participants."),
    ))]
async fn invite(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>, ApiJson(req): ApiJson<app::InviteRequest>) -> Answer<app::Invited> {
    app::invite(&s, &origin, id(&raw)?, req).await
}

/// Joins a group call that has not ended (any member of the group).
#[utoipa::path(post, path = "/api/call/{call_id}/join", tag = "calls", operation_id = "call_join", request_body = app::DeviceRequest,
    params(("call_id" = Uuid, Path, description = "The call's id.")),
    responses(
        (status = 200, description = "The call's status after it.", body = Envelope<app::Status>),
        (status = 404, description = "`not_found`: no such call, not a group call, or the caller is not a member of its group."),
        (status = 409, description = "`call_ended`; `already_answered`: the caller is in the call; `busy`: the caller is in another call; `call_full`: 8 are ringing or in it."),
        (status = 422, description = "`invalid_field` naming `device_id`."),
    ))]
async fn join(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>, ApiJson(req): ApiJson<app::DeviceRequest>) -> Answer<app::Status> {
    app::join(&s, &origin, id(&raw)?, req).await
}
