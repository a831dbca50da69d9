//! Vulnerabilities in GraphQL: the catalog, findings (scoped by their host's support group on
//! every path), imports and their reports, the analytics, `updateFinding`, `importFindings`
//! and `findingEvents`. Resolvers stay thin: guard, one service call, `From`.

mod live;
pub mod loaders;
mod mutation;
mod query;
pub mod types;

use async_graphql::Context;

pub use live::FindingSubscription;
pub use mutation::FindingMutation;
pub use query::FindingQuery;
pub use types::{Finding, FindingImport, Vulnerability};

use crate::actor::Role::{Admin, Analyst, Viewer};
use crate::graphql::guard::{Access, Area};
use crate::graphql::{identity, state};
use crate::vuln::read;

/// Vulnerabilities and findings: every reader; analysts and admins change and import them.
pub static FINDINGS: Area = Area {
    name: "findings",
    readers: &[Admin, Analyst, Viewer],
    writers: &[Admin, Analyst],
};

/// The rule of `parent.field` for the vulnerability domain's fields.
pub fn access(parent: &str, field: &str) -> Option<Access> {
    use Access::*;
    Some(match (parent, field) {
        (
            "Query",
            "findings" | "finding" | "vulnerabilities" | "vulnerability" | "findingImports"
            | "findingImport" | "findingRiskSummary" | "mostAffectedHosts" | "scanDelta",
        ) => Read(&FINDINGS),
        ("Subscription", "findingEvents") => Read(&FINDINGS),
        ("Mutation", "importFindings" | "updateFinding" | "updateVulnerability") => {
            Write(&FINDINGS)
        }
        (
            "Vulnerability",
            "id" | "source" | "checkId" | "name" | "description" | "solution" | "cves" | "cvss"
            | "cvssVector" | "references" | "tags" | "createdAt" | "updatedAt",
        )
        | (
            "Finding",
            "id" | "host" | "vulnerability" | "port" | "protocol" | "service" | "risk" | "status"
            | "output" | "ticketUrl" | "firstSeen" | "lastSeen" | "firstImportId" | "lastImportId"
            | "statusChangedAt" | "statusChangedBy" | "statusReason" | "history",
        )
        | (
            "FindingChange",
            "id" | "at" | "fromStatus" | "toStatus" | "by" | "reason" | "importId",
        )
        | (
            "FindingImport",
            "id" | "kind" | "status" | "createdBy" | "startedAt" | "finishedAt" | "hosts"
            | "findings" | "newFindings" | "reopened" | "fixed" | "skipped" | "rejected" | "error",
        )
        | ("RiskCount", "risk" | "findings" | "hosts")
        | (
            "HostRiskSummary",
            "host" | "critical" | "high" | "medium" | "low" | "total" | "highestRisk",
        )
        | ("ScanDelta", "from" | "to" | "newCount" | "fixedCount" | "new" | "fixed")
        | ("FindingEvent", "kind" | "at" | "cursor" | "findingId" | "finding") => Read(&FINDINGS),
        (
            "ImportFindingsPayload",
            "findingImport" | "hosts" | "findings" | "newFindings" | "reopened" | "fixed"
            | "skippedCount" | "skipped" | "rejectedCount" | "rejected" | "stoppedAt",
        )
        | ("UpdateFindingPayload", "finding")
        | ("UpdateVulnerabilityPayload", "vulnerability") => Public,
        _ => return None,
    })
}

/// A vulnerability-domain object behind `node(id:)`.
pub enum FindingNode {
    Finding(Finding),
    Vulnerability(Vulnerability),
    FindingImport(FindingImport),
}

/// The object of type `kind` and id `id`, when the caller may read it: `None` when `kind` is
/// not this domain's.
pub async fn fetch_node(
    ctx: &Context<'_>,
    kind: &str,
    id: i64,
) -> crate::error::AppResult<Option<Option<FindingNode>>> {
    if !matches!(kind, "Finding" | "Vulnerability" | "FindingImport") {
        return Ok(None);
    }
    let who = identity(ctx);
    let allowed = who
        .principal()
        .is_some_and(|p| FINDINGS.readers.contains(&p.role));
    if !allowed {
        return Ok(Some(None));
    }
    let db = &state(ctx)?.db;
    Ok(Some(match kind {
        "Finding" => read::finding(db, &who.host_scope(), id)
            .await?
            .map(|f| FindingNode::Finding(Finding(f))),
        "Vulnerability" => read::vulnerabilities_by_ids(db, &[id])
            .await?
            .remove(&id)
            .map(|v| FindingNode::Vulnerability(Vulnerability(v))),
        _ => read::import(db, id)
            .await?
            .map(|i| FindingNode::FindingImport(FindingImport(i))),
    }))
}
