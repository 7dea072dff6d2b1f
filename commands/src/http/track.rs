//! `POST /api/track/events`: client analytics. A token is optional (apps
//! report before login); one that is sent must be valid.

use crate::{
    app::{track as app, Answer},
    AppState,
};
use axum::{extract::State, http::HeaderMap, Extension};
use beaver_platform::{
    auth::bearer,
    http::{ApiError, ApiJson, CorrelationId},
    openapi::Envelope,
};
use beaver_writemodel::domain::track::TrackBatch;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest))
}

/// Reports a batch of client analytics events (a token is optional).
///
/// The batch is checked whole first (422 and nothing appended), then each
/// event on its own: a bad event is rejected alone and listed in the
/// answer. The answer is always 202, sent once Kafka acknowledged every
/// accepted event. Rate limits per minute: 10 batches per user with a
/// token; without one, 10 per device and 60 per client address
/// (docs/services.md, "Track").
#[utoipa::path(post, path = "/api/track/events", tag = "track", operation_id = "track_ingest", request_body = TrackBatch,
    security((), ("bearer" = [])),
    responses(
        (status = 202, description = "Appended: how many were accepted, which were rejected and why, which had their clock clamped.", body = Envelope<app::Tracked>),
        (status = 401, description = "`unauthorized`: a token was sent and is invalid, expired or revoked; nothing is appended."),
        (status = 422, description = "`invalid_field`: `device_id`, `platform`, `app_version`, `events` (1–100), or `body` (an unknown field); nothing is appended."),
        (status = 429, description = "`too_many_requests`: over the rate limit; `data.retry_after` says when to retry."),
    ))]
async fn ingest(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, headers: HeaderMap, ApiJson(batch): ApiJson<TrackBatch>) -> Answer<app::Tracked> {
    let user = match bearer(&headers) {
        Some(token) => Some(s.auth.verify(token).await.map_err(ApiError::from)?.sub),
        None => None,
    };
    // The gateway sets X-Real-IP to the client's address.
    let address = headers.get("x-real-ip").and_then(|v| v.to_str().ok()).map(str::to_owned);
    app::ingest(&s, user, address, c.0, batch).await
}
