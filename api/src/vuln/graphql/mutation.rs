//! Changing vulnerabilities: `importFindings` (a report, uploaded), `updateFinding` (status,
//! why, ticket) and `updateVulnerability` (tags).

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};

use super::types::{Finding, FindingImport, FindingImportKind, FindingStatus, Vulnerability};
use crate::db;
use crate::graphql::connection::ImportRejection;
use crate::graphql::scalars::Upload;
use crate::graphql::{identity, node, state};
use crate::vuln::ingest::{self, Rejection};
use crate::vuln::status::{self, FindingUpdate};

/// A scanner report to import.
#[derive(InputObject)]
pub struct ImportFindingsInput {
    /// What the file is.
    pub kind: FindingImportKind,
    /// The file, sent as a GraphQL multipart request.
    pub file: Upload,
    /// The support group of hosts the report names that are not in the inventory yet
    /// (needed unless you are an admin: it must be one of yours).
    pub support_group_id: Option<ID>,
}

fn rejections(list: &[Rejection]) -> Vec<ImportRejection> {
    list.iter()
        .map(|r| ImportRejection {
            line: r.line as i64,
            reason: r.reason.clone(),
        })
        .collect()
}

/// What an import did. Every accepted finding is committed, also when others were refused.
#[derive(SimpleObject)]
pub struct ImportFindingsPayload {
    /// The import (`scanDelta` compares two).
    pub finding_import: FindingImport,
    /// Hosts the report covered.
    pub hosts: u64,
    /// Findings recorded.
    pub findings: u64,
    /// Findings listed for the first time.
    pub new_findings: u64,
    /// Fixed findings listed again, now reopened.
    pub reopened: u64,
    /// Open findings of the covered hosts no longer listed, now fixed.
    pub fixed: u64,
    /// Items left out on purpose (informational ones).
    pub skipped_count: u64,
    /// The first 1000 items left out, with their lines and why.
    pub skipped: Vec<ImportRejection>,
    /// Items refused.
    pub rejected_count: u64,
    /// The first 1000 items refused, with their lines and why.
    pub rejected: Vec<ImportRejection>,
    /// Where the reading stopped early (malformed or truncated input); null when it read to
    /// the end. A report that stopped early marks nothing fixed.
    pub stopped_at: Option<ImportRejection>,
}

/// A change to a finding. Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateFindingInput {
    /// The finding.
    pub id: ID,
    /// Its new status: open or reopened findings may become fixed, ignored or false
    /// positives; fixed ones reopened; ignored and false-positive ones open again or
    /// re-decided.
    pub status: Option<FindingStatus>,
    /// Why (kept in the history; only with a status).
    pub reason: Option<String>,
    /// The ticket tracking its fix (http or https); null clears it.
    #[graphql(default)]
    pub ticket_url: MaybeUndefined<String>,
}

/// The finding `updateFinding` changed.
#[derive(SimpleObject)]
pub struct UpdateFindingPayload {
    /// The finding as it is now.
    pub finding: Finding,
}

/// A change to a catalog entry.
#[derive(InputObject)]
pub struct UpdateVulnerabilityInput {
    /// The entry.
    pub id: ID,
    /// Its tags, by name (new names become tags); replaces the ones it had.
    pub tags: Vec<String>,
}

/// The catalog entry `updateVulnerability` changed.
#[derive(SimpleObject)]
pub struct UpdateVulnerabilityPayload {
    /// The entry as it is now.
    pub vulnerability: Vulnerability,
}

#[derive(Default)]
pub struct FindingMutation;

#[Object]
impl FindingMutation {
    /// Imports a scanner report (GraphQL multipart request): OpenVAS/GVM XML, Nessus
    /// `.nessus` or CSV, or nmap XML with `vulners`/`vuln` script output. Every complete,
    /// acceptable finding is committed; the others are reported with their lines. When the
    /// report was read to the end, open findings of the hosts it covered that it no longer
    /// lists become fixed.
    async fn import_findings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: ImportFindingsInput,
    ) -> Result<ImportFindingsPayload> {
        let group = input
            .support_group_id
            .map(|g| node::decode(&g, "SupportGroup"))
            .transpose()?;
        let who = identity(ctx).clone();
        let recorder = ingest::recorder_for(&who, group)?;
        let file = input.file.value(ctx)?.content;
        let st = state(ctx)?;
        let (row, report) =
            ingest::import(st, &who, input.kind.kind(), &recorder, file, None).await?;
        Ok(ImportFindingsPayload {
            finding_import: FindingImport(row),
            hosts: report.hosts,
            findings: report.findings,
            new_findings: report.new,
            reopened: report.reopened,
            fixed: report.fixed,
            skipped_count: report.skipped_count,
            skipped: rejections(&report.skipped),
            rejected_count: report.rejected_count,
            rejected: rejections(&report.rejected),
            stopped_at: report.stopped.as_ref().map(|s| ImportRejection {
                line: s.line as i64,
                reason: s.reason.clone(),
            }),
        })
    }

    /// Changes a finding on a host you see: its status (only the changes that make sense;
    /// others are refused with `BAD_USER_INPUT`), why, and its ticket. Every status change is
    /// kept in its history.
    async fn update_finding(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateFindingInput,
    ) -> Result<UpdateFindingPayload> {
        let id = node::decode(&input.id, "Finding")?;
        let update = FindingUpdate {
            status: input.status.map(FindingStatus::status),
            reason: input.reason,
            ticket_url: match input.ticket_url {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v)),
            },
        };
        let who = identity(ctx).clone();
        let found = db::write(&state(ctx)?.db, move |txn| {
            let (who, update) = (who.clone(), update.clone());
            Box::pin(async move { status::update_finding(txn, &who, id, update).await })
        })
        .await?;
        Ok(UpdateFindingPayload {
            finding: Finding(found),
        })
    }

    /// Sets the tags of a catalog entry.
    async fn update_vulnerability(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateVulnerabilityInput,
    ) -> Result<UpdateVulnerabilityPayload> {
        let id = node::decode(&input.id, "Vulnerability")?;
        let tags = input.tags;
        let found = db::write(&state(ctx)?.db, move |txn| {
            let tags = tags.clone();
            Box::pin(async move { status::set_vulnerability_tags(txn, id, &tags).await })
        })
        .await?;
        Ok(UpdateVulnerabilityPayload {
            vulnerability: Vulnerability(found),
        })
    }
}
