//! The storage layer against the real backend: write transactions, locks, migrations.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::support::{TestApp, TestDb, config_for};

async fn connect(db: &TestDb) -> DatabaseConnection {
    api::db::connect(&config_for(&db.url)).await.unwrap()
}

/// One side of a deadlock: adds one to `first` then to `second`, meeting the other side in
/// between on its first attempt, so that each holds the row the other wants next.
async fn cross_update(
    db: &DatabaseConnection,
    first: i32,
    second: i32,
    meet: Arc<tokio::sync::Barrier>,
    attempts: Arc<AtomicU32>,
) -> api::error::AppResult<()> {
    let own = Arc::new(AtomicU32::new(0));
    api::db::write(db, move |txn| {
        let (meet, attempts, own) = (meet.clone(), attempts.clone(), own.clone());
        Box::pin(async move {
            attempts.fetch_add(1, Ordering::SeqCst);
            let update = |id: i32| format!("UPDATE lock_probe SET v = v + 1 WHERE id = {id}");
            txn.execute_unprepared(&update(first)).await?;
            if own.fetch_add(1, Ordering::SeqCst) == 0 {
                // SQLite takes the write lock at BEGIN, so the other side never gets here
                // while this one waits: the wait is bounded.
                let _ = tokio::time::timeout(Duration::from_secs(1), meet.wait()).await;
            }
            txn.execute_unprepared(&update(second)).await?;
            Ok(())
        })
    })
    .await
}

/// Two writers taking the same two rows in opposite orders: on MySQL one of them is chosen as
/// the deadlock victim and `db::write` runs it again, so both commit; on SQLite the write
/// lock at `BEGIN` keeps them from ever interleaving. Either way, no caller sees an error and
/// no update is lost or applied twice.
#[tokio::test]
async fn write_transactions_survive_a_real_deadlock() {
    let test_db = TestDb::new().await;
    let db = connect(&test_db).await;
    db.execute_unprepared("CREATE TABLE lock_probe (id INT PRIMARY KEY, v INT NOT NULL)")
        .await
        .unwrap();
    db.execute_unprepared("INSERT INTO lock_probe (id, v) VALUES (1, 0), (2, 0)")
        .await
        .unwrap();
    let meet = Arc::new(tokio::sync::Barrier::new(2));
    let attempts = Arc::new(AtomicU32::new(0));
    let (a, b) = tokio::join!(
        cross_update(&db, 1, 2, meet.clone(), attempts.clone()),
        cross_update(&db, 2, 1, meet.clone(), attempts.clone()),
    );
    a.unwrap();
    b.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT v FROM lock_probe ORDER BY id",
        ))
        .await
        .unwrap();
    let values: Vec<i32> = rows.iter().map(|r| r.try_get("", "v").unwrap()).collect();
    assert_eq!(values, [2, 2], "each side added one to each row, once");
    let expected = if test_db.is_mysql() { 3 } else { 2 };
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        expected,
        "on MySQL the victim ran twice; on SQLite nobody did"
    );
}

/// Every migration, run to its end without being recorded (a process killed just before the
/// migrator writes its row), then run again by the migrator: each must find its own work done
/// and finish. MySQL DDL is not transactional, so this is what a restart after a crash does.
#[tokio::test]
async fn every_migration_runs_again_after_a_crash_before_it_was_recorded() {
    use migration::{Migrator, MigratorTrait, SchemaManager};
    let test_db = TestDb::empty().await;
    let db = connect(&test_db).await;
    let all = Migrator::migrations();
    for (i, step) in all.iter().enumerate() {
        step.up(&SchemaManager::new(&db))
            .await
            .unwrap_or_else(|e| panic!("{} by hand: {e}", step.name()));
        Migrator::up(&db, Some(1))
            .await
            .unwrap_or_else(|e| panic!("{} again after a crash: {e}", step.name()));
        let applied = Migrator::get_applied_migrations(&db).await.unwrap();
        assert_eq!(applied.len(), i + 1, "{} recorded", step.name());
    }
    assert!(api::db::ready(&db).await);
}

/// A migration killed half-way (its table and some of its indexes made, not recorded) does not
/// keep Hector from starting: the start finishes it and serves.
#[tokio::test]
async fn hector_starts_on_a_half_applied_migration() {
    use migration::{Migrator, MigratorTrait, SchemaManager};
    let test_db = TestDb::empty().await;
    let db = connect(&test_db).await;
    let all = Migrator::migrations();
    let host = all
        .iter()
        .position(|m| m.name().ends_with("create_host"))
        .unwrap();
    Migrator::up(&db, Some(host as u32)).await.unwrap();
    // The table and its indexes, as far as the killed process got: all but the last index.
    all[host].up(&SchemaManager::new(&db)).await.unwrap();
    let drop = if test_db.is_mysql() {
        "DROP INDEX idx_host_exclusion_until ON host"
    } else {
        "DROP INDEX idx_host_exclusion_until"
    };
    db.execute_unprepared(drop).await.unwrap();
    assert!(!api::db::ready(&db).await, "the migration is still pending");
    db.close().await.unwrap();

    let server = TestApp::start_on(config_for(&test_db.url)).await;
    let app = TestApp::around(server, test_db).await;
    let address = "192.0.2.1";
    app.create_host(address, &["half.example"], &[]).await;
    assert_eq!(app.host_count().await, 1);
    let db = connect(&app.db).await;
    assert!(
        SchemaManager::new(&db)
            .has_index("host", "idx_host_exclusion_until")
            .await
            .unwrap(),
        "the start finished the migration"
    );
    app.stop().await;
}

/// A migrator killed while holding the migration lock leaves its row behind, extended to its
/// last heartbeat. The next start takes the lock over once that runs out, in seconds.
#[tokio::test]
async fn a_dead_lock_holder_is_taken_over_in_seconds() {
    let test_db = TestDb::new().await;
    let db = connect(&test_db).await;
    let expires = chrono::Utc::now().timestamp() + api::db::LOCK_TTL.as_secs() as i64;
    db.execute_unprepared(&format!(
        "INSERT INTO hector_lock (name, holder, expires_at) VALUES ('migrate', 'killed', {expires})"
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
    let started = std::time::Instant::now();
    let server = TestApp::start_on(config_for(&test_db.url)).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "took the lock over after {took:?}"
    );
    let app = TestApp::around(server, test_db).await;
    assert_eq!(app.host_count().await, 0);
    app.stop().await;
}

/// A replica claimed a period and vanished mid-run (its lease ran out). Of the two replicas
/// still up, exactly one marks that run failed ("interrupted") and runs the period again.
#[tokio::test]
async fn a_claimed_period_whose_replica_vanished_is_run_again_once() {
    use entity::{job_run, job_schedule};
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
    const JOB: &str = "lift-expired-scan-exclusions";
    let test_db = TestDb::new().await;
    let db = connect(&test_db).await;
    let now = api::db::now();
    let period = now - chrono::Duration::minutes(1);
    job_schedule::ActiveModel {
        name: Set(JOB.into()),
        next_due_at: Set(now + chrono::Duration::hours(1)),
        claimed_by: Set(Some("vanished".into())),
        claimed_at: Set(Some(period)),
    }
    .insert(&db)
    .await
    .unwrap();
    job_run::ActiveModel {
        job: Set(JOB.into()),
        scheduled_for: Set(period),
        attempt: Set(1),
        lease_until: Set(Some(now - chrono::Duration::seconds(1))),
        instance: Set("vanished".into()),
        started_at: Set(period),
        finished_at: Set(None),
        status: Set("RUNNING".into()),
        items: Set(0),
        error: Set(None),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();

    let config = |name: &str| {
        let mut c = config_for(&test_db.url);
        c.instance = Some(name.into());
        c
    };
    let (first, second) = tokio::join!(
        TestApp::start_on(config("first")),
        TestApp::start_on(config("second"))
    );
    let runs = || async {
        job_run::Entity::find()
            .filter(job_run::Column::Job.eq(JOB))
            .filter(job_run::Column::ScheduledFor.eq(period))
            .order_by_asc(job_run::Column::Attempt)
            .all(&db)
            .await
            .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while runs().await.iter().all(|r| r.status != "SUCCEEDED") {
        assert!(
            std::time::Instant::now() < deadline,
            "not re-run: {:?}",
            runs().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give the other replica its chance to (wrongly) run it a third time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let found = runs().await;
    assert_eq!(found.len(), 2, "run again exactly once: {found:?}");
    assert_eq!(found[0].status, "FAILED");
    assert!(
        found[0]
            .error
            .as_deref()
            .unwrap_or("")
            .starts_with("interrupted"),
        "{found:?}"
    );
    assert!(found[0].finished_at.is_some());
    assert_eq!(
        (found[1].attempt, found[1].status.as_str()),
        (2, "SUCCEEDED")
    );
    assert!(["first", "second"].contains(&found[1].instance.as_str()));
    first.stop().await.unwrap();
    second.stop().await.unwrap();
}

/// The size of the SQLite database file (not its write-ahead log) behind `url`.
fn main_file_size(url: &str) -> u64 {
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap();
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The size of `url`'s write-ahead log file.
fn wal_file_size(url: &str) -> u64 {
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap();
    std::fs::metadata(format!("{path}-wal"))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// On SQLite, the write-ahead log stays bounded under writers that never pause: two of them
/// commit 192 MiB back to back (as ingest from two senders does), and the log stays under
/// half of that because the server restarts it past 16 MiB (what was written between two of
/// its rounds comes on top). Passive checkpoints alone copy the pages
/// but never let the log start over while some writer is always busy: it grew to 3 GB in a
/// minute of darknet ingest, and each page read searched its index.
#[tokio::test]
async fn sqlite_log_stays_bounded_under_writers_that_never_pause() {
    let app = TestApp::spawn().await;
    if app.db.is_mysql() {
        app.stop().await;
        return;
    }
    let db = connect(&app.db).await;
    db.execute_unprepared(
        "CREATE TABLE wal_probe (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL, b BLOB NOT NULL)",
    )
    .await
    .unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (done, url) = (done.clone(), app.db.url.clone());
        tokio::spawn(async move {
            let mut largest = 0;
            while !done.load(Ordering::SeqCst) {
                largest = largest.max(wal_file_size(&url));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            largest.max(wal_file_size(&url))
        })
    };
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..2 {
        let db = db.clone();
        writers.spawn(async move {
            for _ in 0..96 {
                api::db::write(&db, move |txn| {
                    Box::pin(async move {
                        for _ in 0..8 {
                            txn.execute_unprepared(&format!(
                                "INSERT INTO wal_probe (writer, b) VALUES ({writer}, randomblob(131072))"
                            ))
                            .await?;
                        }
                        Ok(())
                    })
                })
                .await
                .unwrap();
            }
        });
    }
    while let Some(finished) = writers.join_next().await {
        finished.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let largest = watcher.await.unwrap();
    let rows = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM wal_probe",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(rows, 2 * 96 * 8, "every committed row is there");
    assert!(
        largest <= 96 * 1024 * 1024,
        "the write-ahead log reached {largest} bytes while 192 MiB were committed"
    );
    db.close().await.unwrap();
    app.stop().await;
}

/// On SQLite, committed pages reach the database file through the server's own checkpoints,
/// not inside writers' commits: a connection of Hector's checkpoints by itself only past
/// 10,000 log pages, and 8 MiB written by such a connection (2,000 pages) is in the file
/// within seconds because the running server copies it there.
#[tokio::test]
async fn sqlite_commits_reach_the_database_file_through_the_servers_checkpoints() {
    let app = TestApp::spawn().await;
    if app.db.is_mysql() {
        // InnoDB has no write-ahead log of this kind: nothing to check there.
        app.stop().await;
        return;
    }
    let db = connect(&app.db).await;
    let backstop = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA wal_autocheckpoint",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(
        backstop, 10_000,
        "Hector's connections leave checkpoints to the server"
    );
    db.execute_unprepared("CREATE TABLE checkpoint_probe (b BLOB NOT NULL)")
        .await
        .unwrap();
    let before = main_file_size(&app.db.url);
    api::db::write(&db, |txn| {
        Box::pin(async move {
            for _ in 0..64 {
                txn.execute_unprepared(
                    "INSERT INTO checkpoint_probe (b) VALUES (randomblob(131072))",
                )
                .await?;
            }
            Ok(())
        })
    })
    .await
    .unwrap();
    let wanted = before + 8 * 1024 * 1024;
    let mut size = main_file_size(&app.db.url);
    for _ in 0..100 {
        if size >= wanted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        size = main_file_size(&app.db.url);
    }
    assert!(
        size >= wanted,
        "the database file holds {size} bytes 5 s after 8 MiB were committed (from {before})"
    );
    db.close().await.unwrap();
    app.stop().await;
}
