//! The `and`/`or`/`not` composition every domain's `XFilter` shares: a domain says what its
//! own fields mean as SQL, this builds the whole tree, bounded in depth and in the number of
//! conditions, so no filter, however nested, costs more than a known amount.

use sea_orm::sea_query::Condition;

use crate::error::{AppError, AppResult};

/// Deepest nesting of `and`/`or`/`not` accepted.
pub const MAX_DEPTH: usize = 6;
/// Most conditions in one filter, over all its nesting.
pub const MAX_TERMS: usize = 64;

/// The conditions a filter has used so far.
#[derive(Debug, Default)]
pub struct Terms(usize);

impl Terms {
    /// Counts `n` more conditions; refuses the filter past [`MAX_TERMS`].
    pub fn count(&mut self, n: usize) -> AppResult<()> {
        self.0 += n;
        if self.0 > MAX_TERMS {
            return Err(AppError::bad_input(format!(
                "a filter holds at most {MAX_TERMS} conditions"
            )));
        }
        Ok(())
    }
}

/// A domain's filter: its own fields, and the filters it composes.
pub trait BoolFilter: Sized {
    /// The filter's own fields as one condition (all must hold), counting each in `terms`.
    fn own(&self, terms: &mut Terms) -> AppResult<Condition>;
    /// Filters that must all hold too.
    fn all_of(&self) -> &[Self];
    /// Filters of which one must hold.
    fn any_of(&self) -> &[Self];
    /// A filter that must not hold.
    fn none_of(&self) -> Option<&Self>;
}

/// The SQL condition of `filter` and everything it composes, checked for size.
pub fn condition<F: BoolFilter>(filter: &F) -> AppResult<Condition> {
    build(filter, 0, &mut Terms::default())
}

fn build<F: BoolFilter>(filter: &F, depth: usize, terms: &mut Terms) -> AppResult<Condition> {
    if depth > MAX_DEPTH {
        return Err(AppError::bad_input(format!(
            "filters nest at most {MAX_DEPTH} deep"
        )));
    }
    let mut cond = filter.own(terms)?;
    for f in filter.all_of() {
        cond = cond.add(build(f, depth + 1, terms)?);
    }
    if !filter.any_of().is_empty() {
        let mut any = Condition::any();
        for f in filter.any_of() {
            any = any.add(build(f, depth + 1, terms)?);
        }
        cond = cond.add(any);
    }
    if let Some(f) = filter.none_of() {
        cond = cond.add(build(f, depth + 1, terms)?.not());
    }
    Ok(cond)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Expr, ExprTrait};

    #[derive(Default)]
    struct F {
        x: Option<i64>,
        and: Vec<F>,
        or: Vec<F>,
        not: Option<Box<F>>,
    }

    impl BoolFilter for F {
        fn own(&self, terms: &mut Terms) -> AppResult<Condition> {
            let mut c = Condition::all();
            if let Some(x) = self.x {
                terms.count(1)?;
                c = c.add(Expr::col("x").eq(x));
            }
            Ok(c)
        }
        fn all_of(&self) -> &[Self] {
            &self.and
        }
        fn any_of(&self) -> &[Self] {
            &self.or
        }
        fn none_of(&self) -> Option<&Self> {
            self.not.as_deref()
        }
    }

    #[test]
    fn depth_and_terms_are_bounded() {
        let mut deep = F::default();
        for _ in 0..=MAX_DEPTH {
            deep = F {
                not: Some(Box::new(deep)),
                ..Default::default()
            };
        }
        assert!(condition(&deep).is_err());
        let wide = F {
            or: (0..=MAX_TERMS as i64)
                .map(|x| F {
                    x: Some(x),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        assert!(condition(&wide).is_err());
        let fine = F {
            x: Some(1),
            or: vec![
                F {
                    x: Some(2),
                    ..Default::default()
                },
                F {
                    x: Some(3),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert!(condition(&fine).is_ok());
    }
}
