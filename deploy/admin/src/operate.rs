//! What the operator subcommands share: who the operator is (the actor of
//! every event they append), the read models they load state from, and
//! appending the events a `beaver_writemodel` decision made.

use crate::Global;
use anyhow::Context;
use beaver_events::{Actor, DomainEvent, Envelope};
use beaver_platform::kafka::{EventProducer, Position};
use beaver_writemodel::domain::DomainError;
use std::time::Duration;

/// The operator's name: `--operator`, else `BEAVER_OPERATOR`, else `$USER`.
pub fn operator(global: &Global) -> anyhow::Result<String> {
    let name = global.operator.clone().or_else(|| std::env::var("USER").ok()).filter(|n| !n.trim().is_empty()).context(
        "who is acting? pass --operator <name> (or set BEAVER_OPERATOR); it is recorded as the actor of the events",
    )?;
    let name = name.trim().to_owned();
    anyhow::ensure!(
        name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b)),
        "--operator must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -"
    );
    Ok(name)
}

/// A refused decision as the operator reads it (the field or kind, then why).
pub fn refused(e: DomainError) -> anyhow::Error {
    anyhow::anyhow!("refused ({}): {e}", e.kind())
}

/// The live read models' database.
pub async fn database(global: &Global) -> anyhow::Result<sqlx::MySqlPool> {
    beaver_platform::connect_mysql(&global.database_url, 2).await
}

/// Appends `events` in order as `operator`'s, each acknowledged by Kafka
/// before the next; the number appended.
pub async fn append<E: DomainEvent>(global: &Global, operator: &str, events: Vec<E>) -> anyhow::Result<usize> {
    Ok(append_at(global, operator, events).await?.len())
}

/// [`append`], answering where each event landed (to wait for with [`applied`]).
pub async fn append_at<E: DomainEvent>(global: &Global, operator: &str, events: Vec<E>) -> anyhow::Result<Vec<Position>> {
    if events.is_empty() {
        return Ok(vec![]);
    }
    let producer = EventProducer::with_timeout(&global.brokers, 0, "beaver-admin", Duration::from_secs(15))?;
    let correlation = format!("beaver-admin-{}", uuid::Uuid::now_v7());
    let mut positions = Vec::with_capacity(events.len());
    for event in &events {
        let envelope = Envelope::new(event.clone(), Actor::Operator(operator.to_owned()), correlation.clone(), None);
        positions.push(producer.append(&envelope).await.with_context(|| format!("could not append to {}", E::TOPIC))?);
    }
    Ok(positions)
}

/// Waits until `projector` has applied every one of `positions` of
/// `topic` (its `projector_offsets`), so that a command's answer is what
/// the API shows next; `false` when `limit` passed first (appended, not yet
/// visible: the projection is behind or not running).
pub async fn applied(pool: &sqlx::MySqlPool, projector: &str, topic: &str, positions: &[Position], limit: Duration) -> anyhow::Result<bool> {
    let mut last: std::collections::BTreeMap<i32, i64> = Default::default();
    for p in positions {
        let o = last.entry(p.partition).or_insert(p.offset);
        *o = (*o).max(p.offset);
    }
    let deadline = std::time::Instant::now() + limit;
    for (partition, offset) in last {
        while beaver_readmodel::progress::next_offset(pool, projector, topic, partition).await? <= offset {
            if std::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(true)
}
