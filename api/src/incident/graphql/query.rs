//! Reading incidents: lists with filters, one by id, the classification lists, and HECTOR's
//! incident reports (shares by agent, action, asset and discovery; impact cross-tabs; a
//! monthly timeline with empty months filled), all over the incidents the caller sees.

use std::collections::BTreeMap;

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{Datelike, TimeZone, Utc};

use super::types::{
    Incident, IncidentConnection, IncidentLookup, IncidentLookupKind, IncidentSeverity,
    IncidentStatus, Magnitude,
};
use crate::error::{AppError, AppResult};
use crate::graphql::connection::{TotalCount, list_reader, page, page_cost};
use crate::graphql::scalars::DateTime;
use crate::graphql::{node, scope, state};
use crate::incident::read::{self, IncidentFilter, Reported};

/// Which incidents. Every field narrows; empty lists mean any.
#[derive(InputObject, Default, Clone)]
pub struct IncidentFilterInput {
    /// Only these statuses.
    pub statuses: Option<Vec<IncidentStatus>>,
    /// Only these severities.
    pub severities: Option<Vec<IncidentSeverity>>,
    /// Only incidents classified with each of these values (agent, action, asset or
    /// discovery; see `incidentLookups`).
    pub categories: Option<Vec<ID>>,
    /// Only incidents that occurred at or after this time.
    pub since: Option<DateTime>,
    /// Only incidents that occurred before this time.
    pub until: Option<DateTime>,
    /// Only incidents that touched this host.
    pub host_id: Option<ID>,
    /// Only incidents with this tag (by name, any case).
    pub tag: Option<String>,
}

impl IncidentFilterInput {
    pub async fn filter(&self, db: &sea_orm::DatabaseConnection) -> AppResult<IncidentFilter> {
        let statuses = self.statuses.clone().unwrap_or_default();
        let severities = self.severities.clone().unwrap_or_default();
        let categories = self.categories.clone().unwrap_or_default();
        crate::validate::bounded("categories", &categories, 4)?;
        let tag_id = match &self.tag {
            Some(name) => Some(crate::vuln::read::tag_id(db, name).await?.unwrap_or(0)),
            None => None,
        };
        Ok(IncidentFilter {
            statuses: statuses.into_iter().map(IncidentStatus::status).collect(),
            severities: severities
                .into_iter()
                .map(IncidentSeverity::as_str)
                .collect(),
            lookup_ids: node::decode_many(&categories, "IncidentLookup")?,
            since: self.since.map(|t| t.0),
            until: self.until.map(|t| t.0),
            host_id: self
                .host_id
                .as_ref()
                .map(|h| node::decode(h, "Host"))
                .transpose()?,
            tag_id,
        })
    }
}

/// One value of a classification list in a report: its incidents and their share.
pub struct IncidentShare {
    lookup: Option<i64>,
    incidents: u64,
    share: f64,
}

/// One value of a classification list in a report: its incidents and their share.
#[Object]
impl IncidentShare {
    /// The value; null for incidents not classified in this list.
    async fn value(&self, ctx: &Context<'_>) -> Result<Option<IncidentLookup>> {
        let Some(id) = self.lookup else {
            return Ok(None);
        };
        Ok(super::loaders::of(ctx)?
            .load_one(super::loaders::LookupId(id))
            .await?
            .map(IncidentLookup))
    }

    /// How many incidents.
    async fn incidents(&self) -> u64 {
        self.incidents
    }

    /// Their share of all the report's incidents (0 to 1).
    async fn share(&self) -> f64 {
        self.share
    }
}

/// Incidents of one overall impact.
#[derive(SimpleObject)]
pub struct MagnitudeCount {
    /// The overall impact.
    pub magnitude: Magnitude,
    /// How many incidents.
    pub incidents: u64,
}

/// The overall impact of the incidents of one classification value.
pub struct IncidentCrossTab {
    share: IncidentShare,
    counts: Vec<MagnitudeCount>,
}

/// The overall impact of the incidents of one classification value.
#[Object]
impl IncidentCrossTab {
    /// The value, its incidents and their share.
    async fn row(&self) -> &IncidentShare {
        &self.share
    }

    /// Its incidents per overall impact (only impacts that occur).
    async fn impacts(&self) -> &[MagnitudeCount] {
        &self.counts
    }
}

/// Incidents that occurred in one month.
#[derive(SimpleObject)]
pub struct IncidentMonth {
    /// The month, `YYYY-MM` (UTC).
    pub month: String,
    /// How many incidents occurred in it.
    pub incidents: u64,
}

/// HECTOR's incident reports over the incidents you see that match a filter.
pub struct IncidentReport {
    rows: Vec<Reported>,
    months: Vec<IncidentMonth>,
}

fn shares(
    rows: &[Reported],
    key: fn(&Reported) -> Option<i64>,
) -> Vec<(IncidentShare, Vec<MagnitudeCount>)> {
    let mut by: BTreeMap<Option<i64>, BTreeMap<String, u64>> = BTreeMap::new();
    for r in rows {
        *by.entry(key(r))
            .or_default()
            .entry(r.overall_impact.clone())
            .or_default() += 1;
    }
    let total = rows.len().max(1) as f64;
    let mut out: Vec<(IncidentShare, Vec<MagnitudeCount>)> = by
        .into_iter()
        .map(|(lookup, impacts)| {
            let incidents: u64 = impacts.values().sum();
            let counts = impacts
                .into_iter()
                .map(|(m, n)| MagnitudeCount {
                    magnitude: Magnitude::of(&m),
                    incidents: n,
                })
                .collect();
            (
                IncidentShare {
                    lookup,
                    incidents,
                    share: incidents as f64 / total,
                },
                counts,
            )
        })
        .collect();
    // Most first; ties by value.
    out.sort_by(|a, b| {
        b.0.incidents
            .cmp(&a.0.incidents)
            .then(a.0.lookup.cmp(&b.0.lookup))
    });
    out
}

const KEYS: [fn(&Reported) -> Option<i64>; 4] = [
    |r| r.agent_id,
    |r| r.action_id,
    |r| r.asset_id,
    |r| r.discovery_id,
];

/// HECTOR's incident reports over the incidents you see that match a filter.
#[Object]
impl IncidentReport {
    /// How many incidents the report covers.
    async fn total(&self) -> u64 {
        self.rows.len() as u64
    }

    /// Incidents per agent, most first.
    async fn by_agent(&self) -> Vec<IncidentShare> {
        shares(&self.rows, KEYS[0])
            .into_iter()
            .map(|s| s.0)
            .collect()
    }

    /// Incidents per action, most first.
    async fn by_action(&self) -> Vec<IncidentShare> {
        shares(&self.rows, KEYS[1])
            .into_iter()
            .map(|s| s.0)
            .collect()
    }

    /// Incidents per asset, most first.
    async fn by_asset(&self) -> Vec<IncidentShare> {
        shares(&self.rows, KEYS[2])
            .into_iter()
            .map(|s| s.0)
            .collect()
    }

    /// Incidents per discovery method, most first.
    async fn by_discovery(&self) -> Vec<IncidentShare> {
        shares(&self.rows, KEYS[3])
            .into_iter()
            .map(|s| s.0)
            .collect()
    }

    /// Overall impact per agent.
    async fn impact_by_agent(&self) -> Vec<IncidentCrossTab> {
        cross(&self.rows, KEYS[0])
    }

    /// Overall impact per action.
    async fn impact_by_action(&self) -> Vec<IncidentCrossTab> {
        cross(&self.rows, KEYS[1])
    }

    /// Overall impact per asset.
    async fn impact_by_asset(&self) -> Vec<IncidentCrossTab> {
        cross(&self.rows, KEYS[2])
    }

    /// Overall impact per discovery method.
    async fn impact_by_discovery(&self) -> Vec<IncidentCrossTab> {
        cross(&self.rows, KEYS[3])
    }

    /// Incidents per month of occurrence, every month of the range (the filter's `since` to
    /// `until`, else the last twelve months), empty ones included.
    async fn monthly(&self) -> &[IncidentMonth] {
        &self.months
    }

    /// Incidents without a time of occurrence (not in `monthly`).
    async fn undated(&self) -> u64 {
        self.rows.iter().filter(|r| r.occurred_at.is_none()).count() as u64
    }
}

fn cross(rows: &[Reported], key: fn(&Reported) -> Option<i64>) -> Vec<IncidentCrossTab> {
    shares(rows, key)
        .into_iter()
        .map(|(share, counts)| IncidentCrossTab { share, counts })
        .collect()
}

/// Most months a timeline spans.
const MAX_MONTHS: i32 = 600;

fn months(
    rows: &[Reported],
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
) -> AppResult<Vec<IncidentMonth>> {
    let index = |t: chrono::DateTime<Utc>| t.year() * 12 + t.month0() as i32;
    let (first, last) = (index(from), index(to));
    if last < first || last - first >= MAX_MONTHS {
        return Err(AppError::bad_input(format!(
            "the timeline spans 1 to {MAX_MONTHS} months"
        )));
    }
    let mut counts = vec![0u64; (last - first + 1) as usize];
    for at in rows.iter().filter_map(|r| r.occurred_at) {
        let i = index(at) - first;
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| counts.get_mut(i)) {
            *slot += 1;
        }
    }
    Ok(counts
        .into_iter()
        .enumerate()
        .map(|(i, incidents)| {
            let m = first + i as i32;
            IncidentMonth {
                month: format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1),
                incidents,
            }
        })
        .collect())
}

#[derive(Default)]
pub struct IncidentQuery;

#[Object]
impl IncidentQuery {
    /// Incidents you see, newest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn incidents(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many to return from the start of the list (or after `after`).")]
        first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the page before).")]
        after: Option<String>,
        #[graphql(desc = "How many to return from the end of the list (or before `before`).")]
        last: Option<i32>,
        #[graphql(
            desc = "Continue before this cursor (`pageInfo.startCursor` of the page after)."
        )]
        before: Option<String>,
        #[graphql(desc = "Which incidents.")] filter: Option<IncidentFilterInput>,
    ) -> Result<IncidentConnection> {
        let page = page(ctx, first, after, last, before)?;
        // Its names resolved first: the reader may hold a connection of the pool.
        let filter = filter.unwrap_or_default().filter(&state(ctx)?.db).await?;
        let (db, scope) = (list_reader(ctx).await?, scope(ctx));
        let found = read::list(&db, &scope, &filter, &page).await?;
        let total = TotalCount::of(&db, read::count(&db, &scope, &filter)).await?;
        Ok(IncidentConnection::new(found, total))
    }

    /// An incident by id; null when there is none or you do not see it.
    async fn incident(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<Incident>> {
        let Some(id) = node::decode_of(&id, "Incident")? else {
            return Ok(None);
        };
        Ok(read::get(&state(ctx)?.db, &scope(ctx), id)
            .await?
            .map(Incident))
    }

    /// The values of the classification lists, by list and name.
    async fn incident_lookups(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this list.")] kind: Option<IncidentLookupKind>,
    ) -> Result<Vec<IncidentLookup>> {
        Ok(
            read::lookups(&state(ctx)?.db, kind.map(IncidentLookupKind::kind))
                .await?
                .into_iter()
                .map(IncidentLookup)
                .collect(),
        )
    }

    /// HECTOR's incident reports over the incidents you see that match the filter.
    async fn incident_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which incidents.")] filter: Option<IncidentFilterInput>,
    ) -> Result<IncidentReport> {
        let db = &state(ctx)?.db;
        let filter = filter.unwrap_or_default().filter(db).await?;
        let rows = read::reported(db, &scope(ctx), &filter).await?;
        // `until` is exclusive: its month is in the timeline only past its first instant.
        let to = filter
            .until
            .map(|t| t - chrono::Duration::microseconds(1))
            .unwrap_or_else(crate::db::now);
        let from = match filter.since {
            Some(t) => t,
            None => {
                let back = to.year() * 12 + to.month0() as i32 - 11;
                Utc.with_ymd_and_hms(
                    back.div_euclid(12),
                    back.rem_euclid(12) as u32 + 1,
                    1,
                    0,
                    0,
                    0,
                )
                .single()
                .unwrap_or(to)
            }
        };
        let months = months(&rows, from, to)?;
        Ok(IncidentReport { rows, months })
    }
}
