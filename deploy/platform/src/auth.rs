//! Access tokens: short-lived HS256 JWTs naming the user and the login
//! session. A token is accepted when its signature and expiry are good, its
//! lifetime (`exp - iat`) is no longer than the tier's access-token TTL, AND
//! its session is live: the sessions projector writes
//! `beaver:session:live:<session_id>` (the user id, expiring with the
//! session's refresh token) when a session starts and deletes it — writing
//! `beaver:session:revoked:<session_id>` — when it ends (logout,
//! refresh-token reuse). Every tier checks both keys in one round trip, so a
//! token naming a session that never existed is refused like an ended one.
//! If Redis cannot be asked within [`SESSION_CHECK_TIMEOUT`], authentication
//! fails closed (503).
//!
//! The signing secret comes from [`load_secret`]: a tier refuses to start
//! without one, or with [`DEV_JWT_SECRET`] (or any secret shorter than 32
//! bytes) unless `BEAVER_DEV_INSECURE=1` says this is a development stack.

use crate::http::ApiError;
use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header::AUTHORIZATION, request::Parts, HeaderMap},
};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
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

/// The secret in the source, for tests and throw-away development stacks
/// only: tiers refuse it unless `BEAVER_DEV_INSECURE=1`.
pub const DEV_JWT_SECRET: &str = "beaver-dev-secret-change-me";

/// Shortest secret a tier accepts without `BEAVER_DEV_INSECURE=1`.
pub const MIN_SECRET_BYTES: usize = 32;

/// Whether `BEAVER_DEV_INSECURE=1` allows a known or weak secret.
pub fn dev_insecure() -> bool {
    std::env::var("BEAVER_DEV_INSECURE").map(|v| v == "1" || v.eq_ignore_ascii_case("true")).unwrap_or(false)
}

/// The signing secret a tier runs with: the contents of `secret_file` when
/// given (`BEAVER_JWT_SECRET_FILE`; `deploy/up` writes one per installation),
/// else `secret` (`BEAVER_JWT_SECRET`). Refuses an empty secret, and the
/// source's development secret or a short one unless `insecure_ok`
/// (`BEAVER_DEV_INSECURE=1`), in which case it warns loudly.
pub fn load_secret(secret: &str, secret_file: &str, insecure_ok: bool) -> anyhow::Result<String> {
    use anyhow::Context;
    let secret = if secret_file.is_empty() {
        secret.to_owned()
    } else {
        std::fs::read_to_string(secret_file)
            .with_context(|| format!("Failed to read the JWT secret file {secret_file}"))?
            .trim()
            .to_owned()
    };
    if secret.is_empty() {
        anyhow::bail!("no JWT secret: set BEAVER_JWT_SECRET_FILE (deploy/up makes one) or BEAVER_JWT_SECRET");
    }
    let weak = secret == DEV_JWT_SECRET || secret.len() < MIN_SECRET_BYTES;
    if weak && !insecure_ok {
        anyhow::bail!(
            "refusing the development or a short (< {MIN_SECRET_BYTES} bytes) JWT secret: anyone with the source could sign tokens. \
             Use the per-installation secret (deploy/up) or set BEAVER_DEV_INSECURE=1 on a throw-away stack"
        );
    }
    if weak {
        let warning = "INSECURE: running with the development or a short JWT secret (BEAVER_DEV_INSECURE=1); anyone with the source can sign tokens";
        eprintln!("*** {warning} ***");
        tracing::warn!("{warning}");
    }
    Ok(secret)
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid or expired token")]
    Invalid,
    #[error("session has ended")]
    Revoked,
    #[error("no such session")]
    NoSession,
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

    /// Checks signature, expiry and lifetime only (no I/O): a token living
    /// longer than the access-token TTL, or issued in the future, is refused
    /// even with a good signature.
    pub fn decode(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
            .map(|d| d.claims)
            .map_err(|_| AuthError::Invalid)?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let leeway = self.inner.validation.leeway as i64;
        if claims.exp - claims.iat > self.inner.access_ttl.as_secs() as i64 || claims.iat > now + leeway {
            return Err(AuthError::Invalid);
        }
        Ok(claims)
    }

    /// Full check: signature, expiry, lifetime, and that the session is live
    /// (exists, belongs to the token's user, has not ended).
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.decode(token)?;
        let mut redis = self.redis.clone();
        let mut pipe = redis::pipe();
        pipe.exists(beaver_readmodel::keys::session_revoked(&claims.sid)).get(beaver_readmodel::keys::session_live(&claims.sid));
        let check = pipe.query_async::<(bool, Option<String>)>(&mut redis);
        let (revoked, live) = tokio::time::timeout(SESSION_CHECK_TIMEOUT, check).await.map_err(|_| timed_out())??;
        if revoked {
            return Err(AuthError::Revoked);
        }
        if live.as_deref() != Some(claims.sub.to_string().as_str()) {
            return Err(AuthError::NoSession);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_secret_and_the_source_secret_are_refused_without_the_development_flag() {
        assert!(load_secret("", "", false).is_err());
        assert!(load_secret("", "", true).is_err());
        assert!(load_secret(DEV_JWT_SECRET, "", false).is_err());
        assert!(load_secret("short", "", false).is_err());
        assert_eq!(load_secret(DEV_JWT_SECRET, "", true).unwrap(), DEV_JWT_SECRET);
        let strong = "x".repeat(MIN_SECRET_BYTES);
        assert_eq!(load_secret(&strong, "", false).unwrap(), strong);
    }

    #[test]
    fn a_secret_file_wins_over_the_variable() {
        let path = std::env::temp_dir().join(format!("beaver-secret-{}", Uuid::new_v4()));
        std::fs::write(&path, format!("{}\n", "s".repeat(40))).unwrap();
        assert_eq!(load_secret(DEV_JWT_SECRET, path.to_str().unwrap(), false).unwrap(), "s".repeat(40));
        std::fs::remove_file(&path).unwrap();
        assert!(load_secret("", "/nonexistent/beaver-secret", true).is_err());
    }
}
