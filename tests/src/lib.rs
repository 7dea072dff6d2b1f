//! End-to-end test crate; the tests live in `tests/tests/`.
//!
//! # Layout
//! - [`stack`]: [`stack::TestStack`], every tier in-process on port 0 in a
//!   namespace of its own (topics, groups, Redis keys) with a scratch
//!   database, against the real Kafka, MariaDB and Redis of `deploy/up`.

pub mod stack;
