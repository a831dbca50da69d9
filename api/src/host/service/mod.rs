//! Host rules: creating, changing, finding and bulk-adding hosts, with their events. Split by
//! concern; everything is reachable as `host::service::...`. Every function takes
//! `&impl ConnectionTrait` and opens no transaction, so callers compose them in one write.

mod bulk;
mod exclusion;
pub mod exposure;
mod filter;
mod intake;
mod read;
mod write;

pub use super::rows::{any_by_ids, get, scope_condition, touch};
pub use bulk::*;
pub use exclusion::*;
pub use filter::*;
pub use intake::*;
pub use read::*;
pub use write::*;
