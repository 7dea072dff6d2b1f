//! Client analytics (the seed's "track" service): events a client app
//! reports about itself — screens shown, buttons pressed, timings — for
//! analysts replaying `beaver.track.v1`. Not an aggregate of the domain: no
//! command is decided on them and no projector reads them; the topic is
//! keyed by device so one device's events stay in order.

use crate::{envelope::DomainEvent, topics};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// Everything the track topic carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TrackEvent {
    ClientEventTracked(ClientEventTracked),
}

/// One event a client reported. The envelope's `occurred_at` is when the
/// server received it; `client_ts` is the client's own clock, clamped to
/// [received − 7 days, received + 1 hour] (`client_ts_clamped` says so).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientEventTracked {
    /// The client's device id (also the key).
    pub device_id: String,
    /// The signed-in user, if the batch came with a valid token.
    pub user_id: Option<Uuid>,
    /// `ios`, `android`, `web`, `desktop`, `mac` or `windows`.
    pub platform: String,
    pub app_version: Option<String>,
    /// `^[a-z][a-z0-9_.]{0,63}$`, e.g. `chat.send_tapped`.
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub client_ts: OffsetDateTime,
    pub client_ts_clamped: bool,
    /// Flat: string (≤ 256 bytes), number or boolean values; ≤ 50 keys.
    pub props: Map<String, Value>,
    /// The client's own id for the event, for its dedup downstream.
    pub client_event_id: Option<String>,
}

impl DomainEvent for TrackEvent {
    const AGGREGATE_TYPE: &'static str = "device";
    const TOPIC: &'static str = topics::TRACK;

    fn event_type(&self) -> &'static str {
        match self {
            TrackEvent::ClientEventTracked(_) => "ClientEventTracked",
        }
    }

    fn aggregate_id(&self) -> String {
        match self {
            TrackEvent::ClientEventTracked(e) => e.device_id.clone(),
        }
    }
}
