//! The guard on every field. A schema extension asks [`rule`] about each field as it is
//! resolved, at any depth, so a nested path cannot reach what the root would refuse. A field
//! with no rule is refused (fail closed), and a test walks the whole schema to make sure every
//! field has one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ErrorExtensions, ServerResult, Value};

use crate::actor::{Credential, Identity, Role, Scopes};
use crate::error::AppError;
use crate::state::AppState;

/// Parts of Hector that access is granted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Hosts, groups, tags, support groups, locations, URLs.
    Inventory,
    /// Scheduled jobs and their runs.
    Jobs,
    /// Users and their roles (admins).
    Users,
    /// The audit log (admins).
    Audit,
    /// Support groups: who sees which hosts. Admins manage them; inventory readers read them.
    SupportGroups,
    /// Process internals, such as which replica ran a job (admins).
    Operations,
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
    Read(Area),
    Write(Area),
    /// Sending sensor data.
    Ingest,
}

/// The rule of one field, `None` when the field has none (and is therefore refused).
pub fn rule(parent: &str, field: &str) -> Option<Access> {
    use Access::*;
    use Area::*;
    Some(match (parent, field) {
        (
            "Query",
            "node" | "nodes" | "host" | "hostByAddress" | "hosts" | "tags" | "tag" | "hostGroups"
            | "hostGroup" | "supportGroups" | "supportGroup" | "locations" | "location" | "url"
            | "osBreakdown",
        ) => Read(Inventory),
        ("Query", "jobRuns" | "jobRun") => Read(Jobs),
        ("Query", "me" | "apiTokens") => Anyone,
        ("Query", "users" | "user") => Read(Users),
        ("Query", "auditLog") => Read(Audit),
        (
            "Mutation",
            "createHost"
            | "updateHost"
            | "deleteHost"
            | "addHosts"
            | "tagHosts"
            | "untagHosts"
            | "addHostsToGroups"
            | "removeHostsFromGroups"
            | "setScanExclusion"
            | "clearScanExclusion"
            | "createHostGroup"
            | "updateHostGroup"
            | "deleteHostGroup"
            | "createTag"
            | "updateTag"
            | "deleteTag"
            | "createLocation"
            | "updateLocation"
            | "deleteLocation"
            | "createUrl"
            | "updateUrl"
            | "deleteUrl",
        ) => Write(Inventory),
        ("Mutation", "login" | "refreshSession") => Public,
        (
            "Mutation",
            "logout" | "changePassword" | "revokeSessions" | "createApiToken" | "revokeApiToken",
        ) => Account,
        ("Mutation", "createUser" | "updateUser") => Write(Users),
        ("Mutation", "createSupportGroup" | "updateSupportGroup" | "deleteSupportGroup") => {
            Write(SupportGroups)
        }
        ("Subscription", "hostEvents") => Read(Inventory),
        ("Query" | "Mutation" | "Subscription", _) => return None,
        (
            "Host" | "Tag" | "HostGroup" | "SupportGroup" | "Location" | "Url" | "OperatingSystem"
            | "ScanExclusion" | "OsCount" | "HostEvent",
            _,
        ) => Read(Inventory),
        ("JobRun", "instance") => Read(Operations),
        ("JobRun", _) => Read(Jobs),
        // A user is reached only through guarded roots (`me`, `users`, `user`) and through
        // the payload of a successful `login`, whose caller has just proved who they are.
        ("User", "supportGroups") => Anyone,
        ("User", _) => Public,
        ("ApiToken", _) => Anyone,
        ("AuditEntry", _) => Read(Audit),
        // The id of an object the query already reached through a guarded field.
        ("Node", "id") => Public,
        (t, _)
            if t == "PageInfo"
                || t.ends_with("Connection")
                || t.ends_with("Edge")
                || t.ends_with("Payload") =>
        {
            Public
        }
        _ => return None,
    })
}

fn role_reads(role: Role, area: Area) -> bool {
    match role {
        Role::Admin => true,
        Role::Analyst | Role::Viewer => {
            matches!(area, Area::Inventory | Area::Jobs | Area::SupportGroups)
        }
        Role::Sensor | Role::Partner => false,
    }
}

fn role_writes(role: Role, area: Area) -> bool {
    match role {
        Role::Admin => true,
        Role::Analyst => area == Area::Inventory,
        Role::Viewer | Role::Sensor | Role::Partner => false,
    }
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

/// Checks one field for the caller: `UNAUTHENTICATED` without an identity, `FORBIDDEN` when
/// the identity may not.
pub fn check(identity: &Identity, parent: &str, field: &str) -> Result<(), AppError> {
    check_in(identity, parent, field, Operation::Read)
}

/// [`check`], for a field resolved inside an operation of kind `operation`.
pub fn check_in(
    identity: &Identity,
    parent: &str,
    field: &str,
    operation: Operation,
) -> Result<(), AppError> {
    match rule(parent, field) {
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
    let code = e.code();
    async_graphql::Error::new(e.message())
        .extend_with(|_, ext| ext.set("code", code))
        .into_server_error(async_graphql::Pos::default())
}

/// The extension that runs [`check`] on every resolved field.
pub struct FieldGuard;

impl ExtensionFactory for FieldGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FieldGuardExtension::default())
    }
}

/// One per request: an operation is a mutation from its first root field on, and its root
/// fields resolve before anything they return.
#[derive(Default)]
struct FieldGuardExtension {
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
            if let Err(e) = check_in(identity, parent, info.name, operation) {
                return Err(refusal(e));
            }
        }
        next.run(ctx, info).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of every object and interface type in the schema, as `(type, field)`.
    fn schema_fields() -> Vec<(String, String)> {
        let sdl = crate::graphql::sdl();
        let mut out = Vec::new();
        let mut current: Option<String> = None;
        let mut in_description = false;
        // Arguments with descriptions span lines; only depth 0 names a field.
        let mut parens = 0i32;
        for line in sdl.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with("\"\"\"") {
                if !(trimmed.len() > 3 && trimmed.ends_with("\"\"\"")) {
                    in_description = !in_description;
                }
                continue;
            }
            if in_description {
                continue;
            }
            if let Some(rest) = trimmed
                .strip_prefix("type ")
                .or_else(|| trimmed.strip_prefix("interface "))
            {
                current = rest.split_whitespace().next().map(str::to_owned);
                continue;
            }
            if trimmed.starts_with("input ") || trimmed.starts_with("enum ") {
                current = None;
                continue;
            }
            if trimmed == "}" {
                current = None;
                continue;
            }
            if let Some(ty) = &current {
                let name: String = trimmed
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if parens == 0 && !name.is_empty() {
                    out.push((ty.clone(), name));
                }
                parens += trimmed.matches('(').count() as i32 - trimmed.matches(')').count() as i32;
            }
        }
        out
    }

    #[test]
    fn every_field_of_the_schema_has_an_access_rule() {
        let fields = schema_fields();
        assert!(
            fields.len() > 100,
            "the SDL walk found too few fields: {}",
            fields.len()
        );
        let missing: Vec<_> = fields
            .iter()
            .filter(|(ty, field)| rule(ty, field).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "fields without an access rule: {missing:?}"
        );
    }

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
            Access::Read(Area::Inventory),
            Access::Write(Area::Inventory),
            Access::Read(Area::Jobs),
        ] {
            assert!(!permits(&sensor, access), "{access:?}");
        }
        let viewer_session = principal(Role::Viewer, None);
        assert!(!permits(&viewer_session, Access::Ingest));
        assert!(!permits(&viewer_session, Access::Write(Area::Inventory)));
        let read_only_admin = principal(
            Role::Admin,
            Some(Scopes {
                read: true,
                ..Default::default()
            }),
        );
        assert!(permits(&read_only_admin, Access::Read(Area::Users)));
        assert!(!permits(&read_only_admin, Access::Write(Area::Inventory)));
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
        let host = Access::Read(Area::Inventory);
        assert!(permits_in(&write_only, host, Operation::Write));
        assert!(!permits_in(&write_only, host, Operation::Read));
        assert!(
            !permits_in(&write_only, Access::Read(Area::Users), Operation::Write),
            "the role still decides what may be read"
        );
        assert!(!permits_in(&write_only, Access::Anyone, Operation::Write));
    }

    #[test]
    fn support_groups_are_admins_to_manage_and_instances_admins_to_see() {
        let analyst = principal(Role::Analyst, None);
        assert!(!permits(&analyst, Access::Write(Area::SupportGroups)));
        assert!(permits(&analyst, Access::Read(Area::SupportGroups)));
        assert!(permits(
            &principal(Role::Admin, None),
            Access::Write(Area::SupportGroups)
        ));
        assert_eq!(
            rule("JobRun", "instance"),
            Some(Access::Read(Area::Operations))
        );
        assert!(!permits(&analyst, Access::Read(Area::Operations)));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert_eq!(rule("Query", "somethingNew"), None);
        assert!(check(&Identity::Anonymous, "Query", "somethingNew").is_err());
        assert!(check(&Identity::Anonymous, "Mutation", "login").is_ok());
        assert!(matches!(
            check(&Identity::Anonymous, "Query", "hosts"),
            Err(AppError::Unauthenticated)
        ));
        assert_eq!(
            rule("Mutation", "createHost"),
            Some(Access::Write(Area::Inventory))
        );
    }
}
