//! The relation aggregate: what is between two users — friend requests,
//! friendship, remarks, blocks. Keyed by the unordered pair, so every
//! command about two users is decided on one state.

use super::{Ctx, DomainError};
use beaver_events::relation::{BlockChanged, FriendRemarkSet, FriendRemoved, FriendRequestDecided, FriendRequestSent};
use beaver_events::RelationEvent;
use uuid::Uuid;

pub const MESSAGE_MAX: usize = 200;
pub const REMARK_MAX: usize = 32;

/// What a user asks about another (`them` in every variant but the decision,
/// whose request names the other user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelationCommand {
    SendRequest { to: Uuid, message: String },
    DecideRequest { request_id: Uuid, accept: bool },
    SetRemark { friend: Uuid, remark: String },
    Remove { friend: Uuid },
    Block { user: Uuid },
    Unblock { user: Uuid },
}

impl RelationCommand {
    /// The other user of the pair, when the command names them itself.
    pub fn other(&self) -> Option<Uuid> {
        match self {
            RelationCommand::SendRequest { to: u, .. }
            | RelationCommand::SetRemark { friend: u, .. }
            | RelationCommand::Remove { friend: u }
            | RelationCommand::Block { user: u }
            | RelationCommand::Unblock { user: u } => Some(*u),
            RelationCommand::DecideRequest { .. } => None,
        }
    }
}

/// The pair as the actor sees it, from the read models.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelationState {
    pub pair: PairView,
    /// For `SendRequest`: who the other user accepts friend requests from
    /// (their `privacy.friend_requests` setting), and whether the two have a
    /// friend in common.
    pub their_policy: beaver_events::user::FriendRequestPolicy,
    pub common_friend: bool,
    /// The request a `DecideRequest` names, if it exists.
    pub request: Option<RequestView>,
}

/// What is between the acting user ("me") and another ("them").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairView {
    pub friends: bool,
    pub i_blocked_them: bool,
    pub they_blocked_me: bool,
    /// My pending request to them.
    pub my_pending_request: Option<Uuid>,
    /// Their pending request to me that I can see.
    pub their_pending_request: Option<Uuid>,
}

/// A friend request as the read model has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestView {
    pub request_id: Uuid,
    pub from_user_id: Uuid,
    pub to_user_id: Uuid,
    pub pending: bool,
    pub hidden_from_recipient: bool,
}

/// Decides a relation command of `ctx.actor`. Removing, blocking and
/// unblocking are idempotent: nothing to do answers no events.
pub fn decide(state: &RelationState, command: RelationCommand, ctx: &Ctx) -> Result<Vec<RelationEvent>, DomainError> {
    let me = ctx.actor;
    let pair = &state.pair;
    Ok(match command {
        RelationCommand::SendRequest { to, message } => vec![send_request(me, to, state, &message, ctx)?],
        RelationCommand::DecideRequest { accept, .. } => vec![answer_request(me, state.request.as_ref(), accept)?],
        RelationCommand::SetRemark { friend, remark } => {
            if !pair.friends {
                return Err(DomainError::NotFound("not your friend".into()));
            }
            let remark = remark.trim();
            if remark.chars().count() > REMARK_MAX || remark.chars().any(char::is_control) {
                return Err(DomainError::Invalid("remark", format!("remark must be at most {REMARK_MAX} characters")));
            }
            vec![RelationEvent::FriendRemarkSet(FriendRemarkSet { user_id: me, friend_id: friend, remark: remark.to_owned() })]
        }
        RelationCommand::Remove { friend } => {
            pair.friends.then_some(RelationEvent::FriendRemoved(FriendRemoved { user_id: me, friend_id: friend })).into_iter().collect()
        }
        RelationCommand::Block { user } => {
            if me == user {
                return Err(DomainError::Invalid("user_id", "you cannot block yourself".into()));
            }
            let event = RelationEvent::UserBlocked(BlockChanged { user_id: me, blocked_user_id: user });
            (!pair.i_blocked_them).then_some(event).into_iter().collect()
        }
        RelationCommand::Unblock { user } => {
            let event = RelationEvent::UserUnblocked(BlockChanged { user_id: me, blocked_user_id: user });
            pair.i_blocked_them.then_some(event).into_iter().collect()
        }
    })
}

fn send_request(me: Uuid, them: Uuid, state: &RelationState, message: &str, ctx: &Ctx) -> Result<RelationEvent, DomainError> {
    let pair = &state.pair;
    if me == them {
        return Err(DomainError::Invalid("to_user_id", "you cannot send a friend request to yourself".into()));
    }
    let message = message.trim();
    if message.chars().count() > MESSAGE_MAX || message.chars().any(char::is_control) {
        return Err(DomainError::Invalid("message", format!("message must be at most {MESSAGE_MAX} characters of text")));
    }
    if pair.friends {
        return Err(DomainError::Conflict("already_friends", "you are already friends".into()));
    }
    if pair.i_blocked_them {
        return Err(DomainError::Conflict("user_blocked", "you blocked this user; unblock them first".into()));
    }
    if pair.my_pending_request.is_some() {
        return Err(DomainError::Conflict("request_pending", "your request to this user is still pending".into()));
    }
    // They asked first: asking back accepts their request.
    if let Some(theirs) = pair.their_pending_request {
        return Ok(RelationEvent::FriendRequestAccepted(FriendRequestDecided { request_id: theirs, from_user_id: them, to_user_id: me }));
    }
    use beaver_events::user::FriendRequestPolicy;
    let closed = match state.their_policy {
        FriendRequestPolicy::Everyone => false,
        FriendRequestPolicy::FriendsOfFriends => !state.common_friend,
        FriendRequestPolicy::Nobody => true,
    };
    if closed {
        return Err(DomainError::Forbidden("not_accepting_requests", "this user does not accept friend requests from you".into()));
    }
    Ok(RelationEvent::FriendRequestSent(FriendRequestSent {
        request_id: ctx.new_id(),
        from_user_id: me,
        to_user_id: them,
        message: message.to_owned(),
        // The sender must not learn of the block: the request looks sent.
        hidden_from_recipient: pair.they_blocked_me,
    }))
}

/// Only the recipient may decide; for anyone else the request does not exist.
fn answer_request(me: Uuid, request: Option<&RequestView>, accept: bool) -> Result<RelationEvent, DomainError> {
    let r = request
        .filter(|r| r.to_user_id == me && !r.hidden_from_recipient)
        .ok_or_else(|| DomainError::NotFound("no such friend request".into()))?;
    if !r.pending {
        return Err(DomainError::Conflict("request_not_pending", "this request was already decided".into()));
    }
    let decided = FriendRequestDecided { request_id: r.request_id, from_user_id: r.from_user_id, to_user_id: r.to_user_id };
    Ok(if accept { RelationEvent::FriendRequestAccepted(decided) } else { RelationEvent::FriendRequestRejected(decided) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{ctx, id, user};

    fn given(pair: PairView) -> RelationState {
        RelationState { pair, ..Default::default() }
    }

    fn strangers() -> RelationState {
        given(PairView::default())
    }

    #[test]
    fn a_user_closed_to_requests_refuses_them_unless_a_friend_in_common_is_enough() {
        use beaver_events::user::FriendRequestPolicy::*;
        let (me, them) = (user(), user());
        let closed = RelationState { their_policy: Nobody, common_friend: true, ..strangers() };
        assert_eq!(decide(&closed, send(them, "hi"), &ctx(me)).unwrap_err().kind(), "not_accepting_requests");
        let fof = RelationState { their_policy: FriendsOfFriends, ..strangers() };
        assert_eq!(decide(&fof, send(them, "hi"), &ctx(me)).unwrap_err().kind(), "not_accepting_requests");
        let mutual = RelationState { common_friend: true, ..fof };
        assert!(matches!(decide(&mutual, send(them, "hi"), &ctx(me)).unwrap()[..], [RelationEvent::FriendRequestSent(_)]));
        // Their own pending request is still answered by asking back.
        let asked = RelationState { pair: PairView { their_pending_request: Some(Uuid::now_v7()), ..Default::default() }, ..closed };
        assert!(matches!(decide(&asked, send(them, "hi"), &ctx(me)).unwrap()[..], [RelationEvent::FriendRequestAccepted(_)]));
    }

    fn friends() -> RelationState {
        given(PairView { friends: true, ..Default::default() })
    }

    fn send(to: Uuid, message: &str) -> RelationCommand {
        RelationCommand::SendRequest { to, message: message.into() }
    }

    #[test]
    fn given_strangers_when_one_asks_then_a_pending_request_is_sent() {
        let (me, them) = (user(), user());
        let events = decide(&strangers(), send(them, " hi "), &ctx(me)).unwrap();
        assert_eq!(
            events,
            vec![RelationEvent::FriendRequestSent(FriendRequestSent { request_id: id(1), from_user_id: me, to_user_id: them, message: "hi".into(), hidden_from_recipient: false })]
        );
    }

    #[test]
    fn given_they_asked_first_when_i_ask_then_their_request_is_accepted() {
        let (me, them, theirs) = (user(), user(), user());
        let state = given(PairView { their_pending_request: Some(theirs), ..Default::default() });
        let events = decide(&state, send(them, ""), &ctx(me)).unwrap();
        assert_eq!(events, vec![RelationEvent::FriendRequestAccepted(FriendRequestDecided { request_id: theirs, from_user_id: them, to_user_id: me })]);
    }

    #[test]
    fn given_they_blocked_me_when_i_ask_then_the_request_is_hidden_from_them_but_looks_sent() {
        let state = given(PairView { they_blocked_me: true, ..Default::default() });
        let events = decide(&state, send(user(), ""), &ctx(user())).unwrap();
        assert!(matches!(&events[..], [RelationEvent::FriendRequestSent(s)] if s.hidden_from_recipient));
    }

    #[test]
    fn requests_that_break_a_rule_are_refused() {
        let (me, them) = (user(), user());
        assert_eq!(decide(&strangers(), send(me, ""), &ctx(me)).unwrap_err().kind(), "to_user_id");
        let cases = [
            (PairView { friends: true, ..Default::default() }, "already_friends"),
            (PairView { i_blocked_them: true, ..Default::default() }, "user_blocked"),
            (PairView { my_pending_request: Some(user()), ..Default::default() }, "request_pending"),
        ];
        for (pair, expected) in cases {
            assert_eq!(decide(&given(pair), send(them, ""), &ctx(me)).unwrap_err().kind(), expected);
        }
        assert_eq!(decide(&strangers(), send(them, &"x".repeat(201)), &ctx(me)).unwrap_err().kind(), "message");
    }

    fn with_request(from: Uuid, to: Uuid) -> RelationState {
        let request = RequestView { request_id: user(), from_user_id: from, to_user_id: to, pending: true, hidden_from_recipient: false };
        RelationState { request: Some(request), ..Default::default() }
    }

    fn answer(accept: bool) -> RelationCommand {
        RelationCommand::DecideRequest { request_id: user(), accept }
    }

    #[test]
    fn only_the_recipient_decides_a_request() {
        let (me, them, stranger) = (user(), user(), user());
        let state = with_request(them, me);
        assert!(matches!(&decide(&state, answer(true), &ctx(me)).unwrap()[..], [RelationEvent::FriendRequestAccepted(_)]));
        assert!(matches!(&decide(&state, answer(false), &ctx(me)).unwrap()[..], [RelationEvent::FriendRequestRejected(_)]));
        assert_eq!(decide(&state, answer(true), &ctx(them)).unwrap_err().kind(), "not_found");
        assert_eq!(decide(&state, answer(true), &ctx(stranger)).unwrap_err().kind(), "not_found");
        assert_eq!(decide(&strangers(), answer(true), &ctx(me)).unwrap_err().kind(), "not_found");
    }

    #[test]
    fn hidden_and_decided_requests_cannot_be_decided() {
        let (me, them) = (user(), user());
        let mut hidden = with_request(them, me);
        hidden.request.as_mut().unwrap().hidden_from_recipient = true;
        assert_eq!(decide(&hidden, answer(true), &ctx(me)).unwrap_err().kind(), "not_found");
        let mut done = with_request(them, me);
        done.request.as_mut().unwrap().pending = false;
        assert_eq!(decide(&done, answer(true), &ctx(me)).unwrap_err().kind(), "request_not_pending");
    }

    #[test]
    fn remarks_need_a_friendship_and_a_short_text() {
        let (me, them) = (user(), user());
        let remark = |r: &str| RelationCommand::SetRemark { friend: them, remark: r.into() };
        let events = decide(&friends(), remark(" Bob from work "), &ctx(me)).unwrap();
        assert_eq!(events, vec![RelationEvent::FriendRemarkSet(FriendRemarkSet { user_id: me, friend_id: them, remark: "Bob from work".into() })]);
        assert_eq!(decide(&strangers(), remark("x"), &ctx(me)).unwrap_err().kind(), "not_found");
        assert_eq!(decide(&friends(), remark(&"x".repeat(33)), &ctx(me)).unwrap_err().kind(), "remark");
    }

    #[test]
    fn removing_blocking_and_unblocking_are_idempotent() {
        let (me, them) = (user(), user());
        let blocked = given(PairView { i_blocked_them: true, ..Default::default() });
        let count = |state: &RelationState, command| decide(state, command, &ctx(me)).unwrap().len();
        assert_eq!(count(&strangers(), RelationCommand::Remove { friend: them }), 0);
        assert_eq!(count(&friends(), RelationCommand::Remove { friend: them }), 1);
        assert_eq!(count(&strangers(), RelationCommand::Block { user: them }), 1);
        assert_eq!(count(&blocked, RelationCommand::Block { user: them }), 0);
        assert_eq!(decide(&strangers(), RelationCommand::Block { user: me }, &ctx(me)).unwrap_err().kind(), "user_id");
        assert_eq!(count(&strangers(), RelationCommand::Unblock { user: them }), 0);
        assert_eq!(count(&blocked, RelationCommand::Unblock { user: them }), 1);
    }
}
