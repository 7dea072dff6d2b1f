//! What the operator subcommands share: who the operator is (the actor of
//! every event they append), the read models they load state from, and
//! appending the events a `beaver_writemodel` decision made.

use crate::Global;
use anyhow::Context;
use beaver_events::{Actor, DomainEvent, Envelope};
use beaver_platform::kafka::EventProducer;
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
    if events.is_empty() {
        return Ok(0);
    }
    let producer = EventProducer::with_timeout(&global.brokers, 0, "beaver-admin", Duration::from_secs(15))?;
    let correlation = format!("beaver-admin-{}", uuid::Uuid::now_v7());
    for event in &events {
        let envelope = Envelope::new(event.clone(), Actor::Operator(operator.to_owned()), correlation.clone(), None);
        producer.append(&envelope).await.with_context(|| format!("could not append to {}", E::TOPIC))?;
    }
    Ok(events.len())
}
