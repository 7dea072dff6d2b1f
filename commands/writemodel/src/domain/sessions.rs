//! Session rules: refresh-token format and rotation.
//!
//! A refresh token is `<session id, 32 hex>.<43 chars of base64url secret>`;
//! only its SHA-256 is ever stored or put in an event. Each refresh spends the
//! presented token and issues a new one. Presenting a token that was already
//! spent means two parties hold it — one of them a thief — so the whole
//! session ends (RFC 6819 §5.2.2.3, OAuth 2.0 Security BCP §4.14).

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
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
pub struct SessionState {
    pub user_id: Uuid,
    pub refresh_token_hash: String,
    pub generation: u32,
    pub refresh_expires_at: OffsetDateTime,
    pub active: bool,
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Spend it and issue generation `generation`.
    Rotate { generation: u32 },
    /// It was spent before: end the session.
    Reuse,
    /// Refuse without side effects, saying why.
    Reject(&'static str),
}

/// Decides a refresh. `spent_before` tells whether this token's hash was
/// already spent by an earlier refresh of any session.
pub fn decide_refresh(state: Option<&SessionState>, presented_hash: &str, spent_before: bool, now: OffsetDateTime) -> RefreshDecision {
    let Some(s) = state else {
        return RefreshDecision::Reject("unknown refresh token");
    };
    if !s.active {
        return RefreshDecision::Reject("session has ended");
    }
    if presented_hash != s.refresh_token_hash {
        return if spent_before { RefreshDecision::Reuse } else { RefreshDecision::Reject("unknown refresh token") };
    }
    if now >= s.refresh_expires_at {
        return RefreshDecision::Reject("refresh token has expired");
    }
    RefreshDecision::Rotate { generation: s.generation + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn session(hash: &str) -> SessionState {
        SessionState {
            user_id: Uuid::now_v7(),
            refresh_token_hash: hash.into(),
            generation: 2,
            refresh_expires_at: OffsetDateTime::now_utc() + Duration::days(1),
            active: true,
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
    fn the_current_token_rotates_to_the_next_generation() {
        let s = session("h");
        assert_eq!(decide_refresh(Some(&s), "h", false, OffsetDateTime::now_utc()), RefreshDecision::Rotate { generation: 3 });
    }

    #[test]
    fn a_spent_token_presented_again_ends_the_session() {
        let s = session("current");
        assert_eq!(decide_refresh(Some(&s), "old", true, OffsetDateTime::now_utc()), RefreshDecision::Reuse);
    }

    #[test]
    fn an_unknown_token_is_refused_without_ending_the_session() {
        let s = session("current");
        assert!(matches!(decide_refresh(Some(&s), "forged", false, OffsetDateTime::now_utc()), RefreshDecision::Reject(_)));
        assert!(matches!(decide_refresh(None, "x", false, OffsetDateTime::now_utc()), RefreshDecision::Reject(_)));
    }

    #[test]
    fn expired_and_ended_sessions_refuse_even_the_current_token() {
        let mut s = session("h");
        s.refresh_expires_at = OffsetDateTime::now_utc() - Duration::seconds(1);
        assert_eq!(decide_refresh(Some(&s), "h", false, OffsetDateTime::now_utc()), RefreshDecision::Reject("refresh token has expired"));
        let mut s = session("h");
        s.active = false;
        assert_eq!(decide_refresh(Some(&s), "h", false, OffsetDateTime::now_utc()), RefreshDecision::Reject("session has ended"));
    }
}
