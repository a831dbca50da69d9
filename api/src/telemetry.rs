//! Logging: `tracing` to standard error, human-readable or JSON.

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber once; later calls (tests) are no-ops. Colours only on a
/// terminal: logs piped to a file or a collector carry no escape codes.
pub fn init(config: &Config) {
    install(config, &config.log);
}

/// For one-off commands (`user`, `token`, `migrate`): as [`init`], without the migrator's line
/// per migration.
pub fn init_quiet(config: &Config) {
    install(config, &format!("{},sea_orm_migration=warn", config.log));
}

fn install(config: &Config, directives: &str) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
