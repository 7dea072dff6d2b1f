//! The session aggregate: a login's session, its refresh-token format and rotation.
//!
//! A refresh token is `<session id, 32 hex>.<43 chars of base64url secret>`;
//! only its SHA-256 is ever stored or put in an event. Each refresh spends the
//! presented token and issues a new one. Presenting a token that was already
//! spent means two parties hold it — one of them a thief — so the whole
//! session ends (RFC 6819 §5.2.2.3, OAuth 2.0 Security BCP §4.14).

use super::{Ctx, DomainError};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use beaver_events::{
    session::{SessionEndReason, SessionEnded, SessionRefreshed, SessionStarted},
    SessionEvent,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Formats a refresh token from its session and 32 random bytes.
pub fn format_refresh_token(session_id: Uuid, secret: &[u8; 32]) -> String {
    format!("{}.{}", session_id.simple(), URL_SAFE_NO_PAD.encode(secret))
}

/// The session a refresh token claims to belong to, if it is well formed.
pub fn parse_refresh_token(token: &str) -> Option<Uuid> {
    let (sid, secret) = token.split_once('.')?;
    if sid.len() != 32 || secret.len() != 43 || URL_SAFE_NO_PAD.decode(secret).ok()?.len() != 32 {
        return None;
    }
    Uuid::try_parse(sid).ok()
}

/// Hex SHA-256: what is stored and compared instead of the token.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A session as the read model has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub user_id: Uuid,
    pub refresh_token_hash: String,
    pub generation: u32,
    pub refresh_expires_at: OffsetDateTime,
    pub active: bool,
}

/// What a session command decides on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    /// `None`: no such session.
    pub session: Option<SessionView>,
    /// The presented refresh token was already spent (by an earlier refresh,
    /// or by a concurrent one that won the claim).
    pub presented_spent: bool,
}

/// What a client asks of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    /// A login whose password was checked: start `session_id` for `user_id`
    /// with a refresh token hashing to `refresh_token_hash`.
    Start { session_id: Uuid, user_id: Uuid, refresh_token_hash: String, refresh_ttl: Duration },
    /// Spend the presented refresh token for a new one.
    Refresh { session_id: Uuid, presented_hash: String, new_token_hash: String, refresh_ttl: Duration },
    /// The caller logs out of `session_id`.
    End { session_id: Uuid },
}

/// Decides a session command. A refresh either rotates the token
/// (`SessionRefreshed`), or — for a token spent before, which means two
/// parties hold it — ends the session (`SessionEnded`, reason
/// `refresh_token_reused`; the app answers 401 after appending it), or is
/// refused without side effects ([`DomainError::Unauthorized`]).
pub fn decide(state: &SessionState, command: SessionCommand, ctx: &Ctx) -> Result<Vec<SessionEvent>, DomainError> {
    let refused = |why: &str| DomainError::Unauthorized(why.to_owned());
    Ok(vec![match command {
        SessionCommand::Start { session_id, user_id, refresh_token_hash, refresh_ttl } => {
            SessionEvent::SessionStarted(SessionStarted { session_id, user_id, refresh_token_hash, refresh_expires_at: ctx.now + refresh_ttl })
        }
        SessionCommand::Refresh { session_id, presented_hash, new_token_hash, refresh_ttl } => {
            let s = state.session.as_ref().ok_or_else(|| refused("unknown refresh token"))?;
            if !s.active {
                return Err(refused("session has ended"));
            }
            if state.presented_spent {
                let reused = SessionEnded { session_id, user_id: s.user_id, reason: SessionEndReason::RefreshTokenReused };
                return Ok(vec![SessionEvent::SessionEnded(reused)]);
            }
            if presented_hash != s.refresh_token_hash {
                return Err(refused("unknown refresh token"));
            }
            if ctx.now >= s.refresh_expires_at {
                return Err(refused("refresh token has expired"));
            }
            SessionEvent::SessionRefreshed(SessionRefreshed {
                session_id,
                user_id: s.user_id,
                generation: s.generation + 1,
                spent_token_hash: presented_hash,
                refresh_token_hash: new_token_hash,
                refresh_expires_at: ctx.now + refresh_ttl,
            })
        }
        SessionCommand::End { session_id } => SessionEvent::SessionEnded(SessionEnded { session_id, user_id: ctx.actor, reason: SessionEndReason::Logout }),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{ctx, user};

    fn session(hash: &str) -> SessionState {
        let now = ctx(user()).now;
        let view = SessionView { user_id: user(), refresh_token_hash: hash.into(), generation: 2, refresh_expires_at: now + Duration::days(1), active: true };
        SessionState { session: Some(view), presented_spent: false }
    }

    fn refresh(presented: &str) -> SessionCommand {
        SessionCommand::Refresh { session_id: user(), presented_hash: presented.into(), new_token_hash: "next".into(), refresh_ttl: Duration::days(30) }
    }

    fn refused(state: &SessionState, presented: &str) -> String {
        match decide(state, refresh(presented), &ctx(user())) {
            Err(DomainError::Unauthorized(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_token_round_trips_to_its_session() {
        let sid = Uuid::now_v7();
        let token = format_refresh_token(sid, &[7; 32]);
        assert_eq!(parse_refresh_token(&token), Some(sid));
        assert_eq!(token_hash(&token).len(), 64);
        assert_ne!(token_hash(&token), token_hash(&format_refresh_token(sid, &[8; 32])));
    }

    #[test]
    fn malformed_tokens_name_no_session() {
        for bad in ["", "x.y", "0190a1b2c3d4e5f60718293a4b5c6d7e", "0190a1b2c3d4e5f60718293a4b5c6d7e.short"] {
            assert_eq!(parse_refresh_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn given_the_current_token_when_refreshed_then_it_rotates_to_the_next_generation() {
        let c = ctx(user());
        let state = session("h");
        let events = decide(&state, refresh("h"), &c).unwrap();
        let [SessionEvent::SessionRefreshed(r)] = &events[..] else { panic!("{events:?}") };
        assert_eq!((r.generation, r.spent_token_hash.as_str(), r.refresh_token_hash.as_str()), (3, "h", "next"));
        assert_eq!(r.refresh_expires_at, c.now + Duration::days(30));
    }

    #[test]
    fn a_spent_token_presented_again_ends_the_session() {
        for presented in ["old", "current"] {
            let state = SessionState { presented_spent: true, ..session("current") };
            let events = decide(&state, refresh(presented), &ctx(user())).unwrap();
            assert!(matches!(&events[..], [SessionEvent::SessionEnded(e)] if e.reason == SessionEndReason::RefreshTokenReused), "{presented}");
        }
    }

    #[test]
    fn an_unknown_token_is_refused_without_ending_the_session() {
        assert_eq!(refused(&session("current"), "forged"), "unknown refresh token");
        assert_eq!(refused(&SessionState::default(), "x"), "unknown refresh token");
    }

    #[test]
    fn expired_and_ended_sessions_refuse_even_the_current_token() {
        let mut expired = session("h");
        expired.session.as_mut().unwrap().refresh_expires_at = ctx(user()).now - Duration::seconds(1);
        assert_eq!(refused(&expired, "h"), "refresh token has expired");
        let mut ended = session("h");
        ended.session.as_mut().unwrap().active = false;
        assert_eq!(refused(&ended, "h"), "session has ended");
        let spent_on_an_ended_session = SessionState { presented_spent: true, ..ended };
        assert_eq!(refused(&spent_on_an_ended_session, "h"), "session has ended");
    }

    #[test]
    fn starting_and_ending_name_the_session_and_its_user() {
        let (me, sid) = (user(), user());
        let c = ctx(me);
        let start = SessionCommand::Start { session_id: sid, user_id: me, refresh_token_hash: "h".into(), refresh_ttl: Duration::hours(1) };
        let started = decide(&SessionState::default(), start, &c).unwrap();
        assert_eq!(started, vec![SessionEvent::SessionStarted(SessionStarted { session_id: sid, user_id: me, refresh_token_hash: "h".into(), refresh_expires_at: c.now + Duration::hours(1) })]);
        let ended = decide(&SessionState::default(), SessionCommand::End { session_id: sid }, &c).unwrap();
        assert_eq!(ended, vec![SessionEvent::SessionEnded(SessionEnded { session_id: sid, user_id: me, reason: SessionEndReason::Logout })]);
    }
}
