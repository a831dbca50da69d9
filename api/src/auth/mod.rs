//! Who is calling, and how they proved it: users with argon2id passwords who sign in for
//! short-lived JWTs and rotating refresh tokens, and machines with hashed, scoped API tokens.
//! The identities themselves ([`crate::actor`]) are shared by every domain.

pub mod audit;
pub mod graphql;
pub mod jwt;
pub mod mutation_audit;
pub mod password;
pub mod service;
pub mod throttle;
