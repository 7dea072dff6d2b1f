//! System (the seed's "system" service): what operators publish for every
//! client — app releases with a staged rollout, and announcements. Appended
//! by `beaver-admin` with an operator actor. Releases are keyed
//! `release:<app_id>:<platform>` (one app's releases on one platform stay in
//! order), announcements `announcement:<id>`.

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Everything the system topic carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SystemEvent {
    AppVersionPublished(AppVersionPublished),
    AppRolloutChanged(AppRolloutChanged),
    AppVersionWithdrawn(AppVersionWithdrawn),
    SystemAnnouncementPublished(SystemAnnouncementPublished),
}

/// A new release of an app on one platform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppVersionPublished {
    pub app_id: String,
    pub platform: String,
    /// Semantic version, e.g. `2.1.0`.
    pub version: String,
    /// Where the client downloads it (https).
    pub url: String,
    /// Hex SHA-256 of the download.
    pub sha256: String,
    pub size: u64,
    pub notes: Option<String>,
    /// Clients below this version must update.
    pub min_supported: Option<String>,
    /// Percentage (0–100) of devices offered this release.
    pub rollout_percent: u8,
}

/// The share of devices offered a release changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppRolloutChanged {
    pub app_id: String,
    pub platform: String,
    pub version: String,
    pub rollout_percent: u8,
}

/// A release is no longer offered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppVersionWithdrawn {
    pub app_id: String,
    pub platform: String,
    pub version: String,
}

/// A message to every client (of the listed platforms; all when empty)
/// between `starts_at` and `ends_at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemAnnouncementPublished {
    pub announcement_id: Uuid,
    pub title: String,
    pub body: String,
    pub platforms: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    /// Also an item in every user's inbox once it starts (one event per
    /// user, so the operator asks for it); absent in older records: false.
    #[serde(default)]
    pub inbox: bool,
}

/// The aggregate id of one app's releases on one platform.
pub fn release_key(app_id: &str, platform: &str) -> String {
    format!("release:{app_id}:{platform}")
}

impl DomainEvent for SystemEvent {
    const AGGREGATE_TYPE: &'static str = "system";
    const TOPIC: &'static str = topics::SYSTEM;

    fn event_type(&self) -> &'static str {
        match self {
            SystemEvent::AppVersionPublished(_) => "AppVersionPublished",
            SystemEvent::AppRolloutChanged(_) => "AppRolloutChanged",
            SystemEvent::AppVersionWithdrawn(_) => "AppVersionWithdrawn",
            SystemEvent::SystemAnnouncementPublished(_) => "SystemAnnouncementPublished",
        }
    }

    fn aggregate_id(&self) -> String {
        match self {
            SystemEvent::AppVersionPublished(e) => release_key(&e.app_id, &e.platform),
            SystemEvent::AppRolloutChanged(e) => release_key(&e.app_id, &e.platform),
            SystemEvent::AppVersionWithdrawn(e) => release_key(&e.app_id, &e.platform),
            SystemEvent::SystemAnnouncementPublished(e) => format!("announcement:{}", e.announcement_id),
        }
    }
}
