//! `POST /api/feedback`: a user's feedback (docs/services.md, "Feedback").

use crate::{
    app::{feedback as app, Created, Origin},
    AppState,
};
use axum::extract::State;
use beaver_platform::{
    http::{ApiError, ApiJson},
    openapi::Envelope,
};
use beaver_writemodel::domain::feedback::SubmitRequest;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit))
}

/// Sends feedback: a bug, a wish, or a report of a user, message or group.
///
/// With `client_feedback_id`, a repeat answers 200 with the original (its
/// current status) and appends nothing. At most 10 submissions per user in
/// any 24 hours (docs/services.md, "Feedback").
#[utoipa::path(post, path = "/api/feedback", tag = "feedback", operation_id = "feedback_submit", request_body = SubmitRequest,
    responses(
        (status = 201, description = "Submitted (`status: open`), and listed by `GET /api/feedback/mine`.", body = Envelope<app::Submitted>),
        (status = 200, description = "A repeat of a `client_feedback_id`: the original.", body = Envelope<app::Submitted>),
        (status = 404, description = "`not_found`: a report's target does not exist or the reporter cannot see it."),
        (status = 422, description = "`invalid_field`: `category`, `text`, `target` (missing for a report, given for anything else, malformed, or the caller), `client`, `client_feedback_id`, or `body` (an unknown field)."),
        (status = 429, description = "`too_many_requests`: 10 submissions in the last 24 hours; `data.retry_after` says when to retry."),
    ))]
async fn submit(State(s): State<AppState>, origin: Origin, ApiJson(req): ApiJson<SubmitRequest>) -> Result<Created<app::Submitted>, ApiError> {
    app::submit(&s, &origin, req).await
}
