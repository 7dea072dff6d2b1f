//! `/api/group/…`: creating, changing and dissolving groups; members, roles,
//! mutes, join requests.

use crate::{
    app::{group as app, Answer, Origin},
    AppState,
};
use axum::extract::State;
use beaver_events::group::Role;
use beaver_platform::{
    http::{ApiJson, ApiPath},
    openapi::Envelope,
};
use beaver_writemodel::domain::group::{CreateGroup, UpdateGroup};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(update))
        .routes(routes!(dissolve))
        .routes(routes!(invite))
        .routes(routes!(kick))
        .routes(routes!(set_role))
        .routes(routes!(mute))
        .routes(routes!(join))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(leave))
        .routes(routes!(transfer))
        .routes(routes!(mute_all))
        .routes(routes!(set_nickname))
}

/// Creates a group owned by the caller, with some of their friends as the first members.
#[utoipa::path(post, path = "/api/group", tag = "groups", operation_id = "group_create", request_body = CreateGroup,
    responses(
        (status = 200, description = "The new group and its conversation.", body = Envelope<app::Created>),
        (status = 403, description = "`not_friends`: a member is not the caller's friend."),
        (status = 404, description = "`not_found`: a member has no account."),
        (status = 422, description = "`invalid_field`: `name`, `avatar`, `announcement`, `max_members` (2 up to the server's limit) or `member_ids` (more than `max_members`)."),
    ))]
async fn create(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<CreateGroup>) -> Answer<app::Created> {
    app::create(&s, &origin, req).await
}

/// Changes a group's name, avatar, announcement, join policy or `members_can_invite` (admins and the owner).
#[utoipa::path(put, path = "/api/group/{group_id}", tag = "groups", operation_id = "group_update", request_body = UpdateGroup,
    params(("group_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The group as its members see it (only `{group_id}` if the caller can no longer read it).", body = Envelope<app::Updated>),
        (status = 403, description = "`forbidden`: not an admin or the owner."),
        (status = 404, description = "`not_found`: no such (or a dissolved) group."),
        (status = 422, description = "`invalid_field`: `name`, `avatar`, `announcement`, or `body` (no field given)."),
    ))]
async fn update(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>, ApiJson(req): ApiJson<UpdateGroup>) -> Answer<app::Updated> {
    app::update(&s, &origin, group_id, req).await
}

/// Dissolves a group (the owner).
#[utoipa::path(delete, path = "/api/group/{group_id}", tag = "groups", operation_id = "group_dissolve",
    params(("group_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<app::Dissolved>),
        (status = 403, description = "`forbidden`: not the owner."),
        (status = 404, description = "`not_found`: no such (or an already dissolved) group."),
    ))]
async fn dissolve(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>) -> Answer<app::Dissolved> {
    app::dissolve(&s, &origin, group_id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = group::Invite)]
#[serde(deny_unknown_fields)]
struct Invite {
    /// At least one (repeats are ignored).
    user_ids: Vec<Uuid>,
}

/// Adds users to a group, or files join requests for them (docs/social.md, "Joining and inviting").
///
/// Admins and the owner add directly; a member (if `members_can_invite`)
/// adds friends directly, and non-friends directly in a `free` group, as
/// pending join requests in an `approval` group, not at all in a `closed`
/// one. Already-members are listed, not refused. Nothing is applied when
/// anything is refused.
#[utoipa::path(post, path = "/api/group/{group_id}/members", tag = "groups", operation_id = "group_invite", request_body = Invite,
    params(("group_id" = Uuid, Path)),
    responses(
        (status = 200, description = "Who was added, who got a join request, who was already a member.", body = Envelope<app::Invited>),
        (status = 403, description = "`forbidden`: not a member, or members may not invite; `group_closed`: a member inviting a non-friend into a closed group."),
        (status = 404, description = "`not_found`: no such group, or an invitee has no account."),
        (status = 409, description = "`group_full`: the additions would exceed `max_members`."),
        (status = 422, description = "`invalid_field` (`user_ids`): empty, or more than the server's group size limit."),
    ))]
async fn invite(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>, ApiJson(req): ApiJson<Invite>) -> Answer<app::Invited> {
    app::invite(&s, &origin, group_id, req.user_ids).await
}

/// Removes a member from a group (admins and the owner, on members ranked below them).
#[utoipa::path(delete, path = "/api/group/{group_id}/members/{user_id}", tag = "groups", operation_id = "group_kick",
    params(("group_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<app::Removed>),
        (status = 403, description = "`forbidden`: not an admin or the owner, or the member is not ranked below the caller."),
        (status = 404, description = "`not_found`: no such group, or the user is not a member."),
        (status = 422, description = "`invalid_field` (`user_id`): the caller."),
    ))]
async fn kick(State(s): State<AppState>, origin: Origin, ApiPath((group_id, user_id)): ApiPath<(Uuid, Uuid)>) -> Answer<app::Removed> {
    app::kick(&s, &origin, group_id, user_id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = group::SetRole)]
#[serde(deny_unknown_fields)]
struct SetRole {
    /// `admin` or `member` (`owner` is 422: transfer the group instead).
    role: Role,
}

/// Makes a member an admin or a member again (the owner).
#[utoipa::path(put, path = "/api/group/{group_id}/members/{user_id}/role", tag = "groups", operation_id = "group_set_role", request_body = SetRole,
    params(("group_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<app::RoleSet>),
        (status = 403, description = "`forbidden`: not the owner."),
        (status = 404, description = "`not_found`: no such group, or the user is not a member."),
        (status = 422, description = "`invalid_field`: `user_id` (the caller) or `role` (`owner`)."),
    ))]
async fn set_role(State(s): State<AppState>, origin: Origin, ApiPath((group_id, user_id)): ApiPath<(Uuid, Uuid)>, ApiJson(req): ApiJson<SetRole>) -> Answer<app::RoleSet> {
    app::set_role(&s, &origin, group_id, user_id, req.role).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = group::Mute)]
#[serde(deny_unknown_fields)]
struct Mute {
    /// RFC 3339: muted until then. `null` or a past time unmutes. Required (may be null).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    until: Option<OffsetDateTime>,
}

/// Mutes or unmutes a member (admins and the owner, on members ranked below them).
#[utoipa::path(put, path = "/api/group/{group_id}/members/{user_id}/mute", tag = "groups", operation_id = "group_mute", request_body = Mute,
    params(("group_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<app::Muted>),
        (status = 403, description = "`forbidden`: not an admin or the owner, or the member is not ranked below the caller."),
        (status = 404, description = "`not_found`: no such group, or the user is not a member."),
        (status = 422, description = "`invalid_field`: `user_id` (the caller), or `body` (`until` missing or not RFC 3339)."),
    ))]
async fn mute(State(s): State<AppState>, origin: Origin, ApiPath((group_id, user_id)): ApiPath<(Uuid, Uuid)>, ApiJson(req): ApiJson<Mute>) -> Answer<app::Muted> {
    app::mute(&s, &origin, group_id, user_id, req.until).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = group::Join)]
#[serde(deny_unknown_fields)]
struct Join {
    /// A note to the admins (up to 200 characters).
    #[serde(default)]
    message: String,
}

/// Joins a group (`free`) or asks to join it (`approval`); the body may be `{}`.
#[utoipa::path(post, path = "/api/group/{group_id}/join", tag = "groups", operation_id = "group_join", request_body = Join,
    params(("group_id" = Uuid, Path)),
    responses(
        (status = 200, description = "`joined`, or `pending` with the join request's id.", body = Envelope<app::Joined>),
        (status = 403, description = "`group_closed`: the group takes no join requests."),
        (status = 404, description = "`not_found`: no such (or a dissolved) group."),
        (status = 409, description = "`already_member`; `request_pending`: the caller's request is pending; `group_full` (a free group)."),
        (status = 422, description = "`invalid_field` (`message`): over 200 characters."),
    ))]
async fn join(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>, ApiJson(req): ApiJson<Join>) -> Answer<app::Joined> {
    app::join(&s, &origin, group_id, req.message).await
}

/// Approves a join request: the user becomes a member (admins and the owner).
#[utoipa::path(post, path = "/api/group/{group_id}/join-requests/{request_id}/approve", tag = "groups", operation_id = "group_approve_join_request",
    params(("group_id" = Uuid, Path), ("request_id" = Uuid, Path)),
    responses(
        (status = 200, description = "`status: approved`.", body = Envelope<app::RequestDecided>),
        (status = 403, description = "`forbidden`: not an admin or the owner."),
        (status = 404, description = "`not_found`: no such group or join request."),
        (status = 409, description = "`request_not_pending`: already decided; `group_full`."),
    ))]
async fn approve(State(s): State<AppState>, origin: Origin, ApiPath((group_id, request_id)): ApiPath<(Uuid, Uuid)>) -> Answer<app::RequestDecided> {
    app::answer_join_request(&s, &origin, group_id, request_id, true).await
}

/// Rejects a join request (admins and the owner).
#[utoipa::path(post, path = "/api/group/{group_id}/join-requests/{request_id}/reject", tag = "groups", operation_id = "group_reject_join_request",
    params(("group_id" = Uuid, Path), ("request_id" = Uuid, Path)),
    responses(
        (status = 200, description = "`status: rejected`.", body = Envelope<app::RequestDecided>),
        (status = 403, description = "`forbidden`: not an admin or the owner."),
        (status = 404, description = "`not_found`: no such group or join request."),
        (status = 409, description = "`request_not_pending`: already decided."),
    ))]
async fn reject(State(s): State<AppState>, origin: Origin, ApiPath((group_id, request_id)): ApiPath<(Uuid, Uuid)>) -> Answer<app::RequestDecided> {
    app::answer_join_request(&s, &origin, group_id, request_id, false).await
}

/// Leaves a group (the owner must transfer it first).
#[utoipa::path(post, path = "/api/group/{group_id}/leave", tag = "groups", operation_id = "group_leave",
    params(("group_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<app::Left>),
        (status = 403, description = "`forbidden`: not a member."),
        (status = 404, description = "`not_found`: no such (or a dissolved) group."),
        (status = 409, description = "`owner_must_transfer`."),
    ))]
async fn leave(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>) -> Answer<app::Left> {
    app::leave(&s, &origin, group_id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = group::Transfer)]
#[serde(deny_unknown_fields)]
struct Transfer {
    /// The new owner: a member.
    user_id: Uuid,
}

/// Makes another member the owner; the old owner becomes an admin (the owner).
#[utoipa::path(post, path = "/api/group/{group_id}/transfer", tag = "groups", operation_id = "group_transfer", request_body = Transfer,
    params(("group_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<app::Transferred>),
        (status = 403, description = "`forbidden`: not the owner."),
        (status = 404, description = "`not_found`: no such group, or the user is not a member."),
        (status = 422, description = "`invalid_field` (`user_id`): the caller."),
    ))]
async fn transfer(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>, ApiJson(req): ApiJson<Transfer>) -> Answer<app::Transferred> {
    app::transfer(&s, &origin, group_id, req.user_id).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = group::MuteAll)]
#[serde(deny_unknown_fields)]
struct MuteAll {
    muted: bool,
}

/// Turns mute-all on or off: while on, only admins and the owner may send (admins and the owner).
#[utoipa::path(put, path = "/api/group/{group_id}/mute-all", tag = "groups", operation_id = "group_mute_all", request_body = MuteAll,
    params(("group_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<app::MuteAllSet>),
        (status = 403, description = "`forbidden`: not an admin or the owner."),
        (status = 404, description = "`not_found`: no such (or a dissolved) group."),
    ))]
async fn mute_all(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>, ApiJson(req): ApiJson<MuteAll>) -> Answer<app::MuteAllSet> {
    app::mute_all(&s, &origin, group_id, req.muted).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = group::Nickname)]
#[serde(deny_unknown_fields)]
struct Nickname {
    /// Up to 32 characters after trimming; `""` clears it.
    nickname: String,
}

/// Sets the caller's own nickname in a group.
#[utoipa::path(put, path = "/api/group/{group_id}/nickname", tag = "groups", operation_id = "group_set_nickname", request_body = Nickname,
    params(("group_id" = Uuid, Path)),
    responses(
        (status = 200, body = Envelope<app::NicknameSet>),
        (status = 403, description = "`forbidden`: not a member."),
        (status = 404, description = "`not_found`: no such (or a dissolved) group."),
        (status = 422, description = "`invalid_field` (`nickname`): over 32 characters."),
    ))]
async fn set_nickname(State(s): State<AppState>, origin: Origin, ApiPath(group_id): ApiPath<Uuid>, ApiJson(req): ApiJson<Nickname>) -> Answer<app::NicknameSet> {
    app::set_nickname(&s, &origin, group_id, req.nickname).await
}
