//! Connecting, migrating under a lock, and the few helpers every service shares.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, IsolationLevel, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};

use crate::config::Config;
use crate::error::{AppError, AppResult, is_unique_violation};

/// Now, rounded to microseconds: what both backends store, so a value read back compares
/// equal to the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// How long a pooled connection above the minimum may sit idle before it is closed.
const IDLE_CONNECTION: Duration = Duration::from_secs(10);

pub async fn connect(config: &Config) -> AppResult<DatabaseConnection> {
    let url = &config.database_url;
    if url.is_sqlite() {
        create_sqlite_parent(url.expose())?;
    }
    let mut opts = ConnectOptions::new(url.expose().to_owned());
    let default_max = if url.is_sqlite() { 4 } else { 16 };
    opts.max_connections(config.db_max_connections.unwrap_or(default_max))
        .min_connections(1)
        // Connections opened for a burst close once idle, with what they hold (SQLite's page
        // cache, MySQL's buffers), so the process shrinks back after the burst.
        .idle_timeout(IDLE_CONNECTION)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if url.is_sqlite() {
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // Checkpoints are [`run_checkpointer`]'s work, off the writers' path; a
                // process without one (the CLI) still checkpoints past this many pages.
                .pragma("wal_autocheckpoint", BACKSTOP_CHECKPOINT_PAGES.to_string())
                // A log that grew past this is cut back to it when it restarts.
                .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string())
                // Sorts and groupings too large for the page cache spill to a temporary file
                // (the OS caches it) instead of growing the heap: the bundled SQLite keeps them
                // in memory by default, and a darknet fold grouping 400,000 events would hold
                // tens of MiB that the allocator keeps after the fold.
                .pragma("temp_store", "FILE")
        });
    }
    // Replicas starting together may find SQLite busy switching to WAL, or MySQL not up yet.
    let mut attempt = 0;
    loop {
        match Database::connect(opts.clone()).await {
            Ok(db) => return Ok(db),
            Err(e) if attempt < 10 => {
                attempt += 1;
                tracing::warn!(db.url = %url, error = ?e, attempt, "database not ready; retrying");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            // Logged once, where start-up fails.
            Err(e) => return Err(AppError::internal(e)),
        }
    }
}

fn create_sqlite_parent(url: &str) -> AppResult<()> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(AppError::internal)?;
    }
    Ok(())
}

/// The turn of writers to a SQLite file in this process.
type Gate = Arc<tokio::sync::Mutex<()>>;

/// The gate of `db`'s file: writers of this process take turns at it in arrival order (a fair
/// queue) before SQLite's own lock, instead of polling for that lock and the checkpointer
/// with them, which under writers that never pause lost every time. `None` for MySQL and an
/// in-memory database.
fn sqlite_gate(db: &DatabaseConnection) -> Option<(Gate, PathBuf)> {
    static GATES: LazyLock<std::sync::Mutex<HashMap<PathBuf, Gate>>> =
        LazyLock::new(Default::default);
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let options = db.get_sqlite_connection_pool().connect_options();
    let file = options.get_filename();
    if file.as_os_str().is_empty() || file == Path::new(":memory:") {
        return None;
    }
    let mut gates = GATES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let gate = gates.entry(file.to_path_buf()).or_default().clone();
    Some((gate, file.to_path_buf()))
}

/// A connection of its own to `db`'s SQLite file, as a pool of one, for work whose temporary
/// tables must outlast a transaction (with the same options: WAL, busy timeout, temporary
/// files), its page caches (of the file and of its temporary tables) held to `cache_kib` KiB
/// each; that also bounds what a sort holds in memory before it spills to a temporary file
/// (1 MiB at least). `None` for MySQL and for an in-memory database, where a new connection
/// would open another, empty, database.
pub async fn own_sqlite_connection(
    db: &DatabaseConnection,
    cache_kib: u32,
) -> AppResult<Option<DatabaseConnection>> {
    if sqlite_gate(db).is_none() {
        return Ok(None);
    }
    let cache = format!("-{cache_kib}");
    let options = (*db.get_sqlite_connection_pool().connect_options())
        .clone()
        .pragma("cache_size", cache.clone())
        .pragma("temp.cache_size", cache);
    let pool = sea_orm::sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(AppError::internal)?;
    Ok(Some(sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(
        pool,
    )))
}

/// What this process has asked of its database, for `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub queries: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
}

/// Counts every statement sent through `db` (and its clones made after this call).
pub fn count_queries(db: &mut DatabaseConnection) -> std::sync::Arc<Stats> {
    let stats = std::sync::Arc::new(Stats::default());
    let counter = stats.clone();
    db.set_metric_callback(move |info| {
        use std::sync::atomic::Ordering::Relaxed;
        counter.queries.fetch_add(1, Relaxed);
        if info.failed {
            counter.failed.fetch_add(1, Relaxed);
        }
    });
    stats
}

/// Starts a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`IMMEDIATE`), so two writers wait for each other instead of failing on upgrade.
pub async fn begin_write(db: &DatabaseConnection) -> AppResult<DatabaseTransaction> {
    begin_write_with(db, None).await
}

async fn begin_write_with(
    db: &DatabaseConnection,
    isolation_level: Option<IsolationLevel>,
) -> AppResult<DatabaseTransaction> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        // SQLite has one level (its one writer reads what is committed); sea-orm warns when
        // asked for another.
        isolation_level: isolation_level.filter(|_| db.get_database_backend() == DbBackend::MySql),
        ..Default::default()
    };
    Ok(db.begin_with_options(options).await?)
}

/// A transaction that only reads, every read of it seeing the database as it was at the first
/// (`REPEATABLE READ, READ ONLY` on MySQL; on SQLite a deferred transaction reads one snapshot
/// of the WAL and takes no lock a writer waits on). An answer made of several reads that must
/// agree (a roll-up and the events past its fold mark, a page and its count) takes one; the
/// service asks for one in its signature rather than opening it. Dropping it ends it.
pub struct Snapshot(DatabaseTransaction);

impl Snapshot {
    pub async fn begin(db: &DatabaseConnection) -> AppResult<Self> {
        let options = match db.get_database_backend() {
            DbBackend::MySql => TransactionOptions {
                isolation_level: Some(IsolationLevel::RepeatableRead),
                access_mode: Some(AccessMode::ReadOnly),
                ..Default::default()
            },
            _ => TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Deferred),
                ..Default::default()
            },
        };
        Ok(Self(db.begin_with_options(options).await?))
    }
}

/// Where a read goes: the pool (each statement on whichever connection is free, seeing what
/// is committed when it runs), or one [`Snapshot`] (every statement one moment).
pub enum Reader {
    Pool(DatabaseConnection),
    Snapshot(Snapshot),
}

impl Reader {
    /// A reader of `db`: one snapshot if `snapshot`, else the pool.
    pub async fn new(db: &DatabaseConnection, snapshot: bool) -> AppResult<Self> {
        Ok(if snapshot {
            Self::Snapshot(Snapshot::begin(db).await?)
        } else {
            Self::Pool(db.clone())
        })
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Snapshot {
    fn get_database_backend(&self) -> DbBackend {
        self.0.get_database_backend()
    }
    async fn execute_raw(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        self.0.execute_raw(stmt).await
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        self.0.execute_unprepared(sql).await
    }
    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        self.0.query_one_raw(stmt).await
    }
    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        self.0.query_all_raw(stmt).await
    }
}

/// `$body` with `$c` the reader's connection or snapshot.
macro_rules! on_reader {
    ($reader:expr, $c:ident => $body:expr) => {
        match $reader {
            Reader::Pool($c) => $body,
            Reader::Snapshot($c) => $body,
        }
    };
}

#[async_trait::async_trait]
impl ConnectionTrait for Reader {
    fn get_database_backend(&self) -> DbBackend {
        on_reader!(self, c => c.get_database_backend())
    }
    async fn execute_raw(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        on_reader!(self, c => c.execute_raw(stmt).await)
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        on_reader!(self, c => c.execute_unprepared(sql).await)
    }
    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        on_reader!(self, c => c.query_one_raw(stmt).await)
    }
    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        on_reader!(self, c => c.query_all_raw(stmt).await)
    }
}

/// The work of one attempt of [`write()`], borrowing the transaction.
pub type WriteFuture<'c, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = AppResult<T>> + Send + 'c>>;

/// How many times [`write`] runs its work when the database reports a deadlock or a busy
/// lock (the work is rolled back each time, so running it again is safe).
const WRITE_ATTEMPTS: u32 = 4;

/// Runs `work` in one write transaction and commits it; an error rolls everything back, and a
/// deadlock (MySQL) or busy database (SQLite) is retried a bounded number of times. Services
/// take `&impl ConnectionTrait`, so a caller composes several of them in one `work`.
pub async fn write<T, F>(db: &DatabaseConnection, work: F) -> AppResult<T>
where
    T: Send,
    F: for<'c> Fn(&'c DatabaseTransaction) -> WriteFuture<'c, T> + Send + Sync,
{
    write_with(db, None, work).await
}

/// [`write()`], with reads that see the latest committed rows and lock none of what they only
/// read (`READ COMMITTED` on MySQL, where an `INSERT ... SELECT` would otherwise hold shared
/// next-key locks on the rows it reads, and on the gap past the last one: every insert after
/// them would wait). SQLite's one writer reads what is committed already.
pub async fn write_reading_committed<T, F>(db: &DatabaseConnection, work: F) -> AppResult<T>
where
    T: Send,
    F: for<'c> Fn(&'c DatabaseTransaction) -> WriteFuture<'c, T> + Send + Sync,
{
    write_with(db, Some(IsolationLevel::ReadCommitted), work).await
}

async fn write_with<T, F>(
    db: &DatabaseConnection,
    isolation_level: Option<IsolationLevel>,
    work: F,
) -> AppResult<T>
where
    T: Send,
    F: for<'c> Fn(&'c DatabaseTransaction) -> WriteFuture<'c, T> + Send + Sync,
{
    let gate = sqlite_gate(db);
    let mut attempt = 1;
    loop {
        let outcome = async {
            let _turn = match &gate {
                Some((gate, _)) => Some(gate.lock().await),
                None => None,
            };
            let txn = begin_write_with(db, isolation_level).await?;
            let out = work(&txn).await?;
            txn.commit().await?;
            Ok(out)
        }
        .await;
        match outcome {
            Err(e) if attempt < WRITE_ATTEMPTS && is_transient(&e) => {
                tracing::debug!(attempt, "write transaction hit a lock; retrying");
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Whether an error is a deadlock or a lock timeout that a retry may get past.
pub fn is_transient(err: &AppError) -> bool {
    let AppError::Internal(cause) = err else {
        return false;
    };
    let Some(db_err) = cause.downcast_ref::<DbErr>() else {
        return false;
    };
    let sqlx = match db_err {
        DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    let Some(code) = sqlx.as_database_error().and_then(|d| d.code()) else {
        return false;
    };
    // MySQL: 1213 deadlock, 1205 lock wait timeout (SQLSTATE 40001). SQLite: 5 BUSY,
    // 6 LOCKED, 517 BUSY_SNAPSHOT.
    matches!(code.as_ref(), "1213" | "1205" | "40001" | "5" | "6" | "517")
}

const LOCK_TABLE: &str = "hector_lock";
const MIGRATION_LOCK: &str = "migrate";
/// A holder that died keeps the lock at most this long: a live holder extends it every
/// `LOCK_BEAT`, however long its work takes.
pub const LOCK_TTL: Duration = Duration::from_secs(10);
const LOCK_BEAT: Duration = Duration::from_secs(2);
/// How long a replica waits for a live holder before giving up.
const LOCK_PATIENCE: Duration = Duration::from_secs(30 * 60);

/// Applies pending migrations. Replicas starting together serialise on a lock row, so
/// exactly one of them migrates and the others find nothing left to do.
pub async fn migrate(db: &DatabaseConnection, holder: &str) -> AppResult<()> {
    db.execute_unprepared(&format!(
        "CREATE TABLE IF NOT EXISTS {LOCK_TABLE} (name VARCHAR(64) NOT NULL PRIMARY KEY, \
         holder VARCHAR(64) NOT NULL, expires_at BIGINT NOT NULL)"
    ))
    .await?;
    acquire_lock(db, MIGRATION_LOCK, holder).await?;
    let outcome = {
        let beat = heartbeat(db, MIGRATION_LOCK, holder);
        tokio::pin!(beat);
        let work = Migrator::up(db, None);
        tokio::pin!(work);
        tokio::select! {
            outcome = &mut work => outcome,
            () = &mut beat => work.await,
        }
    };
    let released = release_lock(db, MIGRATION_LOCK, holder).await;
    // A failure is logged once, where start-up ends.
    outcome.map_err(AppError::internal)?;
    released?;
    tracing::info!("database schema is current");
    Ok(())
}

/// Keeps extending `holder`'s lock `name` every [`LOCK_BEAT`]; never ends on its own.
async fn heartbeat(db: &DatabaseConnection, name: &str, holder: &str) {
    loop {
        tokio::time::sleep(LOCK_BEAT).await;
        let extend = Query::update()
            .table(LOCK_TABLE)
            .value(
                "expires_at",
                Utc::now().timestamp() + LOCK_TTL.as_secs() as i64,
            )
            .and_where(Expr::col("name").eq(name))
            .and_where(Expr::col("holder").eq(holder))
            .to_owned();
        if let Err(e) = db.execute(&extend).await {
            tracing::warn!(lock = name, error = ?e, "cannot extend a lock");
        }
    }
}

async fn acquire_lock(db: &DatabaseConnection, name: &str, holder: &str) -> AppResult<()> {
    let deadline = tokio::time::Instant::now() + LOCK_PATIENCE;
    let mut told = false;
    loop {
        let now = Utc::now().timestamp();
        db.execute(
            Query::delete()
                .from_table(LOCK_TABLE)
                .and_where(Expr::col("name").eq(name))
                .and_where(Expr::col("expires_at").lt(now)),
        )
        .await?;
        let insert = Query::insert()
            .into_table(LOCK_TABLE)
            .columns(["name", "holder", "expires_at"])
            .values_panic([
                name.into(),
                holder.into(),
                (now + LOCK_TTL.as_secs() as i64).into(),
            ])
            .to_owned();
        match db.execute(&insert).await {
            Ok(_) => return Ok(()),
            Err(e) if is_unique_violation(&e) => {
                if tokio::time::Instant::now() > deadline {
                    return Err(AppError::internal(DbErr::Custom(format!(
                        "lock {name} still held after {}s",
                        LOCK_PATIENCE.as_secs()
                    ))));
                }
                if !told {
                    tracing::info!(
                        lock = name,
                        "waiting for another instance to finish migrating"
                    );
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn release_lock(db: &DatabaseConnection, name: &str, holder: &str) -> AppResult<()> {
    db.execute(
        Query::delete()
            .from_table(LOCK_TABLE)
            .and_where(Expr::col("name").eq(name))
            .and_where(Expr::col("holder").eq(holder)),
    )
    .await?;
    Ok(())
}

/// Whether the database is known to be unreachable, kept by [`run_health_probe`]. While it is,
/// requests are answered at once (503) instead of each waiting for a pool connection that
/// cannot come.
#[derive(Debug, Default)]
pub struct Health {
    down: std::sync::atomic::AtomicBool,
}

impl Health {
    pub fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records what a probe or a request found; logs the changes.
    pub fn set_down(&self, down: bool) {
        let was = self.down.swap(down, std::sync::atomic::Ordering::AcqRel);
        match (was, down) {
            (false, true) => {
                tracing::error!("the database is unreachable; answering 503 until it is back")
            }
            (true, false) => tracing::info!("the database is reachable again"),
            _ => {}
        }
    }
}

/// How long a probe waits for the database before taking it for down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Pings the database every second (every quarter second while it is down) and keeps
/// `health` up to date, until `shutdown`.
pub async fn run_health_probe(
    db: DatabaseConnection,
    health: std::sync::Arc<Health>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let up = matches!(
            tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await,
            Ok(Ok(()))
        );
        health.set_down(!up);
        let pause = if up {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(250)
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// WAL pages past which a SQLite commit checkpoints by itself (about 40 MiB).
const BACKSTOP_CHECKPOINT_PAGES: u32 = 10_000;

/// How often [`run_checkpointer`] copies committed pages from the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// WAL frames past which [`run_checkpointer`] restarts the log (16 MiB of 4 KiB pages).
const RESTART_FRAMES: i64 = 4096;

/// Bytes a restarted WAL file is cut back to.
const WAL_SIZE_LIMIT: i64 = 32 * 1024 * 1024;

/// On SQLite, copies committed pages from the write-ahead log into the database file twice a
/// second (a passive checkpoint: it never blocks a writer or a reader). Left to themselves,
/// commits checkpoint whenever the log passes 1,000 pages, inside the commit of whichever
/// writer crossed the line, with the file synced; here that work runs beside the writers,
/// and a page written by many commits between two checkpoints is copied once.
///
/// A passive checkpoint never lets the log start over while some writer is always busy:
/// SQLite writes it from the beginning again only when a writer finds every frame copied,
/// and it syncs the database file only then (the log grew to 3 GB in a minute of darknet
/// ingest, with every page read searching its index, and the file's unsynced pages piled up
/// in the kernel). So each round also syncs the database file itself, holding no lock, and
/// past `RESTART_FRAMES` restarts the log: it queues with the writers for its turn (see
/// `sqlite_gate`), copies and syncs what the passive round left (little), and the log
/// starts over, cut back to `WAL_SIZE_LIMIT`.
pub async fn run_checkpointer(
    db: DatabaseConnection,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let Some((gate, file)) = sqlite_gate(&db) else {
        return;
    };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
        if let Err(e) = checkpoint(&db, &gate, file.clone()).await {
            tracing::debug!(error = ?e, "a WAL checkpoint failed; the next one will try again");
        }
    }
}

/// One round of [`run_checkpointer`].
async fn checkpoint(db: &DatabaseConnection, gate: &Gate, file: PathBuf) -> AppResult<()> {
    let passive = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA wal_checkpoint(PASSIVE)",
        ))
        .await?;
    // The row is (busy, frames in the log, frames copied).
    let (frames, copied): (i64, i64) = match passive {
        Some(row) => (row.try_get_by_index(1)?, row.try_get_by_index(2)?),
        None => (0, 0),
    };
    if copied > 0 {
        // The file SQLite wrote to: syncing it here flushes what the rounds copied, so the
        // restart below (which syncs it too) finds little left to flush.
        tokio::task::spawn_blocking(move || std::fs::File::open(file)?.sync_data())
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)?;
    }
    if frames >= RESTART_FRAMES {
        let _turn = gate.lock().await;
        db.execute_unprepared("PRAGMA wal_checkpoint(RESTART)")
            .await?;
    }
    Ok(())
}

/// Whether an error says the database could not be reached (as opposed to a query it refused).
pub fn is_unreachable(err: &AppError) -> bool {
    let AppError::Internal(cause) = err else {
        return false;
    };
    let Some(db_err) = cause.downcast_ref::<DbErr>() else {
        return false;
    };
    match db_err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) => matches!(
            &**e,
            sea_orm::sqlx::Error::Io(_)
                | sea_orm::sqlx::Error::PoolTimedOut
                | sea_orm::sqlx::Error::PoolClosed
                | sea_orm::sqlx::Error::WorkerCrashed
        ),
        _ => false,
    }
}

/// Whether the database answers and every migration this binary knows is applied.
pub async fn ready(db: &DatabaseConnection) -> bool {
    let check = async {
        db.ping().await?;
        Ok::<_, DbErr>(Migrator::get_pending_migrations(db).await?.is_empty())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), check).await,
        Ok(Ok(true))
    )
}

/// Splits `items` into chunks that keep a bulk statement under both backends' limits on
/// bound parameters (SQLite 32,766; MySQL 65,535).
pub fn chunk_size(columns_per_row: usize) -> usize {
    (30_000 / columns_per_row.max(1)).max(1)
}
