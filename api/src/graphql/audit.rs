//! Writes an audit entry for every mutation, after it ran: actor, action, target, client
//! address and outcome (`OK` or the error code). Sign-in audits itself in the service.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};

use crate::auth::audit::{self, NewEntry};
use crate::auth::{ClientAddr, Identity};
use crate::state::AppState;

pub struct AuditMutations;

impl ExtensionFactory for AuditMutations {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuditExtension)
    }
}

struct AuditExtension;

/// The first id in a payload (`id`, `deletedId`, `deletedHostId`, ...), depth first.
fn target(value: &Value, depth: usize) -> Option<String> {
    let Value::Object(map) = value else {
        return None;
    };
    for (key, v) in map {
        if let Value::String(s) = v
            && (key.as_str() == "id" || key.as_str().starts_with("deleted"))
        {
            return Some(s.clone());
        }
    }
    if depth == 0 {
        return None;
    }
    map.values().find_map(|v| target(v, depth - 1))
}

#[async_trait::async_trait]
impl Extension for AuditExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let audited =
            info.parent_type == "Mutation" && !matches!(info.name, "login" | "refreshSession");
        if !audited {
            return next.run(ctx, info).await;
        }
        let action = info.name.to_owned();
        let result = next.run(ctx, info).await;
        if let Some(state) = ctx.data_opt::<AppState>() {
            let identity = ctx.data_opt::<Identity>().unwrap_or(&Identity::Anonymous);
            let outcome = match &result {
                Ok(_) => "OK".to_owned(),
                Err(e) => e
                    .extensions
                    .as_ref()
                    .and_then(|x| x.get("code"))
                    .and_then(|c| match c {
                        Value::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "ERROR".into()),
            };
            let entry = NewEntry {
                actor_user_id: identity.principal().map(|p| p.user_id),
                actor: identity.display_name().to_owned(),
                action,
                target: result
                    .as_ref()
                    .ok()
                    .and_then(|v| v.as_ref())
                    .and_then(|v| target(v, 2)),
                client_addr: ctx.data_opt::<ClientAddr>().map(|a| a.0.clone()),
                outcome,
            };
            audit::record(&state.db, entry).await;
        }
        result
    }
}
