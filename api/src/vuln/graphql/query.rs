//! Reading vulnerabilities: findings (scoped), the catalog, imports, the risk summary, the
//! most affected hosts and `scanDelta`.

use async_graphql::{Context, ID, InputObject, Object, Result};

use super::types::{
    Finding, FindingConnection, FindingImport, FindingImportConnection, FindingStatus,
    HostRiskSummary, Risk, RiskCount, ScanDelta, Vulnerability, VulnerabilityConnection,
};
use crate::error::{AppError, AppResult};
use crate::graphql::connection::{TotalCount, list_reader, page, page_cost};
use crate::graphql::{node, scope, state};
use crate::vuln::read::{self, FindingFilter, VulnerabilityFilter};

/// Most entries a summary list answers.
const MAX_SUMMARY: i32 = 1000;

/// Which findings. Every field narrows; empty lists mean any.
#[derive(InputObject, Default, Clone)]
pub struct FindingFilterInput {
    /// Only these risk levels.
    pub risks: Option<Vec<Risk>>,
    /// Only these statuses.
    pub statuses: Option<Vec<FindingStatus>>,
    /// Only findings of vulnerabilities with this CVE id (`CVE-2021-44228`, any case).
    pub cve: Option<String>,
    /// Only this host's.
    pub host_id: Option<ID>,
    /// Only findings on hosts of this host group.
    pub host_group_id: Option<ID>,
    /// Only findings on hosts of this support group.
    pub support_group_id: Option<ID>,
    /// Only findings of this vulnerability.
    pub vulnerability_id: Option<ID>,
    /// Only findings this import listed.
    pub import_id: Option<ID>,
}

/// A CVE id: `CVE-YYYY-NNNN...`, upper-cased.
fn cve(text: &str) -> AppResult<String> {
    let mut found = Vec::new();
    crate::vuln::parse::cves_in(text, &mut found);
    match found.as_slice() {
        [one] if one.len() == text.trim().len() => Ok(one.clone()),
        _ => Err(AppError::bad_input(format!(
            "{:?} is not a CVE id (CVE-YYYY-NNNN)",
            crate::validate::truncate(text, 40)
        ))),
    }
}

impl FindingFilterInput {
    pub fn filter(&self) -> AppResult<FindingFilter> {
        let one =
            |id: &Option<ID>, kind: &str| id.as_ref().map(|i| node::decode(i, kind)).transpose();
        let risks = self.risks.clone().unwrap_or_default();
        let statuses = self.statuses.clone().unwrap_or_default();
        crate::validate::bounded("risks", &risks, 5)?;
        crate::validate::bounded("statuses", &statuses, 5)?;
        Ok(FindingFilter {
            risks: risks.into_iter().map(Risk::level).collect(),
            statuses: statuses.into_iter().map(FindingStatus::status).collect(),
            cve: self.cve.as_deref().map(cve).transpose()?,
            host_id: one(&self.host_id, "Host")?,
            host_group_id: one(&self.host_group_id, "HostGroup")?,
            support_group_id: one(&self.support_group_id, "SupportGroup")?,
            vulnerability_id: one(&self.vulnerability_id, "Vulnerability")?,
            import_id: one(&self.import_id, "FindingImport")?,
        })
    }
}

fn bounded_first(first: Option<i32>, default: i32) -> AppResult<u64> {
    let n = first.unwrap_or(default);
    if !(0..=MAX_SUMMARY).contains(&n) {
        return Err(AppError::bad_input(format!(
            "`first` must be between 0 and {MAX_SUMMARY}"
        )));
    }
    Ok(n as u64)
}

#[derive(Default)]
pub struct FindingQuery;

#[Object]
impl FindingQuery {
    /// Findings on the hosts you see, newest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn findings(
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
        #[graphql(desc = "Which findings.")] filter: Option<FindingFilterInput>,
    ) -> Result<FindingConnection> {
        let page = page(ctx, first, after, last, before)?;
        let filter = filter.unwrap_or_default().filter()?;
        let (db, scope) = (list_reader(ctx).await?, scope(ctx));
        let found = read::findings(&db, &scope, &filter, &page).await?;
        let total = TotalCount::of(&db, read::count_findings(&db, &scope, &filter)).await?;
        Ok(FindingConnection::new(found, total))
    }

    /// A finding by id; null when there is none or its host is not one you see.
    async fn finding(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<Finding>> {
        let Some(id) = node::decode_of(&id, "Finding")? else {
            return Ok(None);
        };
        Ok(read::finding(&state(ctx)?.db, &scope(ctx), id)
            .await?
            .map(Finding))
    }

    /// The catalog of vulnerabilities, newest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    #[expect(
        clippy::too_many_arguments,
        reason = "a Relay connection takes four page arguments besides its own"
    )]
    async fn vulnerabilities(
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
        #[graphql(desc = "Only those with this CVE id.")] cve: Option<String>,
        #[graphql(desc = "Only those whose name contains this text (any case).")]
        name_contains: Option<String>,
        #[graphql(desc = "Only those with this tag (by name, any case).")] tag: Option<String>,
    ) -> Result<VulnerabilityConnection> {
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let tag_id = match tag {
            // A tag that does not exist matches nothing.
            Some(name) => Some(read::tag_id(&db, &name).await?.unwrap_or(0)),
            None => None,
        };
        let filter = VulnerabilityFilter {
            cve: cve.as_deref().map(self::cve).transpose()?,
            name_contains: crate::validate::optional_line(
                "nameContains",
                name_contains.as_deref(),
                200,
            )?,
            tag_id,
        };
        let found = read::vulnerabilities(&db, &filter, &page).await?;
        let total = TotalCount::of(&db, read::count_vulnerabilities(&db, &filter)).await?;
        Ok(VulnerabilityConnection::new(found, total))
    }

    /// A catalog entry by id.
    async fn vulnerability(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<Vulnerability>> {
        let Some(id) = node::decode_of(&id, "Vulnerability")? else {
            return Ok(None);
        };
        Ok(read::vulnerabilities_by_ids(&state(ctx)?.db, &[id])
            .await?
            .remove(&id)
            .map(Vulnerability))
    }

    /// Imports of scanner reports, newest first.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn finding_imports(
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
    ) -> Result<FindingImportConnection> {
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let found = read::imports(&db, &page).await?;
        let total = TotalCount::of(&db, read::count_imports(&db)).await?;
        Ok(FindingImportConnection::new(found, total))
    }

    /// An import by id.
    async fn finding_import(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Its global id.")] id: ID,
    ) -> Result<Option<FindingImport>> {
        let Some(id) = node::decode_of(&id, "FindingImport")? else {
            return Ok(None);
        };
        Ok(read::import(&state(ctx)?.db, id).await?.map(FindingImport))
    }

    /// Findings on the hosts you see per risk level, highest first: open and reopened ones
    /// unless the filter names statuses.
    async fn finding_risk_summary(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which findings.")] filter: Option<FindingFilterInput>,
    ) -> Result<Vec<RiskCount>> {
        let filter = filter.unwrap_or_default().filter()?;
        Ok(read::risk_summary(&state(ctx)?.db, &scope(ctx), &filter)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The hosts you see with the worst findings (open and reopened ones unless the filter
    /// names statuses): most critical first, then high, medium and low. With a host filter,
    /// that host's latest risk summary.
    async fn most_affected_hosts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which findings.")] filter: Option<FindingFilterInput>,
        #[graphql(desc = "How many hosts (default 10, at most 1000).")] first: Option<i32>,
    ) -> Result<Vec<HostRiskSummary>> {
        let filter = filter.unwrap_or_default().filter()?;
        let limit = bounded_first(first, 10)?;
        Ok(
            read::most_affected_hosts(&state(ctx)?.db, &scope(ctx), &filter, limit)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        )
    }

    /// What changed between two imports: findings the newer one listed that the older did
    /// not, and findings the older listed on hosts the newer covered that it no longer
    /// lists. Only findings on hosts you see.
    async fn scan_delta(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The older import.")] from: ID,
        #[graphql(desc = "The newer import.")] to: ID,
        #[graphql(desc = "How many of each list (default 100, at most 1000).")] first: Option<i32>,
    ) -> Result<ScanDelta> {
        let (a, b) = (
            node::decode(&from, "FindingImport")?,
            node::decode(&to, "FindingImport")?,
        );
        let limit = bounded_first(first, 100)?;
        let db = &state(ctx)?.db;
        let (Some(from), Some(to)) = (read::import(db, a).await?, read::import(db, b).await?)
        else {
            return Err(AppError::not_found("finding import").into());
        };
        let delta = read::scan_delta(db, &scope(ctx), a, b, limit).await?;
        Ok(ScanDelta {
            from: FindingImport(from),
            to: FindingImport(to),
            new_count: delta.new_count,
            fixed_count: delta.fixed_count,
            new: delta.new.into_iter().map(Finding).collect(),
            fixed: delta.fixed.into_iter().map(Finding).collect(),
        })
    }
}
