//! Roll-ups answer exactly what the raw events give: random events from two sensors, every
//! dashboard query checked against the test's own count, several random cases.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SubsecRound, Utc};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use api::darknet::fold::{self, Roll};

use super::{geoip_file, post, sensor};
use crate::support::*;

/// One random event, as the test remembers it.
#[derive(Clone)]
struct Sent {
    at: DateTime<Utc>,
    sensor: usize,
    src: String,
    protocol: &'static str,
    port: Option<u16>,
    country: Option<&'static str>,
}

fn country_of(src: &str) -> Option<&'static str> {
    if src.starts_with("203.0.113.") {
        Some("NL")
    } else if src.starts_with("198.51.100.") {
        Some("BR")
    } else if src.starts_with("2001:db8:66:") {
        Some("DE")
    } else {
        None
    }
}

fn hour(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3600)
}

fn label(protocol: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{protocol}/{p}"),
        None => protocol.to_owned(),
    }
}

/// Random events, sent in several batches by two sensors; every dashboard query must answer
/// exactly what the test computes from the events it sent. Several random cases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roll_ups_answer_what_the_raw_events_give() {
    let cases: u64 = std::env::var("HECTOR_PROPERTY_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(3);
    for case in 0..cases {
        let seed = rand::random::<u64>();
        // Every other case has a few events from a sensor whose clock runs ahead, so that the
        // last day's window no longer reaches the newest event.
        let ahead = case % 2 == 1;
        check_roll_ups(seed, ahead)
            .await
            .unwrap_or_else(|e| panic!("case {case}, seed {seed}, ahead {ahead}: {e}"));
    }
}

async fn check_roll_ups(seed: u64, ahead: bool) -> Result<(), String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (_dir, geoip) = geoip_file();
    // The test folds by hand: first part-way, then all of it.
    let app = TestApp::spawn_with(|c| {
        c.geoip_country_db = Some(geoip);
        c.darknet_fold_ms = 0;
    })
    .await;
    let db = api::db::connect(&config_for(&app.db.url)).await.unwrap();
    let sensors = [sensor(&app, "left").await, sensor(&app, "right").await];
    let now = Utc::now().trunc_subsecs(0);
    // Addresses in both halves of the roll-up by source and port (a key's last byte below
    // 0x80 or not).
    let pool: Vec<String> = (0..12)
        .map(|i| match i % 4 {
            0 => format!("203.0.113.{}", 1 + i),
            1 => format!("198.51.100.{}", 129 + i),
            2 => format!("2001:db8:66::{:x}", 0x81 + i),
            _ => format!("100.64.0.{}", 1 + i),
        })
        .collect();
    let n = rng.random_range(50..400);
    let mut sent: Vec<Sent> = Vec::new();
    for i in 0..n {
        // Skewed: the first addresses of the pool are the busiest, as with real scanners.
        let src = pool[rng
            .random_range(0..pool.len())
            .min(rng.random_range(0..pool.len()))]
        .clone();
        let (protocol, port) = match rng.random_range(0..10) {
            0 => (if src.contains(':') { "ICMPv6" } else { "ICMP" }, None),
            1 => ("UDP", Some([53u16, 161, 1900][rng.random_range(0..3)])),
            2 => ("47", None),
            _ => (
                "TCP",
                Some([22u16, 23, 80, 443, 445, 3389][rng.random_range(0..6)]),
            ),
        };
        let at = if ahead && i % 25 == 0 {
            now + chrono::Duration::seconds(rng.random_range(3600..3 * 3600))
        } else {
            now - chrono::Duration::seconds(rng.random_range(0..40 * 3600))
        };
        sent.push(Sent {
            at,
            sensor: rng.random_range(0..2),
            country: country_of(&src),
            src,
            protocol,
            port,
        });
    }
    for (i, chunk) in sent.chunks(n / 3 + 1).enumerate() {
        for (s, (_, token)) in sensors.iter().enumerate() {
            let body: String = chunk
                .iter()
                .filter(|e| e.sensor == s)
                .map(|e| {
                    let dst = if e.src.contains(':') { "2001:db8:1::1" } else { "192.0.2.1" };
                    let mut v = json!({ "time": e.at.to_rfc3339(), "src": e.src, "dst": dst, "protocol": e.protocol });
                    match (e.protocol, e.port) {
                        (_, Some(p)) => {
                            v["srcPort"] = json!(40000 + i);
                            v["dstPort"] = json!(p);
                        }
                        ("ICMP" | "ICMPv6", None) => {
                            v["icmpType"] = json!(8);
                            v["icmpCode"] = json!(0);
                        }
                        _ => {}
                    }
                    format!("{v}\n")
                })
                .collect();
            let (status, report) =
                post(&app, Some(token), body, "application/x-ndjson", None, "").await;
            if status != 200 || report["rejectedCount"] != 0 {
                return Err(format!("ingest: {status} {report}"));
            }
        }
        match i {
            0 => {
                fold::fold_all(&db).await.map_err(|e| format!("{e:?}"))?;
            }
            // Three of the five roll-ups a batch further than the others, among them one
            // half of the roll-up by source and port.
            1 => {
                let upto = fold::settled(&db).await.map_err(|e| format!("{e:?}"))?;
                for roll in [Roll::SourceHour, Roll::SourceSensor, Roll::SourcePortHigh] {
                    api::db::write_reading_committed(&db, |txn| {
                        Box::pin(async move { fold::fold(txn, roll, upto).await })
                    })
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                }
            }
            _ => {}
        }
    }

    // A window of whole hours that cuts through the events.
    let end = hour(now) + 1;
    let start = end - rng.random_range(2..36);
    let case = Case {
        sent: &sent,
        pool: &pool,
        sensors: [sensors[0].0.as_str(), sensors[1].0.as_str()],
        now,
        window: (start, end),
    };
    // Part of the events folded into each per-source roll-up, the rest read from the tail.
    if fold::pending(&db).await.map_err(|e| format!("{e:?}"))? == 0 {
        return Err("the last batches should not be folded yet".into());
    }
    answers_match(&app, &case)
        .await
        .map_err(|e| format!("part folded: {e}"))?;
    // Everything folded: the same answers from the roll-ups alone.
    fold::fold_all(&db).await.map_err(|e| format!("{e:?}"))?;
    if fold::pending(&db).await.map_err(|e| format!("{e:?}"))? != 0 {
        return Err("a tail is left after folding everything".into());
    }
    answers_match(&app, &case)
        .await
        .map_err(|e| format!("all folded: {e}"))?;
    app.stop().await;
    Ok(())
}

/// The events a case sent and the window it asks about.
struct Case<'a> {
    sent: &'a [Sent],
    pool: &'a [String],
    sensors: [&'a str; 2],
    now: DateTime<Utc>,
    /// Whole hours: the first, and the one after the last.
    window: (i64, i64),
}

/// `(address, events)` of a top-sources answer, in its order.
fn rows_of(top: &Value) -> Vec<(String, i64)> {
    top["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["address"].as_str().unwrap().to_owned(),
                s["events"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// `{address: events}` of a top-sources answer.
fn sources_of(top: &Value) -> BTreeMap<String, i64> {
    rows_of(top).into_iter().collect()
}

/// `got` lists `k` of the busiest sources of `want` (fewer when there are fewer), each with
/// its count, busiest first: no source left out has more events than the last one listed.
fn top_k(what: &str, got: &Value, want: &BTreeMap<String, i64>, k: usize) -> Result<(), String> {
    let rows = rows_of(got);
    let fail = |why: String| Err(format!("{what}: {why}; got {rows:?}, want {want:?}"));
    if rows.len() != k.min(want.len()) {
        return fail(format!("{} sources listed", rows.len()));
    }
    for (i, (src, n)) in rows.iter().enumerate() {
        if want.get(src) != Some(n) {
            return fail(format!("{src} counted {n}"));
        }
        if i > 0 && rows[i - 1].1 < *n {
            return fail("not busiest first".into());
        }
    }
    let floor = rows.last().map_or(0, |r| r.1);
    match want
        .iter()
        .find(|(src, n)| **n > floor && !rows.iter().any(|r| &r.0 == *src))
    {
        Some((src, n)) => fail(format!("{src} ({n} events) left out")),
        None => Ok(()),
    }
}

/// Every dashboard query answers what the case's events give.
async fn answers_match(app: &TestApp, case: &Case<'_>) -> Result<(), String> {
    let Case {
        sent,
        pool,
        sensors,
        now,
        window: (start, end),
    } = *case;
    let in_window: Vec<&Sent> = sent
        .iter()
        .filter(|e| (start..end).contains(&hour(e.at)))
        .collect();
    let from = DateTime::from_timestamp(start * 3600, 0)
        .unwrap()
        .to_rfc3339();
    let to = DateTime::from_timestamp(end * 3600, 0)
        .unwrap()
        .to_rfc3339();
    let mut ports: BTreeMap<String, i64> = BTreeMap::new();
    let mut ports_left: BTreeMap<String, i64> = BTreeMap::new();
    let mut countries: BTreeMap<String, i64> = BTreeMap::new();
    let mut sources: BTreeMap<String, i64> = BTreeMap::new();
    let mut hourly: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut daily_countries: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for e in &in_window {
        let l = label(e.protocol, e.port);
        *ports.entry(l.clone()).or_default() += 1;
        if e.sensor == 0 {
            *ports_left.entry(l.clone()).or_default() += 1;
        }
        let c = e.country.unwrap_or("unknown").to_owned();
        *countries.entry(c.clone()).or_default() += 1;
        *sources.entry(e.src.clone()).or_default() += 1;
        *hourly.entry((l, hour(e.at))).or_default() += 1;
    }
    // Days are whole: the DAY series widens the window to midnights.
    let days = start.div_euclid(24)..(end + 23).div_euclid(24);
    for e in sent {
        if days.contains(&hour(e.at).div_euclid(24)) {
            let c = e.country.unwrap_or("unknown").to_owned();
            *daily_countries
                .entry((c, hour(e.at).div_euclid(24)))
                .or_default() += 1;
        }
    }
    let total = in_window.len() as i64;

    let data = app
        .ok(
            "query($from: DateTime, $to: DateTime, $left: ID) {
                all: darknetTopPorts(from: $from, to: $to, limit: 1000) { total ports { protocol protocolNumber port events } }
                left: darknetTopPorts(from: $from, to: $to, sensorId: $left, limit: 1000) { total ports { protocol protocolNumber port events } }
                darknetTopCountries(from: $from, to: $to, limit: 1000) { total countries { country events } }
                darknetTopSources(from: $from, to: $to, limit: 1000) { total sources { address events } }
                hourly: darknetTimeSeries(from: $from, to: $to, bucket: HOUR, groupBy: PORT, limit: 50) { series { label total points { at events } } }
                daily: darknetTimeSeries(from: $from, to: $to, bucket: DAY, groupBy: COUNTRY, limit: 50) { series { label total points { at events } } }
                darknetShares(field: PROTOCOL, from: $from, to: $to, limit: 50) { total other values { value events } }
            }",
            json!({ "from": from, "to": to, "left": sensors[0] }),
        )
        .await;
    let port_map = |top: &Value| -> BTreeMap<String, i64> {
        top["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let proto = match p["protocol"].as_str().unwrap() {
                    "OTHER" => p["protocolNumber"].to_string(),
                    "ICMPV6" => "ICMPv6".to_owned(),
                    named => named.to_owned(),
                };
                let port = p["port"].as_u64().map(|p| p as u16);
                (label(&proto, port), p["events"].as_i64().unwrap())
            })
            .collect()
    };
    let check = |what: &str, got: &Value, want: Value| {
        if *got != want {
            Err(format!("{what}: got {got}, want {want}"))
        } else {
            Ok(())
        }
    };
    check("total", &data["all"]["total"], json!(total))?;
    check("ports", &json!(port_map(&data["all"])), json!(ports))?;
    check(
        "left sensor's ports",
        &json!(port_map(&data["left"])),
        json!(ports_left),
    )?;
    let got_countries: BTreeMap<String, i64> = data["darknetTopCountries"]["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["country"].as_str().unwrap_or("unknown").to_owned(),
                c["events"].as_i64().unwrap(),
            )
        })
        .collect();
    check("countries", &json!(got_countries), json!(countries))?;
    check(
        "sources",
        &json!(sources_of(&data["darknetTopSources"])),
        json!(sources),
    )?;
    let mut got_hourly: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for s in data["hourly"]["series"].as_array().unwrap() {
        let points = s["points"].as_array().unwrap();
        check("hourly points", &json!(points.len()), json!(end - start))?;
        for p in points {
            let at = DateTime::parse_from_rfc3339(p["at"].as_str().unwrap()).unwrap();
            let n = p["events"].as_i64().unwrap();
            if n > 0 {
                got_hourly.insert(
                    (s["label"].as_str().unwrap().to_owned(), hour(at.to_utc())),
                    n,
                );
            }
        }
    }
    check(
        "hourly series",
        &json!(format!("{got_hourly:?}")),
        json!(format!("{hourly:?}")),
    )?;
    let mut got_daily: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for s in data["daily"]["series"].as_array().unwrap() {
        for p in s["points"].as_array().unwrap() {
            let at = DateTime::parse_from_rfc3339(p["at"].as_str().unwrap()).unwrap();
            let n = p["events"].as_i64().unwrap();
            if n > 0 {
                got_daily.insert(
                    (
                        s["label"].as_str().unwrap().to_owned(),
                        hour(at.to_utc()).div_euclid(24),
                    ),
                    n,
                );
            }
        }
    }
    check(
        "daily countries",
        &json!(format!("{got_daily:?}")),
        json!(format!("{daily_countries:?}")),
    )?;
    let shares = &data["darknetShares"];
    check("shares total", &shares["total"], json!(total))?;
    check("shares other", &shares["other"], json!(0))?;

    // The three busiest sources: of the window, of a window that ends before the newest events,
    // and of the last day (the snapshot, which also counts the day's distinct sources).
    let past = (start + end) / 2;
    let top = app
        .ok(
            "query($from: DateTime, $to: DateTime, $past: DateTime) {
                window: darknetTopSources(from: $from, to: $to, limit: 3) { total sources { address events } }
                past: darknetTopSources(from: $from, to: $past, limit: 3) { total sources { address events } }
                darknetSnapshot { from to events distinctSources topSources { address events } }
            }",
            json!({ "from": from, "to": to, "past": DateTime::from_timestamp(past * 3600, 0).unwrap().to_rfc3339() }),
        )
        .await;
    top_k("top 3 of the window", &top["window"], &sources, 3)?;
    let counts = |hours: std::ops::Range<i64>| {
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for e in sent.iter().filter(|e| hours.contains(&hour(e.at))) {
            *counts.entry(e.src.clone()).or_default() += 1;
        }
        counts
    };
    top_k(
        "top 3 before the newest",
        &top["past"],
        &counts(start..past),
        3,
    )?;
    let snapshot = &top["darknetSnapshot"];
    let at = |v: &Value| {
        hour(
            DateTime::parse_from_rfc3339(v.as_str().unwrap())
                .unwrap()
                .to_utc(),
        )
    };
    let day = counts(at(&snapshot["from"])..at(&snapshot["to"]));
    check(
        "snapshot events",
        &snapshot["events"],
        json!(day.values().sum::<i64>()),
    )?;
    check(
        "snapshot distinct sources",
        &snapshot["distinctSources"],
        json!(day.len()),
    )?;
    top_k(
        "snapshot top sources",
        &json!({ "sources": snapshot["topSources"] }),
        &day,
        10,
    )?;

    // A window holding every event: the all-time answer (read off the per-source roll-up).
    let until = (now + chrono::Duration::hours(24)).to_rfc3339();
    let everything = app
        .ok(
            "query($from: DateTime, $to: DateTime) { darknetTopSources(from: $from, to: $to, limit: 1000) { total sources { address events } } bySensor: darknetTimeSeries(from: $from, to: $to, groupBy: SENSOR, bucket: DAY) { series { total } } }",
            json!({ "from": (now - chrono::Duration::hours(48)).to_rfc3339(), "to": until }),
        )
        .await;
    let mut all_sources: BTreeMap<String, i64> = BTreeMap::new();
    for e in sent {
        *all_sources.entry(e.src.clone()).or_default() += 1;
    }
    check(
        "all-time sources",
        &json!(sources_of(&everything["darknetTopSources"])),
        json!(all_sources),
    )?;
    check(
        "all-time total",
        &everything["darknetTopSources"]["total"],
        json!(sent.len()),
    )?;
    let per_sensor: i64 = everything["bySensor"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["total"].as_i64().unwrap())
        .sum();
    check("per-sensor series", &json!(per_sensor), json!(sent.len()))?;

    // Top sources in a network, in the window and of all time (read off different roll-ups).
    for (net, prefix) in [
        ("203.0.113.0/24", "203.0.113."),
        ("2001:db8:66::/48", "2001:db8:66::"),
    ] {
        let got = app
            .ok(
                "query($from: DateTime, $to: DateTime, $ever: DateTime, $until: DateTime, $net: String) {
                    window: darknetTopSources(from: $from, to: $to, within: $net, limit: 1000) { total sources { address events } }
                    ever: darknetTopSources(from: $ever, to: $until, within: $net, limit: 1000) { total sources { address events } }
                }",
                json!({ "from": from, "to": to, "ever": (now - chrono::Duration::hours(48)).to_rfc3339(), "until": until, "net": net }),
            )
            .await;
        for (which, events) in [
            ("window", in_window.clone()),
            ("ever", sent.iter().collect::<Vec<&Sent>>()),
        ] {
            let mut want: BTreeMap<String, i64> = BTreeMap::new();
            for e in events.iter().filter(|e| e.src.starts_with(prefix)) {
                *want.entry(e.src.clone()).or_default() += 1;
            }
            check(
                &format!("{which} sources within {net}"),
                &json!(sources_of(&got[which])),
                json!(want),
            )?;
            check(
                &format!("{which} total within {net}"),
                &got[which]["total"],
                json!(want.values().sum::<i64>()),
            )?;
        }
    }

    // Each source's profile counts all its events, whatever the window.
    for src in pool {
        let mine: Vec<&Sent> = sent.iter().filter(|e| &e.src == src).collect();
        let got = app
            .ok(
                "query($a: String!) { darknetSource(address: $a, ports: 3) { events firstSeen lastSeen distinctPorts distinctSensors country ports { protocolNumber port events } sensors { events } } }",
                json!({ "a": src }),
            )
            .await;
        let p = &got["darknetSource"];
        if mine.is_empty() {
            check("unseen source", p, Value::Null)?;
            continue;
        }
        let distinct_ports: BTreeSet<String> =
            mine.iter().map(|e| label(e.protocol, e.port)).collect();
        let distinct_sensors: BTreeSet<usize> = mine.iter().map(|e| e.sensor).collect();
        let first = mine.iter().map(|e| e.at).min().unwrap();
        let last = mine.iter().map(|e| e.at).max().unwrap();
        check("source events", &p["events"], json!(mine.len()))?;
        check(
            "distinct ports",
            &p["distinctPorts"],
            json!(distinct_ports.len()),
        )?;
        check(
            "distinct sensors",
            &p["distinctSensors"],
            json!(distinct_sensors.len()),
        )?;
        check("country", &p["country"], json!(country_of(src)))?;
        // Its three busiest (protocol, port) pairs, ties by protocol number then port.
        let mut per_port: BTreeMap<(i64, i64), i64> = BTreeMap::new();
        let mut per_sensor: BTreeMap<usize, i64> = BTreeMap::new();
        for e in &mine {
            let number = match e.protocol {
                "TCP" => 6,
                "UDP" => 17,
                "ICMP" => 1,
                "ICMPv6" => 58,
                other => other.parse().unwrap(),
            };
            *per_port
                .entry((number, e.port.map_or(-1, i64::from)))
                .or_default() += 1;
            *per_sensor.entry(e.sensor).or_default() += 1;
        }
        let mut busiest: Vec<(i64, i64, i64)> = per_port
            .into_iter()
            .map(|((protocol, port), n)| (-n, protocol, port))
            .collect();
        busiest.sort_unstable();
        busiest.truncate(3);
        let want_ports: Vec<Value> = busiest
            .into_iter()
            .map(|(n, protocol, port)| json!([protocol, port, -n]))
            .collect();
        let got_ports: Vec<Value> = p["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                json!([
                    x["protocolNumber"],
                    x["port"].as_i64().unwrap_or(-1),
                    x["events"]
                ])
            })
            .collect();
        check("busiest ports", &json!(got_ports), json!(want_ports))?;
        let mut want_sensors: Vec<i64> = per_sensor.into_values().collect();
        want_sensors.sort_unstable_by(|a, b| b.cmp(a));
        let got_sensors: Vec<i64> = p["sensors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["events"].as_i64().unwrap())
            .collect();
        check(
            "per-sensor events",
            &json!(got_sensors),
            json!(want_sensors),
        )?;
        let parse = |v: &Value| {
            DateTime::parse_from_rfc3339(v.as_str().unwrap())
                .unwrap()
                .to_utc()
        };
        check(
            "first seen",
            &json!(parse(&p["firstSeen"]).to_rfc3339()),
            json!(first.to_rfc3339()),
        )?;
        check(
            "last seen",
            &json!(parse(&p["lastSeen"]).to_rfc3339()),
            json!(last.to_rfc3339()),
        )?;
    }
    Ok(())
}
