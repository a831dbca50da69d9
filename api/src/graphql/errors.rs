//! Gives every error a stable `extensions.code`. Resolver errors carry theirs already (from
//! [`crate::error::AppError`]); what async-graphql itself reports (syntax, validation, input
//! coercion, "operation name required") is the client's input: a document that does not parse
//! is `GRAPHQL_PARSE_FAILED` (with a one-line message), one that does not fit the schema
//! `GRAPHQL_VALIDATION_FAILED`, a value the schema refuses `BAD_USER_INPUT`, as Apollo's tooling
//! expects; the depth and complexity limits get their own code. No per-field hook:
//! the hot path stays free of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
    NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};
use futures_util::stream::{BoxStream, StreamExt};

use crate::actor::Identity;
use crate::error::{AppError, code};

/// The one way an [`AppError`] reaches a client: its code and safe message. An internal cause
/// is logged here, once, and never sent.
impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        if let AppError::Internal(cause) = &err {
            tracing::error!(error = %cause, "internal error");
        }
        quiet(&err)
    }
}

/// The client's view of `err` without logging it (for a cause already logged).
pub fn quiet(err: &AppError) -> async_graphql::Error {
    use async_graphql::ErrorExtensions;
    let code = err.code();
    async_graphql::Error::new(err.message()).extend_with(|_, ext| ext.set("code", code))
}

pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

/// The messages async-graphql uses for its limits (checked by a test against the library).
const LIMIT_MESSAGES: [&str; 2] = ["Query is too complex.", "Query is nested too deep."];

/// An error about the request as a whole, with its code and no location (a location of line 0
/// is not one: GraphQL lines start at 1).
pub fn request_error(message: impl Into<String>, code: &str) -> ServerError {
    let mut err = ServerError::new(message, None);
    err.extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    err
}

/// The message async-graphql's persisted-query extension answers a hash it does not know with
/// (Apollo clients then send the query with its hash).
const PERSISTED_QUERY_NOT_FOUND: &str = "PersistedQueryNotFound";

/// Sets `code` on an error that has none.
pub fn with_code(mut err: ServerError, fallback: &str) -> ServerError {
    let has_code = err
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some());
    if !has_code {
        let code = if LIMIT_MESSAGES.contains(&err.message.as_str()) {
            code::QUERY_TOO_COMPLEX
        } else if err.message == PERSISTED_QUERY_NOT_FOUND {
            code::PERSISTED_QUERY_NOT_FOUND
        } else {
            fallback
        };
        err.extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
    err
}

/// Gives every error of a response that has no code the `fallback` one. What reaches this
/// point without a code is async-graphql's own answer about the request ("Operation name
/// required", "Subscriptions are not supported on this transport").
fn response_with_codes(mut response: Response, fallback: &str) -> Response {
    response.errors = response
        .errors
        .into_iter()
        .map(|e| with_code(e, fallback))
        .collect();
    response
}

/// Whether a validation message is about a value (an argument or a variable) rather than the
/// shape of the document.
fn is_bad_value(message: &str) -> bool {
    message.starts_with("Invalid value for")
        || message.starts_with("Expected input type")
        || message.starts_with("Variable")
}

/// A parse error in one line: the parser's own message draws the document with a caret over
/// several lines, which the error's `locations` already say better.
fn short_syntax_error(mut err: ServerError) -> ServerError {
    let expected = err
        .message
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("= "))
        .map(str::trim)
        .map(str::to_owned);
    err.message = match expected {
        Some(what) => format!("syntax error: {what}"),
        None => "syntax error".to_owned(),
    };
    err
}

/// Drops async-graphql's "Did you mean ...?" hints, which would name fields to a caller who
/// may not introspect the schema.
fn without_suggestion(mut err: ServerError) -> ServerError {
    if let Some(at) = err.message.find(" Did you mean") {
        err.message.truncate(at);
    }
    err
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        response_with_codes(next.run(ctx).await, code::BAD_USER_INPUT)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|r| response_with_codes(r, code::BAD_USER_INPUT))
            .boxed()
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_code(short_syntax_error(e), code::GRAPHQL_PARSE_FAILED))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let anonymous = ctx
            .data_opt::<Identity>()
            .is_none_or(|i| *i == Identity::Anonymous);
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| if anonymous { without_suggestion(e) } else { e })
                .map(|e| {
                    // A value the schema refuses is bad input; anything else is a document
                    // that does not fit the schema.
                    let fallback = if is_bad_value(&e.message) {
                        code::BAD_USER_INPUT
                    } else {
                        code::GRAPHQL_VALIDATION_FAILED
                    };
                    with_code(e, fallback)
                })
                .collect()
        })
    }
}

/// A failed batch, shared by every field that waited on it; its cause is logged once, by the
/// first field that reports it.
#[derive(Clone)]
pub struct BatchError(Arc<(AppError, AtomicBool)>);

impl From<AppError> for BatchError {
    fn from(e: AppError) -> Self {
        Self(Arc::new((e, AtomicBool::new(false))))
    }
}

impl From<BatchError> for async_graphql::Error {
    fn from(e: BatchError) -> Self {
        let (err, reported) = &*e.0;
        if reported.swap(true, Ordering::Relaxed) {
            return quiet(err);
        }
        match Arc::try_unwrap(e.0) {
            Ok((err, _)) => err.into(),
            Err(shared) => {
                let (err, _) = &*shared;
                if let AppError::Internal(cause) = err {
                    tracing::error!(error = %cause, "internal error");
                }
                quiet(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = AppError::from(sea_orm::DbErr::Custom("SELECT secret FROM table".into()));
        let gql: async_graphql::Error = err.into();
        assert_eq!(gql.message, "internal error");
        let shown = format!("{:?}", gql.extensions);
        assert!(shown.contains("INTERNAL"));
        assert!(!shown.contains("secret"));
    }
}
