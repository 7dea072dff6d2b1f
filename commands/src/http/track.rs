//! `POST /api/track/events`: client analytics. A token is optional (apps
//! report before login); one that is sent must be valid.

use crate::{
    app::{track as app, Answer},
    AppState,
};
use axum::{
    extract::State,
    http::HeaderMap,
    routing::post,
    Extension, Router,
};
use beaver_platform::{
    auth::bearer,
    http::{ApiError, ApiJson, CorrelationId},
};
use beaver_writemodel::domain::track::TrackBatch;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/track/events", post(ingest))
}

async fn ingest(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, headers: HeaderMap, ApiJson(batch): ApiJson<TrackBatch>) -> Answer<app::Tracked> {
    let user = match bearer(&headers) {
        Some(token) => Some(s.auth.verify(token).await.map_err(ApiError::from)?.sub),
        None => None,
    };
    // The gateway sets X-Real-IP to the client's address.
    let address = headers.get("x-real-ip").and_then(|v| v.to_str().ok()).map(str::to_owned);
    app::ingest(&s, user, address, c.0, batch).await
}
