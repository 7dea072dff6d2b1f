//! The projections this build knows.

mod sessions;
mod users;

pub use sessions::Sessions;
pub use users::Users;

use crate::projection::Projection;
use std::sync::Arc;

/// Every projection, in start order.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(Users), Arc::new(Sessions)]
}
