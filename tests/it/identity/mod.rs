//! Identity and access through the real server: the authorization matrix, tokens, sessions,
//! scoping, throttling, rate limits, introspection and the audit log.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, api_token, next_message, subscribe, user};

mod matrix;

async fn status_and_codes(app: &TestApp, token: &str) -> (u16, Vec<String>) {
    let (status, body) = app
        .gql_as(Some(token), "{ me { username } }", json!({}))
        .await;
    let codes = body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default();
    (status, codes)
}

async fn refused_as_unauthenticated(app: &TestApp, token: &str, what: &str) {
    let (status, codes) = status_and_codes(app, token).await;
    assert_eq!(
        (status, codes),
        (401, vec!["UNAUTHENTICATED".to_owned()]),
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_and_sessions_revoke_as_they_should() {
    let app = TestApp::spawn().await;
    let (access, refresh) = user(&app, "alice", "ANALYST", &[]).await;
    assert_eq!(status_and_codes(&app, &access).await, (200, vec![]));

    // Tampered signature, tampered claims, `alg: none`, expired, garbage, wrong scheme.
    let mut tampered = access.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    refused_as_unauthenticated(&app, &tampered, "tampered signature").await;
    let parts: Vec<&str> = access.split('.').collect();
    let claims = URL_SAFE_NO_PAD.encode(
        br#"{"sub":"1","sid":1,"iat":0,"exp":99999999999,"iss":"hector","aud":"hector-api"}"#,
    );
    refused_as_unauthenticated(
        &app,
        &format!("{}.{claims}.{}", parts[0], parts[2]),
        "tampered claims",
    )
    .await;
    let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    refused_as_unauthenticated(&app, &format!("{none}.{claims}."), "alg none").await;
    let secret = app.server.state.signing_key.expose().to_owned();
    let expired = api::auth::jwt::issue(
        &secret,
        2,
        2,
        chrono::Utc::now() - chrono::Duration::seconds(5),
    )
    .unwrap();
    refused_as_unauthenticated(&app, &expired, "expired").await;
    refused_as_unauthenticated(&app, "hct_0000", "unknown API token").await;
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("Authorization", format!("Basic {access}"))
        .json(&json!({ "query": "{ me { username } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "only Bearer credentials are accepted");

    // Rotation: a refresh token works once; reusing it ends the whole session.
    let refresh_q = "mutation($t: String!) { refreshSession(input: {refreshToken: $t}) { accessToken refreshToken } }";
    let (_, first) = app.gql_as(None, refresh_q, json!({ "t": refresh })).await;
    let new_access = first["data"]["refreshSession"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_refresh = first["data"]["refreshSession"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(status_and_codes(&app, &new_access).await, (200, vec![]));
    let (_, reused) = app.gql_as(None, refresh_q, json!({ "t": refresh })).await;
    assert_eq!(
        reused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{reused}"
    );
    let (_, after) = app
        .gql_as(None, refresh_q, json!({ "t": new_refresh }))
        .await;
    assert_eq!(
        after["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "the family is revoked"
    );
    refused_as_unauthenticated(&app, &new_access, "an access token of a revoked session").await;
    refused_as_unauthenticated(&app, &access, "the first access token of that session").await;

    // Logout revokes; so does disabling the user, for sessions and API tokens alike.
    let login = app.login("alice", PASSWORD).await;
    let access = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = login["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, out) = app
        .gql_as(
            Some(&access),
            "mutation($t: String!) { logout(input: {refreshToken: $t}) { ok } }",
            json!({ "t": refresh }),
        )
        .await;
    assert_eq!(out["data"]["logout"]["ok"], true);
    refused_as_unauthenticated(&app, &access, "logged out").await;

    let login = app.login("alice", PASSWORD).await;
    let access = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = login["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = api_token(&app, &access, &["READ"]).await;
    assert_eq!(status_and_codes(&app, &token).await, (200, vec![]));
    let alice = app
        .ok("{ users { edges { node { id username } } } }", json!({}))
        .await;
    let alice_id = alice["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["username"] == "alice")
        .unwrap()["node"]["id"]
        .clone();
    app.ok(
        "mutation($id: ID!) { updateUser(input: {id: $id, disabled: true}) { user { disabled } } }",
        json!({ "id": alice_id }),
    )
    .await;
    refused_as_unauthenticated(&app, &access, "a disabled user's access token").await;
    refused_as_unauthenticated(&app, &token, "a disabled user's API token").await;
    let (_, r) = app.gql_as(None, refresh_q, json!({ "t": refresh })).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let login = app.login("alice", PASSWORD).await;
    assert_eq!(
        login["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "a disabled user cannot sign in"
    );

    // A revoked API token is refused.
    let (bob, _) = user(&app, "bob", "VIEWER", &[]).await;
    let bob_token = api_token(&app, &bob, &["READ"]).await;
    let listed = app
        .gql_as(
            Some(&bob),
            "{ apiTokens { edges { node { id name scopes } } } }",
            json!({}),
        )
        .await
        .1;
    let token_id = listed["data"]["apiTokens"]["edges"][0]["node"]["id"].clone();
    assert_eq!(
        listed["data"]["apiTokens"]["edges"][0]["node"]["scopes"],
        json!(["READ"])
    );
    app.gql_as(
        Some(&bob),
        "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { apiToken { revokedAt } } }",
        json!({ "id": token_id }),
    )
    .await;
    refused_as_unauthenticated(&app, &bob_token, "a revoked API token").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_tokens_read_nothing_and_viewers_cannot_write() {
    let app = TestApp::spawn().await;
    app.create_host("192.0.2.1", &["h"], &[]).await;
    let (sensor, _) = user(&app, "sensor-1", "SENSOR", &[]).await;
    let sensor_token = api_token(&app, &sensor, &["INGEST"]).await;
    for query in [
        "{ hosts { totalCount } }",
        "{ me { username } }",
        "{ jobRuns { totalCount } }",
    ] {
        let (_, body) = app.gql_as(Some(&sensor_token), query, json!({})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{query}: {body}"
        );
    }
    let (viewer, _) = user(&app, "viewer-1", "VIEWER", &[]).await;
    let (_, body) = app
        .gql_as(
            Some(&viewer),
            "mutation { createHost(input: {address: \"192.0.2.9\"}) { host { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    // A token cannot do more than its scopes, even for an admin.
    let admin_read = api_token(&app, &app.token, &["READ"]).await;
    let (_, body) = app
        .gql_as(
            Some(&admin_read),
            "mutation { createTag(input: {name: \"x\"}) { tag { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(app.host_count().await, 1, "nothing was written");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_admins_see_only_hosts_of_their_support_groups_on_every_path() {
    let app = TestApp::spawn().await;
    let mut group_ids = Vec::new();
    for name in ["Unix", "Windows"] {
        let g = app
            .ok(
                "mutation($n: String!) { createSupportGroup(input: {name: $n}) { supportGroup { id } } }",
                json!({ "n": name }),
            )
            .await;
        group_ids.push(
            g["createSupportGroup"]["supportGroup"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (unix, windows) = (group_ids[0].clone(), group_ids[1].clone());
    let lab = app
        .ok(
            "mutation { createHostGroup(input: {name: \"lab\"}) { hostGroup { id } } }",
            json!({}),
        )
        .await;
    let lab = lab["createHostGroup"]["hostGroup"]["id"].clone();
    let create = "mutation($i: CreateHostInput!) { createHost(input: $i) { host { id } } }";
    let mut ids = BTreeMap::new();
    for (addr, group, os) in [
        ("10.0.0.1", Some(&unix), "Linux"),
        ("10.0.0.2", Some(&windows), "Windows"),
        ("10.0.0.3", None, "BSD"),
    ] {
        let host = app
            .ok(
                create,
                json!({ "i": { "address": addr, "supportGroupId": group, "tags": ["shared"], "groupIds": [lab], "os": { "name": os } } }),
            )
            .await;
        ids.insert(
            addr,
            host["createHost"]["host"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (analyst, _) = user(&app, "unix-analyst", "ANALYST", &[&unix]).await;
    let as_analyst = |q: &'static str, v: Value| {
        let (app, analyst) = (&app, analyst.clone());
        async move {
            let (_, body) = app.gql_as(Some(&analyst), q, v).await;
            assert!(body.get("errors").is_none(), "{q}: {body}");
            body["data"].clone()
        }
    };

    let d = as_analyst(
        "{ hosts { totalCount edges { node { address } } } }",
        json!({}),
    )
    .await;
    assert_eq!(d["hosts"]["totalCount"], 1);
    assert_eq!(crate::support::addresses(&d["hosts"]), vec!["10.0.0.1"]);
    let d = as_analyst(
        "query($a: ID!, $b: ID!) { a: node(id: $a) { id } b: node(id: $b) { id } c: host(id: $b) { id } nodes(ids: [$a, $b]) { id } byAddr: hostByAddress(address: \"10.0.0.2\") { id } }",
        json!({ "a": ids["10.0.0.1"], "b": ids["10.0.0.2"] }),
    )
    .await;
    assert_eq!(d["a"]["id"], ids["10.0.0.1"].as_str());
    assert!(d["b"].is_null() && d["c"].is_null() && d["byAddr"].is_null());
    assert!(d["nodes"][1].is_null());
    let d = as_analyst(
        "{ osBreakdown { os hosts } tags { edges { node { name usage } } } }",
        json!({}),
    )
    .await;
    assert_eq!(d["osBreakdown"], json!([{ "os": "Linux", "hosts": 1 }]));
    assert_eq!(
        d["tags"]["edges"][0]["node"],
        json!({ "name": "shared", "usage": 1 })
    );
    let d = as_analyst(
        "query($w: ID!, $g: ID!) { supportGroup(id: $w) { hosts { totalCount } } hostGroup(id: $g) { hosts { totalCount edges { node { address } } } } }",
        json!({ "w": windows, "g": lab }),
    )
    .await;
    assert_eq!(d["supportGroup"]["hosts"]["totalCount"], 0);
    assert_eq!(d["hostGroup"]["hosts"]["totalCount"], 1);

    // Writes are held to the same scope.
    let (_, body) = app
        .gql_as(
            Some(&analyst),
            "mutation($id: ID!) { deleteHost(input: {id: $id}) { deletedHostId } }",
            json!({ "id": ids["10.0.0.2"] }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");
    let (_, body) = app
        .gql_as(
            Some(&analyst),
            create,
            json!({ "i": { "address": "10.0.0.9", "supportGroupId": windows } }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");

    // The subscription delivers only the analyst's hosts, deletions included.
    let mut ws = subscribe(
        app.server.addr,
        &analyst,
        "subscription { hostEvents { kind host { address } hostId } }",
        json!({}),
    )
    .await;
    app.ok(
        create,
        json!({ "i": { "address": "10.0.1.2", "supportGroupId": windows } }),
    )
    .await;
    app.ok(
        "mutation($id: ID!) { deleteHost(input: {id: $id}) { deletedHostId } }",
        json!({ "id": ids["10.0.0.2"] }),
    )
    .await;
    app.ok(
        create,
        json!({ "i": { "address": "10.0.1.1", "supportGroupId": unix } }),
    )
    .await;
    let event = crate::support::next_event(&mut ws).await;
    assert_eq!(
        event["hostEvents"]["host"]["address"], "10.0.1.1",
        "another group's host was not delivered: {event}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_ends_when_its_session_is_revoked() {
    let app = TestApp::spawn().await;
    let (access, refresh) = user(&app, "watcher", "VIEWER", &[]).await;
    let mut ws = subscribe(
        app.server.addr,
        &access,
        "subscription { hostEvents { kind } }",
        json!({}),
    )
    .await;
    app.gql_as(
        Some(&access),
        "mutation($t: String!) { logout(input: {refreshToken: $t}) { ok } }",
        json!({ "t": refresh }),
    )
    .await;
    let started = Instant::now();
    let closed = loop {
        match next_message(&mut ws).await {
            None => break true,
            Some(msg) if msg["type"] == "complete" => continue,
            Some(msg) => panic!("unexpected {msg}"),
        }
    };
    assert!(
        closed && started.elapsed() < Duration::from_secs(8),
        "closed after {:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_sign_ins_back_off_even_for_the_right_password() {
    let app = TestApp::spawn_with(|c| {
        c.login_free_attempts = 5;
        c.login_max_backoff_secs = 2;
    })
    .await;
    user(&app, "carol", "VIEWER", &[]).await;
    let mut codes = Vec::new();
    for _ in 0..20 {
        let body = app.login("carol", "not-her-password").await;
        codes.push(
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert!(
        codes[..5].iter().all(|c| c == "UNAUTHENTICATED"),
        "{codes:?}"
    );
    assert!(
        codes[5..].iter().all(|c| c == "RATE_LIMITED"),
        "throttled after five: {codes:?}"
    );
    let body = app.login("carol", PASSWORD).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "the right password waits too"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let body = app.login("carol", PASSWORD).await;
    assert!(
        body["data"]["login"]["accessToken"].is_string(),
        "after the back-off: {body}"
    );
    let audit = app
        .ok("{ auditLog(first: 50, filter: {action: LOGIN}) { edges { node { actorName outcome clientAddr } } } }", json!({}))
        .await;
    let outcomes: Vec<_> = audit["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["actorName"] == "carol")
        .map(|e| e["node"]["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes.first().map(String::as_str), Some("OK"));
    assert!(outcomes.iter().filter(|o| *o == "UNAUTHENTICATED").count() == 5);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_timing_does_not_reveal_whether_a_user_exists() {
    let app = TestApp::spawn_with(|c| c.login_free_attempts = 10_000).await;
    user(&app, "dave", "VIEWER", &[]).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..12 {
        let t = Instant::now();
        let body = app.login("dave", "wrong-password-here").await;
        known.push(t.elapsed());
        let known_answer = body["errors"][0].clone();
        let t = Instant::now();
        let body = app
            .login(&format!("nobody-{i}"), "wrong-password-here")
            .await;
        unknown.push(t.elapsed());
        assert_eq!(
            body["errors"][0]["message"], known_answer["message"],
            "the same answer"
        );
        assert_eq!(body["errors"][0]["extensions"], known_answer["extensions"]);
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[6].as_secs_f64(), unknown[6].as_secs_f64());
    let ratio = k / u;
    assert!(
        (0.67..1.5).contains(&ratio),
        "median known {k:.4}s vs unknown {u:.4}s (ratio {ratio:.2})"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_rate_limit_get_429_and_introspection_needs_a_sign_in() {
    let app = TestApp::spawn_with(|c| c.rate_limit_per_minute = 8).await;
    let introspect = "{ __schema { queryType { name } } }";
    let (status, body) = app.gql_as(None, introspect, json!({})).await;
    assert_eq!(
        (status, body["errors"][0]["extensions"]["code"].clone()),
        (200, json!("UNAUTHENTICATED"))
    );
    let (_, body) = app.gql_as(Some(&app.token), introspect, json!({})).await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(
            app.gql_as(Some(&app.token), "{ me { username } }", json!({}))
                .await,
        );
    }
    let limited = statuses
        .iter()
        .find(|(s, _)| *s == 429)
        .expect("some request was limited");
    assert_eq!(limited.1["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutation_is_audited_with_actor_target_and_outcome() {
    let app = TestApp::spawn().await;
    let id = app.create_host("192.0.2.44", &[], &[]).await;
    let (_, body) = app
        .gql_as(
            Some(&app.token),
            "mutation { createHost(input: {address: \"192.0.2.44\"}) { host { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT");
    let (viewer, _) = user(&app, "erin", "VIEWER", &[]).await;
    app.gql_as(
        Some(&viewer),
        "mutation { createTag(input: {name: \"t\"}) { tag { id } } }",
        json!({}),
    )
    .await;
    let log = app
        .ok("{ auditLog(first: 20) { edges { node { actorName actor { username } action target outcome clientAddr at } } } }", json!({}))
        .await;
    let entries: Vec<_> = log["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    let find = |action: &str, outcome: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {action}/{outcome} in {entries:#?}"))
            .clone()
    };
    let ok = find("CREATE_HOST", "OK");
    assert_eq!(ok["actorName"], "admin");
    assert_eq!(ok["actor"]["username"], "admin");
    assert_eq!(ok["target"], id.as_str());
    assert_eq!(ok["clientAddr"], "127.0.0.1");
    assert_eq!(find("CREATE_HOST", "CONFLICT")["actorName"], "admin");
    assert_eq!(find("CREATE_TAG", "FORBIDDEN")["actorName"], "erin");
    assert_eq!(find("CREATE_TAG", "FORBIDDEN")["actor"]["username"], "erin");
    assert_eq!(find("CREATE_USER", "OK")["actorName"], "admin");
    let (_, body) = app
        .gql_as(
            Some(&viewer),
            "{ auditLog { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "the audit log is for admins"
    );
    app.stop().await;
}
