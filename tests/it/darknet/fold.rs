//! The per-source roll-ups take events in bulk past a fold mark: the folder does it in the
//! background, exactly once; answers count an event before and after its fold; retention
//! spares events not folded yet; a fold that fails leaves everything as it was.

use std::time::Duration;

use api::darknet::{fold, jobs};
use chrono::Utc;
use entity::{darknet_source, darknet_source_hour, darknet_source_port, darknet_source_sensor};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use super::{events, post, sensor};
use crate::support::*;

fn body(at: chrono::DateTime<Utc>, sources: &[&str]) -> String {
    sources
        .iter()
        .map(|src| {
            format!(
                "{}\n",
                json!({ "time": at.to_rfc3339(), "src": src, "dst": "192.0.2.1", "protocol": "TCP", "srcPort": 1, "dstPort": 23 })
            )
        })
        .collect()
}

async fn profile_events(app: &TestApp, address: &str) -> Value {
    app.ok(
        "query($a: String!) { darknetSource(address: $a) { events } }",
        json!({ "a": address }),
    )
    .await["darknetSource"]["events"]
        .clone()
}

/// Sends one event from each of `sources`, timed now, and expects them accepted.
async fn send_now(app: &TestApp, token: &str, sources: &[&str]) {
    let nd = "application/x-ndjson";
    let (status, _) = post(app, Some(token), body(Utc::now(), sources), nd, None, "").await;
    assert_eq!(status, 200);
}

fn stored_key(address: &str) -> Vec<u8> {
    api::net::ip_key(address.parse().unwrap())
}

/// Whether every roll-up `slow` or not (see `Roll::is_slow`) holds every event.
async fn caught_up(db: &sea_orm::DatabaseConnection, slow: bool) -> bool {
    let newest = fold::settled(db).await.unwrap();
    for roll in fold::Roll::ALL.into_iter().filter(|r| r.is_slow() == slow) {
        if fold::mark(db, roll).await.unwrap() < newest.event {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_folder_folds_as_soon_as_its_threshold_of_events_waits() {
    // Four events against a threshold of four: the roll-ups fold them on the folder's next
    // look, not after the wait a smaller tail gets (which the default threshold would have
    // meant); on MySQL the slow ones (by source and port) wait for as many times the factor,
    // or for no event to come for as long as that wait.
    let app = TestApp::spawn_with(|c| {
        c.darknet_fold_ms = 50;
        c.darknet_fold_at = 4;
    })
    .await;
    let db = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let (_, token) = sensor(&app, "eager").await;
    let started = std::time::Instant::now();
    let sources = [
        "203.0.113.8",
        "203.0.113.8",
        "198.51.100.3",
        "198.51.100.200",
    ];
    send_now(&app, &token, &sources).await;
    while !caught_up(&db, false).await {
        assert!(
            started.elapsed() < fold::FOLD_WAIT,
            "four waiting events were not folded before {:?}",
            fold::FOLD_WAIT
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if !app.db.is_mysql() {
        // SQLite holds nothing back: its folds group off the one writer, while batches write.
        assert!(caught_up(&db, true).await, "the roll-up by source and port");
        app.stop().await;
        return;
    }
    assert!(
        !caught_up(&db, true).await,
        "the roll-up by source and port folded four events while they were new"
    );
    let stored = darknet_source::Entity::find_by_id(stored_key("203.0.113.8"))
        .one(&db)
        .await
        .unwrap()
        .expect("the source is in the roll-up");
    assert_eq!(stored.events, 2);
    assert_eq!(profile_events(&app, "203.0.113.8").await, 2);

    // No event since: the slow ones fold their four once the wait has passed.
    let deadline = std::time::Instant::now() + fold::FOLD_WAIT + Duration::from_secs(10);
    while fold::pending(&db).await.unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the roll-up by source and port never folded a quiet tail"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        started.elapsed() >= fold::FOLD_WAIT,
        "folded before ingest was quiet"
    );
    assert_eq!(
        darknet_source_port::Entity::find()
            .count(&db)
            .await
            .unwrap(),
        3,
        "a row per source and port, of both halves"
    );

    // As many events as the slow ones wait for: all of them folded on the next look.
    let started = std::time::Instant::now();
    let many = usize::try_from(4 * fold::SLOW_FACTOR).unwrap();
    send_now(&app, &token, &vec!["198.51.100.201"; many]).await;
    while fold::pending(&db).await.unwrap() > 0 {
        assert!(
            started.elapsed() < fold::FOLD_WAIT,
            "{many} waiting events were not folded before {:?}",
            fold::FOLD_WAIT
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_folder_folds_in_the_background_and_answers_count_each_event_once() {
    let app = TestApp::spawn_with(|c| c.darknet_fold_ms = 100).await;
    let db = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let (_, token) = sensor(&app, "folded").await;
    let sources = ["203.0.113.7", "203.0.113.7", "203.0.113.7", "198.51.100.2"];
    send_now(&app, &token, &sources).await;
    // Counted at once, from the tail.
    assert_eq!(profile_events(&app, "203.0.113.7").await, 3);

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while fold::pending(&db).await.unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing folded in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // In the roll-up itself now, and answered once, not twice.
    let stored = darknet_source::Entity::find_by_id(stored_key("203.0.113.7"))
        .one(&db)
        .await
        .unwrap()
        .expect("the source is in the roll-up");
    assert_eq!(stored.events, 3);
    assert_eq!(
        fold::fold_all(&db).await.unwrap(),
        0,
        "nothing left to fold"
    );
    assert_eq!(profile_events(&app, "203.0.113.7").await, 3);

    // A second batch: answered at once as roll-up plus tail.
    let (status, _) = post(
        &app,
        Some(&token),
        body(Utc::now(), &sources[..2]),
        "application/x-ndjson",
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(profile_events(&app, "203.0.113.7").await, 5);
    let all = app
        .ok(
            "{ darknetTopSources(limit: 5) { total sources { address events } } darknetSnapshot { distinctSources } }",
            json!({}),
        )
        .await;
    assert_eq!(all["darknetTopSources"]["total"], 6, "{all}");
    assert_eq!(
        all["darknetTopSources"]["sources"],
        json!([{ "address": "203.0.113.7", "events": 5 }, { "address": "198.51.100.2", "events": 1 }])
    );
    assert_eq!(all["darknetSnapshot"]["distinctSources"], 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_spares_events_until_they_are_folded() {
    let app = TestApp::spawn_with(|c| {
        c.darknet_fold_ms = 0;
        c.darknet_retention_days = 0;
    })
    .await;
    let db = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let (_, token) = sensor(&app, "kept").await;
    let now = Utc::now();
    let mut lines = body(now - chrono::Duration::days(40), &["203.0.113.9"; 3]);
    lines.push_str(&body(now, &["198.51.100.4"; 2]));
    let (status, report) = post(&app, Some(&token), lines, "application/x-ndjson", None, "").await;
    assert_eq!((status, report["accepted"].clone()), (200, json!(5)));

    let cutoff = now - chrono::Duration::days(30);
    assert_eq!(
        jobs::retain(&db, cutoff).await.unwrap(),
        0,
        "the old events are not folded yet: the roll-ups would lose them"
    );
    assert_eq!(events(&app, json!({})).await.len(), 5);
    assert_eq!(fold::fold_all(&db).await.unwrap(), 5);
    assert_eq!(jobs::retain(&db, cutoff).await.unwrap(), 3);
    let left = events(&app, json!({}))
        .await
        .into_iter()
        .map(|e| e["source"].clone())
        .collect::<Vec<_>>();
    assert_eq!(left, vec![json!("198.51.100.4"); 2]);
    // The roll-up still knows the old source.
    assert_eq!(profile_events(&app, "203.0.113.9").await, 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fold_that_fails_changes_nothing() {
    let app = TestApp::spawn_with(|c| c.darknet_fold_ms = 0).await;
    let db = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let (_, token) = sensor(&app, "broken").await;
    let (status, _) = post(
        &app,
        Some(&token),
        body(Utc::now(), &["203.0.113.20"; 4]),
        "application/x-ndjson",
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    // The fold's last statement (moving its mark) fails, after its roll-up was written.
    let trigger = if app.db.is_mysql() {
        "CREATE TRIGGER stuck BEFORE UPDATE ON darknet_fold FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'broken on purpose'"
    } else {
        "CREATE TRIGGER stuck BEFORE UPDATE ON darknet_fold BEGIN SELECT RAISE(ABORT, 'broken on purpose'); END"
    };
    db.execute_unprepared(trigger).await.unwrap();
    let failed = fold::fold_all(&db).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(fold::pending(&db).await.unwrap(), 4, "no mark moved");
    assert_eq!(
        darknet_source_hour::Entity::find()
            .count(&db)
            .await
            .unwrap(),
        0,
        "the roll-up written before the failure was rolled back"
    );
    assert_eq!(profile_events(&app, "203.0.113.20").await, 4);

    db.execute_unprepared("DROP TRIGGER stuck").await.unwrap();
    assert_eq!(fold::fold_all(&db).await.unwrap(), 4);
    assert_eq!(fold::pending(&db).await.unwrap(), 0);
    assert_eq!(
        darknet_source_hour::Entity::find()
            .count(&db)
            .await
            .unwrap(),
        1
    );
    assert_eq!(profile_events(&app, "203.0.113.20").await, 4);
    app.stop().await;
}

/// The stored count of one source in the per-source roll-up (what folds wrote, no tail).
async fn folded_events(db: &sea_orm::DatabaseConnection, address: &str) -> Option<i64> {
    darknet_source::Entity::find_by_id(stored_key(address))
        .one(db)
        .await
        .unwrap()
        .map(|s| s.events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_folders_of_one_roll_up_take_turns_and_batches_go_on_meanwhile() {
    use std::sync::Arc;
    use tokio::sync::Notify;

    let app = TestApp::spawn_with(|c| c.darknet_fold_ms = 0).await;
    let db = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    // A second replica's folder: a pool of its own.
    let other = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let (_, token) = sensor(&app, "turns").await;
    let nd = "application/x-ndjson";
    let (status, _) = post(
        &app,
        Some(&token),
        body(Utc::now(), &["203.0.113.30"; 4]),
        nd,
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let upto = fold::settled(&db).await.unwrap();
    assert_eq!(fold::pending(&db).await.unwrap(), 4);

    // The first folder has folded the per-source roll-up and not committed yet.
    let (inside, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let first = tokio::spawn({
        let (db, inside, release) = (db.clone(), inside.clone(), release.clone());
        async move {
            api::db::write_reading_committed(&db, |txn| {
                let (inside, release) = (inside.clone(), release.clone());
                Box::pin(async move {
                    let n = fold::fold(txn, fold::Roll::Source, upto).await?;
                    inside.notify_one();
                    release.notified().await;
                    Ok(n)
                })
            })
            .await
        }
    });
    inside.notified().await;

    if app.db.is_mysql() {
        // A batch is not held up by the fold: it locks only its mark's row, and reads the
        // events without locking them (or the gap past the newest, where batches insert).
        let batch = post(
            &app,
            Some(&token),
            body(Utc::now(), &["198.51.100.30"; 2]),
            nd,
            None,
            "",
        );
        let answered = tokio::time::timeout(Duration::from_secs(10), batch)
            .await
            .expect("a batch waited for a fold in progress");
        assert_eq!(answered.0, 200);
    }

    // The second folder folds what it can and waits for the first's mark.
    let second = tokio::spawn({
        let other = other.clone();
        async move { fold::fold_each(&other).await }
    });
    if app.db.is_mysql() {
        // It folds the roll-ups the first does not hold; the two by source fold together, so
        // both wait for the first's mark.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while fold::mark(&db, fold::Roll::SourceHour).await.unwrap() == 0
            || fold::mark(&db, fold::Roll::SourcePortLow).await.unwrap() == 0
            || fold::mark(&db, fold::Roll::SourcePortHigh).await.unwrap() == 0
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the second folder did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "the second folder did not wait for the first"
    );
    if app.db.is_mysql() {
        assert_eq!(
            fold::mark(&db, fold::Roll::SourceSensor).await.unwrap(),
            0,
            "folded apart from the per-source totals"
        );
    }
    assert_eq!(
        folded_events(&db, "203.0.113.30").await,
        None,
        "not committed yet"
    );
    release.notify_one();
    assert_eq!(first.await.unwrap().unwrap(), 4);
    second.await.unwrap().unwrap();

    // Each event folded once: the second started from the first's mark.
    assert_eq!(folded_events(&db, "203.0.113.30").await, Some(4));
    fold::fold_all(&db).await.unwrap();
    assert_eq!(fold::pending(&db).await.unwrap(), 0);
    assert_eq!(folded_events(&db, "203.0.113.30").await, Some(4));
    assert_eq!(profile_events(&app, "203.0.113.30").await, 4);
    if app.db.is_mysql() {
        assert_eq!(folded_events(&db, "198.51.100.30").await, Some(2));
    }
    app.stop().await;
}

/// Batches write their events side by side: a batch still writing does not hold the next one
/// up (on MySQL; SQLite has one writer), a fold's settled id waits for it instead of passing
/// ids it may yet commit, and the counters both add to lose neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_write_side_by_side_and_a_fold_waits_for_the_ones_still_writing() {
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};

    let app = TestApp::spawn_with(|c| c.darknet_fold_ms = 0).await;
    let db = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let (_, token) = sensor(&app, "side-by-side").await;
    let nd = "application/x-ndjson";
    let slow = format!(
        "{}\n",
        json!({ "time": Utc::now().to_rfc3339(), "src": "203.0.113.40", "dst": "192.0.2.1", "protocol": "TCP", "srcPort": 1, "dstPort": 4444 })
    ) + &body(Utc::now(), &["203.0.113.40"; 2]);
    if app.db.is_mysql() {
        // The first batch's event to port 4444 takes 6 s to write (room for the rest of the
        // test on a loaded machine).
        db.execute_unprepared(
            "CREATE TRIGGER slow_event BEFORE INSERT ON darknet_event FOR EACH ROW \
             BEGIN IF NEW.dst_port = 4444 THEN DO SLEEP(6); END IF; END",
        )
        .await
        .unwrap();
    }
    let first = tokio::spawn({
        let (client, base, token) = (app.client.clone(), app.base.clone(), token.clone());
        async move {
            let res = client
                .post(format!("{base}/ingest/darknet"))
                .header("content-type", "application/x-ndjson")
                .bearer_auth(&token)
                .body(slow)
                .send()
                .await
                .unwrap();
            res.status().as_u16()
        }
    });
    if app.db.is_mysql() {
        // The first is writing its events.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!first.is_finished());
    }
    let (status, _) = post(
        &app,
        Some(&token),
        body(Utc::now(), &["198.51.100.40"; 5]),
        nd,
        None,
        "",
    )
    .await;
    assert_eq!(status, 200);
    if app.db.is_mysql() {
        assert!(
            !first.is_finished(),
            "the second batch waited for the first to finish writing"
        );
        let settled = tokio::spawn({
            let db = db.clone();
            async move { fold::settled(&db).await.unwrap() }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!first.is_finished());
        assert!(
            !settled.is_finished(),
            "a fold read the newest id while a batch was still writing below it"
        );
        assert_eq!(first.await.unwrap(), 200);
        // Read once the first committed: it covers both batches' events.
        let upto = settled.await.unwrap();
        let newest: Option<i64> = entity::darknet_event::Entity::find()
            .select_only()
            .column_as(entity::darknet_event::Column::Id.max(), "n")
            .into_tuple()
            .one(&db)
            .await
            .unwrap();
        assert_eq!(Some(upto.event), newest);
        db.execute_unprepared("DROP TRIGGER slow_event")
            .await
            .unwrap();
    } else {
        assert_eq!(first.await.unwrap(), 200);
    }
    fold::fold_all(&db).await.unwrap();
    assert_eq!(fold::pending(&db).await.unwrap(), 0);
    assert_eq!(folded_events(&db, "203.0.113.40").await, Some(3));
    assert_eq!(folded_events(&db, "198.51.100.40").await, Some(5));
    let stored = entity::sensor::Entity::find()
        .filter(entity::sensor::Column::Name.eq("side-by-side"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.events, 8, "a batch's count was lost");
    app.stop().await;
}

/// Every row's `events` of one roll-up, summed.
async fn rolled<E: EntityTrait>(db: &sea_orm::DatabaseConnection) -> i64 {
    E::find()
        .into_json()
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|row| row["events"].as_i64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folds_of_two_replicas_at_once_count_each_event_once() {
    use std::sync::Arc;
    use tokio::sync::Notify;

    let app = TestApp::spawn_with(|c| c.darknet_fold_ms = 0).await;
    let db = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let other = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let (_, token) = sensor(&app, "twice").await;
    let mut lines = body(Utc::now(), &["203.0.113.40"; 5]);
    lines.push_str(&body(Utc::now(), &["198.51.100.40"; 3]));
    let (status, _) = post(&app, Some(&token), lines, "application/x-ndjson", None, "").await;
    assert_eq!(status, 200);

    // The writers are held back while both folders start: on SQLite each groups the same
    // events (outside any write transaction) and then waits for its turn to add them.
    let (held, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let holder = tokio::spawn({
        let (db, held, release) = (db.clone(), held.clone(), release.clone());
        async move {
            api::db::write(&db, |_| {
                let (held, release) = (held.clone(), release.clone());
                Box::pin(async move {
                    held.notify_one();
                    release.notified().await;
                    Ok(())
                })
            })
            .await
        }
    });
    held.notified().await;
    let folders = [db.clone(), other.clone()]
        .map(|db| tokio::spawn(async move { fold::fold_all(&db).await }));
    tokio::time::sleep(Duration::from_secs(2)).await;
    release.notify_one();
    holder.await.unwrap().unwrap();
    for folder in folders {
        folder.await.unwrap().unwrap();
    }

    // The second to add a roll-up's rows found its mark moved, and added nothing.
    assert_eq!(fold::pending(&db).await.unwrap(), 0);
    assert_eq!(folded_events(&db, "203.0.113.40").await, Some(5));
    assert_eq!(folded_events(&db, "198.51.100.40").await, Some(3));
    assert_eq!(rolled::<darknet_source_hour::Entity>(&db).await, 8);
    assert_eq!(rolled::<darknet_source_port::Entity>(&db).await, 8);
    assert_eq!(rolled::<darknet_source_sensor::Entity>(&db).await, 8);
    assert_eq!(profile_events(&app, "203.0.113.40").await, 5);
    app.stop().await;
}

#[tokio::test]
async fn a_folds_own_connection_holds_its_caches_small() {
    use sea_orm::{DbBackend, Statement};

    let app = TestApp::spawn().await;
    let db = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let own = api::db::own_sqlite_connection(&db, 512).await.unwrap();
    if db.get_database_backend() != DbBackend::Sqlite {
        assert!(own.is_none(), "MySQL folds on its pool");
        app.stop().await;
        return;
    }
    let own = own.expect("a SQLite file gives a connection of its own");
    for pragma in ["PRAGMA cache_size", "PRAGMA temp.cache_size"] {
        let row = own
            .query_one_raw(Statement::from_string(DbBackend::Sqlite, pragma))
            .await
            .unwrap()
            .unwrap();
        let kib: i64 = row.try_get_by_index(0).unwrap();
        assert_eq!(kib, -512, "{pragma}");
    }
    // The pool's connections keep SQLite's default.
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA cache_size",
        ))
        .await
        .unwrap()
        .unwrap();
    let kib: i64 = row.try_get_by_index(0).unwrap();
    assert_eq!(kib, -2000, "the pool's cache");
    own.close().await.unwrap();
    app.stop().await;
}

/// The two roll-ups by source (per source and sensor, per source) fold together: on MySQL
/// from one grouping of their events, in one transaction that moves both marks. Marks apart
/// (one of them folded alone) are brought together, and on MySQL a grouping that a failed fold
/// left on its connection is replaced, not counted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roll_ups_by_source_fold_together_and_count_each_event_once() {
    use api::darknet::fold::Roll;
    use sea_orm::{ColumnTrait, QueryFilter, TransactionTrait};

    let app = TestApp::spawn_with(|c| c.darknet_fold_ms = 0).await;
    let db = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let (_, north) = sensor(&app, "north").await;
    let (_, south) = sensor(&app, "south").await;
    let (x, y) = ("203.0.113.50", "198.51.100.50");
    let start = Utc::now() - chrono::Duration::hours(3);
    let t = |minutes: i64| start + chrono::Duration::minutes(minutes);
    let send = |token: String, lines: String| {
        let app = &app;
        async move {
            let (status, report) =
                post(app, Some(&token), lines, "application/x-ndjson", None, "").await;
            assert_eq!((status, report["rejectedCount"].clone()), (200, json!(0)));
        }
    };
    let mut first = body(t(0), &[x, x, x]);
    first.push_str(&body(t(1), &[y]));
    send(north.clone(), first).await;
    send(south.clone(), body(t(30), &[x, x])).await;

    // One of the two folded alone: their marks apart.
    let upto = fold::settled(&db).await.unwrap();
    let alone = api::db::write_reading_committed(&db, |txn| {
        Box::pin(async move { fold::fold(txn, Roll::SourceSensor, upto).await })
    })
    .await
    .unwrap();
    assert!(alone > 0);
    assert_ne!(
        fold::mark(&db, Roll::SourceSensor).await.unwrap(),
        fold::mark(&db, Roll::Source).await.unwrap()
    );
    fold::fold_all(&db).await.unwrap();
    assert_eq!(fold::pending(&db).await.unwrap(), 0);
    assert_eq!(folded_events(&db, x).await, Some(5));

    send(south, body(t(90), &[x])).await;
    let newest = fold::settled(&db).await.unwrap();
    if app.db.is_mysql() {
        // A grouping left on the connection by a fold that failed after staging it.
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared(
            "CREATE TEMPORARY TABLE darknet_fold_by_sensor AS SELECT src AS g_src, sensor_id AS g_sensor_id, 1000 AS g_events, seen_at AS g_first_seen, seen_at AS g_last_seen, country AS g_country, asn AS g_asn FROM darknet_event",
        )
        .await
        .unwrap();
        assert_eq!(fold::fold_by_source(&txn, newest).await.unwrap(), 1);
        txn.commit().await.unwrap();
    } else {
        // SQLite stages each roll-up its own way.
        fold::fold_all(&db).await.unwrap();
    }
    for roll in [Roll::SourceSensor, Roll::Source] {
        assert_eq!(
            fold::mark(&db, roll).await.unwrap(),
            newest.event,
            "{roll:?}"
        );
    }

    let stored = darknet_source::Entity::find_by_id(stored_key(x))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.events, 6);
    let (first_seen, last_seen) = (stored.first_seen, stored.last_seen);
    assert_eq!(
        (first_seen.timestamp(), last_seen.timestamp()),
        (t(0).timestamp(), t(90).timestamp())
    );
    assert_eq!(folded_events(&db, y).await, Some(1));
    let mut per_sensor: Vec<i64> = darknet_source_sensor::Entity::find()
        .filter(darknet_source_sensor::Column::Src.eq(stored_key(x)))
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|row| row.events)
        .collect();
    per_sensor.sort_unstable();
    assert_eq!(per_sensor, vec![3, 3], "north 3, south 2 and 1");
    assert_eq!(rolled::<darknet_source_sensor::Entity>(&db).await, 7);
    assert_eq!(profile_events(&app, x).await, 6);
    app.stop().await;
}

/// A profile's events, its ports' events and its sensors' events, summed each.
async fn profile_sums(app: &TestApp, address: &str) -> (i64, i64, i64) {
    let p = app
        .ok(
            "query($a: String!) { darknetSource(address: $a) { events ports { events } sensors { events } } }",
            json!({ "a": address }),
        )
        .await["darknetSource"]
        .clone();
    let sum = |list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .map(|x| x["events"].as_i64().unwrap())
            .sum::<i64>()
    };
    (
        p["events"].as_i64().unwrap(),
        sum(&p["ports"]),
        sum(&p["sensors"]),
    )
}

/// Sends NDJSON `lines` and expects every one accepted.
async fn send_all(app: &TestApp, token: &str, lines: String) {
    let (status, report) = post(app, Some(token), lines, "application/x-ndjson", None, "").await;
    assert_eq!((status, report["rejectedCount"].clone()), (200, json!(0)));
}

/// What every roll-up's mark says of the hours of the events past it.
async fn unfolded_hours(db: &sea_orm::DatabaseConnection) -> Vec<Option<Vec<i64>>> {
    let mut all = Vec::new();
    for roll in fold::Roll::ALL {
        all.push(fold::unfolded(db, roll).await.unwrap().hours);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sources_unfolded_events_are_read_by_the_hours_of_their_batches() {
    let app = TestApp::spawn_with(|c| {
        c.darknet_fold_ms = 0;
        c.darknet_retention_days = 0;
    })
    .await;
    let db = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let (_, token) = sensor(&app, "by-hours").await;
    let (x, y) = ("203.0.113.50", "198.51.100.50");
    let now = Utc::now();
    let hours = |a: chrono::Duration, b: chrono::Duration| -> Option<Vec<i64>> {
        Some((api::darknet::hour_of(now - a)..=api::darknet::hour_of(now - b)).collect())
    };
    let h = chrono::Duration::hours;
    let send = |lines: String| send_all(&app, &token, lines);
    let batches = || async {
        entity::darknet_batch::Entity::find()
            .count(&db)
            .await
            .unwrap()
    };

    send(body(now - h(30), &[x, x])).await;
    fold::fold_all(&db).await.unwrap();
    // Everything folded: no event past any mark, so no hour to read.
    assert_eq!(unfolded_hours(&db).await, vec![Some(vec![]); 5]);
    assert_eq!(profile_sums(&app, x).await, (2, 2, 2));

    // A batch over three hours, not folded: its hours, and the profile adds its events.
    let mut lines = body(now - h(3), &[x]);
    lines.push_str(&body(now - h(1), &[x, y]));
    send(lines).await;
    assert_eq!(unfolded_hours(&db).await, vec![hours(h(3), h(1)); 5]);
    assert_eq!(profile_sums(&app, x).await, (4, 4, 4));
    assert_eq!(profile_sums(&app, y).await, (1, 1, 1));

    // Retention takes the folded batch's row, and keeps the one whose events wait.
    assert_eq!(batches().await, 2);
    jobs::retain(&db, now + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(batches().await, 1);
    assert_eq!(unfolded_hours(&db).await, vec![hours(h(3), h(1)); 5]);
    assert_eq!(profile_sums(&app, x).await, (4, 4, 4));

    // Old logs over more than a week: every event past the mark is read instead.
    let mut lines = body(now - chrono::Duration::days(10), &[x]);
    lines.push_str(&body(now, &[x]));
    send(lines).await;
    assert_eq!(unfolded_hours(&db).await, vec![None; 5]);
    assert_eq!(profile_sums(&app, x).await, (6, 6, 6));
    fold::fold_all(&db).await.unwrap();
    assert_eq!(unfolded_hours(&db).await, vec![Some(vec![]); 5]);
    assert_eq!(profile_sums(&app, x).await, (6, 6, 6));

    // A batch recorded before its hours were (migration 046): not known, so read as before.
    send(body(now, &[x])).await;
    db.execute_unprepared(
        "UPDATE darknet_batch SET first_hour = NULL, last_hour = NULL \
         WHERE id = (SELECT m FROM (SELECT MAX(id) AS m FROM darknet_batch) AS newest)",
    )
    .await
    .unwrap();
    assert_eq!(unfolded_hours(&db).await, vec![None; 5]);
    assert_eq!(profile_sums(&app, x).await, (7, 7, 7));
    app.stop().await;
}

/// Rows of two queries, each row a key of two columns (`a`, `b`, as text) and a count (`n`):
/// a roll-up, and the events grouped as it groups them.
async fn rolled_and_raw(
    db: &sea_orm::DatabaseConnection,
    rolled: &str,
    raw: &str,
) -> [Vec<(String, String, i64)>; 2] {
    let read = |sql: String| async move {
        db.query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "a").unwrap(),
                r.try_get::<String>("", "b").unwrap(),
                r.try_get::<i64>("", "n").unwrap(),
            )
        })
        .collect::<Vec<_>>()
    };
    [read(rolled.to_owned()).await, read(raw.to_owned()).await]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fold_reads_its_events_off_the_index_by_their_hours_when_few_others_share_them() {
    let app = TestApp::spawn_with(|c| {
        c.darknet_fold_ms = 0;
        c.darknet_retention_days = 0;
    })
    .await;
    let db = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let (_, token) = sensor(&app, "by-hours-fold").await;
    let (x, y) = ("203.0.113.60", "198.51.100.60");
    let now = Utc::now();
    let h = chrono::Duration::hours;
    let hour = |ago: chrono::Duration| api::darknet::hour_of(now - ago);
    let send = |lines: String| send_all(&app, &token, lines);
    // Only the roll-ups by hour and source and by source and port read by hours.
    let plan = || async {
        let mut plans = Vec::new();
        for roll in fold::Roll::ALL {
            plans.push(fold::hours_read(&db, roll).await.unwrap());
        }
        plans
    };
    let expect = |span: Option<(i64, i64)>| {
        let mut plans = vec![None; 5];
        plans[..3].fill(span);
        plans
    };
    // Each fold leaves the roll-ups by hour and source and by source and port as the events
    // grouped give them; answers how many events they hold.
    let folded = || async {
        fold::fold_all(&db).await.unwrap();
        let [rolled, raw] = rolled_and_raw(
            &db,
            "SELECT CAST(hour AS CHAR) AS a, HEX(src) AS b, events AS n \
             FROM darknet_source_hour ORDER BY a, b",
            "SELECT CAST(hour AS CHAR) AS a, HEX(src) AS b, COUNT(*) AS n \
             FROM darknet_event GROUP BY a, b ORDER BY a, b",
        )
        .await;
        assert_eq!(rolled, raw);
        let [by_port, raw_by_port] = rolled_and_raw(
            &db,
            "SELECT HEX(src) AS a, CAST(port AS CHAR) AS b, events AS n \
             FROM darknet_source_port ORDER BY a, b",
            "SELECT HEX(src) AS a, CAST(COALESCE(dst_port, -1) AS CHAR) AS b, COUNT(*) AS n \
             FROM darknet_event GROUP BY a, b ORDER BY a, b",
        )
        .await;
        assert_eq!(by_port, raw_by_port);
        let total = rolled.iter().map(|r| r.2).sum::<i64>();
        assert_eq!(total, by_port.iter().map(|r| r.2).sum::<i64>());
        total
    };

    // A batch in an hour of its own: read by that hour.
    send(body(now - h(30), &[x, y, x])).await;
    assert_eq!(plan().await, expect(Some((hour(h(30)), hour(h(30))))));
    assert_eq!(folded().await, 3);
    assert_eq!(plan().await, vec![None; 5], "nothing left to fold");

    // Two more events in that hour, which holds 5: more than twice the fold's 2, so by the ids.
    send(body(now - h(30), &[x, y])).await;
    assert_eq!(plan().await, vec![None; 5]);
    assert_eq!(folded().await, 5);

    // One event two hours ago, folded; then a batch over three hours around it: the fold reads
    // that hour's folded event too, and must leave it out by its id.
    send(body(now - h(2), &[y])).await;
    assert_eq!(plan().await, expect(Some((hour(h(2)), hour(h(2))))));
    assert_eq!(folded().await, 6);
    let mut lines = body(now - h(3), &[x]);
    lines.push_str(&body(now - h(1), &[x, y]));
    send(lines).await;
    assert_eq!(plan().await, expect(Some((hour(h(3)), hour(h(1))))));
    assert_eq!(folded().await, 9);
    let rolled = entity::darknet_source_hour::Entity::find()
        .count(&db)
        .await
        .unwrap();
    assert_eq!(
        rolled, 6,
        "(30h, x), (30h, y), (3h, x), (2h, y), (1h, x), (1h, y)"
    );

    // Old logs over more than a week: by the ids.
    let mut lines = body(now - chrono::Duration::days(10), &[x]);
    lines.push_str(&body(now, &[y]));
    send(lines).await;
    assert_eq!(plan().await, vec![None; 5]);
    assert_eq!(folded().await, 11);
    app.stop().await;
}
