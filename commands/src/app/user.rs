//! Account use cases: registration (names claimed first, see
//! [`crate::store::claims`]) and profile changes.

use super::{Origin, Written};
use crate::{
    passwords,
    store::claims::{self, ClaimError, ClaimKind},
    AppState,
};
use beaver_events::{topics, user::Gender, Actor, Envelope, UserEvent};
use beaver_platform::http::ApiError;
use beaver_readmodel::{progress::USERS_PROJECTOR, user as read};
use beaver_writemodel::domain::{
    user::{self, EditableProfile, RegisterUser, UpdateProfile, UserCommand, UserState},
    Ctx,
};
use serde::Serialize;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = user::Registered)]
pub struct Registered {
    pub user_id: Uuid,
    pub username: String,
}

/// The caller's editable profile after a change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = user::Profile)]
pub struct Profile {
    pub user_id: Uuid,
    pub nickname: String,
    pub avatar: String,
    pub signature: String,
    pub gender: Gender,
}

/// Registers an account. Uniqueness of username, e-mail and phone is decided
/// by the claims table before anything is appended; a claim whose append
/// fails is released ([`claims::settle`]).
pub async fn register(s: &AppState, correlation: String, req: RegisterUser) -> Result<Written<Registered>, ApiError> {
    let account = user::validate_registration(req)?;
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
    let username = account.username.clone();
    let appended = async {
        let password_hash = {
            let _permit = s.hashing.acquire().await.map_err(|e| ApiError::Internal(e.into()))?;
            passwords::hash(account.password.clone()).await?
        };
        let command = UserCommand::Register { user_id, account, password_hash };
        let mut events = user::decide(&UserState::default(), command, &Ctx::live(user_id))?;
        let event = events.pop().expect("registering decides one event");
        s.append(&Envelope::new(event, Actor::User(user_id), correlation, None)).await
    }
    .await;
    let position = claims::settle(&s.pool, user_id, appended).await?;
    let visible = s.visible(USERS_PROJECTOR, topics::USERS, position).await?;
    tracing::info!(%user_id, "user registered");
    Ok(Written::new(visible, Registered { user_id, username }))
}

async fn load_profile(s: &AppState, user_id: Uuid) -> Result<Option<EditableProfile>, ApiError> {
    Ok(read::editable(&s.pool, user_id).await?.map(|row| EditableProfile {
        nickname: row.nickname,
        avatar: row.avatar,
        signature: row.signature,
        gender: serde_json::from_value(serde_json::Value::String(row.gender)).unwrap_or_default(),
    }))
}

/// Changes the caller's public profile; appends nothing if nothing changes.
pub async fn update_profile(s: &AppState, origin: &Origin, req: UpdateProfile) -> Result<Written<Profile>, ApiError> {
    // An avatar on Beaver's file service must be one of the user's own stored images.
    if let Some(found) = req.avatar.as_deref().map(str::trim).and_then(beaver_writemodel::domain::conversation::uploaded_file) {
        let own_image = match found {
            Ok(id) => beaver_readmodel::files::load(&s.pool, id)
                .await?
                .is_some_and(|f| f.status == "stored" && f.owned_by(origin.actor) && f.kind.as_deref() == Some("image")),
            Err(()) => false,
        };
        if !own_image {
            return Err(ApiError::invalid("avatar", "avatar must be one of your own uploaded images (/api/file/<id>)"));
        }
    }
    let state = UserState { profile: load_profile(s, origin.actor).await? };
    let events = user::decide(&state, UserCommand::UpdateProfile(req), &Ctx::live(origin.actor))?;
    let mut p = state.profile.expect("decided on an existing profile");
    for event in &events {
        if let UserEvent::UserProfileUpdated(change) = event {
            p.nickname = change.nickname.clone().unwrap_or(p.nickname);
            p.avatar = change.avatar.clone().unwrap_or(p.avatar);
            p.signature = change.signature.clone().unwrap_or(p.signature);
            p.gender = change.gender.unwrap_or(p.gender);
        }
    }
    let visible = s.append_all(events, origin, USERS_PROJECTOR).await?;
    Ok(Written::new(visible, Profile { user_id: origin.actor, nickname: p.nickname, avatar: p.avatar, signature: p.signature, gender: p.gender }))
}
