//! The read model's rows as text, for comparing a live read model with a
//! rebuilt one (the replay test, the scaling test).

use sqlx::{mysql::MySqlRow, Connection, MySqlConnection, Row};

/// The rows `sql` (with one `?`) selects for each id, every column as text.
pub async fn rows(db: &str, sql: &str, ids: &[String]) -> Vec<Vec<String>> {
    let mut conn = MySqlConnection::connect(db).await.unwrap();
    let mut out = Vec::new();
    for id in ids {
        for row in sqlx::query(sql).bind(id).fetch_all(&mut conn).await.unwrap() {
            out.push(stringify(&row));
        }
    }
    out
}

/// Chat rows of the given conversations, compared without the change
/// counter (its numbering depends on how partitions interleave).
pub const CHAT_QUERIES: &[&str] = &[
    "SELECT conversation_id, kind, group_id, max_seq, last_message_id, last_at FROM conversations WHERE conversation_id = ?",
    "SELECT conversation_id, seq, message_id, client_msg_id, sender_id, kind, content, mentions, reply_to, sent_at, edited_at, edit_count, recalled FROM messages WHERE conversation_id = ? ORDER BY seq",
    "SELECT e.message_id, e.edit_no, e.content, e.edited_at FROM message_edits e JOIN messages m ON m.message_id = e.message_id WHERE m.conversation_id = ? ORDER BY e.message_id, e.edit_no",
    "SELECT r.message_id, r.user_id, HEX(r.emoji), r.created_at FROM message_reactions r JOIN messages m ON m.message_id = r.message_id WHERE m.conversation_id = ? ORDER BY 1, 2, 3",
    "SELECT user_id, message_id, conversation_id, seq FROM message_hidden WHERE conversation_id = ? ORDER BY user_id, message_id",
    "SELECT user_id, conversation_id, read_seq, cleared_seq, pinned, muted, hidden FROM user_conversations WHERE conversation_id = ? ORDER BY user_id",
];

pub async fn chat_state(db: &str, redis_url: &str, conversations: &[String], users: &[String]) -> Vec<Vec<Vec<String>>> {
    let mut state = Vec::new();
    for sql in CHAT_QUERIES {
        state.push(rows(db, sql, conversations).await);
    }
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursors = Vec::new();
    for c in conversations {
        let max: Option<String> = redis::cmd("GET").arg(format!("beaver:conv:{c}:max_seq")).query_async(&mut conn).await.unwrap();
        cursors.push(vec![c.clone(), max.unwrap_or_default()]);
        for u in users {
            let read: Option<String> = redis::cmd("HGET").arg(format!("beaver:read:{u}")).arg(c).query_async(&mut conn).await.unwrap();
            cursors.push(vec![u.clone(), read.unwrap_or_default()]);
        }
    }
    state.push(cursors);
    state
}

/// Every column as text, so rows compare exactly whatever their types.
pub fn stringify(row: &MySqlRow) -> Vec<String> {
    (0..row.len())
        .map(|i| {
            row.try_get::<Option<String>, _>(i)
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .or_else(|_| row.try_get::<i64, _>(i).map(|v| v.to_string()))
                .or_else(|_| row.try_get::<time::PrimitiveDateTime, _>(i).map(|v| v.to_string()))
                // binary collations (messages.client_msg_id) come back as bytes
                .or_else(|_| row.try_get::<Vec<u8>, _>(i).map(|v| String::from_utf8_lossy(&v).into_owned()))
                .unwrap_or_else(|e| panic!("column {i}: {e}"))
        })
        .collect()
}

/// An empty, migrated database on the live server, for rebuilding a read
/// model from the log and comparing it with the live one.
pub struct FreshDatabase {
    pub name: String,
    pub url: String,
    admin: MySqlConnection,
}

impl FreshDatabase {
    /// Creates database `name` beside the one `live` names and migrates it.
    pub async fn create(live: &str, name: String) -> Self {
        let mut admin = MySqlConnection::connect(live).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
        let url = format!("{}/{name}", live.rsplit_once('/').unwrap().0);
        beaver_projectors::migrate(&url).await.unwrap();
        FreshDatabase { name, url, admin }
    }

    pub async fn drop(mut self) {
        sqlx::query(&format!("DROP DATABASE {}", self.name)).execute(&mut self.admin).await.unwrap();
    }
}
