//! Matching what articles name against our own data: a CVE with open findings on a host, an
//! address of a host in our inventory, an address our darknet sensors saw. Each match is
//! stored once (unique per indicator, kind and host), so matching runs again safely: for new
//! articles as they are stored, and for new findings, hosts and sensor data by the
//! `intel-match` job. New matches get one outbox event per run.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::{article_indicator, finding, host, intel_match, vulnerability_cve};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::indicators::Kind;
use super::{MATCH_TOPIC, MatchKind};
use crate::db;
use crate::error::AppResult;
use crate::events::{self, ChangeKind, Item, NewEvent};
use crate::vuln::lifecycle::Status;

/// Most indicators one statement looks up.
const CHUNK: usize = 500;

/// A match about to be stored.
struct Candidate {
    article_id: i64,
    indicator_id: i64,
    kind: MatchKind,
    host_id: Option<i64>,
    address: Option<Vec<u8>>,
    cve: Option<String>,
}

/// Matches `indicators` against findings, hosts and darknet sources; stores the matches not
/// stored before, records their event, and answers their ids.
pub async fn for_indicators(
    db: &impl ConnectionTrait,
    indicators: &[article_indicator::Model],
    now: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    let mut found: Vec<Candidate> = Vec::new();
    let cves: Vec<&article_indicator::Model> = indicators
        .iter()
        .filter(|i| i.kind == Kind::Cve.as_str())
        .collect();
    for chunk in cves.chunks(CHUNK) {
        let names: Vec<String> = chunk.iter().map(|i| i.value.clone()).collect();
        let open: Vec<(i64, String)> = finding::Entity::find()
            .select_only()
            .column(finding::Column::HostId)
            .column_as(
                Expr::col((vulnerability_cve::Entity, vulnerability_cve::Column::Cve)),
                "cve",
            )
            .join(
                sea_orm::JoinType::InnerJoin,
                finding::Entity::belongs_to(vulnerability_cve::Entity)
                    .from(finding::Column::VulnerabilityId)
                    .to(vulnerability_cve::Column::VulnerabilityId)
                    .into(),
            )
            .filter(vulnerability_cve::Column::Cve.is_in(names))
            .filter(
                finding::Column::Status.is_in([Status::Open.as_str(), Status::Reopened.as_str()]),
            )
            .distinct()
            .into_tuple()
            .all(db)
            .await?;
        for i in chunk {
            for (host_id, cve) in open.iter().filter(|(_, c)| *c == i.value) {
                found.push(Candidate {
                    article_id: i.article_id,
                    indicator_id: i.id,
                    kind: MatchKind::OpenFinding,
                    host_id: Some(*host_id),
                    address: None,
                    cve: Some(cve.clone()),
                });
            }
        }
    }
    let addresses: Vec<&article_indicator::Model> =
        indicators.iter().filter(|i| i.address.is_some()).collect();
    for chunk in addresses.chunks(CHUNK) {
        let keys: Vec<Vec<u8>> = chunk.iter().filter_map(|i| i.address.clone()).collect();
        let hosts: Vec<(i64, Vec<u8>)> = host::Entity::find()
            .select_only()
            .column(host::Column::Id)
            .column(host::Column::Address)
            .filter(host::Column::Address.is_in(keys.clone()))
            .into_tuple()
            .all(db)
            .await?;
        let seen: HashSet<Vec<u8>> = crate::darknet::sources::seen(db, &keys).await?;
        for i in chunk {
            let Some(key) = &i.address else { continue };
            for (host_id, _) in hosts.iter().filter(|(_, a)| a == key) {
                found.push(Candidate {
                    article_id: i.article_id,
                    indicator_id: i.id,
                    kind: MatchKind::InventoryAddress,
                    host_id: Some(*host_id),
                    address: Some(key.clone()),
                    cve: None,
                });
            }
            if seen.contains(key) {
                found.push(Candidate {
                    article_id: i.article_id,
                    indicator_id: i.id,
                    kind: MatchKind::DarknetSource,
                    host_id: None,
                    address: Some(key.clone()),
                    cve: None,
                });
            }
        }
    }
    store(db, found, now).await
}

/// Stores the candidates not stored before; records one event for the new ones.
async fn store(
    db: &impl ConnectionTrait,
    found: Vec<Candidate>,
    now: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let indicator_ids: Vec<i64> = {
        let mut ids: Vec<i64> = found.iter().map(|c| c.indicator_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let before: HashSet<i64> = match_ids(db, &indicator_ids).await?.into_iter().collect();
    let rows: Vec<intel_match::ActiveModel> = found
        .into_iter()
        .map(|c| intel_match::ActiveModel {
            article_id: Set(c.article_id),
            indicator_id: Set(c.indicator_id),
            kind: Set(c.kind.as_str().to_owned()),
            subject: Set(c.host_id.unwrap_or(0)),
            host_id: Set(c.host_id),
            address: Set(c.address),
            cve: Set(c.cve),
            matched_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in rows.chunks(db::chunk_size(8)) {
        intel_match::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([
                intel_match::Column::IndicatorId,
                intel_match::Column::Kind,
                intel_match::Column::Subject,
            ])
            .exec_without_returning(db)
            .await?;
    }
    let mut fresh: Vec<i64> = match_ids(db, &indicator_ids)
        .await?
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    fresh.sort_unstable();
    if !fresh.is_empty() {
        events::record(
            db,
            vec![NewEvent {
                topic: MATCH_TOPIC,
                kind: ChangeKind::Created,
                items: fresh
                    .iter()
                    .map(|id| Item {
                        id: *id,
                        data: serde_json::Value::Null,
                    })
                    .collect(),
            }],
        )
        .await?;
    }
    Ok(fresh)
}

/// The ids of the matches of indicators `ids`.
async fn match_ids(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<Vec<i64>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(1000) {
        out.extend(
            intel_match::Entity::find()
                .select_only()
                .column(intel_match::Column::Id)
                .filter(intel_match::Column::IndicatorId.is_in(chunk.to_vec()))
                .into_tuple::<i64>()
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

/// Matches again the indicators that data changed since `since` may now match (all of them
/// when `None`): CVEs of findings seen or changed since, addresses of hosts changed since,
/// addresses darknet sensors saw since. Answers the new matches' ids.
pub async fn rematch_since(
    db: &impl ConnectionTrait,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    let Some(since) = since else {
        return rematch_all(db, now).await;
    };
    // CVEs of findings reported or changed since.
    let cves: Vec<String> = vulnerability_cve::Entity::find()
        .select_only()
        .column(vulnerability_cve::Column::Cve)
        .join(
            sea_orm::JoinType::InnerJoin,
            vulnerability_cve::Entity::belongs_to(finding::Entity)
                .from(vulnerability_cve::Column::VulnerabilityId)
                .to(finding::Column::VulnerabilityId)
                .into(),
        )
        .filter(
            sea_orm::Condition::any()
                .add(finding::Column::LastSeen.gte(since))
                .add(finding::Column::StatusChangedAt.gte(since)),
        )
        .filter(finding::Column::Status.is_in([Status::Open.as_str(), Status::Reopened.as_str()]))
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let mut indicators: Vec<article_indicator::Model> = Vec::new();
    for chunk in cves.chunks(CHUNK) {
        indicators.extend(
            article_indicator::Entity::find()
                .filter(article_indicator::Column::Kind.eq(Kind::Cve.as_str()))
                .filter(article_indicator::Column::Lookup.is_in(chunk.to_vec()))
                .all(db)
                .await?,
        );
    }
    // Addresses of hosts changed since, and of sources seen since.
    let mut keys: Vec<Vec<u8>> = host::Entity::find()
        .select_only()
        .column(host::Column::Address)
        .filter(host::Column::UpdatedAt.gte(since))
        .into_tuple()
        .all(db)
        .await?;
    keys.extend(crate::darknet::sources::seen_since(db, since).await?);
    keys.sort_unstable();
    keys.dedup();
    for chunk in keys.chunks(CHUNK) {
        indicators.extend(
            article_indicator::Entity::find()
                .filter(article_indicator::Column::Address.is_in(chunk.to_vec()))
                .all(db)
                .await?,
        );
    }
    for_indicators(db, &indicators, now).await
}

/// Matches every indicator that can match (CVEs and addresses), a bounded page at a time.
async fn rematch_all(db: &impl ConnectionTrait, now: DateTime<Utc>) -> AppResult<Vec<i64>> {
    let mut out = Vec::new();
    let mut after = 0i64;
    loop {
        let page = article_indicator::Entity::find()
            .filter(article_indicator::Column::Id.gt(after))
            .filter(
                sea_orm::Condition::any()
                    .add(article_indicator::Column::Kind.eq(Kind::Cve.as_str()))
                    .add(article_indicator::Column::Address.is_not_null()),
            )
            .order_by_asc(article_indicator::Column::Id)
            .limit(CHUNK as u64)
            .all(db)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        out.extend(for_indicators(db, &page, now).await?);
    }
    Ok(out)
}
