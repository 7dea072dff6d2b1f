//! Friend rules: requests, friendship, remarks, blocks.

use super::DomainError;
use beaver_events::relation::{BlockChanged, FriendRemarkSet, FriendRemoved, FriendRequestDecided, FriendRequestSent};
use beaver_events::RelationEvent;
use uuid::Uuid;

pub const MESSAGE_MAX: usize = 200;
pub const REMARK_MAX: usize = 32;

/// What is between the acting user ("me") and another ("them"), from the read models.
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

/// What sending a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Pending(Uuid),
    /// They had asked first: their request was accepted instead.
    Accepted(Uuid),
}

/// Decides a friend request from `me` to `them`.
pub fn decide_send_request(
    me: Uuid,
    them: Uuid,
    view: &PairView,
    request_id: Uuid,
    message: &str,
) -> Result<(RelationEvent, SendOutcome), DomainError> {
    if me == them {
        return Err(DomainError::Invalid("to_user_id", "you cannot send a friend request to yourself".into()));
    }
    let message = message.trim();
    if message.chars().count() > MESSAGE_MAX || message.chars().any(char::is_control) {
        return Err(DomainError::Invalid("message", format!("message must be at most {MESSAGE_MAX} characters of text")));
    }
    if view.friends {
        return Err(DomainError::Conflict("already_friends", "you are already friends".into()));
    }
    if view.i_blocked_them {
        return Err(DomainError::Conflict("user_blocked", "you blocked this user; unblock them first".into()));
    }
    if view.my_pending_request.is_some() {
        return Err(DomainError::Conflict("request_pending", "your request to this user is still pending".into()));
    }
    if let Some(theirs) = view.their_pending_request {
        let event = RelationEvent::FriendRequestAccepted(FriendRequestDecided { request_id: theirs, from_user_id: them, to_user_id: me });
        return Ok((event, SendOutcome::Accepted(theirs)));
    }
    let event = RelationEvent::FriendRequestSent(FriendRequestSent {
        request_id,
        from_user_id: me,
        to_user_id: them,
        message: message.to_owned(),
        // The sender must not learn of the block: the request looks sent.
        hidden_from_recipient: view.they_blocked_me,
    });
    Ok((event, SendOutcome::Pending(request_id)))
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

/// Decides an accept or reject by `me`. Only the recipient may decide; for
/// anyone else the request does not exist.
pub fn decide_request(me: Uuid, request: Option<&RequestView>, accept: bool) -> Result<RelationEvent, DomainError> {
    let r = request
        .filter(|r| r.to_user_id == me && !r.hidden_from_recipient)
        .ok_or_else(|| DomainError::NotFound("no such friend request".into()))?;
    if !r.pending {
        return Err(DomainError::Conflict("request_not_pending", "this request was already decided".into()));
    }
    let decided = FriendRequestDecided { request_id: r.request_id, from_user_id: r.from_user_id, to_user_id: r.to_user_id };
    Ok(if accept { RelationEvent::FriendRequestAccepted(decided) } else { RelationEvent::FriendRequestRejected(decided) })
}

/// Sets my remark for a friend.
pub fn decide_remark(me: Uuid, them: Uuid, view: &PairView, remark: &str) -> Result<RelationEvent, DomainError> {
    if !view.friends {
        return Err(DomainError::NotFound("not your friend".into()));
    }
    let remark = remark.trim();
    if remark.chars().count() > REMARK_MAX || remark.chars().any(char::is_control) {
        return Err(DomainError::Invalid("remark", format!("remark must be at most {REMARK_MAX} characters")));
    }
    Ok(RelationEvent::FriendRemarkSet(FriendRemarkSet { user_id: me, friend_id: them, remark: remark.to_owned() }))
}

/// Ends a friendship; nothing to do if there is none.
pub fn decide_remove(me: Uuid, them: Uuid, view: &PairView) -> Option<RelationEvent> {
    view.friends.then_some(RelationEvent::FriendRemoved(FriendRemoved { user_id: me, friend_id: them }))
}

/// Blocks `them`; nothing to do if already blocked.
pub fn decide_block(me: Uuid, them: Uuid, view: &PairView) -> Result<Option<RelationEvent>, DomainError> {
    if me == them {
        return Err(DomainError::Invalid("user_id", "you cannot block yourself".into()));
    }
    Ok((!view.i_blocked_them).then_some(RelationEvent::UserBlocked(BlockChanged { user_id: me, blocked_user_id: them })))
}

/// Unblocks `them`; nothing to do if not blocked.
pub fn decide_unblock(me: Uuid, them: Uuid, view: &PairView) -> Option<RelationEvent> {
    view.i_blocked_them.then_some(RelationEvent::UserUnblocked(BlockChanged { user_id: me, blocked_user_id: them }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (Uuid, Uuid, Uuid) {
        (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7())
    }

    fn kind(e: DomainError) -> &'static str {
        match e {
            DomainError::Invalid(f, _) => f,
            DomainError::Conflict(k, _) => k,
            DomainError::NotFound(_) => "not_found",
            DomainError::Forbidden(k, _) => k,
        }
    }

    #[test]
    fn given_strangers_when_one_asks_then_a_pending_request_is_sent() {
        let (me, them, rid) = ids();
        let (event, outcome) = decide_send_request(me, them, &PairView::default(), rid, " hi ").unwrap();
        assert_eq!(outcome, SendOutcome::Pending(rid));
        assert_eq!(
            event,
            RelationEvent::FriendRequestSent(FriendRequestSent { request_id: rid, from_user_id: me, to_user_id: them, message: "hi".into(), hidden_from_recipient: false })
        );
    }

    #[test]
    fn given_they_asked_first_when_i_ask_then_their_request_is_accepted() {
        let (me, them, rid) = ids();
        let theirs = Uuid::now_v7();
        let view = PairView { their_pending_request: Some(theirs), ..Default::default() };
        let (event, outcome) = decide_send_request(me, them, &view, rid, "").unwrap();
        assert_eq!(outcome, SendOutcome::Accepted(theirs));
        assert!(matches!(event, RelationEvent::FriendRequestAccepted(d) if d.request_id == theirs && d.from_user_id == them && d.to_user_id == me));
    }

    #[test]
    fn given_they_blocked_me_when_i_ask_then_the_request_is_hidden_from_them_but_looks_sent() {
        let (me, them, rid) = ids();
        let view = PairView { they_blocked_me: true, ..Default::default() };
        let (event, outcome) = decide_send_request(me, them, &view, rid, "").unwrap();
        assert_eq!(outcome, SendOutcome::Pending(rid));
        assert!(matches!(event, RelationEvent::FriendRequestSent(s) if s.hidden_from_recipient));
    }

    #[test]
    fn requests_that_break_a_rule_are_refused() {
        let (me, them, rid) = ids();
        assert_eq!(kind(decide_send_request(me, me, &PairView::default(), rid, "").unwrap_err()), "to_user_id");
        let cases = [
            (PairView { friends: true, ..Default::default() }, "already_friends"),
            (PairView { i_blocked_them: true, ..Default::default() }, "user_blocked"),
            (PairView { my_pending_request: Some(rid), ..Default::default() }, "request_pending"),
        ];
        for (view, expected) in cases {
            assert_eq!(kind(decide_send_request(me, them, &view, rid, "").unwrap_err()), expected);
        }
        assert_eq!(kind(decide_send_request(me, them, &PairView::default(), rid, &"x".repeat(201)).unwrap_err()), "message");
    }

    fn request(from: Uuid, to: Uuid) -> RequestView {
        RequestView { request_id: Uuid::now_v7(), from_user_id: from, to_user_id: to, pending: true, hidden_from_recipient: false }
    }

    #[test]
    fn only_the_recipient_decides_a_request() {
        let (me, them, stranger) = ids();
        let r = request(them, me);
        assert!(matches!(decide_request(me, Some(&r), true).unwrap(), RelationEvent::FriendRequestAccepted(_)));
        assert!(matches!(decide_request(me, Some(&r), false).unwrap(), RelationEvent::FriendRequestRejected(_)));
        assert_eq!(kind(decide_request(them, Some(&r), true).unwrap_err()), "not_found");
        assert_eq!(kind(decide_request(stranger, Some(&r), true).unwrap_err()), "not_found");
        assert_eq!(kind(decide_request(me, None, true).unwrap_err()), "not_found");
    }

    #[test]
    fn hidden_and_decided_requests_cannot_be_decided() {
        let (me, them, _) = ids();
        let hidden = RequestView { hidden_from_recipient: true, ..request(them, me) };
        assert_eq!(kind(decide_request(me, Some(&hidden), true).unwrap_err()), "not_found");
        let done = RequestView { pending: false, ..request(them, me) };
        assert_eq!(kind(decide_request(me, Some(&done), true).unwrap_err()), "request_not_pending");
    }

    #[test]
    fn remarks_need_a_friendship_and_a_short_text() {
        let (me, them, _) = ids();
        let friends = PairView { friends: true, ..Default::default() };
        assert!(decide_remark(me, them, &friends, "Bob from work").is_ok());
        assert_eq!(kind(decide_remark(me, them, &PairView::default(), "x").unwrap_err()), "not_found");
        assert_eq!(kind(decide_remark(me, them, &friends, &"x".repeat(33)).unwrap_err()), "remark");
    }

    #[test]
    fn removing_blocking_and_unblocking_are_idempotent() {
        let (me, them, _) = ids();
        assert!(decide_remove(me, them, &PairView::default()).is_none());
        assert!(decide_remove(me, them, &PairView { friends: true, ..Default::default() }).is_some());
        assert!(decide_block(me, them, &PairView::default()).unwrap().is_some());
        assert!(decide_block(me, them, &PairView { i_blocked_them: true, ..Default::default() }).unwrap().is_none());
        assert_eq!(kind(decide_block(me, me, &PairView::default()).unwrap_err()), "user_id");
        assert!(decide_unblock(me, them, &PairView::default()).is_none());
        assert!(decide_unblock(me, them, &PairView { i_blocked_them: true, ..Default::default() }).is_some());
    }
}
