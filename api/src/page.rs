//! Keyset pagination, shared by every list: opaque cursors, page requests checked against the
//! cap, and the `WHERE` clause that continues after (or before) a cursor. Never `OFFSET`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, SimpleExpr};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

/// The value of the sort key at a row, as carried inside a cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SortValue {
    Time(Option<DateTime<Utc>>),
    Bytes(Vec<u8>),
    Text(String),
    Id,
    /// A position inside one row (a host inside a batch event).
    Position(i64),
}

impl SortValue {
    fn into_expr(self) -> Option<SimpleExpr> {
        match self {
            Self::Time(Some(t)) => Some(Expr::val(t)),
            Self::Bytes(b) => Some(Expr::val(b)),
            Self::Text(s) => Some(Expr::val(s)),
            Self::Position(p) => Some(Expr::val(p)),
            Self::Time(None) | Self::Id => None,
        }
    }
}

/// A position in one ordering of one list. Opaque to clients; refused when it was made for
/// another ordering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The ordering it belongs to, e.g. `host:ADDRESS`.
    #[serde(rename = "o")]
    pub ordering: String,
    #[serde(rename = "k")]
    pub key: SortValue,
    #[serde(rename = "i")]
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(text: &str, ordering: &str) -> AppResult<Self> {
        let invalid = || AppError::bad_input(format!("invalid cursor {text:?}"));
        if text.len() > 1024 {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.ordering != ordering {
            return Err(AppError::bad_input(
                "cursor belongs to another ordering; restart paging without it",
            ));
        }
        Ok(cursor)
    }
}

/// What a client asked for, checked: direction, size and where to start.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u64,
    /// `last`/`before`: read the ordering backwards, then turn the page round.
    pub backward: bool,
    pub after: Option<String>,
    pub before: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub default: u32,
    pub max: u32,
}

impl PageRequest {
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        limits: PageLimits,
    ) -> AppResult<Self> {
        let size = |n: i32, arg: &str| -> AppResult<u64> {
            if n < 0 {
                return Err(AppError::bad_input(format!("`{arg}` must not be negative")));
            }
            if n as u32 > limits.max {
                return Err(AppError::bad_input(format!(
                    "`{arg}` is {n}; the largest page is {}",
                    limits.max
                )));
            }
            Ok(n as u64)
        };
        let (limit, backward) = match (first, last) {
            (Some(_), Some(_)) => {
                return Err(AppError::bad_input("pass `first` or `last`, not both"));
            }
            (Some(n), None) => (size(n, "first")?, false),
            (None, Some(n)) => (size(n, "last")?, true),
            (None, None) => (
                u64::from(std::cmp::min(limits.default, limits.max)),
                before.is_some() && after.is_none(),
            ),
        };
        Ok(Self {
            limit,
            backward,
            after,
            before,
        })
    }
}

/// A page of rows, each with its cursor.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<(String, T)>,
    pub has_next: bool,
    pub has_previous: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl Fn(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(|(c, t)| (c, f(t))).collect(),
            has_next: self.has_next,
            has_previous: self.has_previous,
        }
    }

    /// Builds a page from rows read in query order, at most `limit + 1` of them.
    pub fn from_rows(
        mut rows: Vec<T>,
        request: &PageRequest,
        cursor_of: impl Fn(&T) -> Cursor,
    ) -> Self {
        let extra = rows.len() as u64 > request.limit;
        rows.truncate(request.limit as usize);
        if request.backward {
            rows.reverse();
        }
        let items = rows
            .into_iter()
            .map(|row| (cursor_of(&row).encode(), row))
            .collect();
        let (has_next, has_previous) = if request.backward {
            (request.before.is_some(), extra)
        } else {
            (extra, request.after.is_some())
        };
        Self {
            items,
            has_next,
            has_previous,
        }
    }
}

/// One ordering of a list: the sort column (`None` when ordering by id alone), whether it may
/// be NULL, and the id column that breaks ties.
pub struct Keyset {
    pub name: String,
    pub key: Option<SimpleExpr>,
    pub nullable: bool,
    pub id: SimpleExpr,
    pub descending: bool,
}

impl Keyset {
    /// Whether rows are read in ascending order for this request.
    pub fn ascending(&self, request: &PageRequest) -> bool {
        self.descending == request.backward
    }

    /// The condition that keeps only rows strictly past `cursor` in the read direction.
    /// NULLs sort first ascending and last descending, on SQLite and MySQL alike.
    pub fn after(&self, cursor: Cursor, ascending: bool) -> Condition {
        let id = self.id.clone();
        let id_past = if ascending {
            id.gt(cursor.id)
        } else {
            id.lt(cursor.id)
        };
        let Some(key) = self.key.clone() else {
            return Condition::all().add(id_past);
        };
        match cursor.key.into_expr() {
            None if self.nullable => {
                // At a NULL key: the rest of the NULLs, then (ascending) every non-NULL.
                let rest = Condition::all().add(key.clone().is_null()).add(id_past);
                if ascending {
                    Condition::any().add(rest).add(key.is_not_null())
                } else {
                    rest
                }
            }
            None => Condition::all().add(id_past),
            Some(value) => {
                let beyond = if ascending {
                    key.clone().gt(value.clone())
                } else {
                    key.clone().lt(value.clone())
                };
                let tie = Condition::all().add(key.clone().eq(value)).add(id_past);
                let mut any = Condition::any().add(beyond).add(tie);
                if self.nullable && !ascending {
                    any = any.add(key.is_null());
                }
                any
            }
        }
    }

    /// The cursor conditions of a request (`after` and `before` together bound a window).
    pub fn window(&self, request: &PageRequest) -> AppResult<Condition> {
        let mut cond = Condition::all();
        if let Some(after) = &request.after {
            let c = Cursor::decode(after, &self.name)?;
            // `after` always continues in the ordering's own direction.
            cond = cond.add(self.after(c, !self.descending));
        }
        if let Some(before) = &request.before {
            let c = Cursor::decode(before, &self.name)?;
            cond = cond.add(self.after(c, self.descending));
        }
        Ok(cond)
    }
}

/// A page of `query`'s rows in the order of their integer id, the ordering most lists use:
/// `ordering` names it inside cursors, `descending` puts the newest first.
pub async fn by_id<E>(
    db: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<E>,
    id: E::Column,
    ordering: &str,
    descending: bool,
    page: &PageRequest,
    id_of: fn(&E::Model) -> i64,
) -> AppResult<Page<E::Model>>
where
    E: sea_orm::EntityTrait + Default,
    E::Model: Sync,
{
    use sea_orm::{QueryFilter, QueryOrder, QuerySelect};
    let keyset = Keyset {
        name: ordering.to_owned(),
        key: None,
        nullable: false,
        id: Expr::col((E::default(), id)),
        descending,
    };
    let query = query.filter(keyset.window(page)?);
    let query = if keyset.ascending(page) {
        query.order_by_asc(id)
    } else {
        query.order_by_desc(id)
    };
    let rows = query.limit(page.limit + 1).all(db).await?;
    Ok(Page::from_rows(rows, page, |r| Cursor {
        ordering: keyset.name.clone(),
        key: SortValue::Id,
        id: id_of(r),
    }))
}

/// The order of a list of named things: by a text key such as the name (ties broken by id),
/// or by creation (the id), either way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOrder {
    pub by_key: bool,
    pub descending: bool,
}

impl KeyOrder {
    /// By key, A to Z.
    pub const BY_KEY: Self = Self {
        by_key: true,
        descending: false,
    };
    /// Oldest first.
    pub const BY_CREATION: Self = Self {
        by_key: false,
        descending: false,
    };
}

/// A list of named rows: what it is called inside cursors, its text key and id columns, and
/// how to read both off a row.
pub struct KeyedList<E: sea_orm::EntityTrait> {
    pub what: &'static str,
    pub key: E::Column,
    pub id: E::Column,
    pub key_of: fn(&E::Model) -> &str,
    pub id_of: fn(&E::Model) -> i64,
}

/// A page of `query`'s rows of `list` in `order`: by the text key then the id, or by the id
/// alone.
pub async fn by_key<E>(
    db: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<E>,
    list: KeyedList<E>,
    order: KeyOrder,
    page: &PageRequest,
) -> AppResult<Page<E::Model>>
where
    E: sea_orm::EntityTrait + Default,
    E::Model: Sync,
{
    use sea_orm::{QueryFilter, QueryOrder, QuerySelect};
    let KeyedList {
        what,
        key,
        id,
        key_of,
        id_of,
    } = list;
    let direction = if order.descending { "DESC" } else { "ASC" };
    if !order.by_key {
        let ordering = format!("{what}:CREATED:{direction}");
        return by_id(db, query, id, &ordering, order.descending, page, id_of).await;
    }
    let keyset = Keyset {
        name: format!("{what}:KEY:{direction}"),
        key: Some(Expr::col((E::default(), key))),
        nullable: false,
        id: Expr::col((E::default(), id)),
        descending: order.descending,
    };
    let query = query.filter(keyset.window(page)?);
    let query = if keyset.ascending(page) {
        query.order_by_asc(key).order_by_asc(id)
    } else {
        query.order_by_desc(key).order_by_desc(id)
    };
    let rows = query.limit(page.limit + 1).all(db).await?;
    Ok(Page::from_rows(rows, page, |r| Cursor {
        ordering: keyset.name.clone(),
        key: SortValue::Text(key_of(r).to_owned()),
        id: id_of(r),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_orderings() {
        let c = Cursor {
            ordering: "host:NAME".into(),
            key: SortValue::Text("web-1".into()),
            id: 42,
        };
        let text = c.encode();
        assert_eq!(Cursor::decode(&text, "host:NAME").unwrap(), c);
        assert!(Cursor::decode(&text, "host:ADDRESS").is_err());
        assert!(Cursor::decode("not a cursor", "host:NAME").is_err());
    }

    #[test]
    fn page_requests_are_bounded() {
        let limits = PageLimits {
            default: 20,
            max: 100,
        };
        assert!(PageRequest::new(Some(101), None, None, None, limits).is_err());
        assert!(PageRequest::new(Some(-1), None, None, None, limits).is_err());
        assert!(PageRequest::new(Some(1), None, Some(1), None, limits).is_err());
        assert_eq!(
            PageRequest::new(None, None, None, None, limits)
                .unwrap()
                .limit,
            20
        );
        assert!(
            PageRequest::new(None, None, Some(5), None, limits)
                .unwrap()
                .backward
        );
    }
}
