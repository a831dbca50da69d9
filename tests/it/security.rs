//! The attack review's holes, each shown closed through the real server: nesting that would
//! exhaust a stack, catalog ownership across support groups, access changes reaching open
//! subscriptions, development secrets and write-only tokens. Its weaknesses are in `abuse`.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{TestApp, Ws, api_token, next_message, open_socket, subscribe, user};
use std::time::{Duration, Instant};

/// Documents nested far past any stack, one per position in a document.
fn nested_documents() -> Vec<(&'static str, String)> {
    let n = 5_000;
    let (open, close) = ("[".repeat(n), "]".repeat(n));
    vec![
        (
            "list value",
            format!("{{ hosts(filter: {{ tagsAny: {open}\"a\"{close} }}) {{ totalCount }} }}"),
        ),
        (
            "input object",
            format!(
                "{{ hosts(filter: {}{}) {{ totalCount }} }}",
                "{ not: ".repeat(n),
                "}".repeat(n)
            ),
        ),
        (
            "selection",
            format!(
                "{{ {}{} }}",
                "hosts { edges { node { ".repeat(n / 3),
                "} } }".repeat(n / 3)
            ),
        ),
        (
            "inline fragment",
            format!(
                "{{ {}__typename{} }}",
                "... on Query { ".repeat(n),
                "}".repeat(n)
            ),
        ),
        (
            "directive argument",
            format!("{{ me @include(if: {open}true{close}) {{ username }} }}"),
        ),
        (
            "variable type",
            format!("query($v: {open}Int{close}) {{ me {{ username }} }}"),
        ),
        (
            "variable default",
            format!("query($v: [Int] = {open}1{close}) {{ me {{ username }} }}"),
        ),
        (
            "fragment chain",
            (0..3_000)
                .map(|i| format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1))
                .chain([
                    "fragment F3000 on Query { __typename }\n".to_owned(),
                    "{ ...F0 }".to_owned(),
                ])
                .collect(),
        ),
        (
            "fragment blow-up",
            (0..40)
                .map(|i| format!("fragment D{i} on Query {{ ...D{n} ...D{n} }}\n", n = i + 1))
                .chain([
                    "fragment D40 on Query { __typename }\n".to_owned(),
                    "{ ...D0 }".to_owned(),
                ])
                .collect(),
        ),
    ]
}

pub(crate) fn first_code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
        .to_owned()
}

pub(crate) async fn ws_send(ws: &mut Ws, id: &str, query: &str, variables: Value) {
    ws.send(Message::text(
        json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })
            .to_string(),
    ))
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_documents_are_refused_in_every_position_and_the_server_keeps_serving() {
    let app = TestApp::spawn_with(|c| c.max_body_bytes = 4 * 1024 * 1024).await;
    for (what, query) in nested_documents() {
        let (status, body) = app.gql_as(None, &query, json!({})).await;
        assert_eq!(status, 200, "{what}: {body}");
        assert_eq!(first_code(&body), "QUERY_TOO_COMPLEX", "{what}: {body}");
        assert!(body["data"].is_null(), "{what}: nothing ran");
    }
    // The same nesting in JSON variables.
    let deep_json: Value =
        serde_json::from_str(&format!("{}1{}", "[".repeat(100), "]".repeat(100))).unwrap();
    let (status, body) = app
        .gql_as(
            None,
            "query($v: [String!]) { me { username } }",
            json!({ "v": deep_json }),
        )
        .await;
    assert!(body["errors"].is_array() || status >= 400, "{body}");
    let raw = format!(
        r#"{{"query":"{{ me {{ username }} }}","variables":{{"v":{}1{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "deep JSON is refused before it is read");

    // Over the WebSocket, anonymous and signed in; the socket stays usable afterwards.
    for token in ["", app.token.as_str()] {
        let mut ws = open_socket(app.server.addr, token).await;
        for (i, (what, query)) in nested_documents().into_iter().enumerate() {
            ws_send(&mut ws, &i.to_string(), &query, json!({})).await;
            let msg = next_message(&mut ws).await.expect("an answer, socket open");
            let errors = if msg["type"] == "error" {
                msg["payload"].clone()
            } else {
                msg["payload"]["errors"].clone()
            };
            assert_eq!(
                errors[0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
                "{what} over the socket: {msg}"
            );
            if msg["type"] == "next" {
                let done = next_message(&mut ws).await.expect("complete");
                assert_eq!(done["type"], "complete");
            }
        }
        ws_send(&mut ws, "ok", "{ __typename }", json!({})).await;
        let msg = next_message(&mut ws).await.expect("still serving");
        assert_eq!(msg["payload"]["data"]["__typename"], "Query", "{msg}");
    }

    // A later request succeeds.
    let data = app.ok("{ me { username } }", json!({})).await;
    assert_eq!(data["me"]["username"], "admin");
    app.stop().await;
}

/// Creates a catalog row as the admin and returns its id.
pub(crate) async fn admin_creates(app: &TestApp, mutation: &str, name: &str) -> String {
    let data = app
        .ok(
            &format!("mutation($n: String!) {{ {mutation}(input: {{name: $n}}) {{ row: {} {{ id }} }} }}", row_field(mutation)),
            json!({ "n": name }),
        )
        .await;
    data[mutation]["row"]["id"].as_str().unwrap().to_owned()
}

fn row_field(mutation: &str) -> &'static str {
    match mutation {
        "createTag" => "tag",
        "createLocation" => "location",
        "createHostGroup" => "hostGroup",
        "createSupportGroup" => "supportGroup",
        other => panic!("{other}"),
    }
}

async fn host_in(
    app: &TestApp,
    address: &str,
    group: &str,
    location: &str,
    host_groups: &[&str],
    tags: &[&str],
) -> String {
    let data = app
        .ok(
            "mutation($i: CreateHostInput!) { createHost(input: $i) { host { id } } }",
            json!({ "i": { "address": address, "supportGroupId": group, "locationId": location, "groupIds": host_groups, "tags": tags } }),
        )
        .await;
    data["createHost"]["host"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn host_state(app: &TestApp, id: &str) -> Value {
    app.ok(
        "query($id: ID!) { host(id: $id) { updatedAt tags { name } location { name } groups { edges { node { name } } } } }",
        json!({ "id": id }),
    )
    .await["host"]
        .clone()
}

/// The code of the first error of a call made with `token`.
async fn code_as(app: &TestApp, token: &str, query: &str, variables: Value) -> String {
    let (_, body) = app.gql_as(Some(token), query, variables).await;
    first_code(&body)
}

/// Host events delivered within a short wait, as `(kind, hostId)`.
async fn drain_events(ws: &mut Ws) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Ok(Some(msg)) =
        tokio::time::timeout(Duration::from_millis(1500), next_message(ws)).await
    {
        let e = &msg["payload"]["data"]["hostEvents"];
        out.push((
            e["kind"].as_str().unwrap_or_default().to_owned(),
            e["hostId"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_support_group_cannot_change_the_catalogs_another_groups_hosts_use() {
    let app = TestApp::spawn().await;
    let group_a = admin_creates(&app, "createSupportGroup", "Group A").await;
    let group_b = admin_creates(&app, "createSupportGroup", "Group B").await;
    app.ok(
        "mutation($id: ID!) { updateSupportGroup(input: {id: $id, email: \"b@example.org\"}) { supportGroup { id } } }",
        json!({ "id": group_b }),
    )
    .await;
    let shared_place = admin_creates(&app, "createLocation", "DC 1").await;
    let own_place = admin_creates(&app, "createLocation", "DC A").await;
    let shared_group = admin_creates(&app, "createHostGroup", "web").await;
    let own_group = admin_creates(&app, "createHostGroup", "a-web").await;
    let host_a = host_in(
        &app,
        "192.0.2.1",
        &group_a,
        &own_place,
        &[&shared_group, &own_group],
        &["shared", "a-only"],
    )
    .await;
    let host_b = host_in(
        &app,
        "192.0.2.2",
        &group_b,
        &shared_place,
        &[&shared_group],
        &["shared"],
    )
    .await;
    host_in(&app, "192.0.2.3", &group_a, &shared_place, &[], &[]).await;
    let tags = app
        .ok("{ tags { edges { node { id name } } } }", json!({}))
        .await;
    let tag_id = |name: &str| {
        tags["tags"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["node"]["name"] == name)
            .unwrap()["node"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (shared_tag, own_tag) = (tag_id("shared"), tag_id("a-only"));
    let (alice, _) = user(&app, "alice", "ANALYST", &[&group_a]).await;
    let before_b = host_state(&app, &host_b).await;

    // Support groups are the admins' to manage.
    for (query, vars) in [
        (
            "mutation($id: ID!) { updateSupportGroup(input: {id: $id, email: \"evil@example.org\"}) { supportGroup { id } } }",
            json!({ "id": group_b }),
        ),
        (
            "mutation($id: ID!) { updateSupportGroup(input: {id: $id, name: \"Mine now\"}) { supportGroup { id } } }",
            json!({ "id": group_a }),
        ),
        (
            "mutation($id: ID!) { deleteSupportGroup(input: {id: $id}) { deletedSupportGroupId } }",
            json!({ "id": group_b }),
        ),
        (
            "mutation { createSupportGroup(input: {name: \"Rogue\"}) { supportGroup { id } } }",
            json!({}),
        ),
    ] {
        assert_eq!(
            code_as(&app, &alice, query, vars).await,
            "FORBIDDEN",
            "{query}"
        );
    }
    // Shared rows another group's hosts use are not hers to change.
    for (query, id) in [
        (
            "mutation($id: ID!) { updateTag(input: {id: $id, name: \"renamed\"}) { tag { id } } }",
            &shared_tag,
        ),
        (
            "mutation($id: ID!) { deleteTag(input: {id: $id}) { deletedTagId } }",
            &shared_tag,
        ),
        (
            "mutation($id: ID!) { updateLocation(input: {id: $id, name: \"renamed\"}) { location { id } } }",
            &shared_place,
        ),
        (
            "mutation($id: ID!) { deleteLocation(input: {id: $id}) { deletedLocationId } }",
            &shared_place,
        ),
        (
            "mutation($id: ID!) { updateHostGroup(input: {id: $id, name: \"renamed\"}) { hostGroup { id } } }",
            &shared_group,
        ),
        (
            "mutation($id: ID!) { deleteHostGroup(input: {id: $id}) { deletedHostGroupId } }",
            &shared_group,
        ),
    ] {
        assert_eq!(
            code_as(&app, &alice, query, json!({ "id": id })).await,
            "FORBIDDEN",
            "{query}"
        );
    }
    let groups = app
        .ok(
            "{ supportGroups { edges { node { id name email } } } }",
            json!({}),
        )
        .await;
    let b = groups["supportGroups"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["id"] == group_b.as_str())
        .expect("group B still exists");
    assert_eq!(b["node"]["email"], "b@example.org");
    assert_eq!(
        host_state(&app, &host_b).await,
        before_b,
        "host B is untouched"
    );

    // What only her group's hosts use is hers: the change reaches the hosts, with events.
    let mut ws = subscribe(
        app.server.addr,
        &app.token,
        "subscription { hostEvents { kind hostId } }",
        json!({}),
    )
    .await;
    let before_a = host_state(&app, &host_a).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (_, body) = app
        .gql_as(
            Some(&alice),
            "mutation($t: ID!, $l: ID!, $g: ID!) {
                updateTag(input: {id: $t, name: \"a-renamed\"}) { tag { name } }
                updateLocation(input: {id: $l, name: \"DC A2\"}) { location { name } }
                deleteHostGroup(input: {id: $g}) { deletedHostGroupId }
            }",
            json!({ "t": own_tag, "l": own_place, "g": own_group }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["updateTag"]["tag"]["name"], "a-renamed");
    let after_a = host_state(&app, &host_a).await;
    assert_ne!(
        after_a["updatedAt"], before_a["updatedAt"],
        "host A is marked updated"
    );
    let tag_names: Vec<&str> = after_a["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tag_names, ["a-renamed", "shared"]);
    assert_eq!(after_a["location"]["name"], "DC A2");
    assert_eq!(after_a["groups"]["edges"].as_array().unwrap().len(), 1);
    let events = drain_events(&mut ws).await;
    assert_eq!(
        events,
        vec![("UPDATED".to_owned(), host_a.clone()); 3],
        "one event per change that reached host A"
    );
    assert_eq!(
        code_as(
            &app,
            &alice,
            "mutation($id: ID!) { deleteTag(input: {id: $id}) { deletedTagId } }",
            json!({ "id": own_tag })
        )
        .await,
        "<none>"
    );

    // An admin may change shared rows; every host that used one is updated, with an event.
    app.ok(
        "mutation($id: ID!) { deleteTag(input: {id: $id}) { deletedTagId } }",
        json!({ "id": shared_tag }),
    )
    .await;
    let mut events = drain_events(&mut ws).await;
    events.sort();
    let mut expected = vec![
        ("UPDATED".to_owned(), host_a.clone()),
        ("UPDATED".to_owned(), host_a.clone()),
        ("UPDATED".to_owned(), host_b.clone()),
    ];
    expected.sort();
    assert_eq!(
        events, expected,
        "a-only deleted (host A), then shared (hosts A and B)"
    );
    assert!(
        host_state(&app, &host_b).await["tags"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.stop().await;
}

/// Reads until the server closes the socket; the close code, or `None` if it stayed open.
pub(crate) async fn close_code(ws: &mut Ws, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()?;
        match msg {
            Some(Ok(Message::Close(frame))) => {
                return Some(frame.map_or(1005, |f| u16::from(f.code)));
            }
            Some(Ok(Message::Text(text))) if text.contains("\"ping\"") => {
                ws.send(Message::text(json!({ "type": "pong" }).to_string()))
                    .await
                    .ok()?;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Some(1006),
        }
    }
}

pub(crate) async fn user_id(app: &TestApp, name: &str) -> String {
    let data = app
        .ok(
            "{ users(first: 100) { edges { node { id username } } } }",
            json!({}),
        )
        .await;
    data["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["username"] == name)
        .unwrap()["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn update_user(app: &TestApp, input: Value) {
    app.ok(
        "mutation($i: UpdateUserInput!) { updateUser(input: $i) { user { id } } }",
        json!({ "i": input }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_subscription_loses_access_within_5_s_of_a_change_of_role_groups_or_state() {
    let app = TestApp::spawn().await;
    let group = admin_creates(&app, "createSupportGroup", "Ops").await;
    let (sam, _) = user(&app, "sam", "ANALYST", &[&group]).await;
    let (tina, _) = user(&app, "tina", "ANALYST", &[&group]).await;
    let (uma, _) = user(&app, "uma", "ANALYST", &[&group]).await;
    let query = "subscription { hostEvents { kind host { address } } }";

    // It works before the change.
    let mut ws = subscribe(app.server.addr, &sam, query, json!({})).await;
    app.ok(
        "mutation($g: ID!) { createHost(input: {address: \"192.0.2.9\", supportGroupId: $g}) { host { id } } }",
        json!({ "g": group }),
    )
    .await;
    let msg = next_message(&mut ws).await.expect("delivered");
    assert_eq!(
        msg["payload"]["data"]["hostEvents"]["host"]["address"],
        "192.0.2.9"
    );

    // A role change with no groups: the socket ends within 5 s, saying why.
    let started = Instant::now();
    update_user(
        &app,
        json!({ "id": user_id(&app, "sam").await, "role": "VIEWER", "supportGroupIds": [] }),
    )
    .await;
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(7)).await,
        Some(4403)
    );
    assert!(
        started.elapsed() < Duration::from_millis(6500),
        "{:?}",
        started.elapsed()
    );

    // A change of groups alone, and disabling, end open sockets too.
    let mut ws = subscribe(app.server.addr, &tina, query, json!({})).await;
    update_user(
        &app,
        json!({ "id": user_id(&app, "tina").await, "supportGroupIds": [] }),
    )
    .await;
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(7)).await,
        Some(4403)
    );
    let mut ws = subscribe(app.server.addr, &uma, query, json!({})).await;
    update_user(
        &app,
        json!({ "id": user_id(&app, "uma").await, "disabled": true }),
    )
    .await;
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(7)).await,
        Some(4401)
    );

    // An unrelated change (another user's) leaves a socket open.
    let (vic, _) = user(&app, "vic", "VIEWER", &[&group]).await;
    let mut ws = subscribe(app.server.addr, &vic, query, json!({})).await;
    update_user(
        &app,
        json!({ "id": user_id(&app, "sam").await, "role": "ANALYST" }),
    )
    .await;
    assert_eq!(close_code(&mut ws, Duration::from_secs(6)).await, None);
    app.stop().await;
}

fn forged(secret: &str, user: i64, session: i64) -> String {
    api::auth::jwt::issue(
        secret,
        user,
        session,
        chrono::Utc::now() + chrono::Duration::minutes(10),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_development_database_accepts_no_token_signed_with_a_constant() {
    let app = TestApp::spawn_with(|c| c.jwt_secret = None).await;
    let key = app.server.state.signing_key.expose().to_owned();
    assert!(key.len() >= 64, "a long random key");
    let constants = [
        "hector-development-secret-do-not-use-in-production",
        "",
        "secret",
        "hector",
        "changeme",
        "development",
    ];
    for secret in constants {
        for session in 1..=3 {
            let (status, body) = app
                .gql_as(
                    Some(&forged(secret, 1, session)),
                    "{ me { username } }",
                    json!({}),
                )
                .await;
            assert_eq!(status, 401, "signed with {secret:?}: {body}");
        }
    }
    // Only the generated key signs, and it is this database's own.
    let (status, _) = app
        .gql_as(Some(&forged(&key, 1, 1)), "{ me { username } }", json!({}))
        .await;
    assert_eq!(status, 200);
    let other = TestApp::spawn_with(|c| c.jwt_secret = None).await;
    assert_ne!(
        other.server.state.signing_key.expose(),
        key,
        "each database has its own"
    );
    other.stop().await;

    // The key is kept with the data: a restart keeps signed-in users signed in.
    let TestApp {
        server, db, token, ..
    } = app;
    server.stop().await.unwrap();
    let mut config = crate::support::config_for(&db.url);
    config.jwt_secret = None;
    let again = TestApp::around(TestApp::start_on(config).await, db).await;
    assert_eq!(again.server.state.signing_key.expose(), key);
    let (status, body) = again
        .gql_as(Some(&token), "{ me { username } }", json!({}))
        .await;
    assert_eq!(
        (status, &body["data"]["me"]["username"]),
        (200, &json!("admin")),
        "{body}"
    );
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_only_token_writes_and_reads_its_own_payload_but_nothing_else() {
    let app = TestApp::spawn().await;
    let writer = api_token(&app, &app.token, &["WRITE"]).await;
    let (status, body) = app
        .gql_as(
            Some(&writer),
            "mutation { createHost(input: {address: \"192.0.2.77\", names: [\"w\"]}) { host { id address names } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        body["errors"].is_null(),
        "the write ran and says so: {body}"
    );
    assert_eq!(body["data"]["createHost"]["host"]["address"], "192.0.2.77");
    assert_eq!(app.host_count().await, 1);
    let (_, body) = app
        .gql_as(Some(&writer), "{ hosts { totalCount } }", json!({}))
        .await;
    assert_eq!(
        first_code(&body),
        "FORBIDDEN",
        "reading is not writing: {body}"
    );
    let (_, body) = app
        .gql_as(
            Some(&writer),
            "mutation { createHost(input: {address: \"192.0.2.78\"}) { host { id } } } ",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null());
    let reader = api_token(&app, &app.token, &["READ"]).await;
    let (_, body) = app
        .gql_as(
            Some(&reader),
            "mutation { createHost(input: {address: \"192.0.2.79\"}) { host { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "FORBIDDEN");
    assert_eq!(app.host_count().await, 2, "the refused write did not run");
    app.stop().await;
}
