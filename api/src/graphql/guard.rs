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
