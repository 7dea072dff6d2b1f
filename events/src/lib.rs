//! The wire contract of Beaver's event log. Commands append the events
//! defined here to Kafka; projectors, ws-push and any analyst's Kafka client
//! read them back. Every record on every topic is one [`Envelope`]: a JSON
//! object that names its own type and schema version (also copied into the
//! Kafka headers), so a topic can be replayed without Beaver's code.
//!
//! This crate is pure — serde, uuid and time, no I/O — and depends on nothing
//! else of Beaver's; everything else depends on it.
//!
//! # Layout
//! - [`envelope`]: the envelope, the actor, and the [`DomainEvent`] trait that
//!   ties an aggregate's event enum to its topic.
//! - [`topics`]: topic names and the header names every record carries.
//! - [`upcast`]: the one place where old schema versions are lifted to the current one.
//! - [`user`]: the user aggregate (registration, profile).
//! - [`session`]: the login session aggregate (refresh-token rotation, logout).
//! - [`relation`]: what is between two users (friend requests, friendship, blocks).
//! - [`group`]: groups (settings, membership, roles, mutes, join requests).
//! - [`message`]: conversations: messages, their operations, read cursors, settings.
//! - [`sequenced`]: the sequencer's derived output, each new message with its seq.
//! - [`track`]: client analytics events, for analysts only.
//! - [`feedback`]: users' feedback and operators' answers.
//! - [`files`]: uploads and stored files (the bytes live in the object store).
//! - [`emoji`]: favourite stickers and sticker packs.
//! - [`system`]: app releases and announcements published by operators.
//! - [`call`]: the lifecycle of WebRTC calls (never their media or SDP).
//! - [`moment`]: the friends' feed: posts, likes, comments.
//! - [`notification`]: inbox items, push tokens and offline push jobs.

pub mod call;
pub mod emoji;
pub mod envelope;
pub mod feedback;
pub mod files;
pub mod group;
pub mod message;
pub mod moment;
pub mod notification;
pub mod relation;
pub mod sequenced;
pub mod session;
pub mod system;
pub mod topics;
pub mod track;
pub mod upcast;
pub mod user;

pub use envelope::{stored_precision, Actor, DecodeError, DomainEvent, Envelope, RawEnvelope};
pub use call::CallEvent;
pub use emoji::EmojiEvent;
pub use feedback::FeedbackEvent;
pub use files::FileEvent;
pub use group::GroupEvent;
pub use message::MessageEvent;
pub use moment::MomentEvent;
pub use notification::{NotificationEvent, PushEvent};
pub use relation::RelationEvent;
pub use sequenced::SequencedEvent;
pub use session::SessionEvent;
pub use system::SystemEvent;
pub use track::TrackEvent;
pub use user::UserEvent;
