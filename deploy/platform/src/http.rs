//! The HTTP edge shared by commands and query-api.
//!
//! Every answer is the envelope `{code, message, data, timestamp}`: `code` is
//! the HTTP status repeated in the body, `message` is for humans, `data` holds
//! the result — or, for an error, `{"error": "<machine_readable_kind>", ...}`
//! — and `timestamp` is milliseconds since the Unix epoch. 5xx answers are
//! opaque; their cause goes to the log.

use axum::{
    extract::{
        rejection::{FormRejection, JsonRejection},
        FromRequest, FromRequestParts, MatchedPath, Request,
    },
    http::{header::HeaderName, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Instant;
use tracing::Instrument;

/// Header carrying the correlation id in and out (the gateway sets one if the client did not).
pub static CORRELATION_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

/// Largest request body any tier accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The response envelope.
#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    pub code: u16,
    pub message: String,
    pub data: T,
    pub timestamp: i64,
}

fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A successful answer: 200 with `data`.
pub fn ok<T: Serialize>(data: T) -> Response {
    respond(StatusCode::OK, "ok", data)
}

/// Any answer in the envelope.
pub fn respond<T: Serialize>(status: StatusCode, message: &str, data: T) -> Response {
    let body = Envelope {
        code: status.as_u16(),
        message: message.to_owned(),
        data,
        timestamp: now_millis(),
    };
    (status, Json(body)).into_response()
}

/// Every way a request can fail, mapped to one status and envelope.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request cannot be read (malformed JSON, bad query string, wrong content type).
    #[error("{0}")]
    BadRequest(String),
    /// Readable, but asks for something this endpoint does not offer; `kind`
    /// is machine readable, e.g. `unsupported_grant_type`.
    #[error("{message}")]
    Unsupported { kind: &'static str, message: String },
    /// The request is readable but a field is not acceptable.
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// Readable and well-formed, but its content breaks a rule that is not
    /// one field's (a part of the wrong size, a hash that does not match);
    /// `kind` is machine readable, e.g. `hash_mismatch`. 422 like `Invalid`.
    #[error("{message}")]
    Unprocessable { kind: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    /// Not allowed; `kind` is machine readable, e.g. `forbidden`, `not_friends`.
    #[error("{message}")]
    Forbidden { kind: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    /// A uniqueness or state conflict; `kind` is machine readable, e.g. `username_taken`.
    #[error("{message}")]
    Conflict { kind: &'static str, message: String },
    #[error("request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    /// What the request announces is over a limit (an upload's size): 413 `too_large`.
    #[error("{0}")]
    TooLarge(String),
    /// A `Range` the file cannot satisfy: 416 `range_not_satisfiable`.
    #[error("{0}")]
    RangeNotSatisfiable(String),
    /// The resource existed but is over (a completed or expired upload): 410 `gone`.
    #[error("{0}")]
    Gone(String),
    /// An upload is completed before all its parts came: 409 `missing_parts`, listed in `data.missing`.
    #[error("parts {missing:?} are missing")]
    MissingParts { missing: Vec<u32> },
    #[error("too many requests; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// A dependency (Kafka, MariaDB, Redis) is not answering; safe to retry.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    fn status_and_kind(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unsupported { kind, .. } => (StatusCode::BAD_REQUEST, kind),
            ApiError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            ApiError::Unprocessable { kind, .. } => (StatusCode::UNPROCESSABLE_ENTITY, kind),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden { kind, .. } => (StatusCode::FORBIDDEN, kind),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Conflict { kind, .. } => (StatusCode::CONFLICT, kind),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Gone(_) => (StatusCode::GONE, "gone"),
            ApiError::RangeNotSatisfiable(_) => (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable"),
            ApiError::MissingParts { .. } => (StatusCode::CONFLICT, "missing_parts"),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl ApiError {
    /// The status and the envelope's `data` (`{error: <kind>, field?, retry_after?}`),
    /// for answers that are not HTTP responses (WebSocket error frames).
    pub fn status_and_data(&self) -> (StatusCode, Value) {
        let (status, kind) = self.status_and_kind();
        let data = match self {
            ApiError::Invalid { field, .. } => json!({ "error": kind, "field": field }),
            ApiError::TooManyRequests { retry_after_secs } => json!({ "error": kind, "retry_after": retry_after_secs }),
            ApiError::MissingParts { missing } => json!({ "error": kind, "missing": missing }),
            _ => json!({ "error": kind }),
        };
        (status, data)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, data) = self.status_and_data();
        match &self {
            ApiError::Internal(e) => tracing::error!(error = ?e, "request failed"),
            ApiError::Unavailable(e) => tracing::warn!(error = ?e, "dependency unavailable"),
            _ => tracing::debug!(%status, error = %self, "request rejected"),
        }
        respond(status, &self.to_string(), data)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => ApiError::Unavailable(e.into()),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(e: redis::RedisError) -> Self {
        ApiError::Unavailable(e.into())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => {
                // serde's message names the field and the expected type.
                let detail = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.body_text());
                ApiError::invalid("body", detail)
            }
            JsonRejection::JsonSyntaxError(_) => ApiError::BadRequest("request body is not valid JSON".into()),
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::BadRequest("expected Content-Type: application/json".into())
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<FormRejection> for ApiError {
    fn from(r: FormRejection) -> Self {
        match r {
            FormRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

/// `Json<T>` whose rejections are answered in the envelope.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `Form<T>` (`application/x-www-form-urlencoded`) whose rejections are answered in the envelope.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Form), rejection(ApiError))]
pub struct ApiForm<T>(pub T);

/// `Query<T>` whose rejections are answered in the envelope.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `Path<T>` whose rejections (e.g. a malformed id) are answered 400 in the envelope.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(r: axum::extract::rejection::PathRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

/// The correlation id of the request being served, for handlers that put it
/// into event envelopes.
#[derive(Clone, Debug)]
pub struct CorrelationId(pub String);

/// Accepts the caller's correlation id (if sane) or makes one, runs the
/// request inside a span that carries it, echoes it in the response, and
/// records `http_requests_total` and `http_request_duration_seconds`.
pub async fn observe(mut req: Request, next: Next) -> Response {
    let correlation = req
        .headers()
        .get(&CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(CorrelationId(correlation.clone()));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let span = tracing::info_span!("request", correlation_id = %correlation, %method, %route);
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = response.status().as_u16().to_string();
    span.in_scope(|| tracing::info!(status = %status, elapsed_ms = elapsed * 1000.0, "served"));
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route).record(elapsed);
    if let Ok(v) = HeaderValue::from_str(&correlation) {
        response.headers_mut().insert(CORRELATION_HEADER.clone(), v);
    }
    response
}

/// Answers unknown routes in the envelope.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

/// Answers a known route asked with a method it does not serve, in the envelope.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Envelope-shaped body for a JSON `Value`, handy in tests and health checks.
pub fn envelope_value(status: StatusCode, message: &str, data: Value) -> Response {
    respond(status, message, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn body(resp: Response) -> (StatusCode, Value) {
        let status = resp.status();
        let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn errors_are_answered_in_the_envelope_with_a_machine_readable_kind() {
        let (status, v) = body(ApiError::Conflict { kind: "username_taken", message: "taken".into() }.into_response()).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(v["code"], 409);
        assert_eq!(v["data"]["error"], "username_taken");
        assert_eq!(v["message"], "taken");
        assert!(v["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    }

    #[tokio::test]
    async fn internal_errors_do_not_leak_their_cause() {
        let (status, v) = body(ApiError::Internal(anyhow::anyhow!("password=hunter2")).into_response()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!v.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn unsupported_requests_are_400_with_their_kind() {
        let (status, v) =
            body(ApiError::Unsupported { kind: "unsupported_grant_type", message: "no".into() }.into_response()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v["data"]["error"], "unsupported_grant_type");
    }

    #[tokio::test]
    async fn invalid_fields_are_named() {
        let (status, v) = body(ApiError::invalid("username", "too short").into_response()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(v["data"]["field"], "username");
    }
}
