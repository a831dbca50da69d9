//! Relay connections: `edges`, `nodes`, `pageInfo` and an opt-in `totalCount` that is only
//! counted when a client selects it.

use async_graphql::SimpleObject;

use crate::db;
use crate::error::{AppError, AppResult};

/// Page arguments of a connection field, checked against the page cap.
pub fn page(
    ctx: &async_graphql::Context<'_>,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> async_graphql::Result<crate::page::PageRequest> {
    let limits = crate::graphql::state(ctx)?.page_limits();
    Ok(crate::page::PageRequest::new(
        first, after, last, before, limits,
    )?)
}

/// Complexity of a connection field: the page size times what each node selects.
pub fn page_cost(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let n = first.or(last).unwrap_or(50).clamp(1, 10_000) as usize;
    n.saturating_mul(child.max(1))
}

/// Which way a list runs.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Default, Debug)]
pub enum OrderDirection {
    /// Smallest, earliest or A first.
    #[default]
    Asc,
    /// Largest, latest or Z first.
    Desc,
}

/// What a list of named things is ordered by.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum NameOrderField {
    /// The name (case-insensitive), ties broken by creation.
    Name,
    /// When each was created.
    CreatedAt,
}

/// The order of a list of named things (ties are broken by id, so pages are stable).
#[derive(async_graphql::InputObject, Clone, Copy, Debug)]
pub struct NameOrder {
    /// What to order by.
    pub field: NameOrderField,
    /// Which way round.
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl NameOrder {
    /// The order asked for, or `default` when none was.
    pub fn or(order: Option<Self>, default: crate::page::KeyOrder) -> crate::page::KeyOrder {
        order.map_or(default, |o| crate::page::KeyOrder {
            by_key: o.field == NameOrderField::Name,
            descending: o.direction == OrderDirection::Desc,
        })
    }
}

/// The order of a list kept in time order (by when each item was made).
#[derive(async_graphql::InputObject, Clone, Copy, Debug)]
pub struct TimeOrder {
    /// `ASC`: oldest first; `DESC`: newest first.
    pub direction: OrderDirection,
}

impl TimeOrder {
    /// Whether the list runs newest first: as asked, or `default` when not asked.
    pub fn newest_first(order: Option<Self>, default: bool) -> bool {
        order.map_or(default, |o| o.direction == OrderDirection::Desc)
    }
}

/// Where a page sits in its list.
#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    /// Whether more items follow this page.
    pub has_next_page: bool,
    /// Whether items come before this page.
    pub has_previous_page: bool,
    /// The cursor of the first edge; null on an empty page.
    pub start_cursor: Option<String>,
    /// The cursor of the last edge; null on an empty page.
    pub end_cursor: Option<String>,
}

/// How many items the whole list holds, when the query asked (`totalCount`).
#[derive(Debug, Clone, Copy)]
pub struct TotalCount(Option<u64>);

/// Where a connection field reads its page, and its [`TotalCount`] when the query selects
/// `totalCount`: then one snapshot for both ([`db::Reader::Snapshot`]), else the pool. Read one
/// after the other from the pool, a write committed between the page and the count gave a
/// `totalCount` that disagreed with the `edges` beside it (a digest counted, none listed).
/// A snapshot holds one of the pool's connections (SQLite has 4): make other reads before it.
pub async fn list_reader(ctx: &async_graphql::Context<'_>) -> async_graphql::Result<db::Reader> {
    let wants_total = ctx.look_ahead().field("totalCount").exists();
    Ok(db::Reader::new(&crate::graphql::state(ctx)?.db, wants_total).await?)
}

impl TotalCount {
    /// `count` of the list, run in `reader`'s snapshot if the query asked for the total (see
    /// [`list_reader`]); not run otherwise.
    pub async fn of(
        reader: &db::Reader,
        count: impl Future<Output = AppResult<u64>>,
    ) -> AppResult<Self> {
        Ok(Self(match reader {
            db::Reader::Snapshot(_) => Some(count.await?),
            db::Reader::Pool(_) => None,
        }))
    }

    /// The count, or an error if the query did not ask for it.
    pub fn get(self) -> AppResult<u64> {
        self.0.ok_or_else(|| {
            AppError::internal(std::io::Error::other(
                "totalCount was resolved without being counted",
            ))
        })
    }
}

/// Declares `$conn` and `$edge` for nodes of type `$node` built from page items of `$model`.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        /// An edge: a node and the cursor to continue after it.
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            /// Pass as `after` (or `before`) to continue from this edge.
            pub cursor: String,
            /// The item.
            pub node: $node,
        }

        /// A page of a list, Relay style.
        pub struct $conn {
            edges: Vec<$edge>,
            page_info: $crate::graphql::connection::PageInfo,
            total: $crate::graphql::connection::TotalCount,
        }

        impl $conn {
            pub fn new<M>(
                page: $crate::page::Page<M>,
                total: $crate::graphql::connection::TotalCount,
            ) -> Self
            where
                $node: From<M>,
            {
                let page_info = $crate::graphql::connection::PageInfo {
                    has_next_page: page.has_next,
                    has_previous_page: page.has_previous,
                    start_cursor: page.items.first().map(|(c, _)| c.clone()),
                    end_cursor: page.items.last().map(|(c, _)| c.clone()),
                };
                let edges = page
                    .items
                    .into_iter()
                    .map(|(cursor, m)| $edge {
                        cursor,
                        node: <$node>::from(m),
                    })
                    .collect();
                Self {
                    edges,
                    page_info,
                    total,
                }
            }
        }

        /// A page of a list, Relay style: its edges, where it sits, and the list's size.
        #[async_graphql::Object]
        impl $conn {
            /// The items of the page, each with its cursor.
            async fn edges(&self) -> &[$edge] {
                &self.edges
            }

            /// The nodes of `edges`, for clients that need no cursors.
            async fn nodes(&self) -> Vec<&$node> {
                self.edges.iter().map(|e| &e.node).collect()
            }

            /// Where the page sits in the list, and the cursors to continue from.
            async fn page_info(&self) -> &$crate::graphql::connection::PageInfo {
                &self.page_info
            }

            /// How many items the whole list holds: counted only when asked for, and then in
            /// the same read snapshot as `edges`, so the two agree.
            async fn total_count(&self) -> async_graphql::Result<u64> {
                Ok(self.total.get()?)
            }
        }
    };
}

pub(crate) use connection;

/// An item of an import (a host, a finding) that was refused or left out, or where the reading
/// stopped.
#[derive(async_graphql::SimpleObject, Clone)]
pub struct ImportRejection {
    /// Its line in the file.
    pub line: i64,
    /// Why.
    pub reason: String,
}
