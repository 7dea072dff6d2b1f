//! `POST /api/feedback`: a user's feedback (docs/services.md, "Feedback").

use crate::{
    app::{feedback as app, Created, Origin},
    AppState,
};
use axum::{extract::State, routing::post, Router};
use beaver_platform::http::{ApiError, ApiJson};
use beaver_writemodel::domain::feedback::SubmitRequest;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/feedback", post(submit))
}

async fn submit(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<SubmitRequest>) -> Result<Created<app::Submitted>, ApiError> {
    app::submit(&s, &origin, req).await
}
