//! The write side's store: appending events to Kafka (the source of truth)
//! and the two small tables commands own in MariaDB — claims (unique names,
//! single-use refresh tokens) and aggregate heads (per-aggregate locks). The
//! read models the app layer loads state from are read through
//! `beaver-readmodel`, never written here.

pub mod claims;
pub mod consistency;

use crate::{app::Origin, AppState};
use beaver_events::{Actor, DomainEvent, Envelope};
use beaver_platform::{http::ApiError, kafka::Position};
use std::time::Duration;

impl AppState {
    /// Appends one event; answers only after Kafka acknowledged it.
    pub async fn append<E: DomainEvent>(&self, envelope: &Envelope<E>) -> Result<Position, ApiError> {
        self.producer.append(envelope).await.map_err(|e| ApiError::Unavailable(e.into()))
    }

    /// Waits until `projector` has applied the event at `pos`; `false` on timeout.
    pub async fn visible(&self, projector: &str, topic: &str, pos: Position) -> Result<bool, ApiError> {
        let wait = Duration::from_millis(self.config.projection_wait_ms);
        Ok(self.watch.wait(projector, topic, pos, wait).await?)
    }

    /// Appends `events` (in order, one aggregate) as `origin`'s; the
    /// position of the last, if any.
    async fn append_each<E: DomainEvent>(&self, events: Vec<E>, origin: &Origin) -> Result<Option<Position>, ApiError> {
        let mut last = None;
        for event in events {
            let envelope = Envelope::new(event, Actor::User(origin.actor), origin.correlation.clone(), None);
            last = Some(self.append(&envelope).await?);
        }
        Ok(last)
    }

    /// Appends `events` and waits until `projector` has applied them.
    /// Returns whether they are visible to queries (no events: trivially).
    pub async fn append_all<E: DomainEvent>(&self, events: Vec<E>, origin: &Origin, projector: &str) -> Result<bool, ApiError> {
        match self.append_each(events, origin).await? {
            Some(pos) => self.visible(projector, E::TOPIC, pos).await,
            None => Ok(true),
        }
    }

    /// [`Self::append_all`] under `lock`, recording the aggregate's new head.
    pub async fn append_locked<E: DomainEvent>(
        &self,
        lock: consistency::AggregateLock,
        events: Vec<E>,
        origin: &Origin,
        projector: &str,
    ) -> Result<bool, ApiError> {
        let Some(pos) = self.append_each(events, origin).await? else { return Ok(true) };
        lock.appended(pos).await?;
        self.visible(projector, E::TOPIC, pos).await
    }
}
