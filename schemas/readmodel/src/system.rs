//! The `system` read models (from `beaver.system.v1`): app releases, which
//! the version check chooses from, and announcements.

use serde::Serialize;
use sqlx::{FromRow, MySqlPool};
use time::PrimitiveDateTime;

/// A published release of an app on one platform.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct Release {
    pub app_id: String,
    pub platform: String,
    pub version: String,
    pub url: String,
    pub sha256: String,
    pub size: i64,
    pub notes: Option<String>,
    pub min_supported: Option<String>,
    pub rollout_percent: i8,
    pub withdrawn: bool,
    pub published_at: PrimitiveDateTime,
}

/// Every release of `app_id` on `platform` (withdrawn ones too), in no particular order.
pub async fn releases(pool: &MySqlPool, app_id: &str, platform: &str) -> Result<Vec<Release>, sqlx::Error> {
    sqlx::query_as(
        "SELECT app_id, platform, version, url, sha256, size, notes, min_supported, rollout_percent, withdrawn, published_at \
         FROM app_releases WHERE app_id = ? AND platform = ?",
    )
    .bind(app_id)
    .bind(platform)
    .fetch_all(pool)
    .await
}

/// An announcement as clients list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Announcement {
    pub announcement_id: String,
    pub title: String,
    pub body: String,
    /// Empty: every platform.
    pub platforms: Vec<String>,
    #[serde(serialize_with = "crate::time_text")]
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: PrimitiveDateTime,
    /// `null`: until further notice.
    #[serde(serialize_with = "crate::opt_time_text")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<PrimitiveDateTime>,
    /// Also delivered to every inbox (the notifier's, not shown in the listing).
    #[serde(skip)]
    pub inbox: bool,
}

/// The platforms column: names joined by commas, '' for every platform.
pub fn platforms_column(platforms: &[String]) -> String {
    platforms.join(",")
}

/// Announcements current at `now` (started, not ended), newest start first;
/// with `platform`, only those for it (or for every platform).
pub async fn current_announcements(pool: &MySqlPool, now: PrimitiveDateTime, platform: Option<&str>) -> Result<Vec<Announcement>, sqlx::Error> {
    type Row = (String, String, String, String, PrimitiveDateTime, Option<PrimitiveDateTime>, bool);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT announcement_id, title, body, platforms, starts_at, ends_at, inbox FROM announcements \
         WHERE starts_at <= ? AND (ends_at IS NULL OR ends_at > ?) AND (? IS NULL OR platforms = '' OR FIND_IN_SET(?, platforms) > 0) \
         ORDER BY starts_at DESC, announcement_id DESC LIMIT 100",
    )
    .bind(now)
    .bind(now)
    .bind(platform)
    .bind(platform)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(announcement_id, title, body, platforms, starts_at, ends_at, inbox)| Announcement {
            announcement_id,
            title,
            body,
            platforms: platforms.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
            starts_at,
            ends_at,
            inbox,
        })
        .collect())
}

/// The device's rollout bucket for an app on a platform, 0–99: stable for
/// the device, so raising a release's percentage only adds devices.
pub fn rollout_bucket(app_id: &str, platform: &str, device_id: &str) -> u8 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{app_id}:{platform}:{device_id}").as_bytes());
    let first: [u8; 8] = digest[..8].try_into().expect("a SHA-256 digest has 32 bytes");
    (u64::from_be_bytes(first) % 100) as u8
}

/// What the version check answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UpdateCheck {
    /// `none`, `optional` or `required`.
    pub update: &'static str,
    /// The release offered; `null` with `none`.
    pub latest: Option<Offered>,
}

/// The release a client is offered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Offered {
    /// A semantic version.
    pub version: String,
    /// An `https://` download URL.
    pub url: String,
    /// Bytes.
    pub size: i64,
    /// 64 hex digits.
    pub sha256: String,
    pub notes: Option<String>,
}

impl From<&Release> for Offered {
    fn from(r: &Release) -> Self {
        Offered { version: r.version.clone(), url: r.url.clone(), size: r.size, sha256: r.sha256.clone(), notes: r.notes.clone() }
    }
}

/// Which update a device running `current` with rollout bucket `bucket` is
/// offered among `releases` (withdrawn ones are never offered):
/// `required` with the newest release when `current` is below its
/// `min_supported`; else `optional` with the newest newer release whose
/// rollout includes the bucket; else `none`.
pub fn update_for(releases: &[Release], current: &semver::Version, bucket: u8) -> UpdateCheck {
    let mut live: Vec<(semver::Version, &Release)> =
        releases.iter().filter(|r| !r.withdrawn).filter_map(|r| Some((semver::Version::parse(&r.version).ok()?, r))).collect();
    live.sort_by(|a, b| b.0.cmp(&a.0));
    let Some((_, newest)) = live.first() else { return UpdateCheck { update: "none", latest: None } };
    let below_min = newest.min_supported.as_deref().and_then(|m| semver::Version::parse(m).ok()).is_some_and(|min| *current < min);
    if below_min {
        return UpdateCheck { update: "required", latest: Some((*newest).into()) };
    }
    match live.iter().find(|(v, r)| v > current && (bucket as i16) < r.rollout_percent as i16) {
        Some((_, r)) => UpdateCheck { update: "optional", latest: Some((*r).into()) },
        None => UpdateCheck { update: "none", latest: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(version: &str, rollout: i8, min: Option<&str>, withdrawn: bool) -> Release {
        Release {
            app_id: "a".into(),
            platform: "ios".into(),
            version: version.into(),
            url: format!("https://dl/{version}"),
            sha256: "00".repeat(32),
            size: 1,
            notes: None,
            min_supported: min.map(str::to_owned),
            rollout_percent: rollout,
            withdrawn,
            published_at: time::PrimitiveDateTime::MIN,
        }
    }

    fn v(s: &str) -> semver::Version {
        semver::Version::parse(s).unwrap()
    }

    fn offered(c: &UpdateCheck) -> (&str, Option<&str>) {
        (c.update, c.latest.as_ref().map(|l| l.version.as_str()))
    }

    #[test]
    fn the_newest_release_in_the_devices_rollout_is_offered() {
        let rs = [release("1.0.0", 100, None, false), release("1.1.0", 100, None, false), release("1.2.0", 10, None, false)];
        assert_eq!(offered(&update_for(&rs, &v("1.0.0"), 5)), ("optional", Some("1.2.0")));
        assert_eq!(offered(&update_for(&rs, &v("1.0.0"), 50)), ("optional", Some("1.1.0")), "outside 1.2.0's 10 %");
        assert_eq!(offered(&update_for(&rs, &v("1.1.0"), 50)), ("none", None));
        assert_eq!(offered(&update_for(&rs, &v("1.2.0"), 5)), ("none", None));
    }

    #[test]
    fn below_the_newest_minimum_the_newest_is_required_whatever_its_rollout() {
        let rs = [release("1.0.0", 100, None, false), release("2.0.0", 0, Some("1.5.0"), false)];
        assert_eq!(offered(&update_for(&rs, &v("1.4.9"), 99)), ("required", Some("2.0.0")));
        assert_eq!(offered(&update_for(&rs, &v("1.5.0"), 99)), ("none", None));
    }

    #[test]
    fn a_withdrawn_release_is_never_offered_and_its_predecessor_is() {
        let rs = [release("1.0.0", 100, None, false), release("1.1.0", 100, None, false), release("1.2.0", 100, Some("1.2.0"), true)];
        assert_eq!(offered(&update_for(&rs, &v("1.0.0"), 0)), ("optional", Some("1.1.0")), "and its minimum no longer applies");
        assert_eq!(offered(&update_for(&[release("1.0.0", 100, None, true)], &v("0.1.0"), 0)), ("none", None));
    }

    #[test]
    fn the_bucket_is_stable_and_spread() {
        assert_eq!(rollout_bucket("a", "ios", "d1"), rollout_bucket("a", "ios", "d1"));
        let buckets: std::collections::HashSet<u8> = (0..1000).map(|i| rollout_bucket("a", "ios", &format!("d{i}"))).collect();
        assert!(buckets.len() > 90 && buckets.iter().all(|b| *b < 100));
        assert!(semver::Version::parse("2.10.0").unwrap() > v("2.9.0"), "versions compare as versions, not text");
    }
}
