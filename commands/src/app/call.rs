//! Calls (docs/services.md, "Calls"). Each action locks the call, loads its
//! state from the calls read model, lets `domain::call` decide and appends to
//! `beaver.calls.v1`. Busy is a Redis mark per user (`keys::call_busy`),
//! set with `NX` before a user is rung or joins, so two calls can never both
//! take a user; it is released when the user's part ends. A call that ends
//! leaves a system notice in its conversation. The ring sweeper
//! ([`sweep_loop`]) ends rings on the read model's clock, under the same
//! lock: a call is missed once, whichever commands process sees it first,
//! and a restart loses nothing.

use super::{Created, Origin, Written};
use crate::{store::consistency::AggregateLock, AppState};
use beaver_events::{
    call::{CallEnded, CallEvent},
    message::ConversationRef,
    topics, Actor, Envelope,
};
use beaver_platform::http::ApiError;
use beaver_readmodel::{
    call as read, keys,
    progress::CALLS_PROJECTOR,
    relation,
};
use beaver_writemodel::domain::{
    call::{self as rules, CallState, Part, Participant, Place, StartRequest},
    Ctx,
};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::{collections::HashSet, time::Duration};
use uuid::Uuid;

/// The longest a call lasts (the busy marks expire after it).
const MAX_CALL_SECS: u64 = 4 * 3600;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = call::Started)]
pub struct Started {
    /// A UUIDv7.
    pub call_id: Uuid,
    /// Always `ringing`.
    pub status: &'static str,
    /// How long the invitees are rung before they miss the call.
    pub ring_timeout_secs: u32,
    /// Who is rung.
    pub invitees: Vec<Uuid>,
    /// Invitees skipped because they are in another call (sorted).
    pub busy: Vec<Uuid>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = call::Status)]
pub struct Status {
    pub call_id: Uuid,
    /// The call's status after the action: `ringing`, `active` or `ended`.
    pub status: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = call::Invited)]
pub struct Invited {
    pub call_id: Uuid,
    /// Who is rung now (empty when nobody new).
    pub invitees: Vec<Uuid>,
    /// Members skipped because they are in another call.
    pub busy: Vec<Uuid>,
}

/// `{device_id}` of accept and join.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = call::DeviceRequest)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    /// The device the call is bound to: 1 to 64 of `A-Z a-z 0-9 . _ : -`.
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9._:-]{1,64}$")]
    pub device_id: Value,
}

/// `{user_ids}` of invite.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = call::InviteRequest)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// Members of the call's group to ring (at least one).
    #[serde(default)]
    #[schema(value_type = Vec<Uuid>, required = true, min_items = 1)]
    pub user_ids: Option<Value>,
}

fn redis_down(e: redis::RedisError) -> ApiError {
    ApiError::Unavailable(e.into())
}

/// Marks `user` busy with `call`; false when they already are (with another call).
async fn mark_busy(s: &AppState, user: Uuid, call: Uuid) -> Result<bool, ApiError> {
    let set: Option<String> = redis::cmd("SET")
        .arg(keys::call_busy(user))
        .arg(call.to_string())
        .arg("NX")
        .arg("EX")
        .arg(MAX_CALL_SECS)
        .query_async(&mut s.redis.clone())
        .await
        .map_err(redis_down)?;
    if set.is_some() {
        return Ok(true);
    }
    // Busy with this very call (rung, now joining) is not busy.
    let current: Option<String> = s.redis.clone().get(keys::call_busy(user)).await.map_err(redis_down)?;
    Ok(current.as_deref() == Some(&call.to_string()))
}

/// Drops the busy marks of `users` that name `call` (never another call's).
async fn release(s: &AppState, users: &[Uuid], call: Uuid) {
    let script = redis::Script::new("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end");
    for u in users {
        let done: Result<i64, _> = script.key(keys::call_busy(*u)).arg(call.to_string()).invoke_async(&mut s.redis.clone()).await;
        if let Err(e) = done {
            tracing::warn!(error = %e, user = %u, %call, "could not release a busy mark; it expires on its own");
        }
    }
}

fn when(t: Option<time::PrimitiveDateTime>) -> Option<time::OffsetDateTime> {
    t.map(|t| t.assume_utc())
}

/// The call as the rules see it, with its conversation.
async fn state(s: &AppState, call_id: Uuid) -> Result<Option<(CallState, String)>, ApiError> {
    let Some((call, parts)) = read::load(&s.pool, call_id).await? else { return Ok(None) };
    let participants = parts
        .iter()
        .filter_map(|p| Some(Participant { user_id: Uuid::try_parse(&p.user_id).ok()?, part: Part::parse(&p.part)?, ring_until: when(p.ring_until) }))
        .collect();
    let group = matches!(ConversationRef::parse(&call.conversation_id), Some(ConversationRef::Group(_)));
    let state = CallState {
        call_id,
        conversation_id: call.conversation_id.clone(),
        media: beaver_events::call::Media::parse(&call.media).unwrap_or(beaver_events::call::Media::Audio),
        ring_timeout_secs: call.ring_timeout_secs.max(1) as u32,
        caller_id: Uuid::try_parse(&call.caller_id).unwrap_or_default(),
        group,
        ended: call.status == "ended",
        answered_at: when(call.answered_at),
        participants,
    };
    Ok(Some((state, call.conversation_id)))
}

async fn lock(s: &AppState, call_id: Uuid) -> Result<AggregateLock, ApiError> {
    AggregateLock::acquire(s, "call", call_id.to_string(), CALLS_PROJECTOR, topics::CALLS).await
}

/// Active members of a group (the projection's Redis set).
async fn members(s: &AppState, group: Uuid) -> Result<Vec<Uuid>, ApiError> {
    let m: Vec<String> = s.redis.clone().smembers(keys::group_members(group)).await.map_err(redis_down)?;
    Ok(m.iter().filter_map(|u| Uuid::try_parse(u).ok()).collect())
}

/// `POST /api/call`.
pub async fn start(s: &AppState, origin: &Origin, req: StartRequest) -> Result<Created<Started>, ApiError> {
    let me = origin.actor;
    let conversation = req.conversation()?;
    let place = match ConversationRef::parse(&conversation) {
        Some(ConversationRef::Direct(a, b)) if a == me || b == me => {
            let peer = if a == me { b } else { a };
            let pair = relation::pair(&s.pool, me, peer).await?;
            Place::Direct { peer, friends: pair.friends, blocked: pair.i_blocked_them || pair.they_blocked_me }
        }
        Some(ConversationRef::Group(g)) => Place::Group { members: members(s, g).await? },
        _ => return Err(ApiError::NotFound("conversation not found".into())),
    };
    let (media, device, invitees) = rules::plan_start(&req, &place, &Ctx::live(me))?;
    let call_id = Uuid::now_v7();
    let mut busy = HashSet::new();
    let mut marked = Vec::new();
    for u in std::iter::once(me).chain(invitees.iter().copied()) {
        if mark_busy(s, u, call_id).await? {
            marked.push(u);
        } else {
            busy.insert(u);
        }
        if busy.contains(&me) {
            break;
        }
    }
    let mut ids = Some(call_id).into_iter();
    let ctx = Ctx::new(me, Ctx::live(me).now, move || ids.next().unwrap_or_else(Uuid::now_v7));
    let timeout = s.config.call_ring_timeout_secs;
    let decided = rules::decide_start(conversation, media, device, invitees, &busy, matches!(place, Place::Group { .. }), timeout, &ctx);
    let event = match decided {
        Ok(e) => e,
        Err(e) => {
            release(s, &marked, call_id).await;
            return Err(e.into());
        }
    };
    let CallEvent::CallStarted(started) = &event else { unreachable!("decide_start starts") };
    let invitees = started.invitees.clone();
    let lock = lock(s, call_id).await?;
    let visible = match s.append_locked(lock, vec![event], origin, CALLS_PROJECTOR).await {
        Ok(v) => v,
        Err(e) => {
            release(s, &marked, call_id).await;
            return Err(e);
        }
    };
    let mut busy: Vec<Uuid> = busy.into_iter().collect();
    busy.sort();
    Ok(Created { visible, repeat: false, data: Started { call_id, status: "ringing", ring_timeout_secs: timeout, invitees, busy } })
}

/// Runs one action on a call: decides under its lock, appends, releases
/// the marks of those whose part ended, and posts the notice when it ends.
async fn act(
    s: &AppState,
    origin: &Origin,
    call_id: Uuid,
    decide: impl FnOnce(Option<&CallState>) -> Result<Vec<CallEvent>, ApiError>,
) -> Result<Written<Status>, ApiError> {
    let lock = lock(s, call_id).await?;
    let loaded = state(s, call_id).await?;
    let state = loaded.as_ref().map(|(st, _)| st);
    let events = decide(state)?;
    let released = rules::released(state, &events);
    let ended = events.iter().find_map(|e| match e {
        CallEvent::CallEnded(end) => Some(end.clone()),
        _ => None,
    });
    let visible = s.append_locked(lock, events, origin, CALLS_PROJECTOR).await?;
    release(s, &released, call_id).await;
    if let (Some(end), Some((st, conversation))) = (&ended, &loaded) {
        notice(s, &origin.correlation, conversation, st, end).await;
    }
    let status = match read::load(&s.pool, call_id).await? {
        Some((call, _)) => call.status,
        None => "ringing".into(),
    };
    Ok(Written::new(visible, Status { call_id, status }))
}

pub async fn accept(s: &AppState, origin: &Origin, call_id: Uuid, req: DeviceRequest) -> Result<Written<Status>, ApiError> {
    let device = rules::device_id(&req.device_id)?;
    let ctx = Ctx::live(origin.actor);
    act(s, origin, call_id, |st| Ok(rules::decide_accept(st, device, &ctx)?)).await
}

pub async fn decline(s: &AppState, origin: &Origin, call_id: Uuid) -> Result<Written<Status>, ApiError> {
    let ctx = Ctx::live(origin.actor);
    act(s, origin, call_id, |st| Ok(rules::decide_decline(st, &ctx)?)).await
}

pub async fn cancel(s: &AppState, origin: &Origin, call_id: Uuid) -> Result<Written<Status>, ApiError> {
    let ctx = Ctx::live(origin.actor);
    act(s, origin, call_id, |st| Ok(rules::decide_cancel(st, &ctx)?)).await
}

pub async fn hangup(s: &AppState, origin: &Origin, call_id: Uuid) -> Result<Written<Status>, ApiError> {
    let ctx = Ctx::live(origin.actor);
    act(s, origin, call_id, |st| Ok(rules::decide_hangup(st, &ctx)?)).await
}

/// `POST /api/call/{id}/join`: a group member.
pub async fn join(s: &AppState, origin: &Origin, call_id: Uuid, req: DeviceRequest) -> Result<Written<Status>, ApiError> {
    let me = origin.actor;
    let device = rules::device_id(&req.device_id)?;
    let conversation = read::load(&s.pool, call_id).await?.map(|(c, _)| c.conversation_id);
    let is_member = match conversation.as_deref().and_then(ConversationRef::parse) {
        Some(ConversationRef::Group(g)) => members(s, g).await?.contains(&me),
        _ => false,
    };
    let free = if is_member { mark_busy(s, me, call_id).await? } else { true };
    let ctx = Ctx::live(me);
    let answer = act(s, origin, call_id, |st| Ok(rules::decide_join(st, is_member, !free, device, &ctx)?)).await;
    if answer.is_err() && is_member && free {
        // Not joined after all: the mark this attempt set goes (one it did not set stays).
        let in_call = state(s, call_id).await.ok().flatten().is_some_and(|(st, _)| st.participants.iter().any(|p| p.user_id == me && matches!(p.part, Part::Joined | Part::Ringing)));
        if !in_call {
            release(s, &[me], call_id).await;
        }
    }
    answer
}

/// `POST /api/call/{id}/invite`.
pub async fn invite(s: &AppState, origin: &Origin, call_id: Uuid, req: InviteRequest) -> Result<Written<Invited>, ApiError> {
    let me = origin.actor;
    let wanted = rules::user_ids(req.user_ids.as_ref())?.unwrap_or_default();
    let lock = lock(s, call_id).await?;
    let loaded = state(s, call_id).await?;
    let members = match loaded.as_ref().and_then(|(_, c)| ConversationRef::parse(c)) {
        Some(ConversationRef::Group(g)) => members(s, g).await?,
        _ => vec![],
    };
    let mut busy = HashSet::new();
    let mut marked = Vec::new();
    let in_call = |u: &Uuid| loaded.as_ref().is_some_and(|(st, _)| st.participants.iter().any(|p| p.user_id == *u && matches!(p.part, Part::Joined | Part::Ringing)));
    let may_mark = loaded.as_ref().is_some_and(|(st, _)| st.participants.iter().any(|p| p.user_id == me && p.part == Part::Joined));
    if may_mark {
        for u in wanted.iter().filter(|u| members.contains(u) && !in_call(u)) {
            if mark_busy(s, *u, call_id).await? {
                marked.push(*u);
            } else {
                busy.insert(*u);
            }
        }
    }
    let decided = rules::decide_invite(loaded.as_ref().map(|(st, _)| st), wanted, &members, &busy, &Ctx::live(me));
    let (events, busy) = match decided {
        Ok(d) => d,
        Err(e) => {
            release(s, &marked, call_id).await;
            return Err(e.into());
        }
    };
    let invitees = match events.first() {
        Some(CallEvent::CallInvited(i)) => i.user_ids.clone(),
        _ => vec![],
    };
    let visible = s.append_locked(lock, events, origin, CALLS_PROJECTOR).await?;
    Ok(Written::new(visible, Invited { call_id, invitees, busy }))
}

/// A finished call's notice in its conversation, once (the client message
/// id is the call's, so a second attempt is a repeat the sequencer drops).
async fn notice(s: &AppState, correlation: &str, conversation: &str, st: &CallState, end: &CallEnded) {
    let content = json!({ "event": "call", "call_id": st.call_id, "media": st.media, "result": end.result, "duration_ms": end.duration_ms });
    super::system_notice(s, conversation.to_owned(), format!("sys-call-{}", st.call_id.simple()), correlation, content).await;
}

/// The ring sweeper: every second, the calls with a ring that ended.
pub async fn sweep_loop(s: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    if s.config.call_sweep_ms == 0 {
        return;
    }
    let every = Duration::from_millis(s.config.call_sweep_ms);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = sweep(&s).await {
            tracing::warn!(error = %e, "call ring sweep failed; retrying next time");
        }
    }
}

/// One sweep: each call whose ring ended, and each bound device dropped
/// for longer than the grace, is decided under the call's lock (another
/// commands process that got there first leaves nothing to do).
pub async fn sweep(s: &AppState) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    for call_id in read::rings_ended(&s.pool, time::PrimitiveDateTime::new(now.date(), now.time()), 100).await? {
        let ctx = Ctx::new(Uuid::nil(), beaver_events::stored_precision(time::OffsetDateTime::now_utc()), Uuid::now_v7);
        system_act(s, call_id, |st| rules::decide_timeout(st, &ctx)).await?;
    }
    let grace_ms = (s.config.call_reconnect_grace_secs * 1000) as i64;
    for (call_id, user, device) in read::bound_devices(&s.pool, 500).await? {
        let dropped: Option<i64> = s.redis.clone().get(keys::device_dropped(user, &device)).await?;
        if dropped.is_none_or(|at| beaver_readmodel::presence::now_ms() - at <= grace_ms) {
            continue;
        }
        let ctx = Ctx::new(user, beaver_events::stored_precision(time::OffsetDateTime::now_utc()), Uuid::now_v7);
        // Still bound to that device under the lock, and still dropped: the user leaves.
        system_act(s, call_id, |st| match read_bound(st, user) {
            true => rules::decide_hangup(Some(st), &ctx).unwrap_or_default(),
            false => vec![],
        })
        .await?;
        metrics::counter!("calls_devices_dropped_total").increment(1);
    }
    Ok(())
}

fn read_bound(st: &CallState, user: Uuid) -> bool {
    st.participants.iter().any(|p| p.user_id == user && p.part == Part::Joined) && !st.ended
}

/// The sweeper's decision on one call, appended with the system actor.
async fn system_act(s: &AppState, call_id: Uuid, decide: impl FnOnce(&CallState) -> Vec<CallEvent>) -> anyhow::Result<()> {
    {
        let lock = lock(s, call_id).await?;
        let Some((st, conversation)) = state(s, call_id).await? else { return Ok(()) };
        let events = decide(&st);
        if events.is_empty() {
            return Ok(());
        }
        let released = rules::released(Some(&st), &events);
        let ended = events.iter().find_map(|e| match e {
            CallEvent::CallEnded(end) => Some(end.clone()),
            _ => None,
        });
        let correlation = format!("call-sweeper-{}", Uuid::now_v7());
        let mut last = None;
        for event in events {
            last = Some(s.append(&Envelope::new(event, Actor::System, correlation.clone(), None)).await?);
        }
        if let Some(pos) = last {
            lock.appended(pos).await?;
        }
        release(s, &released, call_id).await;
        if let Some(end) = ended {
            notice(s, &correlation, &conversation, &st, &end).await;
        }
    }
    Ok(())
}
