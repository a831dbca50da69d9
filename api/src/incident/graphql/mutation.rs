//! Changing incidents: record, change, move through statuses, annotate, delete; and the
//! classification lists (admins).

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};

use super::types::{
    Incident, IncidentLookup, IncidentLookupKind, IncidentNote, IncidentSeverity, IncidentStatus,
    Magnitude, Tlp,
};
use crate::db;
use crate::error::AppResult;
use crate::graphql::scalars::{DateTime, IpAddr};
use crate::graphql::{identity, node, state};
use crate::incident::service::{self, IncidentInput};

/// An incident's fields. On creation a missing field takes its default (severity medium,
/// TLP amber, magnitudes unknown, nothing linked); on change it stays as it is, and null
/// clears it. Lists replace what the incident had.
#[derive(InputObject, Default)]
pub struct IncidentFields {
    /// Its title (needed on creation).
    pub title: Option<String>,
    /// What happened.
    #[graphql(default)]
    pub summary: MaybeUndefined<String>,
    /// How serious it is.
    pub severity: Option<IncidentSeverity>,
    /// Who may be told.
    pub tlp: Option<Tlp>,
    /// When it happened.
    #[graphql(default)]
    pub occurred_at: MaybeUndefined<DateTime>,
    /// When it was found (not before it happened).
    #[graphql(default)]
    pub discovered_at: MaybeUndefined<DateTime>,
    /// When the damage stopped (not before it was found).
    #[graphql(default)]
    pub contained_at: MaybeUndefined<DateTime>,
    /// When it was dealt with (not before it was contained).
    #[graphql(default)]
    pub resolved_at: MaybeUndefined<DateTime>,
    /// Who handles it (a `User`).
    #[graphql(default)]
    pub assignee_id: MaybeUndefined<ID>,
    /// Whose action it was (an `AGENT` value of `incidentLookups`).
    #[graphql(default)]
    pub agent_id: MaybeUndefined<ID>,
    /// What they did (an `ACTION` value).
    #[graphql(default)]
    pub action_id: MaybeUndefined<ID>,
    /// What was affected (an `ASSET` value).
    #[graphql(default)]
    pub asset_id: MaybeUndefined<ID>,
    /// How it was found (a `DISCOVERY` value).
    #[graphql(default)]
    pub discovery_id: MaybeUndefined<ID>,
    /// Confidentiality: whether data was exposed.
    pub data_exposed: Option<bool>,
    /// Integrity: what was altered.
    #[graphql(default)]
    pub integrity_loss: MaybeUndefined<String>,
    /// Availability: what was lost, and for how long.
    #[graphql(default)]
    pub availability_loss: MaybeUndefined<String>,
    /// What the lost assets were worth.
    pub asset_loss: Option<Magnitude>,
    /// How much work stopped.
    pub disruption: Option<Magnitude>,
    /// What responding cost.
    pub response_cost: Option<Magnitude>,
    /// The overall impact.
    pub overall_impact: Option<Magnitude>,
    /// Lessons learned.
    #[graphql(default)]
    pub lessons_learned: MaybeUndefined<String>,
    /// The corrections recommended.
    #[graphql(default)]
    pub corrections: MaybeUndefined<String>,
    /// The hosts it touched (ones you see; hosts others linked that you do not see stay).
    pub host_ids: Option<Vec<ID>>,
    /// The attackers' addresses.
    pub attacker_addresses: Option<Vec<IpAddr>>,
    /// The vulnerabilities it exploited.
    pub vulnerability_ids: Option<Vec<ID>>,
    /// The threat-feed articles about it.
    pub article_ids: Option<Vec<ID>>,
    /// Its tags, by name (new names become tags).
    pub tags: Option<Vec<String>>,
}

fn maybe<T, U>(
    v: MaybeUndefined<T>,
    f: impl FnOnce(T) -> AppResult<U>,
) -> AppResult<Option<Option<U>>> {
    Ok(match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v)?)),
    })
}

impl IncidentFields {
    fn input(self) -> AppResult<IncidentInput> {
        let text = |v: MaybeUndefined<String>| maybe(v, Ok);
        let time = |v: MaybeUndefined<DateTime>| maybe(v, |t| Ok(t.0));
        let id = |v: MaybeUndefined<ID>, kind: &'static str| maybe(v, |i| node::decode(&i, kind));
        Ok(IncidentInput {
            title: self.title,
            summary: text(self.summary)?,
            severity: self.severity.map(IncidentSeverity::as_str),
            tlp: self.tlp.map(Tlp::as_str),
            occurred_at: time(self.occurred_at)?,
            discovered_at: time(self.discovered_at)?,
            contained_at: time(self.contained_at)?,
            resolved_at: time(self.resolved_at)?,
            assignee_id: id(self.assignee_id, "User")?,
            agent_id: id(self.agent_id, "IncidentLookup")?,
            action_id: id(self.action_id, "IncidentLookup")?,
            asset_id: id(self.asset_id, "IncidentLookup")?,
            discovery_id: id(self.discovery_id, "IncidentLookup")?,
            data_exposed: self.data_exposed,
            integrity_loss: text(self.integrity_loss)?,
            availability_loss: text(self.availability_loss)?,
            asset_loss: self.asset_loss.map(Magnitude::magnitude),
            disruption: self.disruption.map(Magnitude::magnitude),
            response_cost: self.response_cost.map(Magnitude::magnitude),
            overall_impact: self.overall_impact.map(Magnitude::magnitude),
            lessons_learned: text(self.lessons_learned)?,
            corrections: text(self.corrections)?,
            host_ids: self
                .host_ids
                .map(|h| node::decode_many(&h, "Host"))
                .transpose()?,
            addresses: self
                .attacker_addresses
                .map(|a| a.into_iter().map(|a| a.0).collect()),
            vulnerability_ids: self
                .vulnerability_ids
                .map(|v| node::decode_many(&v, "Vulnerability"))
                .transpose()?,
            article_ids: self
                .article_ids
                .map(|a| node::decode_many(&a, "Article"))
                .transpose()?,
            tags: self.tags,
        })
    }
}

/// A new incident.
#[derive(InputObject)]
pub struct CreateIncidentInput {
    /// Its fields (a title at least).
    pub fields: IncidentFields,
}

/// A change to an incident.
#[derive(InputObject)]
pub struct UpdateIncidentInput {
    /// The incident.
    pub id: ID,
    /// The fields to change.
    pub fields: IncidentFields,
}

/// A status change.
#[derive(InputObject)]
pub struct ChangeIncidentStatusInput {
    /// The incident.
    pub id: ID,
    /// Its new status (only changes that make sense; others are refused with
    /// `BAD_USER_INPUT`).
    pub status: IncidentStatus,
    /// Why (kept in the timeline).
    pub note: Option<String>,
}

/// A note for an incident's timeline.
#[derive(InputObject)]
pub struct AddIncidentNoteInput {
    /// The incident.
    pub id: ID,
    /// The note.
    pub text: String,
}

/// An incident to delete.
#[derive(InputObject)]
pub struct DeleteIncidentInput {
    /// The incident.
    pub id: ID,
}

/// A new value of a classification list.
#[derive(InputObject)]
pub struct CreateIncidentLookupInput {
    /// Its list.
    pub kind: IncidentLookupKind,
    /// Its name, unique in its list (any case).
    pub name: String,
}

/// A new name for a value of a classification list.
#[derive(InputObject)]
pub struct UpdateIncidentLookupInput {
    /// The value.
    pub id: ID,
    /// Its new name.
    pub name: String,
}

/// The incident a mutation recorded or changed.
#[derive(SimpleObject)]
pub struct IncidentPayload {
    /// The incident as it is now.
    pub incident: Incident,
}

/// The note `addIncidentNote` added.
#[derive(SimpleObject)]
pub struct AddIncidentNotePayload {
    /// The note.
    pub note: IncidentNote,
}

/// The incident `deleteIncident` deleted.
#[derive(SimpleObject)]
pub struct DeleteIncidentPayload {
    /// Its id.
    pub deleted_incident_id: ID,
}

/// The classification value a mutation made or renamed.
#[derive(SimpleObject)]
pub struct IncidentLookupPayload {
    /// The value as it is now.
    pub incident_lookup: IncidentLookup,
}

#[derive(Default)]
pub struct IncidentMutation;

#[Object]
impl IncidentMutation {
    /// Records an incident (`OPEN`, reported by you).
    async fn create_incident(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateIncidentInput,
    ) -> Result<IncidentPayload> {
        let fields = input.fields.input()?;
        let who = identity(ctx).clone();
        let made = db::write(&state(ctx)?.db, move |txn| {
            let (who, fields) = (who.clone(), fields.clone());
            Box::pin(async move { service::create(txn, &who, fields).await })
        })
        .await?;
        Ok(IncidentPayload {
            incident: Incident(made),
        })
    }

    /// Changes an incident you see; the timeline names the fields changed.
    async fn update_incident(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateIncidentInput,
    ) -> Result<IncidentPayload> {
        let id = node::decode(&input.id, "Incident")?;
        let fields = input.fields.input()?;
        let who = identity(ctx).clone();
        let changed = db::write(&state(ctx)?.db, move |txn| {
            let (who, fields) = (who.clone(), fields.clone());
            Box::pin(async move { service::update(txn, &who, id, fields).await })
        })
        .await?;
        Ok(IncidentPayload {
            incident: Incident(changed),
        })
    }

    /// Moves an incident you see to another status, with a note in its timeline.
    async fn change_incident_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: ChangeIncidentStatusInput,
    ) -> Result<IncidentPayload> {
        let id = node::decode(&input.id, "Incident")?;
        let (to, note) = (input.status.status(), input.note);
        let who = identity(ctx).clone();
        let changed = db::write(&state(ctx)?.db, move |txn| {
            let (who, note) = (who.clone(), note.clone());
            Box::pin(async move { service::change_status(txn, &who, id, to, note).await })
        })
        .await?;
        Ok(IncidentPayload {
            incident: Incident(changed),
        })
    }

    /// Adds a note to the timeline of an incident you see.
    async fn add_incident_note(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: AddIncidentNoteInput,
    ) -> Result<AddIncidentNotePayload> {
        let id = node::decode(&input.id, "Incident")?;
        let text = input.text;
        let who = identity(ctx).clone();
        let added = db::write(&state(ctx)?.db, move |txn| {
            let (who, text) = (who.clone(), text.clone());
            Box::pin(async move { service::add_note(txn, &who, id, &text).await })
        })
        .await?;
        Ok(AddIncidentNotePayload {
            note: IncidentNote(added),
        })
    }

    /// Deletes an incident you see, with its links and timeline.
    async fn delete_incident(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: DeleteIncidentInput,
    ) -> Result<DeleteIncidentPayload> {
        let id = node::decode(&input.id, "Incident")?;
        let who = identity(ctx).clone();
        db::write(&state(ctx)?.db, move |txn| {
            let who = who.clone();
            Box::pin(async move { service::delete(txn, &who, id).await })
        })
        .await?;
        Ok(DeleteIncidentPayload {
            deleted_incident_id: input.id,
        })
    }

    /// Adds a value to a classification list.
    async fn create_incident_lookup(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: CreateIncidentLookupInput,
    ) -> Result<IncidentLookupPayload> {
        let (kind, name) = (input.kind.kind(), input.name);
        let made = db::write(&state(ctx)?.db, move |txn| {
            let name = name.clone();
            Box::pin(async move { service::create_lookup(txn, kind, &name).await })
        })
        .await?;
        Ok(IncidentLookupPayload {
            incident_lookup: IncidentLookup(made),
        })
    }

    /// Renames a value of a classification list (its incidents keep it).
    async fn update_incident_lookup(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Everything the mutation takes, as one input object.")]
        input: UpdateIncidentLookupInput,
    ) -> Result<IncidentLookupPayload> {
        let id = node::decode(&input.id, "IncidentLookup")?;
        let name = input.name;
        let changed = db::write(&state(ctx)?.db, move |txn| {
            let name = name.clone();
            Box::pin(async move { service::rename_lookup(txn, id, &name).await })
        })
        .await?;
        Ok(IncidentLookupPayload {
            incident_lookup: IncidentLookup(changed),
        })
    }
}
