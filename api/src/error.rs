//! One error type with two faces: the stable code and safe message a client sees, and the
//! full internal cause that is logged once, at the boundary, and never shown.

use sea_orm::{DbErr, SqlErr};

/// Stable error codes, sent as `extensions.code`.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const CONFLICT: &str = "CONFLICT";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    /// The document is not GraphQL (Apollo's code, which its tooling expects).
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    /// The document is GraphQL but not valid against the schema (unknown field, wrong type).
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    /// Apollo's automatic persisted queries: send the query text with its hash.
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    pub const INTERNAL: &str = "INTERNAL";
}

/// Deliberately not `Display`: async-graphql turns anything `Display` into an error without a
/// code, so the only way to a client is the one conversion in the GraphQL layer
/// (`graphql::errors`), which logs internals once and sets the code. Logs use `?err` (Debug).
/// Nothing here knows GraphQL.
#[derive(Debug)]
pub enum AppError {
    BadUserInput(String),
    NotFound(String),
    Conflict(String),
    Unauthenticated,
    /// Sign-in refused: `UNAUTHENTICATED` with a message that says no more than needed.
    BadCredentials(String),
    Forbidden(String),
    RateLimited(String),
    /// Anything the client cannot fix. Shown as "internal error"; the cause is logged.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn bad_input(msg: impl Into<String>) -> Self {
        Self::BadUserInput(msg.into())
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(err))
    }

    /// What a client may read.
    pub fn message(&self) -> String {
        match self {
            Self::BadUserInput(m)
            | Self::NotFound(m)
            | Self::Conflict(m)
            | Self::Forbidden(m)
            | Self::BadCredentials(m)
            | Self::RateLimited(m) => m.clone(),
            Self::Unauthenticated => "authentication required".into(),
            Self::Internal(_) => "internal error".into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUserInput(_) => code::BAD_USER_INPUT,
            Self::NotFound(_) => code::NOT_FOUND,
            Self::Conflict(_) => code::CONFLICT,
            Self::Unauthenticated | Self::BadCredentials(_) => code::UNAUTHENTICATED,
            Self::Forbidden(_) => code::FORBIDDEN,
            Self::RateLimited(_) => code::RATE_LIMITED,
            Self::Internal(_) => code::INTERNAL,
        }
    }

    /// A unique-key violation becomes `CONFLICT` with `msg`; any other database error stays
    /// internal. Decided by the driver's error number, never by message text.
    pub fn conflict_on_unique(err: DbErr, msg: impl Into<String>) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::Conflict(msg.into()),
            _ => Self::from(err),
        }
    }
}

pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        Self::Internal(Box::new(err))
    }
}
