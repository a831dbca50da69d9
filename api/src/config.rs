//! The one typed configuration: command-line flags, each also read from the environment.
//! `hector --help` prints every option with the text below.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// Hector: hosts, attackers and threat intelligence behind one GraphQL API.
#[derive(Debug, Parser)]
#[command(name = "hector", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the server (the default): migrations, HTTP/GraphQL and the scheduler.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) and exit.
    Schema,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Import results into the inventory.
    #[command(subcommand)]
    Import(ImportCommand),
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ImportCommand {
    /// Import an nmap XML file (`nmap -oX`): the same path as a scan, with a progress bar.
    Nmap {
        /// The file.
        file: std::path::PathBuf,
        /// The support group (numeric id) of hosts not in the inventory yet.
        #[arg(long)]
        support_group: Option<i64>,
    },
    /// Import an OpenVAS/Greenbone (GVM) XML report as findings, with a progress bar.
    Openvas {
        /// The file.
        file: std::path::PathBuf,
        /// The support group (numeric id) of hosts not in the inventory yet.
        #[arg(long)]
        support_group: Option<i64>,
    },
    /// Import a Nessus `.nessus` (v2) XML file as findings, with a progress bar.
    Nessus {
        /// The file.
        file: std::path::PathBuf,
        /// The support group (numeric id) of hosts not in the inventory yet.
        #[arg(long)]
        support_group: Option<i64>,
    },
    /// Import a Nessus CSV export as findings, with a progress bar.
    NessusCsv {
        /// The file.
        file: std::path::PathBuf,
        /// The support group (numeric id) of hosts not in the inventory yet.
        #[arg(long)]
        support_group: Option<i64>,
    },
    /// Import the `vulners`/`vuln` script findings of an nmap XML file only (`hector import
    /// nmap` records them too, with the ports), with a progress bar.
    NmapVulns {
        /// The file.
        file: std::path::PathBuf,
        /// The support group (numeric id) of hosts not in the inventory yet.
        #[arg(long)]
        support_group: Option<i64>,
    },
    /// Import a file of darknet sensor lines (iptables/ip6tables LOG lines, OSSEC alerts, or
    /// one JSON event per line) as a sensor, with a progress bar. Importing a file again adds
    /// nothing.
    Iptables {
        /// The file.
        file: std::path::PathBuf,
        /// The sensor's name.
        #[arg(long)]
        sensor: String,
        /// Read the file as one JSON event per line.
        #[arg(long)]
        ndjson: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from HECTOR_NEW_PASSWORD or generated and printed.
    Add {
        username: String,
        /// admin, analyst, viewer, sensor or partner.
        #[arg(long, default_value = "viewer")]
        role: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// Set a new password (from HECTOR_NEW_PASSWORD, or generated and printed) and end the
    /// user's sessions.
    ResetPassword { username: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user; the secret is printed once.
    Create {
        username: String,
        /// A name to recognise the token by.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, write, ingest.
        #[arg(long, default_value = "read")]
        scopes: String,
        /// Days until it expires (never, when omitted).
        #[arg(long)]
        expires_days: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable, coloured when on a terminal.
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    /// Local use: without a configured JWT secret one is generated and kept in the database;
    /// GraphiQL is served.
    Development,
    /// Refuses to start without a configured JWT secret of 32 bytes; no GraphiQL unless
    /// enabled.
    Production,
}

/// Waiting darknet events that make the folder fold at once, by default
/// (`HECTOR_DARKNET_FOLD_AT`). A fold's cost is mostly its groups (one row of a roll-up
/// written per source, or per source and port...), and a busy darknet sees the same scanners
/// again and again: in the benchmark's flood 200,000 events touched 46,000 of its 50,000
/// sources and 400,000 touched 49,000, so folding twice as many at a time wrote nearly half as
/// many rows per event. What is still unfolded when a flood ends is folded after its last
/// batch, and larger folds leave more; in the 2,000,000-event flood on MariaDB, 400,000
/// finished soonest (medians of three rounds 0.66x and 0.68x of `LOAD DATA` against 0.61x and
/// 0.65x with 200,000, and 0.55x with 100,000; 800,000 was no better).
pub const DARKNET_FOLD_AT: i64 = 400_000;
/// Most events one darknet fold takes; no threshold may ask for more.
pub const DARKNET_FOLD_MAX: i64 = 800_000;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// `development` or `production` (production needs a configured JWT secret, serves no
    /// GraphiQL unless enabled).
    #[arg(global = true, long = "env", env = "HECTOR_ENV", value_enum, default_value_t = Environment::Development)]
    pub environment: Environment,

    /// Secret that signs access tokens (HS256), at least 32 bytes; required in production.
    /// Unset in development, a random one is generated on first start and kept in the
    /// database, so tokens survive a restart and no constant ever signs them.
    #[arg(global = true, long, env = "HECTOR_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Minutes an access token lives.
    #[arg(
        global = true,
        long,
        env = "HECTOR_ACCESS_TOKEN_MINUTES",
        default_value_t = 15
    )]
    pub access_token_minutes: u32,

    /// Days a login session (its refresh tokens) lives.
    #[arg(global = true, long, env = "HECTOR_SESSION_DAYS", default_value_t = 30)]
    pub session_days: u32,

    /// Password of the `admin` user created on first start (else a random one is logged once).
    #[arg(global = true, long, env = "HECTOR_ADMIN_PASSWORD")]
    pub admin_password: Option<Secret>,

    /// Requests a minute one identity (user, token or anonymous address) may make; 0 is no limit.
    #[arg(
        global = true,
        long,
        env = "HECTOR_RATE_LIMIT_PER_MINUTE",
        default_value_t = 1200
    )]
    pub rate_limit_per_minute: u32,

    /// Failed sign-ins allowed (per account and per address) before back-off starts.
    #[arg(
        global = true,
        long,
        env = "HECTOR_LOGIN_FREE_ATTEMPTS",
        default_value_t = 5
    )]
    pub login_free_attempts: u32,

    /// Longest sign-in back-off in seconds (it doubles with each further failure).
    #[arg(
        global = true,
        long,
        env = "HECTOR_LOGIN_MAX_BACKOFF_SECS",
        default_value_t = 900
    )]
    pub login_max_backoff_secs: u64,

    /// Allow schema introspection without signing in.
    #[arg(global = true, long, env = "HECTOR_OPEN_INTROSPECTION", default_value_t = false, action = ArgAction::Set)]
    pub open_introspection: bool,

    /// Browser origins allowed by CORS, comma-separated (none by default).
    #[arg(
        global = true,
        long,
        env = "HECTOR_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// Address and port the HTTP server listens on.
    #[arg(
        global = true,
        long,
        env = "HECTOR_BIND",
        default_value = "127.0.0.1:8080"
    )]
    pub bind: SocketAddr,

    /// Database URL: `sqlite://path?mode=rwc` (embedded, the default) or `mysql://user:pass@host/db`.
    #[arg(
        global = true,
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/hector.db?mode=rwc"
    )]
    pub database_url: DatabaseUrl,

    /// Largest number of pooled database connections (default: 4 on SQLite, 16 on MySQL).
    #[arg(global = true, long, env = "HECTOR_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,

    /// Log format.
    #[arg(global = true, long, env = "HECTOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Log filter in `tracing` syntax, e.g. `info` or `info,api=debug`.
    #[arg(global = true, long, env = "HECTOR_LOG", default_value = "info")]
    pub log: String,

    /// Serve GraphiQL at `GET /graphql` [default: on in development, off in production].
    #[arg(global = true, long, env = "HECTOR_GRAPHIQL", action = ArgAction::Set)]
    pub graphiql: Option<bool>,

    /// Deepest query nesting accepted.
    #[arg(global = true, long, env = "HECTOR_MAX_DEPTH", default_value_t = 12)]
    pub max_depth: usize,

    /// Highest query complexity accepted (a list field costs `first` x its selection).
    #[arg(
        global = true,
        long,
        env = "HECTOR_MAX_COMPLEXITY",
        default_value_t = 5000
    )]
    pub max_complexity: usize,

    /// Largest page (`first`/`last`) a connection returns.
    #[arg(
        global = true,
        long,
        env = "HECTOR_MAX_PAGE_SIZE",
        default_value_t = 100
    )]
    pub max_page_size: u32,

    /// Most subscriptions one WebSocket may hold open at once.
    #[arg(
        global = true,
        long,
        env = "HECTOR_MAX_SUBSCRIPTIONS_PER_SOCKET",
        default_value_t = 32
    )]
    pub max_subscriptions_per_socket: usize,

    /// Most WebSockets one user (or anonymous address) may hold open on this replica.
    #[arg(
        global = true,
        long,
        env = "HECTOR_MAX_SOCKETS_PER_IDENTITY",
        default_value_t = 16
    )]
    pub max_sockets_per_identity: usize,

    /// Largest request body in bytes; larger ones are refused with 413 before being read.
    #[arg(
        global = true,
        long,
        env = "HECTOR_MAX_BODY_BYTES",
        default_value_t = 1_048_576
    )]
    pub max_body_bytes: usize,

    /// Seconds a client has to send a whole request body once its headers are in (408 after);
    /// a body trickled a byte at a time must not hold a connection forever.
    #[arg(
        global = true,
        long,
        env = "HECTOR_BODY_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub body_timeout_secs: u64,

    /// Largest number of addresses one `addHosts` call may create (a /16 of IPv4 by default).
    #[arg(
        global = true,
        long,
        env = "HECTOR_MAX_BULK_HOSTS",
        default_value_t = 65_536
    )]
    pub max_bulk_hosts: u32,

    /// Run scheduled jobs in this process (turn off on replicas that should only serve).
    #[arg(global = true, long, env = "HECTOR_SCHEDULER", default_value_t = true, action = ArgAction::Set)]
    pub scheduler: bool,

    /// How often, in seconds, the job that lifts expired port-scan exclusions runs.
    #[arg(
        global = true,
        long,
        env = "HECTOR_EXCLUSION_JOB_SECS",
        default_value_t = 60
    )]
    pub exclusion_job_secs: u64,

    /// How often, in seconds, the exposure digest per support group is written (the changes
    /// since the last one).
    #[arg(
        global = true,
        long,
        env = "HECTOR_DIGEST_SECS",
        default_value_t = 86_400
    )]
    pub digest_secs: u64,

    /// How often, in seconds, the scan scheduler looks for due scans, queued runs and runs
    /// abandoned by a dead process.
    #[arg(
        global = true,
        long,
        env = "HECTOR_SCAN_TICK_SECS",
        default_value_t = 30
    )]
    pub scan_tick_secs: u64,

    /// Most scans running at once (across replicas).
    #[arg(
        global = true,
        long,
        env = "HECTOR_SCAN_CONCURRENCY",
        default_value_t = 2
    )]
    pub scan_concurrency: u32,

    /// Longest a scan may run, in seconds, before nmap is stopped and the run fails.
    #[arg(
        global = true,
        long,
        env = "HECTOR_SCAN_TIMEOUT_SECS",
        default_value_t = 3600
    )]
    pub scan_timeout_secs: u64,

    /// The nmap program scans run (a path, or a name looked up on PATH).
    #[arg(global = true, long, env = "HECTOR_NMAP_PATH", default_value = "nmap")]
    pub nmap_path: String,

    /// Most XML one scan run may produce (it is kept with the run).
    #[arg(
        global = true,
        long,
        env = "HECTOR_MAX_SCAN_XML_BYTES",
        default_value_t = 256 * 1024 * 1024
    )]
    pub max_scan_xml_bytes: usize,

    /// Largest nmap XML file one import takes (upload, streaming endpoint).
    #[arg(
        global = true,
        long,
        env = "HECTOR_MAX_IMPORT_BYTES",
        default_value_t = 2 * 1024 * 1024 * 1024
    )]
    pub max_import_bytes: u64,

    /// A MaxMind-format database (`.mmdb`, e.g. GeoLite2 Country) giving darknet sources
    /// their country; without one, countries stay empty.
    #[arg(global = true, long, env = "HECTOR_GEOIP_COUNTRY_DB")]
    pub geoip_country_db: Option<std::path::PathBuf>,

    /// A MaxMind-format database (e.g. GeoLite2 ASN) giving darknet sources their AS number.
    #[arg(global = true, long, env = "HECTOR_GEOIP_ASN_DB")]
    pub geoip_asn_db: Option<std::path::PathBuf>,

    /// Largest body one darknet ingest request takes (`POST /ingest/darknet`).
    #[arg(
        global = true,
        long,
        env = "HECTOR_MAX_DARKNET_BODY_BYTES",
        default_value_t = 32 * 1024 * 1024
    )]
    pub max_darknet_body_bytes: usize,

    /// Days raw darknet events are kept (roll-ups stay); 0 keeps them for ever.
    #[arg(
        global = true,
        long,
        env = "HECTOR_DARKNET_RETENTION_DAYS",
        default_value_t = 90
    )]
    pub darknet_retention_days: u32,

    /// How often, in seconds, the darknet upkeep runs (spike detection, retention).
    #[arg(
        global = true,
        long,
        env = "HECTOR_DARKNET_TICK_SECS",
        default_value_t = 60
    )]
    pub darknet_tick_secs: u64,

    /// How often, in milliseconds, the darknet folder looks for events to fold into the
    /// per-source roll-ups (it folds once HECTOR_DARKNET_FOLD_AT events wait, fewer after 5 s;
    /// on MySQL the roll-up per source and port once five times as many wait, or no event
    /// came for 5 s); 0: this process never folds (another replica or `hector` commands do).
    #[arg(
        global = true,
        long,
        env = "HECTOR_DARKNET_FOLD_MS",
        default_value_t = 1000
    )]
    pub darknet_fold_ms: u64,

    /// Waiting darknet events that make the folder fold at once (1 to 800,000). Smaller folds
    /// keep less unfolded at the end of a flood; larger ones write fewer roll-up rows per event.
    #[arg(
        global = true,
        long,
        env = "HECTOR_DARKNET_FOLD_AT",
        default_value_t = DARKNET_FOLD_AT
    )]
    pub darknet_fold_at: i64,

    /// A port's hourly count is a spike when it exceeds this many times its trailing
    /// 24-hour average.
    #[arg(
        global = true,
        long,
        env = "HECTOR_DARKNET_SPIKE_FACTOR",
        default_value_t = 5.0
    )]
    pub darknet_spike_factor: f64,

    /// Fewest events in an hour for a port to count as a spike at all.
    #[arg(
        global = true,
        long,
        env = "HECTOR_DARKNET_SPIKE_MIN_EVENTS",
        default_value_t = 100
    )]
    pub darknet_spike_min_events: i64,

    /// How often, in seconds, the poller looks for feeds that are due.
    #[arg(
        global = true,
        long,
        env = "HECTOR_FEED_TICK_SECS",
        default_value_t = 30
    )]
    pub feed_tick_secs: u64,

    /// How often, in seconds, stored indicators are matched again against new findings,
    /// hosts and darknet sources.
    #[arg(
        global = true,
        long,
        env = "HECTOR_INTEL_MATCH_SECS",
        default_value_t = 300
    )]
    pub intel_match_secs: u64,

    /// Longest a feed fetch may take, in seconds, body included.
    #[arg(
        global = true,
        long,
        env = "HECTOR_FEED_TIMEOUT_SECS",
        default_value_t = 20
    )]
    pub feed_timeout_secs: u64,

    /// Largest feed body taken, in bytes after decompression.
    #[arg(
        global = true,
        long,
        env = "HECTOR_FEED_MAX_BYTES",
        default_value_t = 5 * 1024 * 1024
    )]
    pub feed_max_bytes: usize,

    /// Most redirects a feed fetch follows (each one checked like the first URL).
    #[arg(
        global = true,
        long,
        env = "HECTOR_FEED_MAX_REDIRECTS",
        default_value_t = 5
    )]
    pub feed_max_redirects: usize,

    /// Most feeds fetched at once.
    #[arg(
        global = true,
        long,
        env = "HECTOR_FEED_CONCURRENCY",
        default_value_t = 4
    )]
    pub feed_concurrency: u32,

    /// Internal address ranges feeds may be fetched from, comma-separated CIDRs (none by
    /// default: loopback, private, link-local and reserved addresses are refused).
    #[arg(
        global = true,
        long,
        env = "HECTOR_FEED_ALLOW_NETS",
        value_delimiter = ','
    )]
    pub feed_allow_nets: Vec<ipnet::IpNet>,

    /// How often, in milliseconds, this replica reads new events from the outbox.
    #[arg(
        global = true,
        long,
        env = "HECTOR_EVENT_POLL_MS",
        default_value_t = 250
    )]
    pub event_poll_ms: u64,

    /// Name of this process in job runs and logs (default: host name and process id).
    #[arg(global = true, long, env = "HECTOR_INSTANCE")]
    pub instance: Option<String>,
}

impl Config {
    /// Reads the configuration from the environment alone, with defaults (tests and tools).
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        Only::try_parse_from(["hector"]).map(|o| o.config)
    }

    /// The name of this process, stable for its lifetime.
    pub fn instance_name(&self) -> String {
        self.instance.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "hector".to_owned());
            format!("{host}-{}", std::process::id())
        })
    }

    /// Whether GraphiQL is served: as configured, else only in development.
    pub fn serves_graphiql(&self) -> bool {
        self.graphiql
            .unwrap_or(self.environment == Environment::Development)
    }

    /// Checks what clap cannot: ranges that only make sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_page_size == 0 || self.max_page_size > 10_000 {
            return Err("HECTOR_MAX_PAGE_SIZE must be between 1 and 10000".into());
        }
        if !(1..=600).contains(&self.body_timeout_secs) {
            return Err("HECTOR_BODY_TIMEOUT_SECS must be between 1 and 600".into());
        }
        if self.max_body_bytes < 1024 {
            return Err("HECTOR_MAX_BODY_BYTES must be at least 1024".into());
        }
        if self.exclusion_job_secs == 0 || self.event_poll_ms == 0 {
            return Err("job and poll intervals must be positive".into());
        }
        if self.access_token_minutes == 0 || self.session_days == 0 {
            return Err("token lifetimes must be positive".into());
        }
        if !(self.darknet_spike_factor.is_finite() && self.darknet_spike_factor > 1.0) {
            return Err("HECTOR_DARKNET_SPIKE_FACTOR must be a number above 1".into());
        }
        if !(1..=DARKNET_FOLD_MAX).contains(&self.darknet_fold_at) {
            return Err(format!(
                "HECTOR_DARKNET_FOLD_AT must be between 1 and {DARKNET_FOLD_MAX}"
            ));
        }
        if self.darknet_tick_secs == 0 || self.max_darknet_body_bytes < 4096 {
            return Err(
                "HECTOR_DARKNET_TICK_SECS must be positive and HECTOR_MAX_DARKNET_BODY_BYTES at least 4096"
                    .into(),
            );
        }
        if self.feed_tick_secs == 0
            || self.intel_match_secs == 0
            || !(1..=300).contains(&self.feed_timeout_secs)
            || self.feed_max_bytes < 1024
            || self.feed_concurrency == 0
        {
            return Err("HECTOR_FEED_TICK_SECS, HECTOR_INTEL_MATCH_SECS and HECTOR_FEED_CONCURRENCY must be positive, HECTOR_FEED_TIMEOUT_SECS between 1 and 300, HECTOR_FEED_MAX_BYTES at least 1024".into());
        }
        match &self.jwt_secret {
            None if self.environment == Environment::Production => {
                return Err("production needs HECTOR_JWT_SECRET (at least 32 bytes)".into());
            }
            Some(secret) if secret.expose().len() < 32 => {
                return Err("HECTOR_JWT_SECRET must be at least 32 bytes".into());
            }
            _ => {}
        }
        Ok(())
    }
}

/// A secret: its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A database URL whose password never reaches a log line or an error message.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let userinfo = &self.0[scheme + 3..at];
                match userinfo.find(':') {
                    Some(colon) => format!(
                        "{}{}:***{}",
                        &self.0[..scheme + 3],
                        &userinfo[..colon],
                        &self.0[at..]
                    ),
                    None => self.0.clone(),
                }
            }
            _ => self.0.clone(),
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("sqlite:") || s.starts_with("mysql://") || s.starts_with("mariadb://") {
            Ok(Self(s.replacen("mariadb://", "mysql://", 1)))
        } else {
            Err("expected a sqlite: or mysql:// URL".into())
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_hides_the_password() {
        let url: DatabaseUrl = "mysql://root:s3cret@db:3306/hector".parse().unwrap();
        assert_eq!(format!("{url:?}"), "mysql://root:***@db:3306/hector");
        assert!(!url.to_string().contains("s3cret"));
    }

    #[test]
    fn production_needs_a_configured_secret_of_32_bytes() {
        let mut config = Config::from_env().unwrap();
        config.environment = Environment::Production;
        config.jwt_secret = None;
        assert!(config.validate().is_err());
        config.jwt_secret = Some("short".parse().unwrap());
        assert!(config.validate().is_err());
        config.jwt_secret = Some(
            "a-long-enough-production-secret-0123456789"
                .parse()
                .unwrap(),
        );
        config.validate().unwrap();
        assert_eq!(format!("{:?}", config.jwt_secret), "Some(***)");
    }

    #[test]
    fn graphiql_is_off_in_production_unless_enabled() {
        let mut config = Config::from_env().unwrap();
        config.graphiql = None;
        assert!(config.serves_graphiql());
        config.environment = Environment::Production;
        assert!(!config.serves_graphiql());
        config.graphiql = Some(true);
        assert!(config.serves_graphiql());
    }

    #[test]
    fn the_fold_threshold_is_bounded() {
        let mut config = Config::from_env().unwrap();
        for bad in [0, -1, DARKNET_FOLD_MAX + 1] {
            config.darknet_fold_at = bad;
            let err = config.validate().unwrap_err();
            assert!(err.contains("HECTOR_DARKNET_FOLD_AT"), "{err}");
        }
        for good in [1, DARKNET_FOLD_MAX] {
            config.darknet_fold_at = good;
            config.validate().unwrap();
        }
    }

    #[test]
    fn defaults_validate() {
        let config = Config::from_env().unwrap();
        config.validate().unwrap();
    }
}
