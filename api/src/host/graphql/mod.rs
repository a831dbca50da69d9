//! The inventory's GraphQL: object types, queries, mutations and the `hostEvents`
//! subscription. Resolvers stay thin: guard (the schema extension), one service call, `From`.

pub mod access;
mod catalog;
pub mod exposure;
mod inputs;
pub mod loaders;
mod mutation;
pub mod node;
mod query;
mod subscription;
mod types;

pub use exposure::{ExposureChange, ExposureQuery, ExposureSubscription, Service};
pub use mutation::HostMutation;
pub use query::HostQuery;
pub use subscription::HostSubscription;
pub use types::*;
