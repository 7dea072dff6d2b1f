//! `POST /api/user/register`, `PUT /api/user/profile`.

use crate::{
    claims::{self, ClaimError, ClaimKind},
    domain::accounts::{self, EditableProfile, RegisterUser, UpdateProfile},
    passwords, written, AppState,
};
use axum::{extract::State, response::Response, routing::{post, put}, Extension, Router};
use beaver_events::{topics, user::Gender, Actor, Envelope, UserEvent};
use beaver_platform::{
    auth::AuthUser,
    http::{ApiError, ApiJson, CorrelationId},
};
use beaver_readmodel::{progress::USERS_PROJECTOR, user as users};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/user/register", post(register))
        .route("/api/user/profile", put(update_profile))
}

/// Registers an account. Uniqueness of username, e-mail and phone is decided
/// by the claims table before anything is appended (see [`crate::claims`]).
async fn register(
    State(s): State<AppState>,
    Extension(correlation): Extension<CorrelationId>,
    ApiJson(req): ApiJson<RegisterUser>,
) -> Result<Response, ApiError> {
    let account = accounts::validate_registration(req)?;
    let user_id = Uuid::now_v7();
    let mut wanted = vec![(ClaimKind::Username, account.username.as_str())];
    wanted.extend(account.email.as_deref().map(|e| (ClaimKind::Email, e)));
    wanted.extend(account.phone.as_deref().map(|p| (ClaimKind::Phone, p)));
    // Claim before hashing: a taken name is answered without spending a hash.
    let stale = Duration::from_secs(s.config.claim_stale_after_secs);
    claims::claim(&s.pool, user_id, &wanted, stale).await.map_err(|e| match e {
        ClaimError::Taken(kind) => ApiError::Conflict {
            kind: match kind {
                ClaimKind::Email => "email_taken",
                ClaimKind::Phone => "phone_taken",
                _ => "username_taken",
            },
            message: format!("{} is already taken", kind.as_str()),
        },
        ClaimError::Database(e) => e.into(),
    })?;
    let appended = async {
        let hash = {
            let _permit = s.hashing.acquire().await.map_err(|e| ApiError::Internal(e.into()))?;
            passwords::hash(account.password.clone()).await?
        };
        let event = UserEvent::UserRegistered(accounts::decide_register(&account, user_id, hash));
        let envelope = Envelope::new(event, Actor::User(user_id), correlation.0, None);
        s.append(&envelope).await
    }
    .await;
    let position = claims::settle(&s.pool, user_id, appended).await?;
    let visible = s.visible(USERS_PROJECTOR, topics::USERS, position).await?;
    tracing::info!(%user_id, "user registered");
    Ok(written(visible, json!({ "user_id": user_id, "username": account.username })))
}

/// Changes the caller's public profile; appends nothing if nothing changes.
async fn update_profile(
    State(s): State<AppState>,
    Extension(correlation): Extension<CorrelationId>,
    user: AuthUser,
    ApiJson(req): ApiJson<UpdateProfile>,
) -> Result<Response, ApiError> {
    let current = load_profile(&s.pool, user.user_id).await?;
    let Some(change) = accounts::decide_profile_update(user.user_id, &current, req)? else {
        return Ok(written(true, profile_json(user.user_id, &current)));
    };
    let updated = EditableProfile {
        nickname: change.nickname.clone().unwrap_or(current.nickname),
        avatar: change.avatar.clone().unwrap_or(current.avatar),
        signature: change.signature.clone().unwrap_or(current.signature),
        gender: change.gender.unwrap_or(current.gender),
    };
    let envelope = Envelope::new(UserEvent::UserProfileUpdated(change), Actor::User(user.user_id), correlation.0, None);
    let position = s.append(&envelope).await?;
    let visible = s.visible(USERS_PROJECTOR, topics::USERS, position).await?;
    Ok(written(visible, profile_json(user.user_id, &updated)))
}

fn profile_json(user_id: Uuid, p: &EditableProfile) -> serde_json::Value {
    json!({ "user_id": user_id, "nickname": p.nickname, "avatar": p.avatar, "signature": p.signature, "gender": p.gender })
}

async fn load_profile(pool: &sqlx::MySqlPool, user_id: Uuid) -> Result<EditableProfile, ApiError> {
    let row = users::editable(pool, user_id).await?.ok_or_else(|| ApiError::NotFound("user not found".into()))?;
    let gender: Gender = serde_json::from_value(json!(row.gender)).unwrap_or_default();
    Ok(EditableProfile { nickname: row.nickname, avatar: row.avatar, signature: row.signature, gender })
}
