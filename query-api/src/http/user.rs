//! `GET /api/user/profile`, `GET /api/user/search`, `GET /api/user/online`, `GET /api/user/settings`.

use crate::AppState;
use axum::{extract::State, response::Response};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiQuery},
    openapi::Envelope,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// A user's presence as the viewer may see it.
#[derive(Debug, Serialize, ToSchema)]
struct Online {
    user_id: Uuid,
    online: bool,
    /// The platforms of the user's live connections (`ios`, `web`, …); empty when offline.
    platforms: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct OnlineList {
    /// In the order asked, repeats removed.
    users: Vec<Online>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = accounts::Found)]
struct Found {
    users: Vec<users::PublicProfile>,
}
use beaver_readmodel::{presence, settings, user as users};
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(profile))
        .routes(routes!(search))
        .routes(routes!(online))
        .routes(routes!(my_settings))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OnlineQuery {
    /// 1 to 100 comma-separated user ids (repeats are answered once).
    #[param(required = true, value_type = String)]
    user_ids: Option<String>,
}

/// The ids of a comma-separated list: 1 to 100 UUIDs, repeats removed.
fn user_id_list(raw: Option<&str>) -> Result<Vec<Uuid>, ApiError> {
    let raw = raw.map(str::trim).filter(|r| !r.is_empty()).ok_or_else(|| ApiError::invalid("user_ids", "user_ids is required"))?;
    let mut ids = Vec::new();
    for part in raw.split(',') {
        let id = Uuid::try_parse(part.trim()).map_err(|_| ApiError::invalid("user_ids", format!("{part:?} is not a user id")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.len() > 100 {
        return Err(ApiError::invalid("user_ids", "at most 100 user ids"));
    }
    Ok(ids)
}

/// Who is connected now: the caller and their friends as they are, anyone else as offline.
///
/// Who is connected to ws-push now, from the presence sets it maintains —
/// for the caller and the caller's friends only. Anyone else is answered
/// exactly like a user who is offline, so presence cannot be probed by a
/// stranger who found a user id through search.
#[utoipa::path(get, path = "/api/user/online", tag = "accounts",
    params(OnlineQuery),
    responses(
        (status = 200, description = "Each user asked; a user who turned `privacy.show_online` off, or who is not the caller or a friend, is `online: false, platforms: []` (unknown ids too).", body = Envelope<OnlineList>),
        (status = 422, description = "`invalid_field` (`user_ids`): missing, not a user id, or more than 100."),
    ))]
async fn online(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<OnlineQuery>) -> Result<Response, ApiError> {
    let ids = user_id_list(q.user_ids.as_deref())?;
    let platforms = presence::platforms_visible_to(&mut s.redis.clone(), user.user_id, &ids).await?;
    // Users who turned `show_online` off look offline to everyone else.
    let hidden = settings::hiding_presence(&s.pool, &ids).await?;
    let users = ids
        .into_iter()
        .zip(platforms)
        .map(|(user_id, platforms)| {
            let platforms = if user_id != user.user_id && hidden.contains(&user_id) { Vec::new() } else { platforms };
            Online { user_id, online: !platforms.is_empty(), platforms }
        })
        .collect();
    Ok(ok(OnlineList { users }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ProfileQuery {
    /// Another user; without it, the caller.
    user_id: Option<Uuid>,
}

/// `data` of `GET /api/user/profile` (beaver-readmodel's `user::Profile`):
/// the caller's own profile, or another user's public fields.
#[derive(ToSchema)]
#[schema(as = accounts::ProfileView)]
#[serde(untagged)]
#[allow(dead_code)]
enum ProfileView {
    /// The caller's own profile (no `user_id`, or the caller's own): every field.
    #[schema(title = "OwnProfile")]
    Own(users::OwnProfile),
    /// Another user's profile: the fields of `PublicProfile` and nothing more
    /// (repeated here so that the two variants exclude each other).
    #[schema(title = "PublicProfile", max_properties = 6)]
    Public {
        #[schema(format = Uuid)]
        user_id: String,
        username: String,
        nickname: String,
        avatar: String,
        signature: String,
        /// `unspecified`, `male`, `female` or `other`.
        gender: String,
    },
}

/// Own profile (all fields), or another user's public fields with `?user_id=`.
#[utoipa::path(get, path = "/api/user/profile", tag = "accounts",
    params(ProfileQuery),
    responses(
        (status = 200, description = "The caller's own profile (with `email`, `phone`, `created_at`, `updated_at`), or another user's public fields.", body = Envelope<ProfileView>),
        (status = 404, description = "`not_found`: no such user."),
    ))]
async fn profile(State(s): State<AppState>, user: AuthUser, ApiQuery(q): ApiQuery<ProfileQuery>) -> Result<Response, ApiError> {
    let target = q.user_id.unwrap_or(user.user_id);
    let body = users::profile(&s.pool, target, target == user.user_id).await?;
    body.map(ok).ok_or_else(|| ApiError::NotFound("user not found".into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// An exact user id, a username prefix, a nickname substring, or an
    /// exact e-mail or phone (where the user allows it); 1 to 64 characters
    /// after trimming.
    #[param(required = true, value_type = String, min_length = 1, max_length = 64)]
    q: Option<String>,
    /// How many users at most; a value outside 1 to 50 is clamped into it.
    #[param(default = 20)]
    limit: Option<u32>,
}

/// The caller's settings, defaults filled in, with their change count.
#[derive(Debug, Serialize, ToSchema)]
struct SettingsDocument {
    #[serde(flatten)]
    settings: beaver_events::user::Settings,
    /// How often the caller changed their settings (0: never).
    version: i64,
}

/// The caller's settings, every field present (defaults filled in), with their change count.
#[utoipa::path(get, path = "/api/user/settings", tag = "accounts",
    responses((status = 200, description = "The caller's settings document.", body = Envelope<SettingsDocument>)))]
async fn my_settings(State(s): State<AppState>, user: AuthUser) -> Result<Response, ApiError> {
    let (settings, version) = settings::load(&s.pool, user.user_id).await?;
    Ok(ok(SettingsDocument { settings, version }))
}

/// Finds users by exact id, username prefix, nickname substring, or exact e-mail / phone where the user allows it.
#[utoipa::path(get, path = "/api/user/search", tag = "accounts",
    params(SearchQuery),
    responses(
        (status = 200, description = "The users found (public fields), an exact username first.", body = Envelope<Found>),
        (status = 422, description = "`invalid_field` (`q`): missing, blank or longer than 64 characters."),
    ))]
async fn search(State(s): State<AppState>, _user: AuthUser, ApiQuery(q): ApiQuery<SearchQuery>) -> Result<Response, ApiError> {
    let term = q.q.as_deref().map(str::trim).unwrap_or("");
    if term.is_empty() || term.chars().count() > 64 {
        return Err(ApiError::invalid("q", "q must be 1 to 64 characters"));
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 50);
    Ok(ok(Found { users: users::search(&s.pool, term, limit).await? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_online_query_takes_one_to_a_hundred_distinct_ids() {
        let a = Uuid::now_v7();
        assert_eq!(user_id_list(Some(&format!("{a}, {a}"))).unwrap(), vec![a]);
        assert!(user_id_list(None).is_err());
        assert!(user_id_list(Some("x")).is_err());
        let many: Vec<String> = (0..101).map(|_| Uuid::new_v4().to_string()).collect();
        assert!(user_id_list(Some(&many.join(","))).is_err());
    }

    /// The documented public variant of a profile lists exactly the fields
    /// of `PublicProfile`, as many as its `maxProperties`.
    #[test]
    fn the_documented_public_profile_is_the_public_profile() {
        use utoipa::PartialSchema;
        let keys = |v: &serde_json::Value| v["properties"].as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
        let view = serde_json::to_value(ProfileView::schema()).unwrap();
        let public = serde_json::to_value(users::PublicProfile::schema()).unwrap();
        let variant = view["oneOf"].as_array().unwrap().iter().find(|v| v["title"] == "PublicProfile").unwrap();
        assert_eq!(keys(variant), keys(&public));
        assert_eq!(variant["maxProperties"], keys(&public).len());
    }
}
