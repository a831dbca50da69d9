//! Input types of the inventory and their conversion into service types.

use crate::graphql::scalars::DateTime;
use async_graphql::{Enum, ID, InputObject, MaybeUndefined};

use crate::error::{AppError, AppResult};
use crate::graphql::node;
use crate::graphql::scalars::{Cidr, IpAddr};
use crate::host::service::{self, HostChanges, HostFilter, HostOrder, HostOrderField, NewHost, Os};

/// Which hosts to return. Set fields must all hold; `and`, `or` and `not` compose filters.
#[derive(InputObject, Clone, Default)]
#[graphql(name = "HostFilter")]
pub struct HostFilterInput {
    /// Exactly this address.
    pub address: Option<IpAddr>,
    /// Inside this network (v4 or v6).
    pub within: Option<Cidr>,
    /// A name contains this text (case-insensitive).
    pub name: Option<String>,
    /// The OS name, family, vendor or type contains this text (case-insensitive).
    pub os: Option<String>,
    /// Carries at least one of these tags.
    pub tags_any: Option<Vec<String>>,
    /// Carries all of these tags.
    pub tags_all: Option<Vec<String>>,
    /// Carries none of these tags.
    pub tags_none: Option<Vec<String>>,
    /// Belongs to this host group.
    pub group: Option<ID>,
    /// Only hosts of this support group.
    pub support_group: Option<ID>,
    /// Only hosts at this location.
    pub location: Option<ID>,
    /// Excluded from port scans right now (true) or not (false).
    pub excluded: Option<bool>,
    /// Only hosts that match every one of these filters.
    pub and: Option<Vec<HostFilterInput>>,
    /// Only hosts that match at least one of these filters.
    pub or: Option<Vec<HostFilterInput>>,
    /// Only hosts that do not match this filter.
    pub not: Option<Box<HostFilterInput>>,
}

impl HostFilterInput {
    pub fn into_service(self) -> AppResult<HostFilter> {
        let id = |v: Option<ID>, kind| v.map(|v| node::decode(&v, kind)).transpose();
        let many = |v: Option<Vec<HostFilterInput>>| -> AppResult<Vec<HostFilter>> {
            let v = v.unwrap_or_default();
            if v.len() > 16 {
                return Err(AppError::bad_input("`and`/`or` take at most 16 filters"));
            }
            v.into_iter().map(HostFilterInput::into_service).collect()
        };
        Ok(HostFilter {
            address: self.address.map(|a| a.0),
            within: self.within.map(|c| c.0),
            name: self.name,
            os: self.os,
            tags_any: self.tags_any,
            tags_all: self.tags_all,
            tags_none: self.tags_none,
            group: id(self.group, "HostGroup")?,
            support_group: id(self.support_group, "SupportGroup")?,
            location: id(self.location, "Location")?,
            excluded: self.excluded,
            and: many(self.and)?,
            or: many(self.or)?,
            not: self
                .not
                .map(|f| f.into_service())
                .transpose()?
                .map(Box::new),
            scope: Default::default(),
        })
    }
}

/// The caller's filter, held to the hosts the caller may see.
pub fn filter(
    ctx: &async_graphql::Context<'_>,
    input: Option<HostFilterInput>,
) -> AppResult<HostFilter> {
    let mut filter = input
        .map(HostFilterInput::into_service)
        .transpose()?
        .unwrap_or_default();
    filter.scope = crate::graphql::scope(ctx);
    Ok(filter)
}

/// What a host list is ordered by.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(name = "HostOrderField")]
pub enum HostOrderBy {
    /// By address, IPv4 before IPv6.
    #[default]
    Address,
    /// By primary name.
    Name,
    /// By when they were added.
    CreatedAt,
    /// By when they were last seen (never-seen hosts first ascending).
    LastSeen,
}

pub use crate::graphql::connection::OrderDirection;

/// The order of a host list (ties are broken by id, so pages are stable).
#[derive(InputObject, Clone, Copy)]
#[graphql(name = "HostOrder")]
pub struct HostOrderInput {
    /// What to order by.
    pub field: HostOrderBy,
    /// Which way round.
    #[graphql(default)]
    pub direction: OrderDirection,
}

pub fn order(input: Option<HostOrderInput>) -> HostOrder {
    let Some(input) = input else {
        return HostOrder::default();
    };
    HostOrder {
        field: match input.field {
            HostOrderBy::Address => HostOrderField::Address,
            HostOrderBy::Name => HostOrderField::Name,
            HostOrderBy::CreatedAt => HostOrderField::CreatedAt,
            HostOrderBy::LastSeen => HostOrderField::LastSeen,
        },
        descending: input.direction == OrderDirection::Desc,
    }
}

/// An operating system, as a person or a scanner gives it.
#[derive(InputObject, Clone, Default)]
pub struct OsInput {
    /// Its name, e.g. "Debian 12".
    pub name: Option<String>,
    /// Its family, e.g. "Linux".
    pub family: Option<String>,
    /// Who makes it.
    pub vendor: Option<String>,
    /// Its device type, e.g. "general purpose".
    pub r#type: Option<String>,
}

/// A new host.
#[derive(InputObject)]
pub struct CreateHostInput {
    /// Its address; one host per address.
    pub address: IpAddr,
    /// Host names, the primary first.
    #[graphql(default)]
    pub names: Vec<String>,
    /// The operating system, if known.
    pub os: Option<OsInput>,
    /// Who in the organisation answers for it.
    pub sponsor: Option<String>,
    /// Who to call about the machine.
    pub technical_contact: Option<String>,
    /// Free-form notes.
    pub notes: Option<String>,
    /// An http(s) link to more about the host.
    pub link: Option<String>,
    /// Whether it holds confidential data (HECTOR's policy flag).
    #[graphql(default)]
    pub confidential_data: bool,
    /// The team responsible (required for non-admins: one of theirs).
    pub support_group_id: Option<ID>,
    /// Where it stands.
    pub location_id: Option<ID>,
    /// Tag names; missing tags are created.
    #[graphql(default)]
    pub tags: Vec<String>,
    /// Host groups it joins.
    #[graphql(default)]
    pub group_ids: Vec<ID>,
    /// When it was first seen on the network.
    pub first_seen: Option<DateTime>,
    /// When it was last seen on the network.
    pub last_seen: Option<DateTime>,
}

impl CreateHostInput {
    pub fn into_service(self) -> AppResult<NewHost> {
        let os = self.os.unwrap_or_default();
        Ok(NewHost {
            address: self.address.0,
            names: self.names,
            os: Os {
                name: os.name,
                family: os.family,
                vendor: os.vendor,
                kind: os.r#type,
            },
            sponsor: self.sponsor,
            technical_contact: self.technical_contact,
            notes: self.notes,
            link: self.link,
            confidential_data: self.confidential_data,
            support_group_id: self
                .support_group_id
                .map(|id| node::decode(&id, "SupportGroup"))
                .transpose()?,
            location_id: self
                .location_id
                .map(|id| node::decode(&id, "Location"))
                .transpose()?,
            tags: self.tags,
            group_ids: node::decode_many(&self.group_ids, "HostGroup")?,
            first_seen: self.first_seen.map(|t| t.0),
            last_seen: self.last_seen.map(|t| t.0),
        })
    }
}

/// Changes to a host. An omitted field stays as it is; `null` clears it.
#[derive(InputObject)]
pub struct UpdateHostInput {
    /// The host to change.
    pub id: ID,
    /// A new address.
    pub address: Option<IpAddr>,
    /// New host names, the primary first (replacing the old ones).
    pub names: Option<Vec<String>>,
    /// The operating system, replaced as a whole (fields left out of it become empty); null
    /// clears it.
    pub os: MaybeUndefined<OsInput>,
    /// Who answers for it; null clears it.
    pub sponsor: MaybeUndefined<String>,
    /// Who to call about it; null clears it.
    pub technical_contact: MaybeUndefined<String>,
    /// Free-form notes; null clears them.
    pub notes: MaybeUndefined<String>,
    /// An http(s) link to more about the host; null clears it.
    pub link: MaybeUndefined<String>,
    /// Whether it holds confidential data.
    pub confidential_data: Option<bool>,
    /// The team responsible; null leaves it without one (admins).
    pub support_group_id: MaybeUndefined<ID>,
    /// Where it stands; null clears it.
    pub location_id: MaybeUndefined<ID>,
    /// When it was first seen; null clears it.
    pub first_seen: MaybeUndefined<DateTime>,
    /// When it was last seen; null clears it.
    pub last_seen: MaybeUndefined<DateTime>,
}

fn change_id(v: MaybeUndefined<ID>, kind: &str) -> AppResult<Option<Option<i64>>> {
    Option::<Option<ID>>::from(v)
        .map(|v| v.map(|id| node::decode(&id, kind)).transpose())
        .transpose()
}

impl UpdateHostInput {
    pub fn into_service(self) -> AppResult<(i64, HostChanges)> {
        let id = node::decode(&self.id, "Host")?;
        let os = Option::<Option<OsInput>>::from(self.os).map(Option::unwrap_or_default);
        let (os_name, os_family, os_vendor, os_type) = match os {
            Some(os) => (
                Some(os.name),
                Some(os.family),
                Some(os.vendor),
                Some(os.r#type),
            ),
            None => (None, None, None, None),
        };
        Ok((
            id,
            HostChanges {
                address: self.address.map(|a| a.0),
                names: self.names,
                os_name,
                os_family,
                os_vendor,
                os_type,
                sponsor: Option::from(self.sponsor),
                technical_contact: Option::from(self.technical_contact),
                notes: Option::from(self.notes),
                link: Option::from(self.link),
                confidential_data: self.confidential_data,
                support_group_id: change_id(self.support_group_id, "SupportGroup")?,
                location_id: change_id(self.location_id, "Location")?,
                first_seen: Option::<Option<DateTime>>::from(self.first_seen)
                    .map(|t| t.map(|t| t.0)),
                last_seen: Option::<Option<DateTime>>::from(self.last_seen).map(|t| t.map(|t| t.0)),
            },
        ))
    }
}

/// Which host `deleteHost` deletes.
#[derive(InputObject)]
pub struct DeleteHostInput {
    /// The id of the host to delete.
    pub id: ID,
}

/// Hosts to add at once: a CIDR range, a list, or both.
#[derive(InputObject)]
pub struct AddHostsInput {
    /// Every address of this network (IPv4 /30 and wider leave out network and broadcast).
    pub cidr: Option<Cidr>,
    /// Single addresses to add, besides (or instead of) `cidr`.
    #[graphql(default)]
    pub addresses: Vec<IpAddr>,
    /// Groups that every listed address joins, new or already present.
    #[graphql(default)]
    pub group_ids: Vec<ID>,
    /// Tags put on every listed address; missing tags are created.
    #[graphql(default)]
    pub tags: Vec<String>,
    /// The support group new hosts get (required for non-admins: one of theirs).
    pub support_group_id: Option<ID>,
}

impl AddHostsInput {
    pub fn into_service(self) -> AppResult<service::BulkAdd> {
        crate::validate::bounded("addresses", &self.addresses, 65_536)?;
        Ok(service::BulkAdd {
            network: self.cidr.map(|c| c.0),
            support_group_id: self
                .support_group_id
                .map(|id| node::decode(&id, "SupportGroup"))
                .transpose()?,
            addresses: self.addresses.into_iter().map(|a| a.0).collect(),
            group_ids: node::decode_many(&self.group_ids, "HostGroup")?,
            tags: self.tags,
        })
    }
}

/// Hosts and the tags to put on them or take off them.
#[derive(InputObject)]
pub struct TagHostsInput {
    /// The hosts.
    pub host_ids: Vec<ID>,
    /// Tag names; missing tags are created when tagging.
    pub tags: Vec<String>,
}

/// Hosts and the host groups they join or leave.
#[derive(InputObject)]
pub struct GroupHostsInput {
    /// The hosts.
    pub host_ids: Vec<ID>,
    /// The host groups.
    pub group_ids: Vec<ID>,
}

/// A port-scan exclusion to set on a host.
#[derive(InputObject)]
pub struct SetScanExclusionInput {
    /// The host to leave out of port scans.
    pub host_id: ID,
    /// Why the host must not be scanned.
    pub reason: String,
    /// How long the exclusion lasts.
    pub duration: super::types::ExclusionDuration,
}

/// The host whose port-scan exclusion to lift.
#[derive(InputObject)]
pub struct ClearScanExclusionInput {
    /// The host to scan again.
    pub host_id: ID,
}

pub fn host_ids(ids: &[ID]) -> AppResult<Vec<i64>> {
    crate::validate::bounded("hostIds", ids, crate::validate::MAX_LIST)?;
    node::decode_many(ids, "Host")
}
