//! The guard on every field. A schema extension asks [`rule`] about each field as it is
//! resolved, at any depth, so a nested path cannot reach what the root would refuse. A field
//! with no rule is refused (fail closed), and a test walks the whole schema to make sure every
//! field has one.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ErrorExtensions, ServerResult, Value};

use crate::auth::Identity;
use crate::error::AppError;

/// Parts of Hector that access is granted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Hosts, groups, tags, support groups, locations, URLs.
    Inventory,
    /// Scheduled jobs and their runs.
    Jobs,
}

/// What a field needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Structure only (page info, edges, payload wrappers): what they hold is guarded itself.
    Public,
    Read(Area),
    Write(Area),
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
            | "createSupportGroup"
            | "updateSupportGroup"
            | "deleteSupportGroup"
            | "createLocation"
            | "updateLocation"
            | "deleteLocation"
            | "createUrl"
            | "updateUrl"
            | "deleteUrl",
        ) => Write(Inventory),
        ("Subscription", "hostEvents") => Read(Inventory),
        ("Query" | "Mutation" | "Subscription", _) => return None,
        (
            "Host" | "Tag" | "HostGroup" | "SupportGroup" | "Location" | "Url" | "OperatingSystem"
            | "ScanExclusion" | "OsCount" | "HostEvent",
            _,
        ) => Read(Inventory),
        ("JobRun", _) => Read(Jobs),
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

/// Whether `identity` may do what `access` names.
///
/// Until the identity issue lands there is one anonymous identity and it may do everything
/// the schema offers; this function is the single place that decision changes.
pub fn permits(identity: &Identity, access: Access) -> bool {
    match (identity, access) {
        (_, Access::Public) => true,
        (Identity::Anonymous, Access::Read(_) | Access::Write(_)) => true,
    }
}

/// Checks one field for the caller; `FORBIDDEN` when refused.
pub fn check(identity: &Identity, parent: &str, field: &str) -> Result<(), AppError> {
    match rule(parent, field) {
        Some(access) if permits(identity, access) => Ok(()),
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

/// The extension that runs [`check`] on every resolved field.
pub struct FieldGuard;

impl ExtensionFactory for FieldGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FieldGuardExtension)
    }
}

struct FieldGuardExtension;

#[async_trait::async_trait]
impl Extension for FieldGuardExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // A list's items come through here too, with the list as "parent": the field that
        // returned the list was already checked at its real parent.
        let structural = info.parent_type.starts_with('[') || info.parent_type.starts_with("__");
        if !info.is_for_introspection && !structural {
            let identity = ctx.data_opt::<Identity>().unwrap_or(&Identity::Anonymous);
            // Merged subscription roots report their own type name here.
            let parent = if info.parent_type.ends_with("Subscription") {
                "Subscription"
            } else {
                info.parent_type
            };
            if let Err(e) = check(identity, parent, info.name) {
                let code = e.code();
                let err = async_graphql::Error::new(e.message())
                    .extend_with(|_, ext| ext.set("code", code));
                return Err(err.into_server_error(async_graphql::Pos::default()));
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

    #[test]
    fn unknown_fields_are_refused() {
        assert_eq!(rule("Query", "somethingNew"), None);
        assert!(check(&Identity::Anonymous, "Query", "somethingNew").is_err());
        assert_eq!(
            rule("Mutation", "createHost"),
            Some(Access::Write(Area::Inventory))
        );
    }
}
