//! What a projection is: a name (its consumer group and offset rows), the
//! topics it reads, and a function that applies one event inside the batch's
//! transaction.

use beaver_events::RawEnvelope;
use sqlx::{MySql, MySqlPool, Transaction};
use std::time::Duration;
use tracing::Instrument;

/// Shared handles a projection may use while applying.
#[derive(Clone)]
pub struct ApplyContext {
    pub pool: MySqlPool,
    pub redis: redis::aio::ConnectionManager,
    /// Lifetime of access tokens, to bound how long a revocation must be kept.
    pub access_token_ttl: Duration,
}

/// Why applying an event failed. Any error aborts the batch's transaction and
/// the batch is retried from the stored offset.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("undecodable event: {0}")]
    Decode(#[from] beaver_events::DecodeError),
}

#[async_trait::async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Stable name: consumer group suffix and `projector_offsets.projector`.
    fn name(&self) -> &'static str;
    /// Topics this projection consumes.
    fn topics(&self) -> &'static [&'static str];
    /// Applies one event. Must be deterministic in the event (use its
    /// `occurred_at`, never the clock) so that a replay rebuilds the same rows.
    async fn apply(&self, tx: &mut Transaction<'static, MySql>, ctx: &ApplyContext, event: RawEnvelope) -> Result<(), ApplyError>;

    /// Applies one partition's new events, in order. The default applies
    /// them one by one; a projection may override it with set-based SQL, as
    /// long as the result is the same as applying them one by one.
    async fn apply_all(&self, tx: &mut Transaction<'static, MySql>, ctx: &ApplyContext, events: Vec<RawEnvelope>) -> Result<(), ApplyError> {
        for event in events {
            let span = tracing::info_span!("apply", event_id = %event.event_id, event_type = %event.event_type);
            self.apply(tx, ctx, event).instrument(span).await?;
        }
        Ok(())
    }

    /// Applies one poll's new events of several partitions, each list in
    /// offset order. The default applies partition after partition; a
    /// projection whose aggregates never span partitions may merge them into
    /// one set-based pass (fewer statements and round trips per poll).
    async fn apply_partitions(&self, tx: &mut Transaction<'static, MySql>, ctx: &ApplyContext, partitions: Vec<Vec<RawEnvelope>>) -> Result<(), ApplyError> {
        for events in partitions {
            self.apply_all(tx, ctx, events).await?;
        }
        Ok(())
    }
}
