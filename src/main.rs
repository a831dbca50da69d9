//! The `hector` binary: everything lives in the `api` crate.

/// jemalloc with its background threads gives memory back to the system a few seconds after it
/// is freed, even while the server sits idle: a burst of thousands of WebSockets leaves the
/// process near its old size once they close. glibc's allocator (and mimalloc, whose purging
/// runs only on threads that allocate again) kept the peak; see `cargo bench --bench fanout`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    api::main()
}
