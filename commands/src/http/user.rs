//! `POST /api/user/register`, `PUT /api/user/profile`, `PATCH /api/user/settings`.

use crate::{
    app::{settings, user as app, Answer, Origin},
    AppState,
};
use axum::{
    extract::State,
    routing::{patch, post, put},
    Extension, Router,
};
use beaver_platform::http::{ApiJson, CorrelationId};
use beaver_writemodel::domain::user::{RegisterUser, UpdateProfile};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/user/register", post(register))
        .route("/api/user/profile", put(update_profile))
        .route("/api/user/settings", patch(patch_settings))
}

async fn register(State(s): State<AppState>, Extension(c): Extension<CorrelationId>, ApiJson(req): ApiJson<RegisterUser>) -> Answer<app::Registered> {
    app::register(&s, c.0, req).await
}

async fn update_profile(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<UpdateProfile>) -> Answer<app::Profile> {
    app::update_profile(&s, &origin, req).await
}

/// A JSON merge patch of the caller's settings (`application/json` or `application/merge-patch+json`).
async fn patch_settings(State(s): State<AppState>, origin: Origin, ApiJson(patch): ApiJson<serde_json::Value>) -> Answer<settings::Document> {
    settings::patch(&s, &origin, patch).await
}
