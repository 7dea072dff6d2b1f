//! `POST /api/user/login`, `/api/auth/token`, `/api/auth/refresh`, `/api/auth/verify`, `/api/auth/logout`.
//!
//! `/api/auth/token` is the OAuth 2 style token endpoint (RFC 6749 §4.3, §6):
//! its password grant is login and its refresh grant is refresh — the same
//! functions, so rate limits, the timing equaliser and the rotation rules are
//! one code path.

use crate::{
    claims::{self, ClaimError, ClaimKind},
    domain::{
        accounts::normalize_username,
        sessions::{self, decide_refresh, RefreshDecision, SessionState},
    },
    passwords, written, AppState,
};
use axum::{
    body::Bytes,
    extract::{FromRequest, Request, State},
    http::{header::CONTENT_TYPE, HeaderMap},
    response::Response,
    routing::post,
    Extension, Router,
};
use beaver_events::{
    session::{SessionEndReason, SessionEnded, SessionRefreshed, SessionStarted},
    topics, Actor, Envelope, SessionEvent,
};
use beaver_platform::{
    auth::{bearer, AuthUser},
    http::{ApiError, ApiForm, ApiJson, CorrelationId},
};
use beaver_readmodel::{
    keys,
    progress::SESSIONS_PROJECTOR,
    session,
    user::{self as users, LoginName},
};
use rand::RngCore;
use redis::AsyncCommands;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use time::{Duration as TimeDuration, OffsetDateTime};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/user/login", post(login))
        .route("/api/auth/token", post(token))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/verify", post(verify))
        .route("/api/auth/logout", post(logout))
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    /// A username, or the account's e-mail address.
    username: String,
    password: String,
}

fn new_refresh_token(session_id: Uuid) -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    sessions::format_refresh_token(session_id, &secret)
}

/// The token pair a successful login or refresh answers with.
fn token_response(s: &AppState, visible: bool, user_id: Uuid, session_id: Uuid, refresh_token: &str) -> Response {
    let (access_token, claims) = s.auth.issue(user_id, session_id);
    written(
        visible,
        json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": claims.exp - claims.iat,
            "refresh_token": refresh_token,
            "refresh_expires_in": s.config.refresh_token_ttl_secs,
            "user_id": user_id,
            "session_id": session_id,
        }),
    )
}

async fn login(
    State(s): State<AppState>,
    Extension(correlation): Extension<CorrelationId>,
    ApiJson(req): ApiJson<Login>,
) -> Result<Response, ApiError> {
    start_session(&s, correlation, req).await
}

/// The body of `POST /api/auth/token`, as JSON or form-encoded: the grant
/// named by `grant_type`, whose other fields are those of login or refresh.
#[derive(Debug, PartialEq)]
enum Grant {
    Password(Login),
    RefreshToken(Refresh),
}

impl Grant {
    fn from_fields(mut fields: Map<String, Value>) -> Result<Self, ApiError> {
        let grant_type = fields.remove("grant_type");
        let rest = Value::Object(fields);
        let unreadable = |e: serde_json::Error| ApiError::invalid("body", e.to_string());
        match grant_type.as_ref().and_then(Value::as_str) {
            Some("password") => serde_json::from_value(rest).map(Grant::Password).map_err(unreadable),
            Some("refresh_token") => serde_json::from_value(rest).map(Grant::RefreshToken).map_err(unreadable),
            _ => Err(ApiError::Unsupported {
                kind: "unsupported_grant_type",
                message: "grant_type must be \"password\" or \"refresh_token\"".into(),
            }),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Grant {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
        let fields = if form {
            let ApiForm(f) = ApiForm::<HashMap<String, String>>::from_request(req, state).await?;
            f.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
        } else {
            ApiJson::<Map<String, Value>>::from_request(req, state).await?.0
        };
        Grant::from_fields(fields)
    }
}

async fn token(
    State(s): State<AppState>,
    Extension(correlation): Extension<CorrelationId>,
    grant: Grant,
) -> Result<Response, ApiError> {
    match grant {
        Grant::Password(req) => start_session(&s, correlation, req).await,
        Grant::RefreshToken(req) => rotate(&s, correlation, req).await,
    }
}

/// Checks the password and starts a session. Unknown users and wrong
/// passwords get the same answer after the same work; repeated failures for
/// one login name are answered 429 for a while.
async fn start_session(s: &AppState, correlation: CorrelationId, req: Login) -> Result<Response, ApiError> {
    let login = req.username.trim().to_lowercase();
    if login.is_empty() || req.password.is_empty() {
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
        passwords::verify(req.password, stored).await?
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
    let event = SessionEvent::SessionStarted(SessionStarted {
        session_id,
        user_id,
        refresh_token_hash: sessions::token_hash(&refresh_token),
        refresh_expires_at: OffsetDateTime::now_utc() + TimeDuration::seconds(s.config.refresh_token_ttl_secs as i64),
    });
    let position = s.append(&Envelope::new(event, Actor::User(user_id), correlation.0, None)).await?;
    let visible = s.visible(SESSIONS_PROJECTOR, topics::SESSIONS, position).await?;
    tracing::info!(%user_id, %session_id, "session started");
    Ok(token_response(s, visible, user_id, session_id, &refresh_token))
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Refresh {
    refresh_token: String,
}

async fn load_session(pool: &sqlx::MySqlPool, session_id: Uuid) -> Result<Option<SessionState>, ApiError> {
    Ok(session::load(pool, session_id).await?.map(|r| SessionState {
        user_id: r.user_id,
        refresh_token_hash: r.refresh_token_hash,
        generation: r.generation.max(0) as u32,
        refresh_expires_at: r.refresh_expires_at.assume_utc(),
        active: r.status == "active",
    }))
}

async fn refresh(
    State(s): State<AppState>,
    Extension(correlation): Extension<CorrelationId>,
    ApiJson(req): ApiJson<Refresh>,
) -> Result<Response, ApiError> {
    rotate(&s, correlation, req).await
}

/// Rotates a refresh token. A token that was already spent ends the session.
async fn rotate(s: &AppState, correlation: CorrelationId, req: Refresh) -> Result<Response, ApiError> {
    let invalid = || ApiError::Unauthorized("invalid refresh token".into());
    let session_id = sessions::parse_refresh_token(req.refresh_token.trim()).ok_or_else(invalid)?;
    let presented = sessions::token_hash(req.refresh_token.trim());
    let state = load_session(&s.pool, session_id).await?;
    let spent_before = match &state {
        Some(st) if st.refresh_token_hash != presented => claims::exists(&s.pool, ClaimKind::RefreshToken, &presented).await?,
        _ => false,
    };
    let mut decision = decide_refresh(state.as_ref(), &presented, spent_before, OffsetDateTime::now_utc());
    let attempt = Uuid::now_v7();
    if let RefreshDecision::Rotate { .. } = decision {
        // Spend the token; of two concurrent refreshes with it, one loses here.
        let stale = std::time::Duration::from_secs(s.config.claim_stale_after_secs);
        match claims::claim(&s.pool, attempt, &[(ClaimKind::RefreshToken, &presented)], stale).await {
            Ok(()) => {}
            Err(ClaimError::Taken(_)) => decision = RefreshDecision::Reuse,
            Err(ClaimError::Database(e)) => return Err(e.into()),
        }
    }
    let state = state.ok_or_else(invalid)?;
    match decision {
        RefreshDecision::Reject(why) => Err(ApiError::Unauthorized(why.into())),
        RefreshDecision::Reuse => {
            let event = SessionEvent::SessionEnded(SessionEnded {
                session_id,
                user_id: state.user_id,
                reason: SessionEndReason::RefreshTokenReused,
            });
            let position = s.append(&Envelope::new(event, Actor::System, correlation.0, None)).await?;
            s.visible(SESSIONS_PROJECTOR, topics::SESSIONS, position).await?;
            tracing::warn!(%session_id, user_id = %state.user_id, "refresh token reused; session revoked");
            Err(ApiError::Unauthorized("refresh token was already used; the session has been revoked".into()))
        }
        RefreshDecision::Rotate { generation } => {
            let refresh_token = new_refresh_token(session_id);
            let event = SessionEvent::SessionRefreshed(SessionRefreshed {
                session_id,
                user_id: state.user_id,
                generation,
                spent_token_hash: presented,
                refresh_token_hash: sessions::token_hash(&refresh_token),
                refresh_expires_at: OffsetDateTime::now_utc() + TimeDuration::seconds(s.config.refresh_token_ttl_secs as i64),
            });
            let appended = s.append(&Envelope::new(event, Actor::User(state.user_id), correlation.0, None)).await;
            let position = claims::settle(&s.pool, attempt, appended).await?;
            let visible = s.visible(SESSIONS_PROJECTOR, topics::SESSIONS, position).await?;
            Ok(token_response(s, visible, state.user_id, session_id, &refresh_token))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verify {
    token: Option<String>,
}

/// Says whether an access token is valid now (signature, expiry, session
/// alive). The token comes from the body's `token`, else the bearer header.
async fn verify(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<Verify>(&body)
            .map_err(|e| ApiError::invalid("body", e.to_string()))?
            .token
    };
    let token = from_body
        .or_else(|| bearer(&headers).map(str::to_owned))
        .ok_or_else(|| ApiError::invalid("token", "give the token in the body or as a bearer header"))?;
    let claims = s.auth.verify(&token).await?;
    Ok(beaver_platform::http::ok(json!({
        "valid": true,
        "user_id": claims.sub,
        "session_id": claims.sid,
        "expires_at": claims.exp,
    })))
}

/// Ends the caller's session: its access and refresh tokens stop working.
async fn logout(
    State(s): State<AppState>,
    Extension(correlation): Extension<CorrelationId>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    let event = SessionEvent::SessionEnded(SessionEnded {
        session_id: user.session_id,
        user_id: user.user_id,
        reason: SessionEndReason::Logout,
    });
    let position = s.append(&Envelope::new(event, Actor::User(user.user_id), correlation.0, None)).await?;
    let visible = s.visible(SESSIONS_PROJECTOR, topics::SESSIONS, position).await?;
    Ok(written(visible, json!({ "session_id": user.session_id, "logged_out": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(v: Value) -> Result<Grant, ApiError> {
        Grant::from_fields(v.as_object().unwrap().clone())
    }

    #[test]
    fn the_password_grant_carries_the_login_fields() {
        let g = grant(json!({ "grant_type": "password", "username": "ada", "password": "pw" })).unwrap();
        assert_eq!(g, Grant::Password(Login { username: "ada".into(), password: "pw".into() }));
    }

    #[test]
    fn the_refresh_grant_carries_the_refresh_token() {
        let g = grant(json!({ "grant_type": "refresh_token", "refresh_token": "t" })).unwrap();
        assert_eq!(g, Grant::RefreshToken(Refresh { refresh_token: "t".into() }));
    }

    #[test]
    fn an_unknown_or_missing_grant_type_is_unsupported() {
        for body in [json!({ "grant_type": "client_credentials" }), json!({ "username": "ada", "password": "pw" }), json!({ "grant_type": 1 })] {
            assert!(matches!(grant(body), Err(ApiError::Unsupported { kind: "unsupported_grant_type", .. })));
        }
    }

    #[test]
    fn a_grant_with_missing_or_foreign_fields_is_invalid() {
        for body in [
            json!({ "grant_type": "password", "username": "ada" }),
            json!({ "grant_type": "refresh_token", "refresh_token": "t", "password": "pw" }),
        ] {
            assert!(matches!(grant(body), Err(ApiError::Invalid { .. })));
        }
    }
}
