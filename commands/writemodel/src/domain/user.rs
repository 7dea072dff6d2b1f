//! The user aggregate: an account — registration and its public profile.
//! Registration's uniqueness (usernames, e-mails, phones) is not decided
//! here but by the commands tier's claims, before `Register` is decided.

use super::{Ctx, DomainError};
use beaver_events::UserEvent;
use beaver_events::user::{Gender, UserProfileUpdated, UserRegistered};
use serde::Deserialize;
use uuid::Uuid;

/// `POST /api/user/register` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterUser {
    /// 3–32 of `a-z 0-9 _` after trimming (upper case is lowered); unique.
    pub username: String,
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// 1–32 characters; blank or absent: the username.
    pub nickname: Option<String>,
    /// An e-mail address (lowered); unique; blank counts as absent.
    pub email: Option<String>,
    /// International form, e.g. `+14155550100` (spaces, dashes, dots and parentheses are dropped); unique; blank counts as absent.
    pub phone: Option<String>,
}

/// A registration whose fields passed every rule, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub username: String,
    pub password: String,
    pub nickname: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

pub const PASSWORD_MIN: usize = 8;
/// Bounds the cost of hashing an attacker-chosen password.
pub const PASSWORD_MAX: usize = 128;
pub const NICKNAME_MAX: usize = 32;
pub const AVATAR_MAX: usize = 512;
pub const SIGNATURE_MAX: usize = 256;

/// Lower-cases and checks a username: 3–32 of `[a-z0-9_]`.
pub fn normalize_username(raw: &str) -> Result<String, DomainError> {
    let name = raw.trim().to_ascii_lowercase();
    if !(3..=32).contains(&name.len()) {
        return Err(DomainError::Invalid("username", "username must be 3 to 32 characters".into()));
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(DomainError::Invalid("username", "username may contain only a-z, 0-9 and _".into()));
    }
    Ok(name)
}

/// Lower-cases and checks an e-mail address (shape only; no delivery check).
pub fn normalize_email(raw: &str) -> Result<String, DomainError> {
    let email = raw.trim().to_lowercase();
    let bad = || DomainError::Invalid("email", "email is not a valid address".into());
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
    let domain_ok = domain.len() >= 3
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
        return Err(bad());
    }
    Ok(email)
}

/// Normalises a phone number to E.164 (`+` and 6–15 digits); spaces, dashes,
/// dots and parentheses are dropped.
pub fn normalize_phone(raw: &str) -> Result<String, DomainError> {
    let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = compact.strip_prefix('+').unwrap_or("");
    if !(6..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::Invalid("phone", "phone must be in international form, e.g. +14155550100".into()));
    }
    Ok(compact)
}

fn check_text(field: &'static str, value: &str, min: usize, max: usize) -> Result<String, DomainError> {
    let value = value.trim();
    let len = value.chars().count();
    if len < min || len > max {
        return Err(DomainError::Invalid(field, format!("{field} must be {min} to {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(DomainError::Invalid(field, format!("{field} must not contain control characters")));
    }
    Ok(value.to_owned())
}

/// Checks every registration rule; the nickname defaults to the username.
pub fn validate_registration(req: RegisterUser) -> Result<NewAccount, DomainError> {
    let username = normalize_username(&req.username)?;
    let chars = req.password.chars().count();
    if chars < PASSWORD_MIN {
        return Err(DomainError::Invalid("password", format!("password must be at least {PASSWORD_MIN} characters")));
    }
    if chars > PASSWORD_MAX {
        return Err(DomainError::Invalid("password", format!("password must be at most {PASSWORD_MAX} characters")));
    }
    let nickname = match req.nickname.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => check_text("nickname", n, 1, NICKNAME_MAX)?,
        None => username.clone(),
    };
    let email = req.email.as_deref().filter(|e| !e.trim().is_empty()).map(normalize_email).transpose()?;
    let phone = req.phone.as_deref().filter(|p| !p.trim().is_empty()).map(normalize_phone).transpose()?;
    Ok(NewAccount { username, password: req.password, nickname, email, phone })
}

/// `PUT /api/user/profile` body: any subset (at least one) of the editable fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfile {
    /// 1–32 characters.
    pub nickname: Option<String>,
    /// Up to 512 characters: an http(s) URL, an absolute path, or `""` to clear; a `/api/file/<id>` must be one of the caller's own stored images.
    pub avatar: Option<String>,
    /// Up to 256 characters.
    pub signature: Option<String>,
    pub gender: Option<Gender>,
}

/// The editable part of a profile as currently projected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditableProfile {
    pub nickname: String,
    pub avatar: String,
    pub signature: String,
    pub gender: Gender,
}

/// What a client asks of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    /// Register `user_id` (its names already claimed) with a hashed password.
    Register { user_id: Uuid, account: NewAccount, password_hash: String },
    /// Change any subset of the caller's public profile.
    UpdateProfile(UpdateProfile),
}

/// An account as commands see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserState {
    /// The caller's editable profile; `None` before registration.
    pub profile: Option<EditableProfile>,
}

/// Decides an account command of `ctx.actor`. A profile update keeps only
/// the fields that change; changing nothing answers no events.
pub fn decide(state: &UserState, command: UserCommand, ctx: &Ctx) -> Result<Vec<UserEvent>, DomainError> {
    match command {
        UserCommand::Register { user_id, account, password_hash } => {
            if state.profile.is_some() {
                return Err(DomainError::Conflict("already_registered", "this account exists".into()));
            }
            Ok(vec![UserEvent::UserRegistered(UserRegistered {
                user_id,
                username: account.username,
                password_hash,
                nickname: account.nickname,
                email: account.email,
                phone: account.phone,
            })])
        }
        UserCommand::UpdateProfile(req) => {
            let current = state.profile.as_ref().ok_or_else(|| DomainError::NotFound("user not found".into()))?;
            Ok(profile_update(ctx.actor, current, req)?.map(UserEvent::UserProfileUpdated).into_iter().collect())
        }
    }
}

fn profile_update(user_id: Uuid, current: &EditableProfile, req: UpdateProfile) -> Result<Option<UserProfileUpdated>, DomainError> {
    if req.nickname.is_none() && req.avatar.is_none() && req.signature.is_none() && req.gender.is_none() {
        return Err(DomainError::Invalid("body", "give at least one of nickname, avatar, signature, gender".into()));
    }
    let nickname = req.nickname.map(|n| check_text("nickname", &n, 1, NICKNAME_MAX)).transpose()?;
    let avatar = req.avatar.map(|a| check_text("avatar", &a, 0, AVATAR_MAX)).transpose()?;
    if let Some(a) = avatar.as_deref().filter(|a| !a.is_empty()) {
        if !(a.starts_with("https://") || a.starts_with("http://") || a.starts_with('/')) {
            return Err(DomainError::Invalid("avatar", "avatar must be an http(s) URL or an absolute path".into()));
        }
    }
    let signature = req.signature.map(|s| check_text("signature", &s, 0, SIGNATURE_MAX)).transpose()?;
    let event = UserProfileUpdated {
        user_id,
        nickname: nickname.filter(|n| *n != current.nickname),
        avatar: avatar.filter(|a| *a != current.avatar),
        signature: signature.filter(|s| *s != current.signature),
        gender: req.gender.filter(|g| *g != current.gender),
    };
    let changes = event.nickname.is_some() || event.avatar.is_some() || event.signature.is_some() || event.gender.is_some();
    Ok(changes.then_some(event))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(username: &str, password: &str) -> RegisterUser {
        RegisterUser { username: username.into(), password: password.into(), nickname: None, email: None, phone: None }
    }

    fn field(r: Result<impl std::fmt::Debug, DomainError>) -> &'static str {
        match r {
            Err(DomainError::Invalid(f, _)) => f,
            Err(other) => panic!("expected an invalid field, got {other:?}"),
            Ok(v) => panic!("expected a rejection, got {v:?}"),
        }
    }

    #[test]
    fn a_valid_registration_is_normalised_and_defaults_the_nickname() {
        let a = validate_registration(RegisterUser {
            email: Some(" Ada@Example.ORG ".into()),
            phone: Some("+44 20 7946-0958".into()),
            ..register("  Ada_Lovelace ", "correct horse")
        })
        .unwrap();
        assert_eq!(a.username, "ada_lovelace");
        assert_eq!(a.nickname, "ada_lovelace");
        assert_eq!(a.email.as_deref(), Some("ada@example.org"));
        assert_eq!(a.phone.as_deref(), Some("+442079460958"));
    }

    #[test]
    fn usernames_outside_the_alphabet_or_length_are_rejected() {
        for bad in ["ab", &"x".repeat(33), "ada lovelace", "ada-l", "adä", ""] {
            assert_eq!(field(validate_registration(register(bad, "password1"))), "username", "{bad:?}");
        }
        assert!(validate_registration(register(&"x".repeat(32), "password1")).is_ok());
    }

    #[test]
    fn short_and_huge_passwords_are_rejected() {
        assert_eq!(field(validate_registration(register("ada", "1234567"))), "password");
        assert_eq!(field(validate_registration(register("ada", &"p".repeat(129)))), "password");
        assert!(validate_registration(register("ada", "12345678")).is_ok());
    }

    #[test]
    fn malformed_emails_and_phones_are_rejected() {
        for bad in ["ada", "ada@", "@x.org", "ada@x", "ada@@x.org", "a da@x.org", "ada@x..org"] {
            assert_eq!(field(normalize_email(bad)), "email", "{bad:?}");
        }
        for bad in ["12345678", "+12ab5678", "+123", "+1234567890123456"] {
            assert_eq!(field(normalize_phone(bad)), "phone", "{bad:?}");
        }
    }

    #[test]
    fn blank_optional_fields_count_as_absent() {
        let a = validate_registration(RegisterUser { email: Some("  ".into()), nickname: Some(" ".into()), ..register("ada", "password1") }).unwrap();
        assert_eq!(a.email, None);
        assert_eq!(a.nickname, "ada");
    }

    fn profile() -> EditableProfile {
        EditableProfile { nickname: "Ada".into(), avatar: String::new(), signature: String::new(), gender: Gender::Unspecified }
    }

    fn update(req: UpdateProfile) -> Result<Vec<UserEvent>, DomainError> {
        decide(&UserState { profile: Some(profile()) }, UserCommand::UpdateProfile(req), &crate::domain::testing::ctx(Uuid::now_v7()))
    }

    #[test]
    fn given_a_validated_account_when_registered_then_its_fields_are_the_event() {
        let account = validate_registration(RegisterUser { email: Some("ada@x.org".into()), ..register("ada", "password1") }).unwrap();
        let id = Uuid::now_v7();
        let command = UserCommand::Register { user_id: id, account, password_hash: "$argon2id$…".into() };
        let events = decide(&UserState::default(), command.clone(), &crate::domain::testing::ctx(id)).unwrap();
        let [UserEvent::UserRegistered(r)] = &events[..] else { panic!("{events:?}") };
        assert_eq!((r.user_id, r.username.as_str(), r.nickname.as_str(), r.email.as_deref()), (id, "ada", "ada", Some("ada@x.org")));
        let existing = UserState { profile: Some(profile()) };
        assert_eq!(decide(&existing, command, &crate::domain::testing::ctx(id)).unwrap_err().kind(), "already_registered");
    }

    #[test]
    fn a_profile_update_keeps_only_what_changes() {
        let req = UpdateProfile { nickname: Some("Ada".into()), signature: Some("hello".into()), ..Default::default() };
        let events = update(req).unwrap();
        let [UserEvent::UserProfileUpdated(e)] = &events[..] else { panic!("{events:?}") };
        assert_eq!(e.nickname, None);
        assert_eq!(e.signature.as_deref(), Some("hello"));
    }

    #[test]
    fn an_update_that_changes_nothing_appends_nothing() {
        let req = UpdateProfile { nickname: Some(" Ada ".into()), gender: Some(Gender::Unspecified), ..Default::default() };
        assert_eq!(update(req).unwrap(), vec![]);
    }

    #[test]
    fn empty_or_invalid_profile_updates_are_rejected() {
        assert_eq!(field(update(UpdateProfile::default())), "body");
        assert_eq!(field(update(UpdateProfile { nickname: Some("n".repeat(33)), ..Default::default() })), "nickname");
        assert_eq!(field(update(UpdateProfile { avatar: Some("javascript:alert(1)".into()), ..Default::default() })), "avatar");
        let unknown = decide(&UserState::default(), UserCommand::UpdateProfile(UpdateProfile::default()), &crate::domain::testing::ctx(Uuid::now_v7()));
        assert_eq!(unknown.unwrap_err().kind(), "not_found");
    }
}
