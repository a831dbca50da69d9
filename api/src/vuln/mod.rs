//! Vulnerabilities: the catalog of checks, findings on hosts and their lifecycle, imported
//! from scanner reports through one pipeline. The readers of those reports ([`parse`]) take
//! bytes and yield findings without touching the database; [`store`] records them batch by
//! batch; [`ingest`] joins the two for every door (upload, streaming endpoint, CLI, scan
//! results); [`lifecycle`] holds the status rules; [`read`] and [`status`] serve the API.

pub mod graphql;
pub mod ingest;
pub mod lifecycle;
pub mod parse;
pub mod read;
pub mod status;
pub mod store;

/// The outbox topic of findings.
pub const FINDING_TOPIC: crate::events::Topic = crate::events::Topic("finding");

/// The scanner a check belongs to: an import fixes only its own scanner's findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    OpenVas,
    Nessus,
    Nmap,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenVas => "OPENVAS",
            Self::Nessus => "NESSUS",
            Self::Nmap => "NMAP",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::OpenVas, Self::Nessus, Self::Nmap]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// The kind of file an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// OpenVAS/GVM XML report.
    OpenVas,
    /// Nessus `.nessus` (v2) XML.
    Nessus,
    /// Nessus CSV export.
    NessusCsv,
    /// nmap XML with `vulners`/`vuln` script output.
    Nmap,
}

impl Kind {
    pub const ALL: [Self; 4] = [Self::OpenVas, Self::Nessus, Self::NessusCsv, Self::Nmap];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenVas => "OPENVAS",
            Self::Nessus => "NESSUS",
            Self::NessusCsv => "NESSUS_CSV",
            Self::Nmap => "NMAP",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The scanner whose checks it reports.
    pub fn source(self) -> Source {
        match self {
            Self::OpenVas => Source::OpenVas,
            Self::Nessus | Self::NessusCsv => Source::Nessus,
            Self::Nmap => Source::Nmap,
        }
    }
}
