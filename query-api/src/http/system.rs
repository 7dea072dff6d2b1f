//! `/api/system/…`: what a client needs to know about the server — its
//! configuration (public, from this tier's configuration), the update check
//! for an app version (public) and the current announcements.

use crate::AppState;
use axum::{
    extract::State,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use beaver_platform::{
    auth::AuthUser,
    http::{ok, ApiError, ApiQuery},
};
use beaver_readmodel::system;
use beaver_writemodel::domain::{conversation, feedback, system as rules, track};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/system/config", get(config))
        .route("/api/system/app-version", get(app_version))
        .route("/api/system/announcements", get(announcements))
}

#[derive(Debug, Serialize)]
struct Limits {
    max_message_bytes: usize,
    max_group_members: u32,
    track_batch_events: usize,
    feedback_per_day: usize,
}

/// Services a client may offer; `true` only when built and enabled here.
#[derive(Debug, Serialize)]
struct Features {
    calls: bool,
    moments: bool,
    uploads: bool,
    emoji: bool,
    notifications: bool,
}

#[derive(Debug, Serialize)]
struct ClientConfig {
    server_version: &'static str,
    api_version: u32,
    limits: Limits,
    features: Features,
}

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

#[derive(Debug, Deserialize)]
struct VersionQuery {
    app_id: Option<String>,
    platform: Option<String>,
    version: Option<String>,
    device_id: Option<String>,
}

fn required<'a>(field: &'static str, v: &'a Option<String>) -> Result<&'a str, ApiError> {
    v.as_deref().filter(|v| !v.is_empty()).ok_or_else(|| ApiError::invalid(field, format!("{field} is required")))
}

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

#[derive(Debug, Deserialize)]
struct AnnouncementsQuery {
    platform: Option<String>,
}

#[derive(Debug, Serialize)]
struct Announcements {
    announcements: Vec<system::Announcement>,
}

async fn announcements(State(s): State<AppState>, _user: AuthUser, ApiQuery(q): ApiQuery<AnnouncementsQuery>) -> Result<Response, ApiError> {
    let platform = q.platform.as_deref().filter(|p| !p.is_empty());
    if let Some(p) = platform {
        rules::check_platform("platform", p)?;
    }
    let now = time::OffsetDateTime::now_utc();
    let now = time::PrimitiveDateTime::new(now.date(), now.time());
    Ok(ok(Announcements { announcements: system::current_announcements(&s.pool, now, platform).await? }))
}
