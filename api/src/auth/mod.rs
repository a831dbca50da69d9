//! Who is calling. The identity issue fills this in (users, tokens, roles); until then every
//! caller is the one anonymous identity, and [`crate::graphql::guard`] is where that changes.

/// The caller of a request, a subscription or a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Anonymous,
}

impl Identity {
    /// How the caller is named in records such as "who set this exclusion".
    pub fn display_name(&self) -> &str {
        match self {
            Identity::Anonymous => "anonymous",
        }
    }
}
