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
    routing::post,
    Extension, Router,
};
use beaver_platform::{
    auth::bearer,
    http::{self, ApiError, ApiForm, ApiJson, CorrelationId},
};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

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

async fn login(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, ApiJson(req): ApiJson<Login>) -> Answer<app::TokenPair> {
    app::login(&s, c.0, &req.username, req.password).await
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

async fn token(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, grant: Grant) -> Answer<app::TokenPair> {
    match grant {
        Grant::Password(req) => app::login(&s, c.0, &req.username, req.password).await,
        Grant::RefreshToken(req) => app::refresh(&s, c.0, &req.refresh_token).await,
    }
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Refresh {
    refresh_token: String,
}

async fn refresh(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, ApiJson(req): ApiJson<Refresh>) -> Answer<app::TokenPair> {
    app::refresh(&s, c.0, &req.refresh_token).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verify {
    token: Option<String>,
}

/// The token comes from the body's `token`, else the bearer header.
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
