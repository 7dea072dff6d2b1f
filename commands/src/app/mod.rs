//! The app layer: one function per use case. Each takes the caller's
//! [`Origin`] and a parsed command, loads the aggregate's state from the read
//! models (under the aggregate's lock where decisions must not race), lets the
//! aggregate's pure `decide` in `beaver_writemodel::domain` decide, appends
//! the events through [`crate::store`] and answers a typed DTO. HTTP handlers
//! only extract the request, call one of these and return the answer.

pub mod call;
pub mod conversation;
pub mod emoji;
pub mod feedback;
pub mod files;
pub mod group;
pub mod moment;
pub mod notification;
pub mod relation;
pub mod session;
pub mod settings;
pub mod track;
pub mod user;

use crate::AppState;
use axum::{
    extract::FromRequestParts,
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Response},
};
use beaver_platform::{
    auth::AuthUser,
    http::{self, ApiError, CorrelationId},
};
use beaver_readmodel::user as users;
use serde::Serialize;
use sqlx::MySqlPool;
use uuid::Uuid;

/// Who a command comes from: the authenticated user and session, and the
/// request's correlation id (carried into every envelope it appends).
#[derive(Clone, Debug)]
pub struct Origin {
    pub actor: Uuid,
    pub session: Uuid,
    pub correlation: String,
}

impl FromRequestParts<AppState> for Origin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        let correlation = parts.extensions.get::<CorrelationId>().map(|c| c.0.clone()).unwrap_or_default();
        Ok(Origin { actor: user.user_id, session: user.session_id, correlation })
    }
}

/// A command's answer: `data`, and whether the write is already visible to
/// queries — 200 if so, else 202 with the same data (durable, merely not
/// yet projected).
#[derive(Debug)]
pub struct Written<T> {
    pub visible: bool,
    pub data: T,
}

/// What a use case (and so a handler) returns.
pub type Answer<T> = Result<Written<T>, ApiError>;

impl<T> Written<T> {
    pub fn new(visible: bool, data: T) -> Self {
        Written { visible, data }
    }
}

impl<T: Serialize> IntoResponse for Written<T> {
    fn into_response(self) -> Response {
        if self.visible {
            http::ok(self.data)
        } else {
            http::respond(StatusCode::ACCEPTED, "accepted; not yet visible to queries", self.data)
        }
    }
}

/// A command that created something: 201 with `data` once it is visible
/// to queries, else 202 with the same data; `repeat` (the same request
/// again, answered with the original) is 200.
#[derive(Debug)]
pub struct Created<T> {
    pub visible: bool,
    pub repeat: bool,
    pub data: T,
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        match (self.repeat, self.visible) {
            (true, _) => http::ok(self.data),
            (false, true) => http::respond(StatusCode::CREATED, "created", self.data),
            (false, false) => http::respond(StatusCode::ACCEPTED, "accepted; not yet visible to queries", self.data),
        }
    }
}

/// 404 unless `user_id` has an account.
pub(crate) async fn ensure_user(pool: &MySqlPool, user_id: Uuid) -> Result<(), ApiError> {
    match users::exists(pool, user_id).await? {
        true => Ok(()),
        false => Err(ApiError::NotFound("user not found".into())),
    }
}

/// Posts a system notice (`kind: system`, from [`group::SYSTEM_SENDER`])
/// into a conversation and waits until it is stored, so that it precedes
/// anything sent after the command answers. `client_msg_id` makes it
/// idempotent (the sequencer drops a repeat). Best effort: the change it
/// reports is already durable, a lost notice is only logged.
pub(crate) async fn system_notice(s: &AppState, conversation_id: String, client_msg_id: String, correlation: &str, content: serde_json::Value) {
    use beaver_events::{message::{MessageEvent, MessageSent}, topics, Actor, Envelope};
    let event = MessageEvent::MessageSent(MessageSent {
        message_id: Uuid::now_v7(),
        conversation_id: conversation_id.clone(),
        client_msg_id,
        sender_id: group::SYSTEM_SENDER,
        kind: "system".into(),
        content,
        mentions: vec![],
        reply_to: None,
        hidden_from: None,
    });
    match s.append(&Envelope::new(event, Actor::System, correlation.to_owned(), None)).await {
        Ok(pos) => {
            if let Err(e) = s.visible(beaver_readmodel::progress::MESSAGES_PROJECTOR, topics::MESSAGES, pos).await {
                tracing::warn!(error = %e, "could not wait for a system notice");
            }
        }
        Err(e) => tracing::warn!(error = %e, %conversation_id, "could not post a system notice"),
    }
}
