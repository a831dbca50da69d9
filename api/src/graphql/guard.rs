//! The guard machinery on every field. Each domain declares its areas and an access table
//! ([`Rule`]) naming every field of its types; the schema assembly hands the tables to
//! [`FieldGuard`], which asks them about each field as it is resolved, at any depth, so a
//! nested path cannot reach what the root would refuse. A field with no rule is refused (fail
//! closed), and a test walks the whole schema to make sure every field has one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};

use crate::actor::{Credential, Identity, Role, Scopes};
use crate::error::AppError;
use crate::state::AppState;

/// A part of Hector that access is granted to, declared by the domain that owns it, with the
/// roles that may read and write it.
#[derive(Debug, PartialEq, Eq)]
pub struct Area {
    pub name: &'static str,
    pub readers: &'static [Role],
    pub writers: &'static [Role],
}

/// What a field needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (sign-in itself), and structure (page info, edges, payload
    /// wrappers) whose contents are guarded by their own types.
    Public,
    /// Any signed-in identity (an API token needs the `read` scope).
    Anyone,
    /// A signed-in person managing their own account (not an API token).
    Account,
    Read(&'static Area),
    Write(&'static Area),
    /// Sending sensor data.
    Ingest,
}

/// A domain's access table: the rule of a field of one of its types, `None` when the field is
/// not the domain's (or has no rule, and is therefore refused).
pub type Rule = fn(parent: &str, field: &str) -> Option<Access>;

/// The fields every connection and edge type has: structure, guarded by what it holds. A
/// field not named here (a new one) has no rule and fails closed.
pub fn structure(parent: &str, field: &str) -> Option<Access> {
    let structural = match field {
        "edges" | "nodes" | "pageInfo" | "totalCount" => parent.ends_with("Connection"),
        "cursor" | "node" => parent.ends_with("Edge"),
        "hasNextPage" | "hasPreviousPage" | "startCursor" | "endCursor" => parent == "PageInfo",
        // A line of an import's report, reached only through its guarded payload.
        "line" | "reason" => parent == "ImportRejection",
        _ => false,
    };
    structural.then_some(Access::Public)
}

/// The rule of `parent.field` among `rules` (the first that knows it).
pub fn rule_in(rules: &[Rule], parent: &str, field: &str) -> Option<Access> {
    rules.iter().find_map(|rule| rule(parent, field))
}

fn role_reads(role: Role, area: &Area) -> bool {
    area.readers.contains(&role)
}

fn role_writes(role: Role, area: &Area) -> bool {
    area.writers.contains(&role)
}

/// What kind of operation a field is resolved in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Read,
    /// A mutation: a token with the `write` scope may read the payload of its own write (the
    /// role still decides what it may read), so a write that ran never answers `FORBIDDEN`.
    Write,
}

/// Whether `identity` may do what `access` names: the role decides, and an API token is
/// further held to its scopes.
pub fn permits(identity: &Identity, access: Access) -> bool {
    permits_in(identity, access, Operation::Read)
}

/// [`permits`], for a field resolved inside an operation of kind `operation`.
pub fn permits_in(identity: &Identity, access: Access, operation: Operation) -> bool {
    let Identity::User(p) = identity else {
        return access == Access::Public;
    };
    let scopes = match p.credential {
        Credential::ApiToken { scopes, .. } => Some(scopes),
        Credential::Session { .. } => None,
    };
    let scoped = |want: fn(&Scopes) -> bool| scopes.as_ref().is_none_or(want);
    match access {
        Access::Public => true,
        Access::Anyone => scoped(|s| s.read),
        Access::Account => scopes.is_none(),
        Access::Read(area) if operation == Operation::Write => {
            role_reads(p.role, area) && scoped(|s| s.read || s.write)
        }
        Access::Read(area) => role_reads(p.role, area) && scoped(|s| s.read),
        Access::Write(area) => role_writes(p.role, area) && scoped(|s| s.write),
        Access::Ingest => matches!(p.role, Role::Admin | Role::Sensor) && scoped(|s| s.ingest),
    }
}

/// Checks one field for the caller against its rule: `UNAUTHENTICATED` without an identity,
/// `FORBIDDEN` when the identity may not (or the field has no rule).
pub fn check(
    identity: &Identity,
    access: Option<Access>,
    parent: &str,
    field: &str,
    operation: Operation,
) -> Result<(), AppError> {
    match access {
        Some(access) if permits_in(identity, access, operation) => Ok(()),
        Some(_) if *identity == Identity::Anonymous => Err(AppError::Unauthenticated),
        Some(_) => Err(AppError::Forbidden(format!(
            "not allowed to use `{parent}.{field}`"
        ))),
        None => {
            tracing::error!(
                graphql.parent = parent,
                graphql.field = field,
                "field has no access rule"
            );
            Err(AppError::Forbidden(format!(
                "`{parent}.{field}` is not available"
            )))
        }
    }
}

fn refusal(e: AppError) -> async_graphql::ServerError {
    super::errors::request_error(e.message(), e.code())
}

/// The extension that runs [`check`] on every resolved field, with the access tables of
/// every domain.
pub struct FieldGuard(pub &'static [Rule]);

impl ExtensionFactory for FieldGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FieldGuardExtension {
            rules: self.0,
            in_mutation: AtomicBool::new(false),
        })
    }
}

/// One per request: an operation is a mutation from its first root field on, and its root
/// fields resolve before anything they return.
struct FieldGuardExtension {
    rules: &'static [Rule],
    in_mutation: AtomicBool,
}

#[async_trait::async_trait]
impl Extension for FieldGuardExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let identity = ctx.data_opt::<Identity>().unwrap_or(&Identity::Anonymous);
        // Introspection needs a signed-in caller unless configured open.
        if info.parent_type == "Query" && matches!(info.name, "__schema" | "__type") {
            let open = ctx
                .data_opt::<AppState>()
                .is_some_and(|s| s.config.open_introspection);
            if !open && *identity == Identity::Anonymous {
                return Err(refusal(AppError::Unauthenticated));
            }
            return next.run(ctx, info).await;
        }
        // A list's items come through here too, with the list as "parent": the field that
        // returned the list was already checked at its real parent.
        let structural = info.parent_type.starts_with('[') || info.parent_type.starts_with("__");
        if !info.is_for_introspection && !structural {
            // Merged subscription roots report their own type name here.
            let parent = if info.parent_type.ends_with("Subscription") {
                "Subscription"
            } else {
                info.parent_type
            };
            if parent == "Mutation" {
                self.in_mutation.store(true, Ordering::Relaxed);
            }
            let operation = if self.in_mutation.load(Ordering::Relaxed) {
                Operation::Write
            } else {
                Operation::Read
            };
            let access = rule_in(self.rules, parent, info.name);
            if let Err(e) = check(identity, access, parent, info.name, operation) {
                return Err(refusal(e));
            }
        }
        next.run(ctx, info).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STUFF: Area = Area {
        name: "stuff",
        readers: &[Role::Admin, Role::Analyst, Role::Viewer],
        writers: &[Role::Admin, Role::Analyst],
    };
    const SECRETS: Area = Area {
        name: "secrets",
        readers: &[Role::Admin],
        writers: &[Role::Admin],
    };

    fn principal(role: Role, scopes: Option<Scopes>) -> Identity {
        Identity::User(crate::actor::Principal {
            user_id: 1,
            username: "u".into(),
            role,
            support_groups: vec![],
            credential: match scopes {
                Some(scopes) => Credential::ApiToken {
                    token_id: 1,
                    scopes,
                },
                None => Credential::Session { session_id: 1 },
            },
            expires_at: None,
        })
    }

    #[test]
    fn a_sensor_token_may_ingest_and_nothing_else() {
        let ingest = Scopes {
            ingest: true,
            ..Default::default()
        };
        let sensor = principal(Role::Sensor, Some(ingest));
        assert!(permits(&sensor, Access::Ingest));
        for access in [
            Access::Anyone,
            Access::Account,
            Access::Read(&STUFF),
            Access::Write(&STUFF),
        ] {
            assert!(!permits(&sensor, access), "{access:?}");
        }
        let viewer_session = principal(Role::Viewer, None);
        assert!(!permits(&viewer_session, Access::Ingest));
        assert!(!permits(&viewer_session, Access::Write(&STUFF)));
        let read_only_admin = principal(
            Role::Admin,
            Some(Scopes {
                read: true,
                ..Default::default()
            }),
        );
        assert!(permits(&read_only_admin, Access::Read(&SECRETS)));
        assert!(!permits(&read_only_admin, Access::Write(&STUFF)));
        assert!(
            !permits(&read_only_admin, Access::Account),
            "tokens cannot manage accounts"
        );
    }

    #[test]
    fn a_write_token_reads_the_payload_of_its_own_write_only() {
        let write_only = principal(
            Role::Analyst,
            Some(Scopes {
                write: true,
                ..Default::default()
            }),
        );
        let stuff = Access::Read(&STUFF);
        assert!(permits_in(&write_only, stuff, Operation::Write));
        assert!(!permits_in(&write_only, stuff, Operation::Read));
        assert!(
            !permits_in(&write_only, Access::Read(&SECRETS), Operation::Write),
            "the role still decides what may be read"
        );
        assert!(!permits_in(&write_only, Access::Anyone, Operation::Write));
    }

    #[test]
    fn fields_without_a_rule_are_refused_and_structure_is_named_field_by_field() {
        let rules: &[Rule] = &[|p, f| (p == "Query" && f == "known").then_some(Access::Public)];
        assert_eq!(rule_in(rules, "Query", "somethingNew"), None);
        let admin = principal(Role::Admin, None);
        assert!(check(&admin, None, "Query", "somethingNew", Operation::Read).is_err());
        assert!(
            check(
                &Identity::Anonymous,
                rule_in(rules, "Query", "known"),
                "Query",
                "known",
                Operation::Read
            )
            .is_ok()
        );
        assert!(matches!(
            check(
                &Identity::Anonymous,
                Some(Access::Read(&STUFF)),
                "Query",
                "x",
                Operation::Read
            ),
            Err(AppError::Unauthenticated)
        ));
        assert_eq!(structure("HostConnection", "edges"), Some(Access::Public));
        assert_eq!(structure("HostConnection", "somethingNew"), None);
        assert_eq!(
            structure("HostPayload", "host"),
            None,
            "payloads are their domain's to decide"
        );
    }
}
