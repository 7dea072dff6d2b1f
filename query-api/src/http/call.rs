//! `/api/call…` reads: one call, the history, and TURN credentials
//! (docs/services.md, "Calls"). A call the caller was not part of is 404.

use crate::AppState;
use axum::{extract::State, response::Response, routing::get, Router};
use base64::Engine;
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiPath, ApiQuery},
};
use beaver_readmodel::call as read;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/call/history", get(history))
        .route("/api/call/ice-servers", get(ice_servers))
        .route("/api/call/{call_id}", get(one))
}

async fn one(State(s): State<AppState>, user: AuthUser, ApiPath(raw): ApiPath<String>) -> Result<Response, ApiError> {
    let id = Uuid::try_parse(&raw).map_err(|_| ApiError::NotFound("call not found".into()))?;
    read::one(&s.pool, user.user_id, id).await?.map(ok).ok_or_else(|| ApiError::NotFound("call not found".into()))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    before: Option<String>,
    limit: Option<String>,
}

async fn history(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<PageQuery>) -> Result<Response, ApiError> {
    let before = match q.before.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(Uuid::try_parse(b).map_err(|_| ApiError::invalid("before", "before must be a call id"))?),
    };
    let limit = match q.limit.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        None => 20,
        Some(l) => l.parse::<u32>().ok().filter(|l| (1..=50).contains(l)).ok_or_else(|| ApiError::invalid("limit", "limit must be 1 to 50"))?,
    };
    Ok(ok(read::history(&s.pool, user.user_id, before, limit).await?))
}

#[derive(Debug, Serialize)]
struct IceServer {
    urls: Vec<String>,
    username: String,
    credential: String,
}

#[derive(Debug, Serialize)]
struct IceServers {
    ice_servers: Vec<IceServer>,
    ttl_secs: u64,
}

/// TURN REST credentials (coturn `use-auth-secret`): the username is
/// `<unix expiry>:<user id>`, the credential base64(HMAC-SHA1(secret, username)).
pub fn turn_credential(secret: &str, user: Uuid, expires_unix: i64) -> (String, String) {
    let username = format!("{expires_unix}:{user}");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(username.as_bytes());
    let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    (username, credential)
}

async fn ice_servers(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let turn = s.turn.as_ref().ok_or_else(|| ApiError::Unavailable(anyhow::anyhow!("no TURN server is configured (BEAVER_TURN_SECRET)")))?;
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + turn.ttl.as_secs() as i64;
    let (username, credential) = turn_credential(&turn.secret, user.user_id, expires);
    Ok(ok(IceServers { ice_servers: vec![IceServer { urls: turn.uris.clone(), username, credential }], ttl_secs: turn.ttl.as_secs() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_credential_is_the_hmac_of_expiry_and_user() {
        // RFC 2202 test case 2's key and message shape, checked against coturn's formula by hand:
        // base64(HMAC-SHA1("Jefe", "what do ya want for nothing?")) = "7/zfauXrL6LSdBbV8YTfnCWafHk=".
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()), "7/zfauXrL6LSdBbV8YTfnCWafHk=");
        let user = Uuid::nil();
        let (name, cred) = turn_credential("s3cret", user, 1_800_000_000);
        assert_eq!(name, format!("1800000000:{user}"));
        assert_ne!(cred, turn_credential("other", user, 1_800_000_000).1);
    }
}
