//! Writes an audit entry for every mutation, after it ran: actor, action, target, client
//! address and outcome (`OK` or the error code). Sign-in audits itself in the service.
//!
//! What one request may cost the audit log is bounded: a successful mutation gets its own
//! entry (a document holds at most [`crate::graphql::limits::MAX_MUTATION_FIELDS`]), and the
//! failures of one operation are recorded once per action and outcome, with their count, so a
//! request of many refused aliases writes one row, not one per alias.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
};
use async_graphql::{Response, ServerResult, Value};

use super::audit::{self, NewEntry};
use crate::actor::{ClientAddr, Identity};
use crate::state::AppState;

pub struct AuditMutations;

impl ExtensionFactory for AuditMutations {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuditExtension::default())
    }
}

/// One per request: failures wait here, by (action, outcome), until the operation ends.
#[derive(Default)]
struct AuditExtension {
    failures: Mutex<BTreeMap<(String, String), u32>>,
}

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

fn entry(ctx: &ExtensionContext<'_>, action: String, outcome: String, repeats: u32) -> NewEntry {
    let identity = ctx.data_opt::<Identity>().unwrap_or(&Identity::Anonymous);
    NewEntry {
        actor_user_id: identity.principal().map(|p| p.user_id),
        actor: identity.display_name().to_owned(),
        action,
        target: None,
        client_addr: ctx.data_opt::<ClientAddr>().map(|a| a.0.clone()),
        outcome,
        repeats,
    }
}

#[async_trait::async_trait]
impl Extension for AuditExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        let failures = self
            .failures
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default();
        if let Some(state) = ctx.data_opt::<AppState>() {
            for ((action, outcome), repeats) in failures {
                audit::record(&state.db, entry(ctx, action, outcome, repeats)).await;
            }
        }
        response
    }

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
        match &result {
            Ok(value) => {
                if let Some(state) = ctx.data_opt::<AppState>() {
                    let mut ok = entry(ctx, action, "OK".into(), 1);
                    ok.target = value.as_ref().and_then(|v| target(v, 2));
                    audit::record(&state.db, ok).await;
                }
            }
            Err(e) => {
                let outcome = e
                    .extensions
                    .as_ref()
                    .and_then(|x| x.get("code"))
                    .and_then(|c| match c {
                        Value::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "ERROR".into());
                if let Ok(mut failures) = self.failures.lock() {
                    *failures.entry((action, outcome)).or_insert(0) += 1;
                }
            }
        }
        result
    }
}
