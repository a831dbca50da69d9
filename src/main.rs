//! The `hector` binary: everything lives in the `api` crate.

/// jemalloc with its background threads gives memory back to the system a few seconds after it
/// is freed, even while the server sits idle: a burst of thousands of WebSockets leaves the
/// process near its old size once they close. glibc's allocator (and mimalloc, whose purging
/// runs only on threads that allocate again) kept the peak; see `cargo bench --bench fanout`.
///
/// It is linked unprefixed (`unprefixed_malloc_on_supported_platforms`), so it is `malloc` for
/// the C code in the process too: SQLite's page caches and sorts. With SQLite on glibc a
/// darknet flood's peak was 1.33x its size after the first 100,000 events (1.39x with glibc
/// held to one arena); with one allocator that hands freed pages back after 1 s
/// (`.cargo/config.toml`) it was 1.18x-1.21x, 1.12x-1.16x with the folds' caches held small
/// as well, and 1.08x-1.12x handing them back after 250 ms (`cargo bench --bench
/// darknet_ingest`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    api::main()
}
