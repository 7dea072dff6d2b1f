//! The read models, named once. Projectors write MariaDB tables and Redis
//! keys from the log; commands, query-api and ws-push read them. This crate
//! is the only place the serving tiers find a table name, a column or a Redis
//! key: each module holds the typed rows and queries of one aggregate's read
//! model, so a change to a read model is a change here, checked by the
//! compiler in every tier that reads it.
//!
//! It depends only on `beaver-events`; every tier (and `beaver-platform`)
//! depends on it, and no tier depends on another tier (see
//! `tests/tests/architecture.rs` and docs/architecture.md).
//!
//! # Layout
//! - [`keys`]: the whole Redis keyspace and pub/sub channels.
//! - [`presence`]: the online state ws-push writes and query-api reads.
//! - [`progress`]: projector names and their stored offsets (`projector_offsets`).
//! - [`sent_filter`]: the Bloom filter of sent `(conversation, sender, client_msg_id)` keys that spares a send the read model's idempotency lookup.
//! - [`sync`]: incremental list sync by version (`sync_versions`).
//! - [`user`], [`relation`], [`group`], [`conversation`], [`session`]: rows and queries per aggregate.
//! - [`feedback`], [`system`], [`settings`], [`files`], [`emoji`], [`notification`], [`moment`], [`call`]: the seed services' read models.
//! - [`MIGRATOR`]: the SQL migrations under `schemas/migrations`, compiled in.

pub mod call;
pub mod conversation;
pub mod emoji;
pub mod feedback;
pub mod files;
pub mod group;
pub mod keys;
pub mod moment;
pub mod notification;
pub mod presence;
pub mod progress;
pub mod relation;
pub mod sent_filter;
pub mod session;
pub mod settings;
pub mod sync;
pub mod system;
pub mod user;

use time::{format_description::well_known::Rfc3339, PrimitiveDateTime};

/// The migrations under `schemas/migrations`, compiled in. The projectors
/// apply them at start; `deploy/admin` and the tests use them for scratch databases.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// RFC 3339 text of a stored UTC time (the API's one time format).
pub fn rfc3339(t: PrimitiveDateTime) -> String {
    t.assume_utc().format(&Rfc3339).unwrap_or_default()
}

/// Serialising stored times as RFC 3339 text (`#[serde(serialize_with = "crate::time_text")]`).
pub(crate) fn time_text<S: serde::Serializer>(t: &PrimitiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// [`time_text`] for a nullable column.
pub(crate) fn opt_time_text<S: serde::Serializer>(t: &Option<PrimitiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// A stored id column as a `Uuid`; a malformed one is a decode error.
pub(crate) fn uuid(text: &str) -> Result<uuid::Uuid, sqlx::Error> {
    uuid::Uuid::try_parse(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Escapes `%`, `_` and `\` for a LIKE pattern.
pub fn like_escape(s: &str) -> String {
    s.chars().fold(String::with_capacity(s.len()), |mut out, c| {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// The ids among `ids` that `sql_head <bind> AND … <column> IN (ids)` selects:
/// `binds` fill the equality slots `sql_head` ends with, each followed by AND.
pub(crate) async fn subset(
    pool: &sqlx::MySqlPool,
    sql_head: &str,
    binds: &[String],
    ids: &[uuid::Uuid],
    column: &str,
) -> Result<std::collections::HashSet<uuid::Uuid>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let mut q = sqlx::QueryBuilder::new(sql_head);
    for b in binds {
        q.push_bind(b.clone());
        q.push(" AND ");
    }
    q.push(column);
    q.push(" IN (");
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(id.to_string());
    }
    q.push(")");
    let rows: Vec<(String,)> = q.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().filter_map(|(id,)| uuid::Uuid::try_parse(&id).ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::like_escape;

    #[test]
    fn like_wildcards_in_a_search_term_match_only_themselves() {
        assert_eq!(like_escape("a_b%c\\"), "a\\_b\\%c\\\\");
        assert_eq!(like_escape("plain"), "plain");
    }
}
