//! Relation use cases: friend requests and their decisions, remarks,
//! unfriending, blocks. Each locks the pair, loads what is between the two
//! users and lets [`relation::decide`] decide.

use super::{ensure_user, Origin, Written};
use crate::{store::consistency::AggregateLock, AppState};
use beaver_events::{relation::pair_key, topics, RelationEvent};
use beaver_platform::http::ApiError;
use beaver_readmodel::{progress::RELATIONS_PROJECTOR, relation as read};
use beaver_writemodel::domain::{
    relation::{self, PairView, RelationCommand, RelationState, RequestView},
    Ctx,
};
use serde::Serialize;
use uuid::Uuid;

/// The answer to a friend request or its decision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestAnswer {
    pub request_id: Uuid,
    /// `pending`, `accepted` or `rejected`.
    pub status: &'static str,
    /// The new friend, when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub friend_user_id: Option<Uuid>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RemarkAnswer {
    pub user_id: Uuid,
    pub remark: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RemovedAnswer {
    pub user_id: Uuid,
    pub removed: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BlockAnswer {
    pub user_id: Uuid,
    pub blocked: bool,
}

/// What is between `me` and `them`, from the relation read models.
async fn load_pair(s: &AppState, me: Uuid, them: Uuid) -> Result<PairView, ApiError> {
    let row = read::pair(&s.pool, me, them).await?;
    Ok(PairView {
        friends: row.friends,
        i_blocked_them: row.i_blocked_them,
        they_blocked_me: row.they_blocked_me,
        my_pending_request: row.my_pending_request,
        their_pending_request: row.their_pending_request,
    })
}

async fn load_request(s: &AppState, request_id: Uuid) -> Result<Option<RequestView>, ApiError> {
    Ok(read::request(&s.pool, request_id).await?.map(|r| RequestView {
        request_id,
        from_user_id: r.from_user_id,
        to_user_id: r.to_user_id,
        pending: r.pending,
        hidden_from_recipient: r.hidden_from_recipient,
    }))
}

/// Locks the pair, loads its state, decides and appends.
async fn execute(s: &AppState, origin: &Origin, command: RelationCommand) -> Result<(Vec<RelationEvent>, bool), ApiError> {
    let me = origin.actor;
    let them = match (&command, command.other()) {
        (_, Some(them)) => {
            if them != me && !matches!(command, RelationCommand::SetRemark { .. }) {
                ensure_user(&s.pool, them).await?;
            }
            them
        }
        // A decision: the pair is the request's; only its recipient gets further.
        (RelationCommand::DecideRequest { request_id, .. }, None) => match load_request(s, *request_id).await?.filter(|r| r.to_user_id == me) {
            Some(r) => r.from_user_id,
            None => return Err(ApiError::NotFound("no such friend request".into())),
        },
        (_, None) => unreachable!("only a decision names no other user"),
    };
    let lock = AggregateLock::acquire(s, "relation", pair_key(me, them), RELATIONS_PROJECTOR, topics::RELATIONS).await?;
    let request = match &command {
        RelationCommand::DecideRequest { request_id, .. } => load_request(s, *request_id).await?,
        _ => None,
    };
    let (their_policy, common_friend) = match &command {
        RelationCommand::SendRequest { .. } => {
            let policy = beaver_readmodel::settings::privacy(&s.pool, them).await?.friend_requests;
            let common = policy == beaver_events::user::FriendRequestPolicy::FriendsOfFriends && read::have_common_friend(&s.pool, me, them).await?;
            (policy, common)
        }
        _ => Default::default(),
    };
    let state = RelationState { pair: load_pair(s, me, them).await?, request, their_policy, common_friend };
    let events = relation::decide(&state, command, &Ctx::live(me))?;
    let visible = s.append_locked(lock, events.clone(), origin, RELATIONS_PROJECTOR).await?;
    Ok((events, visible))
}

pub async fn send_request(s: &AppState, origin: &Origin, to: Uuid, message: String) -> Result<Written<RequestAnswer>, ApiError> {
    let (events, visible) = execute(s, origin, RelationCommand::SendRequest { to, message }).await?;
    let answer = match events.first() {
        Some(RelationEvent::FriendRequestSent(e)) => RequestAnswer { request_id: e.request_id, status: "pending", friend_user_id: None },
        // They had asked first: their request was accepted instead.
        Some(RelationEvent::FriendRequestAccepted(e)) => RequestAnswer { request_id: e.request_id, status: "accepted", friend_user_id: Some(to) },
        other => unreachable!("a friend request decides a request or an acceptance, not {other:?}"),
    };
    Ok(Written::new(visible, answer))
}

pub async fn answer_request(s: &AppState, origin: &Origin, request_id: Uuid, accept: bool) -> Result<Written<RequestAnswer>, ApiError> {
    let (events, visible) = execute(s, origin, RelationCommand::DecideRequest { request_id, accept }).await?;
    let answer = match events.first() {
        Some(RelationEvent::FriendRequestAccepted(e)) => RequestAnswer { request_id, status: "accepted", friend_user_id: Some(e.from_user_id) },
        _ => RequestAnswer { request_id, status: "rejected", friend_user_id: None },
    };
    Ok(Written::new(visible, answer))
}

pub async fn set_remark(s: &AppState, origin: &Origin, friend: Uuid, remark: String) -> Result<Written<RemarkAnswer>, ApiError> {
    let (events, visible) = execute(s, origin, RelationCommand::SetRemark { friend, remark }).await?;
    let remark = match events.into_iter().next() {
        Some(RelationEvent::FriendRemarkSet(e)) => e.remark,
        other => unreachable!("a remark decides a remark, not {other:?}"),
    };
    Ok(Written::new(visible, RemarkAnswer { user_id: friend, remark }))
}

pub async fn remove(s: &AppState, origin: &Origin, friend: Uuid) -> Result<Written<RemovedAnswer>, ApiError> {
    let (_, visible) = execute(s, origin, RelationCommand::Remove { friend }).await?;
    Ok(Written::new(visible, RemovedAnswer { user_id: friend, removed: true }))
}

pub async fn set_blocked(s: &AppState, origin: &Origin, user: Uuid, blocked: bool) -> Result<Written<BlockAnswer>, ApiError> {
    let command = if blocked { RelationCommand::Block { user } } else { RelationCommand::Unblock { user } };
    let (_, visible) = execute(s, origin, command).await?;
    Ok(Written::new(visible, BlockAnswer { user_id: user, blocked }))
}
