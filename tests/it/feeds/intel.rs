//! Threat intelligence from feeds: matches against our findings, inventory and darknet
//! sensors with their events and host scoping, articles added by hand, and a poll into a
//! broken database.

use serde_json::{Value, json};

use super::*;

const MATCH: &str =
    "id kind cve address matchedAt host { address } indicator { kind value } article { title }";

const GVM: &str = include_str!("../../data/vuln/gvm-22.xml");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn articles_about_our_cves_and_addresses_become_matches_with_events_scoped_by_host() {
    let feeds = FeedServer::start().await;
    // The scheduler runs `intel-match` every second; feeds are polled by `refreshFeed` only
    // (they are created disabled, so `feed-poll` leaves them alone).
    let app = TestApp::spawn_with(|c| {
        c.feed_allow_nets = vec!["127.0.0.0/8".parse().unwrap()];
        c.intel_match_secs = 1;
    })
    .await;
    // Our data: an open finding (CVE-2014-0160 on 192.0.2.10), and a scanner our sensor saw.
    let res = app
        .client
        .post(format!("{}/ingest/findings?kind=OPENVAS", app.base))
        .bearer_auth(&app.token)
        .body(GVM)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{}", res.text().await.unwrap());
    let sensor = app
        .ok(
            "mutation { createSensor(input: {name: \"edge\", networks: [\"192.0.2.0/24\"]}) { token } }",
            json!({}),
        )
        .await["createSensor"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let iso = chrono::Utc::now().to_rfc3339();
    let post_event = |src: &'static str| {
        let body = format!(
            "{}\n",
            json!({ "time": iso, "src": src, "dst": "192.0.2.3", "protocol": "TCP", "srcPort": 5, "dstPort": 22 })
        );
        app.client
            .post(format!("{}/ingest/darknet", app.base))
            .bearer_auth(&sensor)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
    };
    assert_eq!(
        post_event("203.0.113.66").await.unwrap().status().as_u16(),
        200
    );

    let (viewer, _) = user(&app, "vic", "VIEWER", &[]).await;
    let sub = "subscription { intelMatchEvents { cursor intelMatch { kind cve address host { address } } } }";
    let mut admin_ws = subscribe(app.server.addr, &app.token, sub, json!({})).await;
    let mut viewer_ws = subscribe(app.server.addr, &viewer, sub, json!({})).await;
    let mut article_ws = subscribe(
        app.server.addr,
        &app.token,
        "subscription { articleEvents { article { title indicators { kind value } } } }",
        json!({}),
    )
    .await;

    *feeds.custom.lock().unwrap() = rss(&[item(
        "m-1",
        "Heartbleed still everywhere",
        "https://news.example/hb",
        "CVE-2014-0160 scanning from 203.0.113[.]66; victims include 192.0.2.10; also 198.51.100.7",
    )]);
    let data = app
        .ok(
            &format!("mutation($i: CreateFeedInput!) {{ createFeed(input: $i) {{ feed {{ {FEED} }} }} }}"),
            json!({ "i": { "fields": { "name": "Intel", "url": feeds.url("/custom"), "enabled": false } } }),
        )
        .await;
    let feed_id = data["createFeed"]["feed"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = refresh(&app, &feed_id).await;
    assert_eq!(
        (r["newArticles"].clone(), r["newMatches"].clone()),
        (json!(1), json!(3)),
        "{r}"
    );

    let article = next_event(&mut article_ws).await;
    assert_eq!(
        article["articleEvents"]["article"]["title"],
        "Heartbleed still everywhere"
    );

    let matches = app
        .ok(
            &format!(
                "{{ intelMatches(first: 10) {{ totalCount edges {{ node {{ {MATCH} }} }} }} }}"
            ),
            json!({}),
        )
        .await;
    let mut got: Vec<(String, Value, Value, Value)> = matches["intelMatches"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let m = &e["node"];
            assert_eq!(m["article"]["title"], "Heartbleed still everywhere");
            (
                m["kind"].as_str().unwrap().to_owned(),
                m["cve"].clone(),
                m["address"].clone(),
                m["host"]["address"].clone(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            (
                "DARKNET_SOURCE".to_owned(),
                Value::Null,
                json!("203.0.113.66"),
                Value::Null
            ),
            (
                "INVENTORY_ADDRESS".to_owned(),
                Value::Null,
                json!("192.0.2.10"),
                json!("192.0.2.10")
            ),
            (
                "OPEN_FINDING".to_owned(),
                json!("CVE-2014-0160"),
                Value::Null,
                json!("192.0.2.10")
            ),
        ]
    );
    // Events: the admin gets all three; the viewer (no support group) only the darknet one.
    let mut kinds = Vec::new();
    for _ in 0..3 {
        kinds.push(
            next_event(&mut admin_ws).await["intelMatchEvents"]["intelMatch"]["kind"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    kinds.sort();
    assert_eq!(
        kinds,
        ["DARKNET_SOURCE", "INVENTORY_ADDRESS", "OPEN_FINDING"]
    );
    let seen = next_event(&mut viewer_ws).await;
    assert_eq!(
        seen["intelMatchEvents"]["intelMatch"]["kind"],
        "DARKNET_SOURCE"
    );
    let (_, body) = app
        .gql_as(
            Some(&viewer),
            "{ intelMatches { totalCount edges { node { kind } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["intelMatches"]["totalCount"],
        json!(1),
        "{body}"
    );

    // Later data matches stored articles: the scanner named in the article shows up at the
    // sensor, and the intel-match job finds it.
    assert_eq!(
        post_event("198.51.100.7").await.unwrap().status().as_u16(),
        200
    );
    let late = next_event(&mut admin_ws).await;
    assert_eq!(
        late["intelMatchEvents"]["intelMatch"]["kind"],
        "DARKNET_SOURCE"
    );
    assert_eq!(
        late["intelMatchEvents"]["intelMatch"]["address"],
        "198.51.100.7"
    );
    let late = next_event(&mut viewer_ws).await;
    assert_eq!(
        late["intelMatchEvents"]["intelMatch"]["address"],
        "198.51.100.7"
    );

    // Polling again adds nothing, and matching again finds nothing new.
    let again = refresh(&app, &feed_id).await;
    assert_eq!(
        (again["newArticles"].clone(), again["newMatches"].clone()),
        (json!(0), json!(0))
    );
    let total = app.ok("{ intelMatches { totalCount } }", json!({})).await;
    assert_eq!(total["intelMatches"]["totalCount"], json!(4));
    // By node, and filtered by kind.
    let id = matches["intelMatches"]["edges"][0]["node"]["id"].clone();
    let node = app
        .ok(
            "query($id: ID!) { node(id: $id) { ... on IntelMatch { kind } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(node["node"]["kind"].is_string());
    let (_, body) = app
        .gql_as(Some(&viewer), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": matches["intelMatches"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["kind"] == "OPEN_FINDING").unwrap()["node"]["id"] }))
        .await;
    assert!(
        body["data"]["node"].is_null(),
        "a viewer outside the host's group does not see it: {body}"
    );

    // An incident links the article about it.
    let article_id = app
        .ok("{ articles { edges { node { id } } } }", json!({}))
        .await["articles"]["edges"][0]["node"]["id"]
        .clone();
    let made = app
        .ok(
            "mutation($a: [ID!]) { createIncident(input: {fields: {title: \"Heartbleed probe\", articleIds: $a}}) { incident { id articles { title } } } }",
            json!({ "a": [article_id] }),
        )
        .await;
    assert_eq!(
        made["createIncident"]["incident"]["articles"],
        json!([{ "title": "Heartbleed still everywhere" }])
    );
    let codes = app
        .error_codes(
            "mutation($a: [ID!]) { createIncident(input: {fields: {title: \"x\", articleIds: $a}}) { incident { id } } }",
            json!({ "a": [gid("Article", 999_999)] }),
        )
        .await;
    assert_eq!(codes, ["NOT_FOUND"]);

    // Deleting the feed takes its article with it: indicators, matches and incident links.
    let incident_id = made["createIncident"]["incident"]["id"].clone();
    let gone = app
        .ok(
            "mutation($i: DeleteFeedInput!) { deleteFeed(input: $i) { deletedFeedId } }",
            json!({ "i": { "id": feed_id } }),
        )
        .await;
    assert_eq!(gone["deleteFeed"]["deletedFeedId"], json!(feed_id));
    let after = app
        .ok(
            "query($f: ID!, $i: ID!) { feed(id: $f) { id } articles { totalCount } intelMatches { totalCount } node(id: $i) { ... on Incident { articles { title } } } }",
            json!({ "f": feed_id, "i": incident_id }),
        )
        .await;
    assert_eq!(
        after,
        json!({ "feed": null, "articles": { "totalCount": 0 }, "intelMatches": { "totalCount": 0 }, "node": { "articles": [] } })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_into_a_broken_database_answers_internal_and_keeps_nothing_half_done() {
    use sea_orm::ConnectionTrait;
    let feeds = FeedServer::start().await;
    let app = loopback_app().await;
    feeds.items.lock().unwrap().push(item(
        "x-1",
        "Story naming CVE-2024-3094",
        "https://news.example/x1",
        "CVE-2024-3094",
    ));
    let id = create_feed(&app, "Local", &feeds.url("/rss")).await;
    let db = sea_orm::Database::connect(app.db.url.as_str())
        .await
        .unwrap();
    db.execute_unprepared("ALTER TABLE article_indicator RENAME TO article_indicator_broken")
        .await
        .unwrap();
    let (_, body) = app
        .gql_as(
            Some(&app.token),
            "mutation($i: RefreshFeedInput!) { refreshFeed(input: $i) { newArticles } }",
            json!({ "i": { "id": id } }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "INTERNAL",
        "{body}"
    );
    assert_eq!(body["errors"][0]["message"], "internal error");
    assert!(!body.to_string().contains("article_indicator"), "{body}");
    // The poll's transaction rolled back whole: no article, the feed as it was.
    assert!(articles(&app, json!(null)).await.is_empty());
    let f = app
        .ok(
            "query($id: ID!) { feed(id: $id) { lastStatus articleCount } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        f["feed"],
        json!({ "lastStatus": "NEVER", "articleCount": 0 })
    );
    // Repaired, the next poll stores the story.
    db.execute_unprepared("ALTER TABLE article_indicator_broken RENAME TO article_indicator")
        .await
        .unwrap();
    db.close().await.ok();
    let r = refresh(&app, &id).await;
    assert_eq!(r["newArticles"], json!(1), "{r}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysts_add_and_delete_articles_by_hand_read_like_a_feeds() {
    let app = loopback_app().await;
    app.create_host("192.0.2.44", &["db1"], &[]).await;
    let (analyst, _) = user(&app, "ann", "ANALYST", &[]).await;
    let create = "mutation($i: CreateArticleInput!) { createArticle(input: $i) { newMatches article { id title link author feed { name } summary tags indicators { kind value } matches { totalCount } } } }";
    let input = json!({
        "title": "Partner report: db1 probed",
        "link": "https://partner.example/report/7",
        "summary": "<p>Probes against 192.0.2.44 from 203.0.113[.]9<script>x()</script></p>",
        "tags": ["Partner intel"]
    });
    let (_, body) = app
        .gql_as(Some(&analyst), create, json!({ "i": input }))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let made = &body["data"]["createArticle"];
    let a = &made["article"];
    assert_eq!(a["author"], "ann");
    assert!(a["feed"].is_null(), "added by hand");
    assert!(!a["summary"].as_str().unwrap().contains("script"), "{a}");
    assert_eq!(a["tags"], json!(["Partner intel"]));
    assert_eq!(
        a["indicators"],
        json!([{ "kind": "IPV4", "value": "192.0.2.44" }, { "kind": "IPV4", "value": "203.0.113.9" }])
    );
    assert_eq!(
        made["newMatches"],
        json!(1),
        "192.0.2.44 is in the inventory"
    );
    // The admin sees the match about the host; the analyst, without support groups, not.
    assert_eq!(a["matches"]["totalCount"], json!(0));
    let all = app
        .ok(
            "{ intelMatches { edges { node { kind host { address } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        all["intelMatches"]["edges"],
        json!([{ "node": { "kind": "INVENTORY_ADDRESS", "host": { "address": "192.0.2.44" } } }])
    );
    // The same link again is a conflict; a bad link is bad input.
    let codes = app.error_codes(create, json!({ "i": input })).await;
    assert_eq!(codes, ["CONFLICT"]);
    let codes = app
        .error_codes(
            create,
            json!({ "i": { "title": "x", "link": "javascript:alert(1)" } }),
        )
        .await;
    assert_eq!(codes, ["BAD_USER_INPUT"]);
    // Deleted, it is gone with its match.
    let (_, body) = app
        .gql_as(
            Some(&analyst),
            "mutation($i: DeleteArticleInput!) { deleteArticle(input: $i) { deletedArticleId } }",
            json!({ "i": { "id": a["id"] } }),
        )
        .await;
    assert_eq!(
        body["data"]["deleteArticle"]["deletedArticleId"], a["id"],
        "{body}"
    );
    let after = app
        .ok(
            "{ articles { totalCount } intelMatches { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        after,
        json!({ "articles": { "totalCount": 0 }, "intelMatches": { "totalCount": 0 } })
    );
}
