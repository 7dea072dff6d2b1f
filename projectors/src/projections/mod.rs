//! The projections this build knows.

use beaver_events::RawEnvelope;
use time::PrimitiveDateTime;

/// When an event was decided, as a stored UTC time (what projections write:
/// never the clock, so a replay writes the same rows).
pub(crate) fn at(env: &RawEnvelope) -> PrimitiveDateTime {
    sync::utc(env.occurred_at)
}

mod calls;
mod emoji;
mod feedback;
mod files;
mod groups;
mod messages;
mod moments;
mod notifications;
mod relations;
mod sessions;
pub mod sync;
mod system;
mod users;

pub use calls::Calls;
pub use emoji::Emoji;
pub use feedback::Feedback;
pub use files::Files;
pub use groups::Groups;
pub use messages::Messages;
pub use moments::Moments;
pub use notifications::Notifications;
pub use relations::Relations;
pub use sessions::Sessions;
pub use system::System;
pub use users::Users;

use crate::projection::Projection;
use std::sync::Arc;

/// Every projection, in start order.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(Users),
        Arc::new(Sessions),
        Arc::new(Relations),
        Arc::new(Groups),
        Arc::new(Messages),
        Arc::new(Feedback),
        Arc::new(System),
        Arc::new(Files),
        Arc::new(Emoji),
        Arc::new(Notifications),
        Arc::new(Moments),
        Arc::new(Calls),
    ]
}
