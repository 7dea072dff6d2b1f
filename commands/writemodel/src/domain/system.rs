//! What operators publish for every client (`beaver-admin release …` and
//! `beaver-admin announce`): each decision checks the operator's input and
//! the releases already published for the app and platform, and yields the
//! events to append (none for a change that changes nothing).

use super::{Ctx, DomainError};
use beaver_events::system::{AppRolloutChanged, AppVersionPublished, AppVersionWithdrawn, SystemAnnouncementPublished, SystemEvent};
use semver::Version;
use time::OffsetDateTime;

pub const NOTES_MAX_CHARS: usize = 4_000;
pub const TITLE_MAX_CHARS: usize = 100;
pub const BODY_MAX_CHARS: usize = 2_000;

/// A release as the decisions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseState {
    pub version: String,
    pub rollout_percent: u8,
    pub withdrawn: bool,
}

/// `beaver-admin release publish`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub app_id: String,
    pub platform: String,
    pub version: String,
    pub url: String,
    pub sha256: String,
    pub size: u64,
    pub notes: Option<String>,
    pub min_supported: Option<String>,
    pub rollout_percent: u8,
}

fn invalid(field: &'static str, why: impl Into<String>) -> DomainError {
    DomainError::Invalid(field, why.into())
}

/// `app_id`: 1–64 characters of `a-z 0-9 . _ -`.
pub fn check_app_id(app_id: &str) -> Result<(), DomainError> {
    let ok = (1..=64).contains(&app_id.len()) && app_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    ok.then_some(()).ok_or_else(|| invalid("app_id", "app_id must be 1 to 64 characters of a-z 0-9 . _ -"))
}

/// A platform name Track knows.
pub fn check_platform(field: &'static str, platform: &str) -> Result<(), DomainError> {
    if super::track::PLATFORMS.contains(&platform) {
        Ok(())
    } else {
        Err(invalid(field, format!("{field} must be one of {}", super::track::PLATFORMS.join(", "))))
    }
}

/// A semantic version (`2.1.0`, `2.1.0-beta.1`).
pub fn semver(field: &'static str, v: &str) -> Result<Version, DomainError> {
    Version::parse(v).map_err(|e| invalid(field, format!("{field} is not a semantic version ({e})")))
}

fn percent(p: u8) -> Result<u8, DomainError> {
    if p <= 100 {
        Ok(p)
    } else {
        Err(invalid("rollout", "rollout must be 0 to 100"))
    }
}

/// Decides a new release, given every release of its app and platform.
pub fn decide_publish(existing: &[ReleaseState], p: Publish) -> Result<Vec<SystemEvent>, DomainError> {
    check_app_id(&p.app_id)?;
    check_platform("platform", &p.platform)?;
    let version = semver("version", &p.version)?;
    if !p.url.starts_with("https://") || p.url.len() > 2048 || p.url.len() <= "https://".len() {
        return Err(invalid("url", "url must be an https:// URL of at most 2048 characters"));
    }
    if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("sha256", "sha256 must be 64 hexadecimal digits"));
    }
    if p.size == 0 || p.size > i64::MAX as u64 {
        return Err(invalid("size", "size must be a positive number of bytes"));
    }
    let notes = match p.notes.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(n) if n.chars().count() > NOTES_MAX_CHARS => return Err(invalid("notes", format!("notes must be at most {NOTES_MAX_CHARS} characters"))),
        Some(n) => Some(n.to_owned()),
    };
    if let Some(min) = &p.min_supported {
        if semver("min_supported", min)? > version {
            return Err(invalid("min_supported", "min_supported must not be above version"));
        }
    }
    let rollout_percent = percent(p.rollout_percent)?;
    if existing.iter().any(|r| Version::parse(&r.version).is_ok_and(|v| v == version) || r.version.eq_ignore_ascii_case(&p.version)) {
        return Err(DomainError::Conflict("version_exists", format!("{} {} {} was already published", p.app_id, p.platform, p.version)));
    }
    Ok(vec![SystemEvent::AppVersionPublished(AppVersionPublished {
        app_id: p.app_id,
        platform: p.platform,
        version: version.to_string(),
        url: p.url,
        sha256: p.sha256.to_ascii_lowercase(),
        size: p.size,
        notes,
        min_supported: p.min_supported.map(|m| Version::parse(&m).map(|v| v.to_string()).unwrap_or(m)),
        rollout_percent,
    })])
}

fn find<'a>(existing: &'a [ReleaseState], version: &str) -> Result<&'a ReleaseState, DomainError> {
    let wanted = semver("version", version)?;
    existing
        .iter()
        .find(|r| Version::parse(&r.version).is_ok_and(|v| v == wanted))
        .ok_or_else(|| DomainError::NotFound(format!("no release {version}")))
}

/// Decides a new rollout percentage of a published, not withdrawn release.
pub fn decide_rollout(existing: &[ReleaseState], app_id: &str, platform: &str, version: &str, rollout: u8) -> Result<Vec<SystemEvent>, DomainError> {
    let rollout_percent = percent(rollout)?;
    let release = find(existing, version)?;
    if release.withdrawn {
        return Err(DomainError::Conflict("withdrawn", format!("{version} was withdrawn")));
    }
    if release.rollout_percent == rollout_percent {
        return Ok(vec![]);
    }
    Ok(vec![SystemEvent::AppRolloutChanged(AppRolloutChanged {
        app_id: app_id.to_owned(),
        platform: platform.to_owned(),
        version: release.version.clone(),
        rollout_percent,
    })])
}

/// Decides the withdrawal of a published release (again: nothing).
pub fn decide_withdraw(existing: &[ReleaseState], app_id: &str, platform: &str, version: &str) -> Result<Vec<SystemEvent>, DomainError> {
    let release = find(existing, version)?;
    if release.withdrawn {
        return Ok(vec![]);
    }
    Ok(vec![SystemEvent::AppVersionWithdrawn(AppVersionWithdrawn {
        app_id: app_id.to_owned(),
        platform: platform.to_owned(),
        version: release.version.clone(),
    })])
}

/// `beaver-admin announce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub title: String,
    pub body: String,
    pub platforms: Vec<String>,
    /// `None`: now.
    pub starts_at: Option<OffsetDateTime>,
    pub ends_at: Option<OffsetDateTime>,
    /// Also put it in every user's inbox.
    pub inbox: bool,
}

fn text(field: &'static str, raw: &str, max: usize) -> Result<String, DomainError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(invalid(field, format!("{field} must be 1 to {max} characters")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(invalid(field, format!("{field} must not contain control characters")));
    }
    Ok(t.to_owned())
}

/// Decides an announcement (with a new id) at `ctx.now`.
pub fn decide_announce(a: Announce, ctx: &Ctx) -> Result<SystemEvent, DomainError> {
    let title = text("title", &a.title, TITLE_MAX_CHARS)?;
    let body = text("body", &a.body, BODY_MAX_CHARS)?;
    let mut platforms = Vec::new();
    for p in a.platforms.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        check_platform("platforms", p)?;
        if !platforms.iter().any(|q: &String| q == p) {
            platforms.push(p.to_owned());
        }
    }
    // An operator's times at the precision they are listed with: the frame says the same.
    let starts_at = beaver_events::stored_precision(a.starts_at.unwrap_or(ctx.now));
    let ends_at = a.ends_at.map(beaver_events::stored_precision);
    if ends_at.is_some_and(|end| end <= starts_at) {
        return Err(invalid("ends_at", "ends_at must be after starts_at"));
    }
    Ok(SystemEvent::SystemAnnouncementPublished(SystemAnnouncementPublished {
        announcement_id: ctx.new_id(),
        title,
        body,
        platforms,
        starts_at,
        ends_at,
        inbox: a.inbox,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{ctx, id, user};
    use time::Duration;

    fn publish(version: &str) -> Publish {
        Publish {
            app_id: "beaver.ios".into(),
            platform: "ios".into(),
            version: version.into(),
            url: "https://dl.example/b.ipa".into(),
            sha256: "AB".repeat(32),
            size: 10,
            notes: Some("  ".into()),
            min_supported: None,
            rollout_percent: 100,
        }
    }

    fn released(version: &str, withdrawn: bool) -> ReleaseState {
        ReleaseState { version: version.into(), rollout_percent: 100, withdrawn }
    }

    #[test]
    fn a_release_is_published_once_with_its_fields_normalised() {
        let events = decide_publish(&[], publish("2.1.0")).unwrap();
        let [SystemEvent::AppVersionPublished(e)] = events.as_slice() else { panic!("{events:?}") };
        let e = e.clone();
        assert_eq!((e.sha256, e.notes, e.rollout_percent), ("ab".repeat(32), None, 100));
        let twice = decide_publish(&[released("2.1.0", true)], publish("2.1.0")).unwrap_err();
        assert_eq!(twice.kind(), "version_exists", "withdrawn versions stay taken");
    }

    #[test]
    fn each_bad_publish_field_is_named() {
        let kind = |p: Publish| decide_publish(&[], p).unwrap_err().kind();
        assert_eq!(kind(Publish { app_id: "Beaver".into(), ..publish("1.0.0") }), "app_id");
        assert_eq!(kind(Publish { platform: "nokia".into(), ..publish("1.0.0") }), "platform");
        assert_eq!(kind(publish("1.0")), "version");
        assert_eq!(kind(Publish { url: "http://dl.example/b".into(), ..publish("1.0.0") }), "url");
        assert_eq!(kind(Publish { sha256: "zz".repeat(32), ..publish("1.0.0") }), "sha256");
        assert_eq!(kind(Publish { size: 0, ..publish("1.0.0") }), "size");
        assert_eq!(kind(Publish { min_supported: Some("1.0.1".into()), ..publish("1.0.0") }), "min_supported");
        assert_eq!(kind(Publish { rollout_percent: 101, ..publish("1.0.0") }), "rollout");
    }

    #[test]
    fn rollout_and_withdraw_need_a_release_and_repeat_as_no_ops() {
        let existing = [released("2.0.0", false), released("2.1.0", true)];
        assert_eq!(decide_rollout(&existing, "a", "ios", "2.2.0", 10).unwrap_err().kind(), "not_found");
        assert_eq!(decide_rollout(&existing, "a", "ios", "2.1.0", 10).unwrap_err().kind(), "withdrawn");
        assert!(decide_rollout(&existing, "a", "ios", "2.0.0", 100).unwrap().is_empty());
        assert_eq!(decide_rollout(&existing, "a", "ios", "2.0.0", 20).unwrap().len(), 1);
        assert!(decide_withdraw(&existing, "a", "ios", "2.1.0").unwrap().is_empty());
        assert_eq!(decide_withdraw(&existing, "a", "ios", "2.0.0").unwrap().len(), 1);
    }

    #[test]
    fn an_announcement_starts_now_by_default_and_must_end_after_it_starts() {
        let c = ctx(user());
        let a = Announce { title: " Hi ".into(), body: "b".into(), platforms: vec!["ios".into(), "ios".into()], starts_at: None, ends_at: None, inbox: true };
        let SystemEvent::SystemAnnouncementPublished(e) = decide_announce(a.clone(), &c).unwrap() else { panic!() };
        assert_eq!((e.announcement_id, e.title.as_str(), e.platforms.clone(), e.starts_at), (id(1), "Hi", vec!["ios".to_owned()], c.now));
        let backwards = Announce { ends_at: Some(c.now - Duration::seconds(1)), ..a.clone() };
        assert_eq!(decide_announce(backwards, &c).unwrap_err().kind(), "ends_at");
        assert_eq!(decide_announce(Announce { platforms: vec!["tv".into()], ..a.clone() }, &c).unwrap_err().kind(), "platforms");
        assert_eq!(decide_announce(Announce { title: "t".repeat(101), ..a }, &c).unwrap_err().kind(), "title");
    }
}
