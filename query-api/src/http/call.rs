//! `/api/call…` reads: one call, the history, and TURN credentials
//! (docs/services.md, "Calls"). A call the caller was not part of is 404.

use crate::AppState;
use axum::{extract::State, response::Response};
use base64::Engine;
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiPath, ApiQuery},
    openapi::Envelope,
};
use beaver_readmodel::call as read;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(history))
        .routes(routes!(ice_servers))
        .routes(routes!(one))
}

/// Reads one call the caller made or was rung for.
#[utoipa::path(get, path = "/api/call/{call_id}", tag = "calls",
    params(("call_id" = Uuid, Path)),
    responses(
        (status = 200, description = "The call and its participants.", body = Envelope<read::Call>),
        (status = 404, description = "`not_found`: no such call, or the caller is not one of its participants."),
    ))]
async fn one(State(s): State<AppState>, user: AuthUser, ApiPath(raw): ApiPath<String>) -> Result<Response, ApiError> {
    let id = Uuid::try_parse(&raw).map_err(|_| ApiError::NotFound("call not found".into()))?;
    read::one(&s.pool, user.user_id, id).await?.map(ok).ok_or_else(|| ApiError::NotFound("call not found".into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// A `call_id`: only older calls (the previous page's `next_before`).
    #[param(value_type = Option<Uuid>)]
    before: Option<String>,
    /// Calls per page.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50, default = 20)]
    limit: Option<String>,
}

/// Lists the calls the caller made or was rung for, newest first.
#[utoipa::path(get, path = "/api/call/history", tag = "calls",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of calls.", body = Envelope<read::History>),
        (status = 422, description = "`invalid_field`: `before` is not a call id, or `limit` is not 1 to 50."),
    ))]
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

/// A TURN server and its short-lived credentials (WebRTC `RTCIceServer`).
#[derive(Debug, Serialize, ToSchema)]
struct IceServer {
    /// The TURN URIs of the configuration (`BEAVER_TURN_URIS`), e.g. `turn:host:3478?transport=udp`.
    urls: Vec<String>,
    /// `<unix expiry>:<user_id>`.
    username: String,
    /// base64(HMAC-SHA1(secret, username)).
    credential: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct IceServers {
    ice_servers: Vec<IceServer>,
    /// Seconds the credentials are valid.
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

/// Hands out TURN credentials for the caller (coturn `use-auth-secret`).
#[utoipa::path(get, path = "/api/call/ice-servers", tag = "calls",
    responses(
        (status = 200, description = "The TURN servers with credentials.", body = Envelope<IceServers>),
        (status = 503, description = "`unavailable`: no TURN server is configured (`BEAVER_TURN_SECRET`), or a dependency is not answering."),
    ))]
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
