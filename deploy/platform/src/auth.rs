//! Access tokens: short-lived HS256 JWTs naming the user and the login
//! session. A token is accepted when its signature and expiry are good AND its
//! session has not ended: the sessions projector writes
//! `beaver:session:revoked:<session_id>` into Redis when a session ends
//! (logout, refresh-token reuse), and every tier checks that key. If Redis
//! cannot be asked within [`SESSION_CHECK_TIMEOUT`], authentication fails
//! closed (503).

use crate::http::ApiError;
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header::AUTHORIZATION, request::Parts, HeaderMap},
};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};
use uuid::Uuid;

/// Longest a token check waits for Redis before the request is answered 503
/// (the connection's own response timeout is the first bound; this one holds
/// even while the connection manager reconnects).
pub const SESSION_CHECK_TIMEOUT: Duration = Duration::from_millis(1500);

fn timed_out() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::IoError, "session check timed out"))
}

/// What an access token says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: Uuid,
    /// The login session; revoking it revokes the token.
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
}

/// Redis key marking a session as ended. Set by the sessions projector.
pub fn revoked_session_key(session_id: &Uuid) -> String {
    format!("beaver:session:revoked:{session_id}")
}

/// Why a token was refused.
/// The development secret every tier defaults to; commands warns at start-up when it is in use.
pub const DEV_JWT_SECRET: &str = "beaver-dev-secret-change-me";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid or expired token")]
    Invalid,
    #[error("session has ended")]
    Revoked,
    #[error("cannot check the session")]
    Store(#[from] redis::RedisError),
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(e) => ApiError::Unavailable(e.into()),
            other => ApiError::Unauthorized(other.to_string()),
        }
    }
}

/// Signs and verifies access tokens. Cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Keys>,
    redis: redis::aio::ConnectionManager,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl: Duration,
}

impl Authenticator {
    pub fn new(secret: &str, access_ttl: Duration, redis: redis::aio::ConnectionManager) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Authenticator {
            inner: Arc::new(Keys {
                encoding: EncodingKey::from_secret(secret.as_bytes()),
                decoding: DecodingKey::from_secret(secret.as_bytes()),
                validation,
                access_ttl,
            }),
            redis,
        }
    }

    pub fn access_ttl(&self) -> Duration {
        self.inner.access_ttl
    }

    /// Issues an access token for a session.
    pub fn issue(&self, user_id: Uuid, session_id: Uuid) -> (String, Claims) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: user_id,
            sid: session_id,
            iat: now,
            exp: now + self.inner.access_ttl.as_secs() as i64,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.inner.encoding).expect("HS256 signing cannot fail");
        (token, claims)
    }

    /// Checks signature and expiry only (no I/O).
    pub fn decode(&self, token: &str) -> Result<Claims, AuthError> {
        decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
            .map(|d| d.claims)
            .map_err(|_| AuthError::Invalid)
    }

    /// Full check: signature, expiry, and that the session has not ended.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.decode(token)?;
        let mut redis = self.redis.clone();
        let check = redis.exists(revoked_session_key(&claims.sid));
        let revoked: bool = tokio::time::timeout(SESSION_CHECK_TIMEOUT, check).await.map_err(|_| timed_out())??;
        if revoked {
            return Err(AuthError::Revoked);
        }
        Ok(claims)
    }
}

/// The signed-in caller; extracting it authenticates the request.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub claims: Claims,
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

impl<S> FromRequestParts<S> for AuthUser
where
    Authenticator: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or(AuthError::Missing)?;
        let claims = Authenticator::from_ref(state).verify(token).await?;
        Ok(AuthUser {
            user_id: claims.sub,
            session_id: claims.sid,
            claims,
        })
    }
}
