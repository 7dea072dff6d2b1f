//! A user's settings (docs/services.md, "Settings"): the current document
//! from the read model, `domain::settings::decide_patch`, the whole new
//! document appended as `UserSettingsChanged`, answered once visible.
//! Patches of one user are serialised by the aggregate lock on the user, so
//! two devices patching at once merge into each other's result.

use super::{Origin, Written};
use crate::{store::consistency::AggregateLock, AppState};
use beaver_events::{topics, user::Settings};
use beaver_platform::http::ApiError;
use beaver_readmodel::{progress::USERS_PROJECTOR, settings};
use beaver_writemodel::domain::{settings::decide_patch, Ctx};
use serde::Serialize;
use serde_json::Value;

/// The document as GET answers it: every field present (defaults filled in).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = settings::Document)]
pub struct Document {
    #[serde(flatten)]
    pub settings: Settings,
    /// How many times the caller changed their settings (0: never).
    pub version: i64,
}

/// `PATCH /api/user/settings`.
pub async fn patch(s: &AppState, origin: &Origin, patch: Value) -> Result<Written<Document>, ApiError> {
    let me = origin.actor;
    let lock = AggregateLock::acquire(s, "user-settings", me.to_string(), USERS_PROJECTOR, topics::USERS).await?;
    let (current, version) = settings::load(&s.pool, me).await?;
    let Some(event) = decide_patch(&current, patch, &Ctx::live(me))? else {
        return Ok(Written::new(true, Document { settings: current, version }));
    };
    let beaver_events::UserEvent::UserSettingsChanged(changed) = &event else { unreachable!("a patch decides a settings change") };
    let next = changed.settings.clone();
    let visible = s.append_locked(lock, vec![event], origin, USERS_PROJECTOR).await?;
    Ok(Written::new(visible, Document { settings: next, version: version + 1 }))
}
