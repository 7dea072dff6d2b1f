//! Calls (docs/services.md, "Calls"): the lifecycle of a WebRTC call. The
//! app layer loads the call's state (from the calls read model, under the
//! call's lock), the conversation's facts and who is busy (Redis keys it
//! claims); these rules decide. Time comes from [`Ctx`], so the ring
//! timeout is decided as given/when/then like everything else.

use super::{Ctx, DomainError};
use beaver_events::call::{
    CallCancelled, CallDevice, CallEnded, CallEvent, CallInvited, CallMissed, CallResult, CallStarted, CallUser, Media,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use time::OffsetDateTime;
use uuid::Uuid;

/// Devices in one group call at most (a full mesh).
pub const MAX_PARTICIPANTS: usize = 8;
pub const DEVICE_ID_MAX: usize = 64;

fn invalid(field: &'static str, why: impl Into<String>) -> DomainError {
    DomainError::Invalid(field, why.into())
}

fn not_found() -> DomainError {
    DomainError::NotFound("call not found".into())
}

fn conflict(kind: &'static str, why: &str) -> DomainError {
    DomainError::Conflict(kind, why.into())
}

/// A device id as the WebSocket protocol accepts it.
pub fn device_id(v: &Value) -> Result<String, DomainError> {
    match v.as_str() {
        Some(d) if (1..=DEVICE_ID_MAX).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')) => {
            Ok(d.to_owned())
        }
        _ => Err(invalid("device_id", format!("device_id must be 1 to {DEVICE_ID_MAX} of A-Z a-z 0-9 . _ : -"))),
    }
}

/// `POST /api/call`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[schema(as = call::StartRequest)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// A 1:1 conversation the caller is in, or a group's.
    #[serde(default)]
    #[schema(value_type = String, required = true)]
    pub conversation_id: Value,
    #[serde(default)]
    #[schema(value_type = Media, required = true)]
    pub media: Value,
    /// The caller's device, bound to the call: 1 to 64 of `A-Z a-z 0-9 . _ : -`.
    #[serde(default)]
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9._:-]{1,64}$")]
    pub device_id: Value,
    /// Group calls only: the other members to ring (default: every other member), at most 7.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Uuid>>, min_items = 1, max_items = 7)]
    pub user_ids: Option<Value>,
}

impl StartRequest {
    pub fn conversation(&self) -> Result<String, DomainError> {
        self.conversation_id.as_str().map(str::to_owned).ok_or_else(|| invalid("conversation_id", "conversation_id must be a conversation id"))
    }
}

/// `user_ids` of a request: a list of user ids, or absent.
pub fn user_ids(v: Option<&Value>) -> Result<Option<Vec<Uuid>>, DomainError> {
    let bad = || invalid("user_ids", "user_ids must be a list of user ids");
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            let mut ids = Vec::with_capacity(items.len());
            for i in items {
                let id = i.as_str().and_then(|s| Uuid::try_parse(s).ok()).ok_or_else(bad)?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Ok(Some(ids))
        }
        Some(_) => Err(bad()),
    }
}

/// Where a call is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Direct { peer: Uuid, friends: bool, blocked: bool },
    /// The group's active members (the caller among them if a member).
    Group { members: Vec<Uuid> },
}

/// Checks a start request against the conversation: who would be rung.
pub fn plan_start(req: &StartRequest, place: &Place, ctx: &Ctx) -> Result<(Media, String, Vec<Uuid>), DomainError> {
    let media = req.media.as_str().and_then(Media::parse).ok_or_else(|| invalid("media", "media must be audio or video"))?;
    let device = device_id(&req.device_id)?;
    let wanted = user_ids(req.user_ids.as_ref())?;
    let invitees = match place {
        Place::Direct { peer, friends, blocked } => {
            if *blocked {
                return Err(DomainError::Forbidden("blocked", "you cannot call this user".into()));
            }
            if !friends {
                return Err(DomainError::Forbidden("not_friends", "you can only call your friends".into()));
            }
            if wanted.is_some() {
                return Err(invalid("user_ids", "user_ids is for group calls"));
            }
            vec![*peer]
        }
        Place::Group { members } => {
            if !members.contains(&ctx.actor) {
                return Err(not_found());
            }
            let invitees: Vec<Uuid> = match wanted {
                Some(ids) => {
                    if ids.is_empty() || ids.iter().any(|u| *u == ctx.actor || !members.contains(u)) {
                        return Err(invalid("user_ids", "user_ids must be other members of the group"));
                    }
                    ids
                }
                None => members.iter().copied().filter(|m| *m != ctx.actor).collect(),
            };
            if invitees.is_empty() {
                return Err(invalid("user_ids", "nobody else is in the group"));
            }
            if invitees.len() > MAX_PARTICIPANTS - 1 {
                return Err(invalid("user_ids", format!("a group call has at most {MAX_PARTICIPANTS} participants")));
            }
            invitees
        }
    };
    Ok((media, device, invitees))
}

/// The call, given who of the caller and the invitees is busy (in another call).
#[allow(clippy::too_many_arguments)]
pub fn decide_start(
    conversation_id: String,
    media: Media,
    device: String,
    invitees: Vec<Uuid>,
    busy: &HashSet<Uuid>,
    group: bool,
    ring_timeout_secs: u32,
    ctx: &Ctx,
) -> Result<CallEvent, DomainError> {
    if busy.contains(&ctx.actor) {
        return Err(conflict("busy", "you are in another call"));
    }
    let free: Vec<Uuid> = invitees.iter().copied().filter(|u| !busy.contains(u)).collect();
    if free.is_empty() {
        return Err(conflict("busy", if group { "everyone is in another call" } else { "the user is in another call" }));
    }
    Ok(CallEvent::CallStarted(CallStarted {
        call_id: ctx.new_id(),
        conversation_id,
        caller_id: ctx.actor,
        caller_device_id: device,
        media,
        invitees: free,
        ring_timeout_secs,
    }))
}

/// A participant's part in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Ringing,
    Joined,
    Declined,
    Missed,
    Left,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Ringing => "ringing",
            Part::Joined => "joined",
            Part::Declined => "declined",
            Part::Missed => "missed",
            Part::Left => "left",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Part::Ringing, Part::Joined, Part::Declined, Part::Missed, Part::Left].into_iter().find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub user_id: Uuid,
    pub part: Part,
    /// When their ring ends (for `Ringing`).
    pub ring_until: Option<OffsetDateTime>,
}

/// A call as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallState {
    pub call_id: Uuid,
    pub conversation_id: String,
    pub media: Media,
    pub ring_timeout_secs: u32,
    pub caller_id: Uuid,
    pub group: bool,
    pub ended: bool,
    pub answered_at: Option<OffsetDateTime>,
    pub participants: Vec<Participant>,
}

impl CallState {
    fn part_of(&self, user: Uuid) -> Option<Part> {
        self.participants.iter().find(|p| p.user_id == user).map(|p| p.part)
    }

    fn count(&self, part: Part) -> usize {
        self.participants.iter().filter(|p| p.part == part).count()
    }

    fn duration_ms(&self, now: OffsetDateTime) -> i64 {
        self.answered_at.map(|a| (now - a).whole_milliseconds().max(0) as i64).unwrap_or(0)
    }

    /// After `events` change the parts: whether the call is over and with which result.
    fn ended_after(&self, changes: &[(Uuid, Part)], now: OffsetDateTime) -> Option<CallEnded> {
        let part = |p: &Participant| changes.iter().rev().find(|(u, _)| *u == p.user_id).map(|(_, p)| *p).unwrap_or(p.part);
        let joined = self.participants.iter().filter(|p| part(p) == Part::Joined).count();
        let ringing = self.participants.iter().filter(|p| part(p) == Part::Ringing).count();
        let result = if self.answered_at.is_some() {
            // Answered: over when fewer than two are left in it.
            (joined < 2).then_some(CallResult::Completed)
        } else if joined < 1 || ringing == 0 {
            // Not answered: over when the caller left, or nobody is ringing any more.
            let declined = self.participants.iter().any(|p| part(p) == Part::Declined);
            let missed = self.participants.iter().any(|p| part(p) == Part::Missed);
            Some(if joined < 1 {
                CallResult::Cancelled
            } else if missed || !declined {
                CallResult::Missed
            } else {
                CallResult::Declined
            })
        } else {
            None
        };
        result.map(|result| CallEnded { call_id: self.call_id, result, duration_ms: self.duration_ms(now) })
    }

    fn with_end(&self, mut events: Vec<CallEvent>, changes: &[(Uuid, Part)], now: OffsetDateTime) -> Vec<CallEvent> {
        if let Some(end) = self.ended_after(changes, now) {
            events.push(CallEvent::CallEnded(end));
        }
        events
    }
}

/// Accept on one device: the invitee must be ringing.
pub fn decide_accept(state: Option<&CallState>, device: String, ctx: &Ctx) -> Result<Vec<CallEvent>, DomainError> {
    let s = state.ok_or_else(not_found)?;
    let me = ctx.actor;
    match s.part_of(me) {
        None => Err(not_found()),
        Some(_) if s.ended => Err(conflict("call_ended", "the call has ended")),
        Some(Part::Joined) => Err(conflict("already_answered", "you answered on another device")),
        Some(Part::Ringing) => Ok(vec![CallEvent::CallAccepted(CallDevice { call_id: s.call_id, user_id: me, device_id: device })]),
        Some(_) => Err(conflict("call_ended", "the call has ended for you")),
    }
}

/// Decline: the invitee must be ringing; a call nobody else rings for ends.
pub fn decide_decline(state: Option<&CallState>, ctx: &Ctx) -> Result<Vec<CallEvent>, DomainError> {
    let s = state.ok_or_else(not_found)?;
    match s.part_of(ctx.actor) {
        None => Err(not_found()),
        Some(Part::Ringing) if !s.ended => {
            let events = vec![CallEvent::CallDeclined(CallUser { call_id: s.call_id, user_id: ctx.actor })];
            Ok(s.with_end(events, &[(ctx.actor, Part::Declined)], ctx.now))
        }
        Some(_) => Err(conflict("not_allowed", "only a ringing invitee can decline")),
    }
}

/// Cancel: the caller, while nobody answered.
pub fn decide_cancel(state: Option<&CallState>, ctx: &Ctx) -> Result<Vec<CallEvent>, DomainError> {
    let s = state.ok_or_else(not_found)?;
    if s.part_of(ctx.actor).is_none() {
        return Err(not_found());
    }
    if s.caller_id != ctx.actor || s.ended || s.answered_at.is_some() {
        return Err(conflict("not_allowed", "only the caller can cancel, before anyone answered"));
    }
    Ok(vec![
        CallEvent::CallCancelled(CallCancelled { call_id: s.call_id, by: ctx.actor }),
        CallEvent::CallEnded(CallEnded { call_id: s.call_id, result: CallResult::Cancelled, duration_ms: 0 }),
    ])
}

/// Hang up: a participant in the call leaves (the caller before an answer: a cancel).
pub fn decide_hangup(state: Option<&CallState>, ctx: &Ctx) -> Result<Vec<CallEvent>, DomainError> {
    let s = state.ok_or_else(not_found)?;
    match s.part_of(ctx.actor) {
        None => Err(not_found()),
        Some(Part::Joined) if !s.ended => {
            if s.caller_id == ctx.actor && s.answered_at.is_none() {
                return decide_cancel(state, ctx);
            }
            let events = vec![CallEvent::CallLeft(CallUser { call_id: s.call_id, user_id: ctx.actor })];
            Ok(s.with_end(events, &[(ctx.actor, Part::Left)], ctx.now))
        }
        Some(_) => Err(conflict("not_allowed", "you are not in the call")),
    }
}

/// The ring sweeper: every invitee whose ring ended by `ctx.now` missed the call.
pub fn decide_timeout(state: &CallState, ctx: &Ctx) -> Vec<CallEvent> {
    if state.ended {
        return vec![];
    }
    let missed: Vec<Uuid> =
        state.participants.iter().filter(|p| p.part == Part::Ringing && p.ring_until.is_some_and(|t| t <= ctx.now)).map(|p| p.user_id).collect();
    if missed.is_empty() {
        return vec![];
    }
    let changes: Vec<(Uuid, Part)> = missed.iter().map(|u| (*u, Part::Missed)).collect();
    state.with_end(vec![CallEvent::CallMissed(CallMissed { call_id: state.call_id, user_ids: missed })], &changes, ctx.now)
}

/// Invite more members to a group call (the inviter must be in it).
pub fn decide_invite(state: Option<&CallState>, wanted: Vec<Uuid>, members: &[Uuid], busy: &HashSet<Uuid>, ctx: &Ctx) -> Result<(Vec<CallEvent>, Vec<Uuid>), DomainError> {
    let s = state.ok_or_else(not_found)?;
    if s.part_of(ctx.actor) != Some(Part::Joined) || s.ended {
        return Err(if s.part_of(ctx.actor).is_none() { not_found() } else { conflict("not_allowed", "you are not in the call") });
    }
    if !s.group {
        return Err(invalid("user_ids", "only a group call takes more participants"));
    }
    if wanted.is_empty() || wanted.iter().any(|u| !members.contains(u)) {
        return Err(invalid("user_ids", "user_ids must be members of the group"));
    }
    let fresh: Vec<Uuid> = wanted.into_iter().filter(|u| !matches!(s.part_of(*u), Some(Part::Ringing | Part::Joined))).collect();
    let active = s.count(Part::Ringing) + s.count(Part::Joined);
    if active + fresh.len() > MAX_PARTICIPANTS {
        return Err(invalid("user_ids", format!("a group call has at most {MAX_PARTICIPANTS} participants")));
    }
    let (busy_ones, free): (Vec<Uuid>, Vec<Uuid>) = fresh.into_iter().partition(|u| busy.contains(u));
    let events = if free.is_empty() {
        vec![]
    } else {
        vec![CallEvent::CallInvited(CallInvited {
            call_id: s.call_id,
            by: ctx.actor,
            user_ids: free,
            conversation_id: s.conversation_id.clone(),
            caller_id: s.caller_id,
            media: s.media,
            ring_timeout_secs: s.ring_timeout_secs,
        })]
    };
    Ok((events, busy_ones))
}

/// A group member joins a call that has not ended.
pub fn decide_join(state: Option<&CallState>, is_member: bool, busy: bool, device: String, ctx: &Ctx) -> Result<Vec<CallEvent>, DomainError> {
    let s = state.filter(|_| is_member).ok_or_else(not_found)?;
    if !s.group {
        return Err(not_found());
    }
    if s.ended {
        return Err(conflict("call_ended", "the call has ended"));
    }
    match s.part_of(ctx.actor) {
        Some(Part::Joined) => return Err(conflict("already_answered", "you are in the call")),
        Some(Part::Ringing) => return Ok(vec![CallEvent::CallAccepted(CallDevice { call_id: s.call_id, user_id: ctx.actor, device_id: device })]),
        _ => {}
    }
    if busy {
        return Err(conflict("busy", "you are in another call"));
    }
    if s.count(Part::Ringing) + s.count(Part::Joined) >= MAX_PARTICIPANTS {
        return Err(conflict("call_full", "the call is full"));
    }
    Ok(vec![CallEvent::CallJoined(CallDevice { call_id: s.call_id, user_id: ctx.actor, device_id: device })])
}

/// The users whose part in the call `events` ended (their busy mark goes).
pub fn released(state: Option<&CallState>, events: &[CallEvent]) -> Vec<Uuid> {
    let mut out = Vec::new();
    for e in events {
        match e {
            CallEvent::CallDeclined(u) | CallEvent::CallLeft(u) => out.push(u.user_id),
            CallEvent::CallMissed(m) => out.extend(&m.user_ids),
            CallEvent::CallEnded(_) | CallEvent::CallCancelled(_) => {
                if let Some(s) = state {
                    out.extend(s.participants.iter().map(|p| p.user_id));
                }
            }
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{ctx, user};
    use serde_json::json;

    fn start(v: Value) -> StartRequest {
        serde_json::from_value(v).unwrap()
    }

    fn call(caller: Uuid, others: &[(Uuid, Part)], answered: bool) -> CallState {
        let now = ctx(caller).now;
        let mut participants = vec![Participant { user_id: caller, part: Part::Joined, ring_until: None }];
        participants.extend(others.iter().map(|(u, p)| Participant { user_id: *u, part: *p, ring_until: Some(now + time::Duration::seconds(30)) }));
        CallState {
            call_id: Uuid::now_v7(),
            conversation_id: "c".into(),
            media: Media::Audio,
            ring_timeout_secs: 30,
            caller_id: caller,
            group: others.len() > 1,
            ended: false,
            answered_at: answered.then_some(now),
            participants,
        }
    }

    #[test]
    fn a_direct_call_needs_a_friend_without_a_block_and_a_group_call_members_within_the_cap() {
        let (me, peer) = (user(), user());
        let req = start(json!({"conversation_id": "x", "media": "video", "device_id": "phone"}));
        let place = |friends, blocked| Place::Direct { peer, friends, blocked };
        assert_eq!(plan_start(&req, &place(true, false), &ctx(me)).unwrap().2, vec![peer]);
        assert_eq!(plan_start(&req, &place(false, false), &ctx(me)).unwrap_err().kind(), "not_friends");
        assert_eq!(plan_start(&req, &place(true, true), &ctx(me)).unwrap_err().kind(), "blocked");
        assert_eq!(plan_start(&start(json!({"conversation_id": "x", "media": "fax", "device_id": "p"})), &place(true, false), &ctx(me)).unwrap_err().field(), Some("media"));
        assert_eq!(plan_start(&start(json!({"conversation_id": "x", "media": "audio"})), &place(true, false), &ctx(me)).unwrap_err().field(), Some("device_id"));
        let members: Vec<Uuid> = std::iter::once(me).chain((0..9).map(|_| user())).collect();
        let group = Place::Group { members: members.clone() };
        assert_eq!(plan_start(&req, &group, &ctx(me)).unwrap_err().field(), Some("user_ids"), "nine others by default: over the cap");
        let some = start(json!({"conversation_id": "x", "media": "audio", "device_id": "p", "user_ids": [members[1], members[2]]}));
        assert_eq!(plan_start(&some, &group, &ctx(me)).unwrap().2, vec![members[1], members[2]]);
        let stranger = start(json!({"conversation_id": "x", "media": "audio", "device_id": "p", "user_ids": [user()]}));
        assert_eq!(plan_start(&stranger, &group, &ctx(me)).unwrap_err().field(), Some("user_ids"));
        assert!(matches!(plan_start(&req, &Place::Group { members: vec![peer] }, &ctx(me)), Err(DomainError::NotFound(_))), "not a member");
    }

    #[test]
    fn busy_callers_and_busy_peers_are_refused_and_busy_invitees_skipped() {
        let (me, a, b) = (user(), user(), user());
        let start = |invitees: Vec<Uuid>, busy: &[Uuid], group| decide_start("c".into(), Media::Audio, "d".into(), invitees, &busy.iter().copied().collect(), group, 30, &ctx(me));
        assert_eq!(start(vec![a], &[me], false).unwrap_err().kind(), "busy");
        assert_eq!(start(vec![a], &[a], false).unwrap_err().kind(), "busy");
        let CallEvent::CallStarted(s) = start(vec![a, b], &[a], true).unwrap() else { panic!() };
        assert_eq!(s.invitees, vec![b]);
        assert_eq!(start(vec![a, b], &[a, b], true).unwrap_err().kind(), "busy");
    }

    #[test]
    fn accept_binds_once_and_decline_cancel_hangup_end_a_direct_call() {
        let (me, peer) = (user(), user());
        let ringing = call(me, &[(peer, Part::Ringing)], false);
        assert!(matches!(decide_accept(Some(&ringing), "tab".into(), &ctx(peer)).unwrap()[0], CallEvent::CallAccepted(_)));
        let active = call(me, &[(peer, Part::Joined)], true);
        assert_eq!(decide_accept(Some(&active), "tab".into(), &ctx(peer)).unwrap_err().kind(), "already_answered");
        assert!(matches!(decide_accept(Some(&ringing), "x".into(), &ctx(user())), Err(DomainError::NotFound(_))));
        let declined = decide_decline(Some(&ringing), &ctx(peer)).unwrap();
        assert!(matches!(&declined[1], CallEvent::CallEnded(e) if e.result == CallResult::Declined));
        let cancelled = decide_cancel(Some(&ringing), &ctx(me)).unwrap();
        assert!(matches!(&cancelled[1], CallEvent::CallEnded(e) if e.result == CallResult::Cancelled));
        assert_eq!(decide_cancel(Some(&active), &ctx(me)).unwrap_err().kind(), "not_allowed");
        assert_eq!(decide_cancel(Some(&ringing), &ctx(peer)).unwrap_err().kind(), "not_allowed");
        let hung = decide_hangup(Some(&active), &ctx(peer)).unwrap();
        assert!(matches!(&hung[1], CallEvent::CallEnded(e) if e.result == CallResult::Completed));
        assert!(matches!(&decide_hangup(Some(&ringing), &ctx(me)).unwrap()[0], CallEvent::CallCancelled(_)), "the caller hanging up before an answer cancels");
    }

    #[test]
    fn the_ring_times_out_once_and_an_unanswered_call_ends_missed() {
        let (me, a, b) = (user(), user(), user());
        let mut s = call(me, &[(a, Part::Ringing), (b, Part::Ringing)], false);
        let before = ctx(me);
        assert!(decide_timeout(&s, &before).is_empty(), "the ring has not ended");
        let later = Ctx::new(me, before.now + time::Duration::seconds(31), Uuid::now_v7);
        let events = decide_timeout(&s, &later);
        assert!(matches!(&events[0], CallEvent::CallMissed(m) if m.user_ids == vec![a, b]));
        assert!(matches!(&events[1], CallEvent::CallEnded(e) if e.result == CallResult::Missed));
        s.ended = true;
        assert!(decide_timeout(&s, &later).is_empty(), "an ended call is not missed again");
        // Answered by a: b's ring ends, the call goes on.
        let going = call(me, &[(a, Part::Joined), (b, Part::Ringing)], true);
        let events = decide_timeout(&going, &later);
        assert_eq!(events.len(), 1, "{events:?}");
    }

    #[test]
    fn group_calls_go_on_while_two_are_in_and_invite_join_respect_the_cap() {
        let (me, a, b, c) = (user(), user(), user(), user());
        let s = call(me, &[(a, Part::Joined), (b, Part::Joined)], true);
        assert_eq!(decide_hangup(Some(&s), &ctx(a)).unwrap().len(), 1, "two are left");
        let two = call(me, &[(a, Part::Joined), (b, Part::Left)], true);
        assert_eq!(decide_hangup(Some(&two), &ctx(a)).unwrap().len(), 2, "one left: ended");
        let members = vec![me, a, b, c];
        let (events, busy) = decide_invite(Some(&s), vec![c], &members, &HashSet::new(), &ctx(me)).unwrap();
        assert!(matches!(&events[0], CallEvent::CallInvited(i) if i.user_ids == vec![c]) && busy.is_empty());
        let (events, busy) = decide_invite(Some(&s), vec![c], &members, &[c].into(), &ctx(me)).unwrap();
        assert!(events.is_empty() && busy == vec![c]);
        assert!(matches!(decide_join(Some(&s), true, false, "d".into(), &ctx(c)).unwrap()[0], CallEvent::CallJoined(_)));
        assert!(decide_join(Some(&s), false, false, "d".into(), &ctx(c)).is_err());
        assert_eq!(decide_join(Some(&s), true, true, "d".into(), &ctx(c)).unwrap_err().kind(), "busy");
        let full = call(me, &(0..7).map(|_| (user(), Part::Joined)).collect::<Vec<_>>(), true);
        assert_eq!(decide_join(Some(&full), true, false, "d".into(), &ctx(c)).unwrap_err().kind(), "call_full");
    }
}
