//! `/api/call…` writes: start, accept, decline, cancel, hang up, invite,
//! join (docs/services.md, "Calls").

use crate::{
    app::{call as app, Answer, Created, Origin},
    AppState,
};
use axum::{extract::State, routing::post, Router};
use beaver_platform::http::{ApiError, ApiJson, ApiPath};
use beaver_writemodel::domain::call::StartRequest;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/call", post(start))
        .route("/api/call/{call_id}/accept", post(accept))
        .route("/api/call/{call_id}/decline", post(decline))
        .route("/api/call/{call_id}/cancel", post(cancel))
        .route("/api/call/{call_id}/hangup", post(hangup))
        .route("/api/call/{call_id}/invite", post(invite))
        .route("/api/call/{call_id}/join", post(join))
}

/// A call id from the path; a malformed one names nothing: 404.
fn id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::NotFound("call not found".into()))
}

async fn start(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<StartRequest>) -> Result<Created<app::Started>, ApiError> {
    app::start(&s, &origin, req).await
}

async fn accept(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>, ApiJson(req): ApiJson<app::DeviceRequest>) -> Answer<app::Status> {
    app::accept(&s, &origin, id(&raw)?, req).await
}

async fn decline(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Status> {
    app::decline(&s, &origin, id(&raw)?).await
}

async fn cancel(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Status> {
    app::cancel(&s, &origin, id(&raw)?).await
}

async fn hangup(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Status> {
    app::hangup(&s, &origin, id(&raw)?).await
}

async fn invite(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>, ApiJson(req): ApiJson<app::InviteRequest>) -> Answer<app::Invited> {
    app::invite(&s, &origin, id(&raw)?, req).await
}

async fn join(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>, ApiJson(req): ApiJson<app::DeviceRequest>) -> Answer<app::Status> {
    app::join(&s, &origin, id(&raw)?, req).await
}
