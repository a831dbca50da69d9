//! The life of a finding: the statuses it goes through, which changes a person may make, and
//! what a newer import of the same target does to it. No database here: the import pipeline
//! and the status mutation apply these rules.

/// Where a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Reported and not dealt with.
    Open,
    /// Gone: marked fixed, or absent from a newer scan of its host.
    Fixed,
    /// Accepted as it is; imports leave it so.
    Ignored,
    /// Not a real vulnerability; imports leave it so.
    FalsePositive,
    /// Fixed once and reported again.
    Reopened,
}

impl Status {
    pub const ALL: [Self; 5] = [
        Self::Open,
        Self::Fixed,
        Self::Ignored,
        Self::FalsePositive,
        Self::Reopened,
    ];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Fixed => "FIXED",
            Self::Ignored => "IGNORED",
            Self::FalsePositive => "FALSE_POSITIVE",
            Self::Reopened => "REOPENED",
        }
    }

    /// The status of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the finding still needs work.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Open | Self::Reopened)
    }

    /// Whether a person may move a finding from `self` to `to`. Any open finding may be
    /// fixed, ignored or called a false positive; a fixed one may be reopened; an ignored or
    /// false-positive one may be opened again (or re-decided).
    pub fn may_become(self, to: Self) -> bool {
        use Status::*;
        match (self, to) {
            (a, b) if a == b => false,
            (Open | Reopened, Fixed | Ignored | FalsePositive) => true,
            (Fixed, Reopened) => true,
            (Ignored | FalsePositive, Open | Ignored | FalsePositive) => true,
            _ => false,
        }
    }

    /// What a newer import of the finding's host does to it: `seen` when the import reports it
    /// again. `None` leaves the status as it is.
    pub fn after_import(self, seen: bool) -> Option<Self> {
        use Status::*;
        match (self, seen) {
            (Fixed, true) => Some(Reopened),
            (Open | Reopened, false) => Some(Fixed),
            _ => None,
        }
    }
}

/// What an import did to one finding, for its report and `scanDelta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// First reported now.
    New,
    /// Reported again, status unchanged.
    Seen,
    /// Was fixed, reported again.
    Reopened,
    /// Open before, absent now.
    Fixed,
    /// Absent, and fixed, ignored or a false positive already: nothing changes.
    Untouched,
}

impl Outcome {
    /// Its stored name (in a finding's sightings).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::Seen => "SEEN",
            Self::Reopened => "REOPENED",
            Self::Fixed => "FIXED",
            Self::Untouched => "UNTOUCHED",
        }
    }
}

/// The outcome for a finding of status `before` (`None`: never reported) that the import
/// did (`seen`) or did not report, on a host the import scanned.
pub fn outcome(before: Option<Status>, seen: bool) -> Outcome {
    match before {
        None => Outcome::New,
        Some(s) => match (s.after_import(seen), seen) {
            (Some(Status::Reopened), _) => Outcome::Reopened,
            (Some(_), _) => Outcome::Fixed,
            (None, true) => Outcome::Seen,
            (None, false) => Outcome::Untouched,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    const ALL: [Status; 5] = Status::ALL;

    #[test]
    fn the_fixed_and_reopened_cycle_across_three_imports() {
        // Reported, absent, reported again.
        let first = outcome(None, true);
        assert_eq!(first, Outcome::New);
        let mut status = Open;
        let second = outcome(Some(status), false);
        assert_eq!(second, Outcome::Fixed);
        status = status.after_import(false).unwrap();
        assert_eq!(status, Fixed);
        assert_eq!(outcome(Some(status), true), Outcome::Reopened);
        assert_eq!(status.after_import(true), Some(Reopened));
    }

    #[test]
    fn ignored_and_false_positive_findings_stay_so_whatever_imports_say() {
        for s in [Ignored, FalsePositive] {
            assert_eq!(s.after_import(true), None);
            assert_eq!(s.after_import(false), None);
            assert_eq!(outcome(Some(s), true), Outcome::Seen);
            assert_eq!(outcome(Some(s), false), Outcome::Untouched);
        }
    }

    #[test]
    fn people_make_only_the_changes_that_make_sense() {
        let allowed: Vec<(Status, Status)> = ALL
            .iter()
            .flat_map(|a| ALL.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a.may_become(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Open, Fixed),
                (Open, Ignored),
                (Open, FalsePositive),
                (Fixed, Reopened),
                (Ignored, Open),
                (Ignored, FalsePositive),
                (FalsePositive, Open),
                (FalsePositive, Ignored),
                (Reopened, Fixed),
                (Reopened, Ignored),
                (Reopened, FalsePositive),
            ]
        );
        assert!(ALL.iter().all(|s| !s.may_become(*s)));
        // An import never leaves an open finding open when it is absent, nor a fixed one
        // fixed when it is back.
        for s in ALL {
            let absent = s.after_import(false).unwrap_or(s);
            assert!(!(absent.is_open()), "{s:?} absent stays open");
        }
    }
}
