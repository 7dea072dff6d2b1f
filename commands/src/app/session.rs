//! Session use cases: login (the password grant), refresh-token rotation
//! (the refresh grant), logout, and token verification.
//!
//! Login checks the password (unknown users and wrong passwords get the same
//! answer after the same work; repeated failures per login name are answered
//! 429 for a while) and starts a session. A refresh spends the presented
//! token through a claim, so of two concurrent refreshes with one token one
//! loses — and is decided again as a reuse, which ends the session.

use super::{Origin, Written};
use crate::{
    passwords,
    store::claims::{self, ClaimError, ClaimKind},
    AppState,
};
use beaver_events::{topics, Actor, Envelope, SessionEvent};
use beaver_platform::http::ApiError;
use beaver_readmodel::{
    keys,
    progress::SESSIONS_PROJECTOR,
    session as read,
    user::{self as users, LoginName},
};
use beaver_writemodel::domain::{
    session::{self, SessionCommand, SessionState, SessionView},
    user::normalize_username,
    Ctx,
};
use rand::RngCore;
use redis::AsyncCommands;
use serde::Serialize;
use time::Duration as TimeDuration;
use uuid::Uuid;

/// The token pair a login or refresh answers with (RFC 6749 §5.1 names).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// A JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: i64,
    pub refresh_token: String,
    /// Seconds.
    pub refresh_expires_in: u64,
    pub user_id: Uuid,
    pub session_id: Uuid,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = auth::Verified)]
pub struct Verified {
    /// Always true (an invalid token is answered 401).
    pub valid: bool,
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// Unix seconds.
    pub expires_at: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = auth::LoggedOut)]
pub struct LoggedOut {
    pub session_id: Uuid,
    pub logged_out: bool,
}

fn new_refresh_token(session_id: Uuid) -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    session::format_refresh_token(session_id, &secret)
}

fn token_pair(s: &AppState, user_id: Uuid, session_id: Uuid, refresh_token: String) -> TokenPair {
    let (access_token, claims) = s.auth.issue(user_id, session_id);
    TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: claims.exp - claims.iat,
        refresh_token,
        refresh_expires_in: s.config.refresh_token_ttl_secs,
        user_id,
        session_id,
    }
}

fn refresh_ttl(s: &AppState) -> TimeDuration {
    TimeDuration::seconds(s.config.refresh_token_ttl_secs as i64)
}

/// Checks the password of `login` (a username or an e-mail address) and
/// starts a session.
pub async fn login(s: &AppState, correlation: String, login: &str, password: String) -> Result<Written<TokenPair>, ApiError> {
    let login = login.trim().to_lowercase();
    if login.is_empty() || password.is_empty() {
        return Err(ApiError::invalid("username", "username and password are required"));
    }
    let mut redis = s.redis.clone();
    let key = keys::login_failures(&login);
    let failures: Option<u32> = redis.get(&key).await?;
    if failures.unwrap_or(0) >= s.config.login_max_failures {
        let ttl: i64 = redis.ttl(&key).await?;
        return Err(ApiError::TooManyRequests { retry_after_secs: ttl.max(1) as u64 });
    }
    let row = if login.contains('@') {
        users::credentials(&s.pool, LoginName::Email(&login)).await?
    } else if let Ok(username) = normalize_username(&login) {
        users::credentials(&s.pool, LoginName::Username(&username)).await?
    } else {
        None
    };
    let (user_id, stored) = match row {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    let ok = {
        let _permit = s.hashing.acquire().await.map_err(|e| ApiError::Internal(e.into()))?;
        passwords::verify(password, stored).await?
    };
    let Some(user_id) = user_id.filter(|_| ok) else {
        let _: () = redis::pipe()
            .incr(&key, 1)
            .expire(&key, s.config.login_failure_window_secs as i64)
            .query_async(&mut redis)
            .await?;
        return Err(ApiError::Unauthorized("invalid username or password".into()));
    };
    let _: () = redis.del(&key).await?;
    let session_id = Uuid::now_v7();
    let refresh_token = new_refresh_token(session_id);
    let command = SessionCommand::Start { session_id, user_id, refresh_token_hash: session::token_hash(&refresh_token), refresh_ttl: refresh_ttl(s) };
    let events = session::decide(&SessionState::default(), command, &Ctx::live(user_id))?;
    let origin = Origin { actor: user_id, session: session_id, correlation };
    let visible = s.append_all(events, &origin, SESSIONS_PROJECTOR).await?;
    tracing::info!(%user_id, %session_id, "session started");
    Ok(Written::new(visible, token_pair(s, user_id, session_id, refresh_token)))
}

async fn load_session(s: &AppState, session_id: Uuid) -> Result<Option<SessionView>, ApiError> {
    Ok(read::load(&s.pool, session_id).await?.map(|r| SessionView {
        user_id: r.user_id,
        refresh_token_hash: r.refresh_token_hash,
        generation: r.generation.max(0) as u32,
        refresh_expires_at: r.refresh_expires_at.assume_utc(),
        active: r.status == "active",
    }))
}

/// Rotates a refresh token. A token that was already spent ends the session.
pub async fn refresh(s: &AppState, correlation: String, refresh_token: &str) -> Result<Written<TokenPair>, ApiError> {
    let presented = refresh_token.trim();
    let session_id = session::parse_refresh_token(presented).ok_or_else(|| ApiError::Unauthorized("invalid refresh token".into()))?;
    let presented_hash = session::token_hash(presented);
    let view = load_session(s, session_id).await?;
    let spent_before = match &view {
        Some(v) if v.refresh_token_hash != presented_hash => claims::exists(&s.pool, ClaimKind::RefreshToken, &presented_hash).await?,
        _ => false,
    };
    let mut state = SessionState { session: view, presented_spent: spent_before };
    let new_token = new_refresh_token(session_id);
    let command = SessionCommand::Refresh { session_id, presented_hash: presented_hash.clone(), new_token_hash: session::token_hash(&new_token), refresh_ttl: refresh_ttl(s) };
    let ctx = Ctx::live(state.session.as_ref().map_or(Uuid::nil(), |v| v.user_id));
    let mut events = session::decide(&state, command.clone(), &ctx)?;
    let attempt = Uuid::now_v7();
    if let [SessionEvent::SessionRefreshed(_)] = &events[..] {
        // Spend the token; of two concurrent refreshes with it, one loses here.
        let stale = std::time::Duration::from_secs(s.config.claim_stale_after_secs);
        match claims::claim(&s.pool, attempt, &[(ClaimKind::RefreshToken, &presented_hash)], stale).await {
            Ok(()) => {}
            Err(ClaimError::Taken(_)) => {
                state.presented_spent = true;
                events = session::decide(&state, command, &ctx)?;
            }
            Err(ClaimError::Database(e)) => return Err(e.into()),
        }
    }
    let event = events.pop().expect("a refresh decides one event");
    match event {
        SessionEvent::SessionRefreshed(r) => {
            let user_id = r.user_id;
            let envelope = Envelope::new(SessionEvent::SessionRefreshed(r), Actor::User(user_id), correlation, None);
            let appended = s.append(&envelope).await;
            let position = claims::settle(&s.pool, attempt, appended).await?;
            let visible = s.visible(SESSIONS_PROJECTOR, topics::SESSIONS, position).await?;
            Ok(Written::new(visible, token_pair(s, user_id, session_id, new_token)))
        }
        ended => {
            // The token was spent before: someone else holds it. End the session.
            let position = s.append(&Envelope::new(ended, Actor::System, correlation, None)).await?;
            s.visible(SESSIONS_PROJECTOR, topics::SESSIONS, position).await?;
            tracing::warn!(%session_id, "refresh token reused; session revoked");
            Err(ApiError::Unauthorized("refresh token was already used; the session has been revoked".into()))
        }
    }
}

/// Says whether an access token is valid now (signature, expiry, session alive).
pub async fn verify(s: &AppState, token: &str) -> Result<Verified, ApiError> {
    let claims = s.auth.verify(token).await?;
    Ok(Verified { valid: true, user_id: claims.sub, session_id: claims.sid, expires_at: claims.exp })
}

/// Ends the caller's session: its access and refresh tokens stop working.
pub async fn logout(s: &AppState, origin: &Origin) -> Result<Written<LoggedOut>, ApiError> {
    let events = session::decide(&SessionState::default(), SessionCommand::End { session_id: origin.session }, &Ctx::live(origin.actor))?;
    let visible = s.append_all(events, origin, SESSIONS_PROJECTOR).await?;
    Ok(Written::new(visible, LoggedOut { session_id: origin.session, logged_out: true }))
}
