//! `/api/notification/…` writes: marking read, deleting, push tokens
//! (docs/services.md, "Notifications").

use crate::{
    app::{notification as app, Answer, Origin},
    AppState,
};
use axum::{
    extract::State,
    routing::{delete, post},
    Router,
};
use beaver_platform::http::{ApiError, ApiJson, ApiPath};
use beaver_writemodel::domain::notification::{ReadRequest, RegisterRequest};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/notification/read", post(read))
        .route("/api/notification/push-tokens", post(register))
        .route("/api/notification/push-tokens/{device_id}", delete(revoke))
        .route("/api/notification/{notification_id}", delete(remove))
}

async fn read(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<ReadRequest>) -> Answer<app::ReadAnswer> {
    app::read(&s, &origin, req).await
}

async fn remove(State(s): State<AppState>, origin: Origin, ApiPath(raw): ApiPath<String>) -> Answer<app::Deleted> {
    // A malformed id names nothing: 404.
    let id = Uuid::try_parse(&raw).map_err(|_| ApiError::NotFound("notification not found".into()))?;
    app::delete(&s, &origin, id).await
}

async fn register(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<RegisterRequest>) -> Answer<app::Registered> {
    app::register(&s, &origin, req).await
}

async fn revoke(State(s): State<AppState>, origin: Origin, ApiPath(device_id): ApiPath<String>) -> Answer<app::Revoked> {
    app::revoke(&s, &origin, &device_id).await
}
