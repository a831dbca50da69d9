//! Object types of the inventory.

use crate::graphql::scalars::DateTime;
use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use entity::{host, host_group, location, support_group, tag, url};

use super::loaders::{self, LocationId, SupportGroupId, TagUsage, TagsOfHost, UrlsOfHost};
use crate::error::AppError;
use crate::graphql::connection::{TotalCount, connection, list_reader};
pub(crate) use crate::graphql::connection::{page, page_cost};
use crate::graphql::node;
use crate::graphql::scalars::IpAddr;
use crate::graphql::state;
use crate::host::service::{self, HostFilter, HostOrder};
use crate::net;
use crate::page::PageRequest;

/// A machine of the inventory, known by its address (one host per address, v4 or v6).
pub struct Host(pub host::Model);

impl From<host::Model> for Host {
    fn from(m: host::Model) -> Self {
        Self(m)
    }
}

/// A page of hosts as a connection, with its deferred count.
pub(crate) async fn host_connection(
    ctx: &Context<'_>,
    filter: HostFilter,
    order: HostOrder,
    page: PageRequest,
) -> Result<HostConnection> {
    let db = list_reader(ctx).await?;
    let found = service::list(&db, &filter, order, &page).await?;
    let total = TotalCount::of(&db, service::count(&db, &filter)).await?;
    Ok(HostConnection::new(found, total))
}

/// A machine of the inventory, known by its address (one host per address, v4 or v6).
#[Object]
impl Host {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("Host", self.0.id)
    }

    /// The address, IPv4 or IPv6 (IPv4-mapped IPv6 is shown as IPv4).
    async fn address(&self) -> Result<IpAddr> {
        Ok(net::ip_from_key(&self.0.address)
            .map(IpAddr)
            .ok_or_else(|| {
                AppError::Internal(format!("host {} has a malformed address", self.0.id).into())
            })?)
    }

    /// Host names, the primary first.
    async fn names(&self) -> Vec<String> {
        service::names_of(&self.0)
    }

    /// The operating system as a scan found it or a person typed it; null when unknown.
    async fn os(&self) -> Option<OperatingSystem> {
        let m = &self.0;
        (m.os_name.is_some()
            || m.os_family.is_some()
            || m.os_vendor.is_some()
            || m.os_type.is_some())
        .then(|| OperatingSystem {
            name: m.os_name.clone(),
            family: m.os_family.clone(),
            vendor: m.os_vendor.clone(),
            r#type: m.os_type.clone(),
        })
    }

    /// The person who sponsors (owns) the host.
    async fn sponsor(&self) -> Option<&str> {
        self.0.sponsor.as_deref()
    }

    /// Who to call about the machine.
    async fn technical_contact(&self) -> Option<&str> {
        self.0.technical_contact.as_deref()
    }

    /// Free-form notes.
    async fn notes(&self) -> Option<&str> {
        self.0.notes.as_deref()
    }

    /// An external page about the host.
    async fn link(&self) -> Option<&str> {
        self.0.link.as_deref()
    }

    /// Whether the host falls under the confidential-data policy.
    async fn confidential_data(&self) -> bool {
        self.0.confidential_data
    }

    /// The team responsible for it.
    async fn support_group(&self, ctx: &Context<'_>) -> Result<Option<SupportGroup>> {
        let Some(id) = self.0.support_group_id else {
            return Ok(None);
        };
        let found = loaders::of(ctx)?.load_one(SupportGroupId(id)).await?;
        Ok(found.map(SupportGroup))
    }

    /// Where it stands.
    async fn location(&self, ctx: &Context<'_>) -> Result<Option<Location>> {
        let Some(id) = self.0.location_id else {
            return Ok(None);
        };
        let found = loaders::of(ctx)?.load_one(LocationId(id)).await?;
        Ok(found.map(Location))
    }

    /// Tags, ordered by name.
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<Tag>> {
        let found = loaders::of(ctx)?.load_one(TagsOfHost(self.0.id)).await?;
        Ok(found.unwrap_or_default().into_iter().map(Tag).collect())
    }

    /// The groups the host belongs to, ordered by name.
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    async fn groups(
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
    ) -> Result<HostGroupConnection> {
        let page = page(ctx, first, after, last, before)?;
        let db = list_reader(ctx).await?;
        let found = service::groups_of_host(&db, self.0.id, &page).await?;
        let host_id = self.0.id;
        let total = TotalCount::of(&db, service::group_count_of_host(&db, host_id)).await?;
        Ok(HostGroupConnection::new(found, total))
    }

    /// The URLs it serves.
    async fn urls(&self, ctx: &Context<'_>) -> Result<Vec<Url>> {
        let found = loaders::of(ctx)?.load_one(UrlsOfHost(self.0.id)).await?;
        Ok(found.unwrap_or_default().into_iter().map(Url).collect())
    }

    /// What it exposes: every port and protocol a scan has seen on it, by protocol and
    /// port; only those in `state` when given.
    async fn services(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only services in this state (e.g. `OPEN`).")] state: Option<
            super::exposure::PortState,
        >,
    ) -> Result<Vec<super::exposure::Service>> {
        super::exposure::services_of(ctx, self.0.id, state).await
    }

    /// Set while the host is excluded from port scans.
    async fn scan_exclusion(&self) -> Option<ScanExclusion> {
        let m = &self.0;
        m.exclusion_reason.as_ref().map(|reason| ScanExclusion {
            reason: reason.clone(),
            until: m.exclusion_until.map(DateTime),
            set_by_name: m.exclusion_set_by.clone(),
            set_by_user_id: m.exclusion_set_by_user_id,
            set_at: m.exclusion_set_at.map(DateTime),
            active: service::is_excluded(m, crate::db::now()),
        })
    }

    /// When it was first seen on the network.
    async fn first_seen(&self) -> Option<DateTime> {
        self.0.first_seen.map(DateTime)
    }

    /// When it was last seen on the network.
    async fn last_seen(&self) -> Option<DateTime> {
        self.0.last_seen.map(DateTime)
    }

    /// When it was added to the inventory.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// When it last changed.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
}

/// Operating system as a scanner reported it or a person typed it.
#[derive(SimpleObject)]
pub struct OperatingSystem {
    /// Its name, e.g. "Debian 12".
    pub name: Option<String>,
    /// Its family, e.g. "Linux".
    pub family: Option<String>,
    /// Who makes it, e.g. "Debian".
    pub vendor: Option<String>,
    /// Its device type, e.g. "general purpose" or "router".
    pub r#type: Option<String>,
}

/// A port-scan exclusion: the host is left out of port scans until it lapses.
/// (`setBy`, the user, is added by identity and access.)
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ScanExclusion {
    /// Why the host must not be scanned.
    pub reason: String,
    /// When it lapses; null means forever.
    pub until: Option<DateTime>,
    /// Who set it, by name as recorded then.
    pub set_by_name: Option<String>,
    #[graphql(skip)]
    pub set_by_user_id: Option<i64>,
    /// When it was set.
    pub set_at: Option<DateTime>,
    /// False once `until` has passed (the exclusion job then lifts it).
    pub active: bool,
}

/// How long a port-scan exclusion lasts: HECTOR's 1, 7 or 30 days, or forever.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ExclusionDuration {
    /// One day from now.
    OneDay,
    /// Seven days from now.
    SevenDays,
    /// Thirty days from now.
    ThirtyDays,
    /// Until it is cleared.
    Forever,
}

impl From<ExclusionDuration> for service::ExclusionLength {
    fn from(d: ExclusionDuration) -> Self {
        match d {
            ExclusionDuration::OneDay => Self::OneDay,
            ExclusionDuration::SevenDays => Self::SevenDays,
            ExclusionDuration::ThirtyDays => Self::ThirtyDays,
            ExclusionDuration::Forever => Self::Forever,
        }
    }
}

/// A tag; `usage` gives the weight in HECTOR's tag cloud.
pub struct Tag(pub tag::Model);

impl From<tag::Model> for Tag {
    fn from(m: tag::Model) -> Self {
        Self(m)
    }
}

/// A free-form label on hosts (HECTOR's tags); `usage` weights the tag cloud.
#[Object]
impl Tag {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("Tag", self.0.id)
    }

    /// Its name, unique among tags (case-insensitive).
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// How many hosts carry the tag.
    async fn usage(&self, ctx: &Context<'_>) -> Result<i64> {
        let scope = crate::graphql::scope(ctx);
        let n = loaders::of(ctx)?
            .load_one(TagUsage(self.0.id, scope))
            .await?;
        Ok(n.unwrap_or(0))
    }

    /// When it was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// Declares a named catalog type with `id`, `name`, its own fields, timestamps and `hosts`.
macro_rules! catalog_type {
    ($(#[$doc:meta])* $ty:ident, $model:ty, $kind:expr, $what:literal, $filter_field:ident, { $($extra:tt)* }) => {
        pub struct $ty(pub $model);

        impl From<$model> for $ty {
            fn from(m: $model) -> Self {
                Self(m)
            }
        }

        $(#[$doc])*
        #[Object]
        impl $ty {
            /// Its global id.
            pub async fn id(&self) -> ID {
                node::encode($kind, self.0.id)
            }

            #[doc = concat!("The ", $what, "'s name, unique among them (case-insensitive).")]
            async fn name(&self) -> &str {
                &self.0.name
            }

            $($extra)*

            /// When it was created.
            async fn created_at(&self) -> DateTime {
                self.0.created_at.into()
            }

            /// When it last changed.
            async fn updated_at(&self) -> DateTime {
                self.0.updated_at.into()
            }

            /// The hosts that belong here, in address order.
            #[graphql(complexity = "page_cost(first, last, child_complexity)")]
            async fn hosts(
                &self,
                ctx: &Context<'_>,
                #[graphql(desc = "How many to return from the start of the list (or after `after`).")]
                first: Option<i32>,
                #[graphql(desc = "Continue after this cursor (`pageInfo.endCursor` of the page before).")]
                after: Option<String>,
                #[graphql(desc = "How many to return from the end of the list (or before `before`).")]
                last: Option<i32>,
                #[graphql(desc = "Continue before this cursor (`pageInfo.startCursor` of the page after).")]
                before: Option<String>,
            ) -> Result<HostConnection> {
                let page = page(ctx, first, after, last, before)?;
                let filter = HostFilter {
                    $filter_field: Some(self.0.id),
                    scope: $crate::graphql::scope(ctx),
                    ..Default::default()
                };
                host_connection(ctx, filter, HostOrder::default(), page).await
            }
        }
    };
}

catalog_type!(
    /// A named set of hosts (HECTOR's host groups), e.g. "PCI scope" or "web servers".
    HostGroup, host_group::Model, "HostGroup", "host group", group, {
    /// What the group is for.
    async fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }
});

catalog_type!(
    /// The team responsible for a set of hosts; non-admins see the hosts of their groups.
    SupportGroup,
    support_group::Model,
    "SupportGroup",
    "support group",
    support_group,
    {
        /// Where alerts about the group's hosts go.
        async fn email(&self) -> Option<&str> {
            self.0.email.as_deref()
        }
    }
);

catalog_type!(
    /// Where hosts stand: a site, building or data centre.
    Location, location::Model, "Location", "location", location, {}
);

/// A URL a host serves, with the file name of its screenshot if one was taken.
pub struct Url(pub url::Model);

impl From<url::Model> for Url {
    fn from(m: url::Model) -> Self {
        Self(m)
    }
}

/// A URL a host serves, with the file name of its screenshot if one was taken.
#[Object]
impl Url {
    /// Its global id.
    pub async fn id(&self) -> ID {
        node::encode("Url", self.0.id)
    }

    /// The URL.
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// Where its screenshot is kept; null when none was taken.
    async fn screenshot(&self) -> Option<&str> {
        self.0.screenshot.as_deref()
    }

    /// The host that serves it.
    async fn host(&self, ctx: &Context<'_>) -> Result<Host> {
        // A URL is reached only through its host's scope, and goes with its host.
        let found =
            service::get(&state(ctx)?.db, &crate::graphql::scope(ctx), self.0.host_id).await?;
        Ok(found.map(Host).ok_or(AppError::not_found("host"))?)
    }

    /// When it was recorded.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// Hosts per operating system.
#[derive(SimpleObject)]
pub struct OsCount {
    /// The OS type, or its name when no type is known; null when neither is.
    pub os: Option<String>,
    /// How many hosts run it.
    pub hosts: i64,
}

connection!(HostConnection, HostEdge, Host);
connection!(TagConnection, TagEdge, Tag);
connection!(HostGroupConnection, HostGroupEdge, HostGroup);
connection!(SupportGroupConnection, SupportGroupEdge, SupportGroup);
connection!(LocationConnection, LocationEdge, Location);
