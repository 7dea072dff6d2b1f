//! End-to-end tests: every request goes through the gateway
//! (`BEAVER_GATEWAY_URL`, default http://127.0.0.1:21080) to the real tiers,
//! Kafka, MariaDB and Redis started by `deploy/up`. Tests isolate themselves
//! by unique usernames, so they run in parallel against one stack.

mod accounts;
mod auth;
mod bad_input;
mod calls;
mod chat;
mod contract_frames;
mod contract_topics;
mod emoji;
mod feedback;
mod files;
mod friends;
mod groups;
mod helpers;
mod hostile;
mod moments;
mod notifications;
mod operability;
mod push;
mod push_node;
mod readmodel_state;
mod replay;
mod seed_contract;
mod sequencing_spec;
mod system;
mod track;
mod security;
mod settings;
mod ws;
mod ws_limits;
