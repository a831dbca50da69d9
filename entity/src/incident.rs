//! An incident: what happened, how it is classified, how bad it was, and where it stands.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incident")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub summary: Option<String>,
    /// `OPEN`, `INVESTIGATING`, `CONTAINED`, `RESOLVED` or `CLOSED`.
    pub status: String,
    /// `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub severity: String,
    /// `CLEAR`, `GREEN`, `AMBER`, `AMBER_STRICT` or `RED`.
    pub tlp: String,
    pub occurred_at: Option<DateTimeUtc>,
    pub discovered_at: Option<DateTimeUtc>,
    pub contained_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    pub assignee_id: Option<i64>,
    pub reporter_id: Option<i64>,
    pub reporter_name: String,
    pub agent_id: Option<i64>,
    pub action_id: Option<i64>,
    pub asset_id: Option<i64>,
    pub discovery_id: Option<i64>,
    /// Confidentiality: whether data was exposed.
    pub data_exposed: bool,
    pub integrity_loss: Option<String>,
    pub availability_loss: Option<String>,
    /// Magnitudes: `NONE`, `INSIGNIFICANT`, `MINOR`, `MODERATE`, `MAJOR` or `UNKNOWN`.
    pub asset_loss: String,
    pub disruption: String,
    pub response_cost: String,
    pub overall_impact: String,
    pub lessons_learned: Option<String>,
    pub corrections: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
