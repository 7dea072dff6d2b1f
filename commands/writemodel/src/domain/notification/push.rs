//! Whether a user gets an offline push for a new message or inbox item,
//! and whether it may show a preview (docs/services.md, "Offline push
//! jobs"). Pure: the push worker loads the facts.

use beaver_events::user::{DoNotDisturb, Notifications, PushLevel};
use time::OffsetDateTime;

/// What a push is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum About {
    /// A message; `group`: in a group conversation; `mentioned`: it mentions the user.
    Message { group: bool, mentioned: bool, muted: bool },
    Notification,
}

/// What the user's state says about one push.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    pub online: bool,
    pub has_tokens: bool,
    pub settings: &'a Notifications,
    pub now: OffsetDateTime,
}

/// Why no push is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    Online,
    NoTokens,
    PushOff,
    NotMentioned,
    CategoryOff,
    Muted,
    QuietHours,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Online => "online",
            Skip::NoTokens => "no_tokens",
            Skip::PushOff => "push_off",
            Skip::NotMentioned => "not_mentioned",
            Skip::CategoryOff => "category_off",
            Skip::Muted => "muted",
            Skip::QuietHours => "quiet_hours",
        }
    }
}

/// `Ok(preview)` when a push is made (`preview`: it may show the content).
pub fn decide(about: About, f: &Facts) -> Result<bool, Skip> {
    reachable(f.online, f.has_tokens)?;
    match (f.settings.push, about) {
        (PushLevel::None, _) => return Err(Skip::PushOff),
        (PushLevel::Mentions, About::Message { group: true, mentioned: false, .. }) => return Err(Skip::NotMentioned),
        _ => {}
    }
    if let About::Message { muted, .. } = about {
        if !f.settings.categories.messages {
            return Err(Skip::CategoryOff);
        }
        if muted {
            return Err(Skip::Muted);
        }
    }
    if quiet(&f.settings.do_not_disturb, f.now) {
        return Err(Skip::QuietHours);
    }
    Ok(f.settings.previews)
}

/// The rules that need nothing but presence and tokens, checked first: a
/// user with a live socket gets the frame, not a push; a user without a
/// usable token cannot be pushed. The worker asks these before it reads
/// anything else about the message, so pushes to users who are online cost
/// no database query.
pub fn reachable(online: bool, has_tokens: bool) -> Result<(), Skip> {
    if online {
        return Err(Skip::Online);
    }
    if !has_tokens {
        return Err(Skip::NoTokens);
    }
    Ok(())
}

fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// Whether `now` is within the user's do-not-disturb hours: local time in
/// `[start, end)`, wrapping past midnight when `end` is before `start`.
pub fn quiet(dnd: &DoNotDisturb, now: OffsetDateTime) -> bool {
    use chrono::Timelike;
    if !dnd.enabled {
        return false;
    }
    let (Some(start), Some(end), Ok(tz)) = (minutes(&dnd.start), minutes(&dnd.end), dnd.time_zone.parse::<chrono_tz::Tz>()) else {
        return false;
    };
    let Some(utc) = chrono::DateTime::from_timestamp(now.unix_timestamp(), 0) else { return false };
    let local = utc.with_timezone(&tz);
    let at = local.hour() * 60 + local.minute();
    match start.cmp(&end) {
        std::cmp::Ordering::Less => start <= at && at < end,
        std::cmp::Ordering::Greater => at >= start || at < end,
        std::cmp::Ordering::Equal => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beaver_events::user::Categories;

    fn at(rfc: &str) -> OffsetDateTime {
        OffsetDateTime::parse(rfc, &time::format_description::well_known::Rfc3339).unwrap()
    }

    fn facts(settings: &Notifications) -> Facts<'_> {
        Facts { online: false, has_tokens: true, settings, now: at("2026-12-06T12:00:00Z") }
    }

    const DIRECT: About = About::Message { group: false, mentioned: false, muted: false };

    #[test]
    fn an_offline_user_with_a_token_gets_a_push_with_a_preview_by_default() {
        let s = Notifications::default();
        assert_eq!(decide(DIRECT, &facts(&s)), Ok(true));
        assert_eq!(decide(DIRECT, &Facts { online: true, ..facts(&s) }), Err(Skip::Online));
        assert_eq!(decide(DIRECT, &Facts { has_tokens: false, ..facts(&s) }), Err(Skip::NoTokens));
        let quiet_previews = Notifications { previews: false, ..Notifications::default() };
        assert_eq!(decide(About::Notification, &facts(&quiet_previews)), Ok(false));
    }

    #[test]
    fn push_levels_categories_and_mutes() {
        let none = Notifications { push: PushLevel::None, ..Notifications::default() };
        assert_eq!(decide(About::Notification, &facts(&none)), Err(Skip::PushOff));
        let mentions = Notifications { push: PushLevel::Mentions, ..Notifications::default() };
        assert_eq!(decide(About::Message { group: true, mentioned: false, muted: false }, &facts(&mentions)), Err(Skip::NotMentioned));
        assert_eq!(decide(About::Message { group: true, mentioned: true, muted: false }, &facts(&mentions)), Ok(true));
        assert_eq!(decide(DIRECT, &facts(&mentions)), Ok(true));
        assert_eq!(decide(About::Notification, &facts(&mentions)), Ok(true));
        let no_messages = Notifications { categories: Categories { messages: false, ..Categories::default() }, ..Notifications::default() };
        assert_eq!(decide(DIRECT, &facts(&no_messages)), Err(Skip::CategoryOff));
        assert_eq!(decide(About::Notification, &facts(&no_messages)), Ok(true));
        let s = Notifications::default();
        assert_eq!(decide(About::Message { group: false, mentioned: false, muted: true }, &facts(&s)), Err(Skip::Muted));
    }

    #[test]
    fn quiet_hours_are_local_and_may_wrap_past_midnight() {
        let dnd = |start: &str, end: &str, tz: &str| DoNotDisturb { enabled: true, start: start.into(), end: end.into(), time_zone: tz.into() };
        // 23:30 UTC is 00:30 in Berlin (winter).
        let late = at("2026-12-06T23:30:00Z");
        assert!(quiet(&dnd("22:00", "07:00", "UTC"), late));
        assert!(quiet(&dnd("00:00", "01:00", "Europe/Berlin"), late));
        assert!(!quiet(&dnd("00:00", "01:00", "UTC"), late));
        assert!(!quiet(&dnd("22:00", "07:00", "UTC"), at("2026-12-06T07:00:00Z")), "the end is not quiet");
        assert!(quiet(&dnd("09:00", "17:00", "UTC"), at("2026-12-06T09:00:00Z")));
        assert!(!quiet(&DoNotDisturb { enabled: false, ..dnd("00:00", "23:59", "UTC") }, late));
        let s = Notifications { do_not_disturb: dnd("11:00", "13:00", "UTC"), ..Notifications::default() };
        assert_eq!(decide(DIRECT, &facts(&s)), Err(Skip::QuietHours));
    }
}
