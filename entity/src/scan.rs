//! A scan: a profile, targets and a schedule.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scan")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[sea_orm(unique)]
    pub name_key: String,
    pub profile_id: i64,
    /// The targets, as JSON: `{"all":bool,"groupIds":[..],"cidrs":[..]}`.
    #[sea_orm(column_type = "Text")]
    pub targets: String,
    /// A five-field cron expression; `None`: started by hand only.
    pub schedule: Option<String>,
    /// The IANA zone the schedule is read in.
    pub time_zone: String,
    pub enabled: bool,
    /// When the schedule next fires (`None`: never).
    pub next_run_at: Option<DateTimeUtc>,
    pub created_by_user_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
