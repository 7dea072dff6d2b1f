//! `POST /api/user/login`, `/api/auth/token`, `/api/auth/refresh`, `/api/auth/verify`, `/api/auth/logout`.
//!
//! `/api/auth/token` is the OAuth 2 style token endpoint (RFC 6749 §4.3, §6):
//! its password grant is login and its refresh grant is refresh — the same
//! functions, so rate limits, the timing equaliser and the rotation rules are
//! one code path.

use crate::{
    app::{session as app, Answer, Origin},
    AppState,
};
use axum::{
    body::Bytes,
    extract::{FromRequest, Request, State},
    http::{header::CONTENT_TYPE, HeaderMap},
    Extension,
};
use beaver_platform::{
    auth::bearer,
    http::{self, ApiError, ApiForm, ApiJson, CorrelationId},
    openapi::Envelope,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(token))
        .routes(routes!(refresh))
        .routes(routes!(verify))
        .routes(routes!(logout))
}

#[derive(Debug, PartialEq, Deserialize, ToSchema)]
#[schema(as = auth::Login)]
#[serde(deny_unknown_fields)]
struct Login {
    /// A username, or the account's e-mail address.
    username: String,
    password: String,
}

/// Checks a username (or e-mail address) and password and starts a session.
///
/// Unknown users and wrong passwords get the same 401 after the same work;
/// repeated failures for one login name are answered 429 for a while.
#[utoipa::path(post, path = "/api/user/login", tag = "accounts", operation_id = "user_login", request_body = Login,
    security(()),
    responses(
        (status = 200, description = "The token pair of a new session.", body = Envelope<app::TokenPair>),
        (status = 401, description = "`unauthorized`: invalid username or password."),
        (status = 429, description = "`too_many_requests`: too many failed logins for this name; `data.retry_after` says when to retry."),
    ))]
async fn login(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, ApiJson(req): ApiJson<Login>) -> Answer<app::TokenPair> {
    app::login(&s, c.0, &req.username, req.password).await
}

/// The body of `POST /api/auth/token`, as JSON or form-encoded: the grant
/// named by `grant_type`, whose other fields are those of login or refresh.
/// (Documented as [`TokenRequest`].)
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

/// The body of `POST /api/auth/token` as the contract describes it (the
/// handler reads it as [`Grant`]): the fields of login or of refresh, with
/// `grant_type` naming which; any other field is 422.
#[derive(ToSchema)]
#[schema(as = auth::TokenRequest)]
#[serde(tag = "grant_type", rename_all = "snake_case")]
#[allow(dead_code)]
enum TokenRequest {
    /// Log in (as `POST /api/user/login`).
    Password {
        /// A username, or the account's e-mail address.
        username: String,
        password: String,
    },
    /// Rotate a refresh token (as `POST /api/auth/refresh`).
    RefreshToken { refresh_token: String },
}

/// The OAuth 2 style token endpoint: the `password` grant logs in, the `refresh_token` grant rotates a refresh token.
///
/// The same functions as `POST /api/user/login` and `POST /api/auth/refresh`
/// (RFC 6749 §4.3, §6), so rate limits and rotation rules are the same. The
/// body is JSON or form-encoded.
#[utoipa::path(post, path = "/api/auth/token", tag = "accounts", operation_id = "auth_token",
    request_body(content(
        (TokenRequest = "application/json"),
        (TokenRequest = "application/x-www-form-urlencoded"),
    )),
    security(()),
    responses(
        (status = 200, description = "The token pair.", body = Envelope<app::TokenPair>),
        (status = 400, description = "`unsupported_grant_type`: `grant_type` is missing or not `password` or `refresh_token`; or `bad_request`: the body cannot be read."),
        (status = 401, description = "`unauthorized`: invalid username or password; an unknown, expired or ended refresh token; or a refresh token used before (the session is then ended)."),
        (status = 429, description = "`too_many_requests` (password grant): too many failed logins for this name; `data.retry_after` says when to retry."),
    ))]
async fn token(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, grant: Grant) -> Answer<app::TokenPair> {
    match grant {
        Grant::Password(req) => app::login(&s, c.0, &req.username, req.password).await,
        Grant::RefreshToken(req) => app::refresh(&s, c.0, &req.refresh_token).await,
    }
}

#[derive(Debug, PartialEq, Deserialize, ToSchema)]
#[schema(as = auth::Refresh)]
#[serde(deny_unknown_fields)]
struct Refresh {
    refresh_token: String,
}

/// Spends a refresh token for a new token pair of the same session.
///
/// Each refresh token works once: presenting one that was already spent
/// means two parties hold it, so the whole session ends.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "accounts", operation_id = "auth_refresh", request_body = Refresh,
    security(()),
    responses(
        (status = 200, description = "The new token pair (the presented refresh token is spent).", body = Envelope<app::TokenPair>),
        (status = 401, description = "`unauthorized`: an unknown, malformed, expired or ended refresh token, or one used before (the session is then ended)."),
    ))]
async fn refresh(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, ApiJson(req): ApiJson<Refresh>) -> Answer<app::TokenPair> {
    app::refresh(&s, c.0, &req.refresh_token).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = auth::Verify)]
#[serde(deny_unknown_fields)]
struct Verify {
    /// The access token to check; absent: the bearer header's.
    token: Option<String>,
}

/// Says whether an access token is valid now (signature, expiry, session alive).
///
/// The token comes from the body's `token`, else the bearer header. The
/// body is read as JSON whatever its content type, and may be empty.
#[utoipa::path(post, path = "/api/auth/verify", tag = "accounts", operation_id = "auth_verify", request_body = Option<Verify>,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The token is valid.", body = Envelope<app::Verified>),
        (status = 400, description = "Not answered by this operation: a body that is not JSON is 422 here."),
        (status = 401, description = "`unauthorized`: the token is invalid or expired, or its session has ended."),
        (status = 422, description = "`invalid_field`: the body is not a JSON `{token?}` (`field: body`, also for malformed JSON), or no token was given in the body or the header (`field: token`)."),
    ))]
async fn verify(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<axum::response::Response, ApiError> {
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<Verify>(&body).map_err(|e| ApiError::invalid("body", e.to_string()))?.token
    };
    let token = from_body
        .or_else(|| bearer(&headers).map(str::to_owned))
        .ok_or_else(|| ApiError::invalid("token", "give the token in the body or as a bearer header"))?;
    Ok(http::ok(app::verify(&s, &token).await?))
}

/// Ends the caller's session: its access and refresh tokens stop working.
#[utoipa::path(post, path = "/api/auth/logout", tag = "accounts", operation_id = "auth_logout",
    responses((status = 200, description = "The session has ended.", body = Envelope<app::LoggedOut>)))]
async fn logout(State(s): State<AppState>, origin: Origin) -> Answer<app::LoggedOut> {
    app::logout(&s, &origin).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
