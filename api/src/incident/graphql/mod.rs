//! Incidents in GraphQL: lists, reports, the classification lists, the mutations of an
//! incident's life and `incidentEvents`. Resolvers stay thin: guard, one service call, `From`.

mod live;
pub mod loaders;
mod mutation;
mod query;
pub mod types;

use async_graphql::Context;

pub use live::IncidentSubscription;
pub use mutation::IncidentMutation;
pub use query::IncidentQuery;
pub use types::Incident;

use crate::actor::Role::{Admin, Analyst, Viewer};
use crate::graphql::guard::{Access, Area};
use crate::graphql::{identity, state};
use crate::incident::read;

/// Incidents: every reader; analysts and admins record and change them.
pub static INCIDENTS: Area = Area {
    name: "incidents",
    readers: &[Admin, Analyst, Viewer],
    writers: &[Admin, Analyst],
};

/// The classification lists: every reader; admins edit them.
pub static INCIDENT_LOOKUPS: Area = Area {
    name: "incident lookups",
    readers: &[Admin, Analyst, Viewer],
    writers: &[Admin],
};

/// The rule of `parent.field` for the incident domain's fields.
pub fn access(parent: &str, field: &str) -> Option<Access> {
    use Access::*;
    Some(match (parent, field) {
        ("Query", "incidents" | "incident" | "incidentReport") => Read(&INCIDENTS),
        ("Query", "incidentLookups") => Read(&INCIDENT_LOOKUPS),
        ("Subscription", "incidentEvents") => Read(&INCIDENTS),
        (
            "Mutation",
            "createIncident"
            | "updateIncident"
            | "changeIncidentStatus"
            | "addIncidentNote"
            | "deleteIncident",
        ) => Write(&INCIDENTS),
        ("Mutation", "createIncidentLookup" | "updateIncidentLookup") => Write(&INCIDENT_LOOKUPS),
        (
            "Incident",
            "id"
            | "title"
            | "summary"
            | "status"
            | "severity"
            | "tlp"
            | "occurredAt"
            | "discoveredAt"
            | "containedAt"
            | "resolvedAt"
            | "actionToDiscovery"
            | "discoveryToContainment"
            | "assignee"
            | "reporter"
            | "agent"
            | "action"
            | "asset"
            | "discovery"
            | "dataExposed"
            | "integrityLoss"
            | "availabilityLoss"
            | "assetLoss"
            | "disruption"
            | "responseCost"
            | "overallImpact"
            | "lessonsLearned"
            | "corrections"
            | "hosts"
            | "attackerAddresses"
            | "vulnerabilities"
            | "articles"
            | "tags"
            | "timeline"
            | "createdAt"
            | "updatedAt",
        )
        | ("Timeframe", "seconds" | "unit")
        | ("IncidentNote", "id" | "at" | "kind" | "author" | "text" | "fromStatus" | "toStatus")
        | ("IncidentShare", "value" | "incidents" | "share")
        | ("MagnitudeCount", "magnitude" | "incidents")
        | ("IncidentCrossTab", "row" | "impacts")
        | ("IncidentMonth", "month" | "incidents")
        | (
            "IncidentReport",
            "total" | "byAgent" | "byAction" | "byAsset" | "byDiscovery" | "impactByAgent"
            | "impactByAction" | "impactByAsset" | "impactByDiscovery" | "monthly" | "undated",
        )
        | ("IncidentEvent", "kind" | "at" | "cursor" | "incidentId" | "incident") => {
            Read(&INCIDENTS)
        }
        ("IncidentLookup", "id" | "kind" | "name") => Read(&INCIDENT_LOOKUPS),
        ("IncidentPayload", "incident")
        | ("AddIncidentNotePayload", "note")
        | ("DeleteIncidentPayload", "deletedIncidentId")
        | ("IncidentLookupPayload", "incidentLookup") => Public,
        _ => return None,
    })
}

/// The incident behind `node(id:)`, when the caller may read it: `None` when `kind` is not
/// this domain's.
pub async fn fetch_node(
    ctx: &Context<'_>,
    kind: &str,
    id: i64,
) -> crate::error::AppResult<Option<Option<Incident>>> {
    if kind != "Incident" {
        return Ok(None);
    }
    let who = identity(ctx);
    let allowed = who
        .principal()
        .is_some_and(|p| INCIDENTS.readers.contains(&p.role));
    if !allowed {
        return Ok(Some(None));
    }
    Ok(Some(
        read::get(&state(ctx)?.db, &who.host_scope(), id)
            .await?
            .map(Incident),
    ))
}
