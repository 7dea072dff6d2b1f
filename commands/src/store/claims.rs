//! Uniqueness on an append-only log.
//!
//! Kafka cannot refuse an append, so a value that must be unique (a username,
//! e-mail or phone) or spent once (a refresh token) is first *claimed* in the
//! write-side table `cmd_claims`, whose primary key is `(kind, value)`:
//!
//! 1. `INSERT` the claims in one transaction, state `pending`, and commit.
//!    Concurrent registrations of one username race on the primary key inside
//!    InnoDB; exactly one insert succeeds, the others get a duplicate-key
//!    error and are answered 409 before anything is appended.
//! 2. Append the event and wait for Kafka's acknowledgement.
//! 3. Success: mark the claims `confirmed`. Failure: delete them, so the value
//!    is free again. [`settle`] does this step for every caller.
//!
//! A crash between 1 and 3 leaves a `pending` claim that may or may not have
//! its event. Such a claim is taken over by a later claimant only when it is
//! older than `stale_after` (longer than the producer's delivery timeout, so
//! its event can no longer be appended) and its owner's result was not
//! projected: no account with the owner id (usernames, e-mails, phones).
//! Feedback ids are claimed per user and `client_feedback_id`, owned by the
//! new feedback's id, so a repeat finds the original. (Chat `client_msg_id`s are not claimed here: the sequencer deduplicates
//! them on the log, docs/chat.md.) The residual risk is a projector lagging by more than
//! `stale_after` at that moment; it is logged by the users projector as a
//! conflict if it ever happens.

use beaver_platform::http::ApiError;
use sqlx::MySqlPool;
use std::time::Duration;
use uuid::Uuid;

/// A value that must be unique, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    Username,
    Email,
    Phone,
    RefreshToken,
    /// `<user>:<hex of client_feedback_id>` (hex: the column folds case, the id does not).
    FeedbackId,
}

impl ClaimKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimKind::Username => "username",
            ClaimKind::Email => "email",
            ClaimKind::Phone => "phone",
            ClaimKind::RefreshToken => "refresh_token",
            ClaimKind::FeedbackId => "feedback",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("{} is already taken", .0.as_str())]
    Taken(ClaimKind),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn is_duplicate(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn is_deadlock(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("40001"))
}

/// Claims every value for `owner`, all or none. InnoDB may pick a racing
/// claimant as a deadlock victim; that attempt is retried.
pub async fn claim(pool: &MySqlPool, owner: Uuid, claims: &[(ClaimKind, &str)], stale_after: Duration) -> Result<(), ClaimError> {
    let mut attempt = 0;
    loop {
        match try_claim(pool, owner, claims, stale_after).await {
            Err(ClaimError::Database(e)) if is_deadlock(&e) && attempt < 3 => attempt += 1,
            other => return other,
        }
    }
}

async fn try_claim(pool: &MySqlPool, owner: Uuid, claims: &[(ClaimKind, &str)], stale_after: Duration) -> Result<(), ClaimError> {
    let mut tx = pool.begin().await?;
    for (kind, value) in claims {
        let inserted = sqlx::query("INSERT INTO cmd_claims (kind, claim_value, owner_id, state) VALUES (?, ?, ?, 'pending')")
            .bind(kind.as_str())
            .bind(value)
            .bind(owner.to_string())
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_duplicate(&e) => {
                if !take_over_stale(&mut tx, *kind, value, owner, stale_after).await? {
                    return Err(ClaimError::Taken(*kind));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Takes over a claim that was left pending by a crashed attempt. The common
/// case — a live claim — is recognised by a non-locking read, so racing
/// losers never ask for the row's exclusive lock.
async fn take_over_stale(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    kind: ClaimKind,
    value: &str,
    owner: Uuid,
    stale_after: Duration,
) -> Result<bool, sqlx::Error> {
    let stale: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM cmd_claims WHERE kind = ? AND claim_value = ? AND state = 'pending' \
         AND created_at < CURRENT_TIMESTAMP(6) - INTERVAL ? SECOND",
    )
    .bind(kind.as_str())
    .bind(value)
    .bind(stale_after.as_secs())
    .fetch_optional(&mut **tx)
    .await?;
    if stale.is_none() {
        return Ok(false);
    }
    let result_exists = match kind {
        ClaimKind::Username | ClaimKind::Email | ClaimKind::Phone => beaver_readmodel::user::account_exists_predicate("c.owner_id"),
        ClaimKind::RefreshToken => "FALSE".to_owned(),
        ClaimKind::FeedbackId => beaver_readmodel::feedback::exists_predicate("c.owner_id"),
    };
    let taken = sqlx::query(&format!(
        "UPDATE cmd_claims c SET c.owner_id = ?, c.created_at = CURRENT_TIMESTAMP(6) \
         WHERE c.kind = ? AND c.claim_value = ? AND c.state = 'pending' \
           AND c.created_at < CURRENT_TIMESTAMP(6) - INTERVAL ? SECOND AND NOT {result_exists}"
    ))
    .bind(owner.to_string())
    .bind(kind.as_str())
    .bind(value)
    .bind(stale_after.as_secs())
    .execute(&mut **tx)
    .await?;
    if taken.rows_affected() == 1 {
        tracing::warn!(kind = kind.as_str(), "took over a stale pending claim");
    }
    Ok(taken.rows_affected() == 1)
}

/// Marks `owner`'s claims as backed by an appended event.
async fn confirm(pool: &MySqlPool, owner: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE cmd_claims SET state = 'confirmed' WHERE owner_id = ? AND state = 'pending'")
        .bind(owner.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// Frees `owner`'s pending claims after a failed append.
async fn release(pool: &MySqlPool, owner: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cmd_claims WHERE owner_id = ? AND state = 'pending'")
        .bind(owner.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// Step 3 of the protocol for `owner`'s claims, given the outcome of the
/// append they guard: confirmed after a successful append; released after a
/// failed one (so the value is free again) and the append's error returned.
/// A failed release is only logged: the claim then goes stale and can be
/// taken over (see the module documentation).
pub async fn settle<T>(pool: &MySqlPool, owner: Uuid, appended: Result<T, ApiError>) -> Result<T, ApiError> {
    match appended {
        Ok(position) => {
            confirm(pool, owner).await?;
            Ok(position)
        }
        Err(e) => {
            if let Err(release) = release(pool, owner).await {
                tracing::error!(error = %release, %owner, "could not release claims after a failed append");
            }
            Err(e)
        }
    }
}

/// Whether `value` was claimed before (used to recognise a spent refresh token).
pub async fn exists(pool: &MySqlPool, kind: ClaimKind, value: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM cmd_claims WHERE kind = ? AND claim_value = ?")
        .bind(kind.as_str())
        .bind(value)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

/// The owner of a claim, if the value is claimed.
pub async fn owner_of(pool: &MySqlPool, kind: ClaimKind, value: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT owner_id FROM cmd_claims WHERE kind = ? AND claim_value = ?")
        .bind(kind.as_str())
        .bind(value)
        .fetch_optional(pool)
        .await?;
    Ok(row.and_then(|r| Uuid::try_parse(&r.0).ok()))
}
