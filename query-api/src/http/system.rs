//! `/api/system/…`: what a client needs to know about the server — its
//! configuration (public, from this tier's configuration), the update check
//! for an app version (public) and the current announcements.

use crate::AppState;
use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiQuery},
    openapi::Envelope,
};
use beaver_readmodel::system;
use beaver_writemodel::domain::{conversation, feedback, system as rules, track};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(config))
        .routes(routes!(app_version))
        .routes(routes!(announcements))
}

/// The server's limits a client should respect.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = system::Limits)]
struct Limits {
    /// Largest text message, in bytes (UTF-8).
    max_message_bytes: usize,
    /// Most members a group may have.
    max_group_members: u32,
    /// Most events in one `POST /api/track/events` batch.
    track_batch_events: usize,
    /// Most feedback submissions per user in 24 hours.
    feedback_per_day: usize,
}

/// Services a client may offer; `true` only when built and enabled here.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = system::Features)]
struct Features {
    calls: bool,
    moments: bool,
    uploads: bool,
    emoji: bool,
    notifications: bool,
}

/// What a client needs to know about the server before login.
#[derive(Debug, Serialize, ToSchema)]
struct ClientConfig {
    /// The server's release (semver).
    server_version: &'static str,
    /// The REST API's major version.
    api_version: u32,
    limits: Limits,
    features: Features,
}

/// Reads the server's configuration for clients (no token needed).
#[utoipa::path(get, path = "/api/system/config", tag = "system", security(()),
    responses(
        (status = 200, description = "The configuration.", body = Envelope<ClientConfig>,
            headers(("Cache-Control" = String, description = "`public, max-age=60`."))),
    ))]
async fn config(State(s): State<AppState>) -> Response {
    let body = ClientConfig {
        server_version: env!("CARGO_PKG_VERSION"),
        api_version: 1,
        limits: Limits {
            max_message_bytes: conversation::TEXT_MAX_BYTES,
            max_group_members: s.group_max_members,
            track_batch_events: track::MAX_EVENTS,
            feedback_per_day: feedback::PER_DAY,
        },
        // Built and always on: uploads, emoji. Not built yet: the rest.
        features: Features { calls: true, moments: true, uploads: true, emoji: true, notifications: true },
    };
    let mut response = ok(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    response
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct VersionQuery {
    /// The app: 1 to 64 characters of `a-z 0-9 . _ -`.
    #[param(required = true, value_type = String, example = "beaver-ios")]
    app_id: Option<String>,
    /// `ios`, `android`, `web`, `desktop`, `mac` or `windows`.
    #[param(required = true, value_type = String, example = "ios")]
    platform: Option<String>,
    /// The version the device runs (semver).
    #[param(required = true, value_type = String, example = "2.1.0")]
    version: Option<String>,
    /// The device: 1 to 128 characters of `A-Z a-z 0-9 . _ -`; it picks the rollout bucket.
    #[param(required = true, value_type = String)]
    device_id: Option<String>,
}

fn required<'a>(field: &'static str, v: &'a Option<String>) -> Result<&'a str, ApiError> {
    v.as_deref().filter(|v| !v.is_empty()).ok_or_else(|| ApiError::invalid(field, format!("{field} is required")))
}

/// Checks whether an app version should update (no token needed).
///
/// Releases withdrawn are never offered. `required` (with the newest release)
/// when `version` is below the newest release's `min_supported`; else
/// `optional` with the newest newer release whose rollout includes the
/// device's bucket; else `none`.
#[utoipa::path(get, path = "/api/system/app-version", tag = "system", security(()),
    params(VersionQuery),
    responses(
        (status = 200, description = "The update the device is offered.", body = Envelope<system::UpdateCheck>),
        (status = 404, description = "`not_found`: nothing was ever published for this app and platform."),
        (status = 422, description = "`invalid_field`: `app_id`, `platform`, `version` or `device_id` is missing or malformed."),
    ))]
async fn app_version(State(s): State<AppState>, ApiQuery(q): ApiQuery<VersionQuery>) -> Result<Response, ApiError> {
    let app_id = required("app_id", &q.app_id)?;
    rules::check_app_id(app_id)?;
    let platform = required("platform", &q.platform)?;
    rules::check_platform("platform", platform)?;
    let current = rules::semver("version", required("version", &q.version)?)?;
    let device_id = required("device_id", &q.device_id)?;
    track::check_device_id(device_id)?;
    let releases = system::releases(&s.pool, app_id, platform).await?;
    if releases.is_empty() {
        return Err(ApiError::NotFound(format!("nothing was published for {app_id} on {platform}")));
    }
    let bucket = system::rollout_bucket(app_id, platform, device_id);
    Ok(ok(system::update_for(&releases, &current, bucket)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AnnouncementsQuery {
    /// Only the announcements for this platform (or for every platform):
    /// `ios`, `android`, `web`, `desktop`, `mac` or `windows`.
    platform: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Announcements {
    /// Started and not ended, newest `starts_at` first (at most 100).
    announcements: Vec<system::Announcement>,
}

/// Lists the current announcements.
#[utoipa::path(get, path = "/api/system/announcements", tag = "system",
    params(AnnouncementsQuery),
    responses(
        (status = 200, description = "The current announcements.", body = Envelope<Announcements>),
        (status = 422, description = "`invalid_field`: `platform` is not a known platform."),
    ))]
async fn announcements(State(s): State<AppState>, _user: AuthUser, ApiQuery(q): ApiQuery<AnnouncementsQuery>) -> Result<Response, ApiError> {
    let platform = q.platform.as_deref().filter(|p| !p.is_empty());
    if let Some(p) = platform {
        rules::check_platform("platform", p)?;
    }
    let now = time::OffsetDateTime::now_utc();
    let now = time::PrimitiveDateTime::new(now.date(), now.time());
    Ok(ok(Announcements { announcements: system::current_announcements(&s.pool, now, platform).await? }))
}
