//! The envelope every event travels in.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// `t` cut to microseconds: the precision read models store times with
/// (MariaDB `DATETIME(6)`). Times decided now are taken at this precision,
/// so an answer that echoes one says what a later read shows.
pub fn stored_precision(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t)
}

/// Who caused an event: a signed-in user, Beaver itself, or an operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A user acting through the API (also the new user for a registration).
    User(Uuid),
    /// The server acting on its own (expiry, policy, maintenance).
    System,
    /// An operator acting through `beaver-admin` (answering feedback,
    /// publishing a release); the id is the operator's name.
    Operator(String),
}

/// One record on a Beaver topic.
///
/// `P` is the payload: the aggregate's event enum when producing or after
/// decoding, `serde_json::Value` (see [`RawEnvelope`]) when a consumer has not
/// yet looked at the type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<P> {
    /// Unique id of this event (UUIDv7, so ids sort by creation time).
    pub event_id: Uuid,
    /// Past-tense name of the event, e.g. `UserRegistered`; selects the schema.
    pub event_type: String,
    /// Version of the payload's schema for this event type.
    pub schema_version: u32,
    /// Aggregate kind, e.g. `user`; one topic per aggregate kind.
    pub aggregate_type: String,
    /// Aggregate instance; also the Kafka key, so per-aggregate order holds.
    pub aggregate_id: String,
    /// When the command that produced the event was decided.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Who caused it.
    pub actor: Actor,
    /// Id of the client request (or flow) this event belongs to; follows it through logs.
    pub correlation_id: String,
    /// Id of the event that caused this one, when an event triggered it.
    pub causation_id: Option<Uuid>,
    /// The event itself.
    pub payload: P,
}

/// An envelope whose payload has not been decoded yet.
pub type RawEnvelope = Envelope<serde_json::Value>;

/// Ties an aggregate's event enum to its topic and names.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone {
    /// Aggregate kind written into `aggregate_type`.
    const AGGREGATE_TYPE: &'static str;
    /// Topic the aggregate's events are appended to.
    const TOPIC: &'static str;
    /// Name of this event, written into `event_type`.
    fn event_type(&self) -> &'static str;
    /// Current schema version of this event type.
    fn schema_version(&self) -> u32 {
        1
    }
    /// The aggregate instance, used as `aggregate_id` and Kafka key.
    fn aggregate_id(&self) -> String;
}

/// Why a record could not be decoded into a known event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record is not a Beaver envelope: {0}")]
    NotAnEnvelope(serde_json::Error),
    #[error("{event_type} v{version} is newer than this build understands")]
    UnknownVersion { event_type: String, version: u32 },
    #[error("payload of {event_type} does not match its schema: {source}")]
    BadPayload {
        event_type: String,
        source: serde_json::Error,
    },
}

impl<E: DomainEvent> Envelope<E> {
    /// Wraps a freshly decided event, stamping id, time and names.
    pub fn new(event: E, actor: Actor, correlation_id: impl Into<String>, causation_id: Option<Uuid>) -> Self {
        Envelope {
            event_id: Uuid::now_v7(),
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            aggregate_type: E::AGGREGATE_TYPE.to_owned(),
            aggregate_id: event.aggregate_id(),
            occurred_at: stored_precision(OffsetDateTime::now_utc()),
            actor,
            correlation_id: correlation_id.into(),
            causation_id,
            payload: event,
        }
    }
}

impl RawEnvelope {
    /// Parses a Kafka record value.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DecodeError> {
        serde_json::from_slice(bytes).map_err(DecodeError::NotAnEnvelope)
    }

    /// Upcasts the payload to the current schema version and decodes it.
    pub fn decode<E: DomainEvent>(self) -> Result<Envelope<E>, DecodeError> {
        let payload = crate::upcast::upcast(&self.event_type, self.schema_version, self.payload)?;
        let event: E = serde_json::from_value(payload).map_err(|source| DecodeError::BadPayload {
            event_type: self.event_type.clone(),
            source,
        })?;
        Ok(Envelope {
            event_id: self.event_id,
            event_type: self.event_type,
            schema_version: event.schema_version(),
            aggregate_type: self.aggregate_type,
            aggregate_id: self.aggregate_id,
            occurred_at: self.occurred_at,
            actor: self.actor,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            payload: event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::{UserEvent, UserRegistered};

    fn registered() -> UserEvent {
        UserEvent::UserRegistered(UserRegistered {
            user_id: Uuid::now_v7(),
            username: "ada".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            nickname: "Ada".into(),
            email: None,
            phone: None,
        })
    }

    #[test]
    fn an_envelope_round_trips_through_json() {
        let env = Envelope::new(registered(), Actor::System, "corr-1", None);
        let bytes = serde_json::to_vec(&env).unwrap();
        let back = RawEnvelope::from_slice(&bytes).unwrap().decode::<UserEvent>().unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn the_envelope_names_type_version_and_aggregate() {
        let event = registered();
        let id = event.aggregate_id();
        let env = Envelope::new(event, Actor::System, "c", None);
        assert_eq!(env.event_type, "UserRegistered");
        assert_eq!(env.schema_version, 1);
        assert_eq!(env.aggregate_type, "user");
        assert_eq!(env.aggregate_id, id);
        assert_eq!(env.event_id.get_version_num(), 7);
    }

    #[test]
    fn a_future_schema_version_is_refused_not_misread() {
        let mut env = serde_json::to_value(Envelope::new(registered(), Actor::System, "c", None)).unwrap();
        env["schema_version"] = 99.into();
        let raw = RawEnvelope::from_slice(&serde_json::to_vec(&env).unwrap()).unwrap();
        assert!(matches!(raw.decode::<UserEvent>(), Err(DecodeError::UnknownVersion { .. })));
    }

    #[test]
    fn a_value_that_is_not_an_envelope_is_refused() {
        assert!(matches!(RawEnvelope::from_slice(b"{\"x\":1}"), Err(DecodeError::NotAnEnvelope(_))));
    }
}
