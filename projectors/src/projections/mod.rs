//! The projections this build knows.

mod groups;
mod messages;
mod relations;
mod sessions;
pub mod sync;
mod users;

pub use groups::Groups;
pub use messages::Messages;
pub use relations::Relations;
pub use sessions::Sessions;
pub use users::Users;

use crate::projection::Projection;
use std::sync::Arc;

/// Every projection, in start order.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(Users), Arc::new(Sessions), Arc::new(Relations), Arc::new(Groups), Arc::new(Messages)]
}
