//! The attack review's holes and weaknesses, each shown closed through the real server:
//! nesting that would exhaust a stack, catalog ownership across support groups, access
//! changes reaching open subscriptions, development secrets, write-only tokens, password
//! guessing, rate limits on operations, audit cost, lock-outs, anonymous hints, the existence
//! oracle and what disabling an account does to its tokens.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{PASSWORD, TestApp, Ws, api_token, next_message, subscribe, user};
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

fn first_code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
        .to_owned()
}

async fn open_socket(app: &TestApp, token: &str) -> Ws {
    let mut request = format!("ws://{}/graphql", app.server.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    let payload = if token.is_empty() {
        json!({})
    } else {
        json!({ "authorization": format!("Bearer {token}") })
    };
    ws.send(Message::text(
        json!({ "type": "connection_init", "payload": payload }).to_string(),
    ))
    .await
    .unwrap();
    let ack = next_message(&mut ws).await.expect("ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws
}

async fn ws_send(ws: &mut Ws, id: &str, query: &str, variables: Value) {
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
        let mut ws = open_socket(&app, token).await;
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
async fn admin_creates(app: &TestApp, mutation: &str, name: &str) -> String {
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
            "mutation($id: ID!) { deleteSupportGroup(input: {id: $id}) { deletedId } }",
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
            "mutation($id: ID!) { deleteTag(input: {id: $id}) { deletedId } }",
            &shared_tag,
        ),
        (
            "mutation($id: ID!) { updateLocation(input: {id: $id, name: \"renamed\"}) { location { id } } }",
            &shared_place,
        ),
        (
            "mutation($id: ID!) { deleteLocation(input: {id: $id}) { deletedId } }",
            &shared_place,
        ),
        (
            "mutation($id: ID!) { updateHostGroup(input: {id: $id, name: \"renamed\"}) { hostGroup { id } } }",
            &shared_group,
        ),
        (
            "mutation($id: ID!) { deleteHostGroup(input: {id: $id}) { deletedId } }",
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
                deleteHostGroup(input: {id: $g}) { deletedId }
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
            "mutation($id: ID!) { deleteTag(input: {id: $id}) { deletedId } }",
            json!({ "id": own_tag })
        )
        .await,
        "<none>"
    );

    // An admin may change shared rows; every host that used one is updated, with an event.
    app.ok(
        "mutation($id: ID!) { deleteTag(input: {id: $id}) { deletedId } }",
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
async fn close_code(ws: &mut Ws, within: Duration) -> Option<u16> {
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

async fn user_id(app: &TestApp, name: &str) -> String {
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

async fn update_user(app: &TestApp, input: Value) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_checks_back_off_and_a_request_checks_at_most_one_password() {
    let app = TestApp::spawn_with(|c| {
        c.login_free_attempts = 5;
        c.login_max_backoff_secs = 60;
    })
    .await;
    let (dana, _) = user(&app, "dana", "VIEWER", &[]).await;
    let change = |current: &str| json!({ "query": "mutation($c: String!) { changePassword(input: {currentPassword: $c, newPassword: \"another long password\"}) { ok } }", "variables": { "c": current } });
    let mut codes = Vec::new();
    for _ in 0..8 {
        let (_, body) = app
            .gql_as(
                Some(&dana),
                change("wrong-guess")["query"].as_str().unwrap(),
                change("wrong-guess")["variables"].clone(),
            )
            .await;
        codes.push(first_code(&body));
    }
    assert!(
        codes[..5].iter().all(|c| c == "UNAUTHENTICATED"),
        "{codes:?}"
    );
    assert!(codes[5..].iter().all(|c| c == "RATE_LIMITED"), "{codes:?}");
    let (_, body) = app
        .gql_as(
            Some(&dana),
            change(PASSWORD)["query"].as_str().unwrap(),
            change(PASSWORD)["variables"].clone(),
        )
        .await;
    assert_eq!(
        first_code(&body),
        "RATE_LIMITED",
        "the right password waits too"
    );

    // Aliases cannot multiply password checks; nothing is checked at all.
    let started = Instant::now();
    let many: String = (0..10)
        .map(|i| format!("a{i}: changePassword(input: {{currentPassword: \"guess-{i}\", newPassword: \"x\"}}) {{ ok }} "))
        .collect();
    let (_, body) = app
        .gql_as(
            Some(&app.token),
            &format!("mutation {{ {many} }}"),
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    let (_, body) = app
        .gql_as(
            None,
            "mutation { a: login(input: {username: \"admin\", password: \"guess-1\"}) { accessToken } b: login(input: {username: \"admin\", password: \"guess-2\"}) { accessToken } }",
            json!({}),
        )
        .await;
    assert_eq!(first_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused before any argon2 work"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attacker_cannot_lock_the_owner_out_from_another_address() {
    let app = TestApp::spawn_with(|c| {
        c.login_free_attempts = 5;
        c.login_max_backoff_secs = 600;
    })
    .await;
    user(&app, "olga", "VIEWER", &[]).await;
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(first_code(&app.login("olga", "guess").await));
    }
    assert!(
        codes[5..].iter().all(|c| c == "RATE_LIMITED"),
        "the guesser is slowed: {codes:?}"
    );
    assert_eq!(
        first_code(&app.login("olga", PASSWORD).await),
        "RATE_LIMITED"
    );

    // The owner, from another address, still signs in (slowed, never blocked).
    let owner = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let started = Instant::now();
    let body: Value = owner
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": format!("mutation {{ login(input: {{username: \"olga\", password: \"{PASSWORD}\"}}) {{ accessToken }} }}") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_counts_operations_shared_budgets_bad_credentials_and_socket_messages() {
    let app = TestApp::spawn_with(|c| c.rate_limit_per_minute = 20).await;
    let (rita, _) = user(&app, "rita", "VIEWER", &[]).await;
    let (wendy, _) = user(&app, "wendy", "VIEWER", &[]).await;
    let rita_token = api_token(&app, &rita, &["READ"]).await;
    let batch = |n: usize| json!(vec![json!({ "query": "{ me { username } }" }); n]);
    let post = |token: &str, body: Value| {
        app.client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    // Rita spent 1 (creating the token); a batch of 10 and 9 with her API token spend 19 more.
    assert_eq!(post(&rita, batch(10)).await.unwrap().status(), 200);
    assert_eq!(post(&rita_token, batch(9)).await.unwrap().status(), 200);
    let res = post(&rita_token, batch(2)).await.unwrap();
    assert_eq!(res.status(), 429, "the token shares its owner's budget");
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(first_code(&body), "RATE_LIMITED");
    assert_eq!(post(&rita, batch(1)).await.unwrap().status(), 429);

    // Guessing credentials spends the address's budget.
    let mut statuses = Vec::new();
    for i in 0..30 {
        statuses.push(
            post(&format!("hct_guess{i}"), batch(1))
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses[0], 401);
    assert!(statuses.ends_with(&[429, 429, 429]), "{statuses:?}");
    let (status, _) = app.gql_as(None, "{ __typename }", json!({})).await;
    assert_eq!(status, 429, "the same address, anonymous");

    // Each operation started on a socket counts too.
    let mut ws = open_socket(&app, &wendy).await;
    let mut refused = None;
    for i in 0..25 {
        ws_send(
            &mut ws,
            &format!("s{i}"),
            "subscription { hostEvents { kind } }",
            json!({}),
        )
        .await;
        if let Ok(Some(msg)) =
            tokio::time::timeout(Duration::from_millis(150), next_message(&mut ws)).await
            && msg["type"] == "error"
        {
            assert_eq!(
                msg["payload"][0]["extensions"]["code"], "RATE_LIMITED",
                "{msg}"
            );
            refused = Some(i);
            break;
        }
    }
    assert!(
        matches!(refused, Some(i) if (17..=21).contains(&i)),
        "refused at {refused:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_per_identity_and_subscriptions_per_socket_are_capped() {
    let app = TestApp::spawn_with(|c| {
        c.max_subscriptions_per_socket = 3;
        c.max_sockets_per_identity = 2;
    })
    .await;
    let mut ws = open_socket(&app, &app.token).await;
    for i in 1..=3 {
        ws_send(
            &mut ws,
            &i.to_string(),
            "subscription { hostEvents { kind } }",
            json!({}),
        )
        .await;
    }
    ws_send(
        &mut ws,
        "4",
        "subscription { hostEvents { kind } }",
        json!({}),
    )
    .await;
    let msg = next_message(&mut ws).await.unwrap();
    assert_eq!(
        (&msg["type"], &msg["id"]),
        (&json!("error"), &json!("4")),
        "{msg}"
    );
    assert_eq!(msg["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    // Completing one makes room.
    ws.send(Message::text(
        json!({ "id": "1", "type": "complete" }).to_string(),
    ))
    .await
    .unwrap();
    ws_send(
        &mut ws,
        "5",
        "subscription { hostEvents { kind } }",
        json!({}),
    )
    .await;
    app.create_host("192.0.2.5", &[], &[]).await;
    let mut ids = Vec::new();
    while ids.len() < 3 {
        let msg = next_message(&mut ws).await.unwrap();
        if msg["type"] == "complete" && msg["id"] == "1" {
            continue;
        }
        assert_eq!(msg["type"], "next", "{msg}");
        ids.push(msg["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["2", "3", "5"]);

    let _second = open_socket(&app, &app.token).await;
    let mut request = format!("ws://{}/graphql", app.server.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut third, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    third
        .send(Message::text(
            json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", app.token) } }).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(
        close_code(&mut third, Duration::from_secs(5)).await,
        Some(4429),
        "a third socket is refused"
    );
    drop(ws);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _fourth = open_socket(&app, &app.token).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_aliases_cost_one_audit_row_and_mutation_fields_are_capped() {
    let app = TestApp::spawn().await;
    let aliases = |n: usize| -> String {
        let fields: String = (0..n)
            .map(|i| format!("u{i}: createUser(input: {{username: \"x{i}\", role: ADMIN, password: \"a long enough password\"}}) {{ user {{ id }} }} "))
            .collect();
        format!("mutation {{ {fields} }}")
    };
    let (_, body) = app.gql_as(None, &aliases(20), json!({})).await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 20);
    let (_, body) = app.gql_as(None, &aliases(21), json!({})).await;
    assert_eq!(first_code(&body), "QUERY_TOO_COMPLEX");
    let audit = app
        .ok("{ auditLog(first: 50, filter: {action: \"createUser\"}) { edges { node { actor outcome repeats } } } }", json!({}))
        .await;
    assert_eq!(
        audit["auditLog"]["edges"],
        json!([{ "node": { "actor": "anonymous", "outcome": "UNAUTHENTICATED", "repeats": 20 } }]),
        "one row for twenty refusals, none for the refused document"
    );
    // Successes keep one row each, with their target.
    let data = app
        .ok(&aliases(2).replace("ADMIN", "VIEWER"), json!({}))
        .await;
    let audit = app
        .ok("{ auditLog(first: 50, filter: {action: \"createUser\", outcome: \"OK\"}) { edges { node { target repeats } } } }", json!({}))
        .await;
    let targets: Vec<&Value> = audit["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["target"])
        .collect();
    assert_eq!(targets.len(), 2);
    assert!(
        targets.contains(&&data["u0"]["user"]["id"])
            && targets.contains(&&data["u1"]["user"]["id"])
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_callers_get_no_hints_and_production_serves_no_graphiql() {
    let app = TestApp::spawn().await;
    let typo = "{ hots { totalCount } }";
    let (_, anonymous) = app.gql_as(None, typo, json!({})).await;
    let message = anonymous["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("Unknown field") && !message.contains("hosts"),
        "{message}"
    );
    assert_eq!(first_code(&anonymous), "BAD_USER_INPUT");
    let signed_in = app.gql(typo, json!({})).await;
    assert!(
        signed_in["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Did you mean")
    );
    let page = app
        .client
        .get(format!("{}/graphql", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "development serves GraphiQL");
    app.stop().await;

    let prod = TestApp::spawn_with(|c| {
        c.environment = api::config::Environment::Production;
        c.jwt_secret = Some("a-production-secret-of-at-least-32-bytes".parse().unwrap());
        c.graphiql = None;
    })
    .await;
    let page = prod
        .client
        .get(format!("{}/graphql", prod.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        404,
        "production serves no GraphiQL unless enabled"
    );
    prod.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_address_says_only_that_whoever_holds_it() {
    let app = TestApp::spawn().await;
    let mine = admin_creates(&app, "createSupportGroup", "Mine").await;
    let theirs = admin_creates(&app, "createSupportGroup", "Theirs").await;
    let create = "mutation($i: CreateHostInput!) { createHost(input: $i) { host { id } } }";
    app.ok(create, json!({ "i": { "address": "192.0.2.50", "supportGroupId": theirs, "names": ["secret-host"] } })).await;
    app.ok(
        create,
        json!({ "i": { "address": "192.0.2.60", "supportGroupId": mine } }),
    )
    .await;
    let (ann, _) = user(&app, "ann", "ANALYST", &[&mine]).await;
    let attempt = |address: &'static str| {
        let ann = ann.clone();
        let mine = mine.clone();
        let app = &app;
        async move {
            let (_, body) = app
                .gql_as(
                    Some(&ann),
                    create,
                    json!({ "i": { "address": address, "supportGroupId": mine } }),
                )
                .await;
            (
                first_code(&body),
                body["errors"][0]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .replace(address, "ADDR"),
            )
        }
    };
    let hidden = attempt("192.0.2.50").await;
    let visible = attempt("192.0.2.60").await;
    assert_eq!(
        hidden, visible,
        "the same answer whether or not the caller sees the holder"
    );
    assert_eq!(hidden.0, "CONFLICT");
    assert!(
        !hidden.1.contains("secret-host")
            && !hidden.1.contains("Theirs")
            && !hidden.1.contains("SG9zd"),
        "{hidden:?}"
    );
    let (_, body) = app
        .gql_as(
            Some(&ann),
            "{ hostByAddress(address: \"192.0.2.50\") { id } }",
            json!({}),
        )
        .await;
    assert!(body["data"]["hostByAddress"].is_null());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_disabled_or_re_passworded_account_do_not_come_back() {
    let app = TestApp::spawn().await;
    let (tess, _) = user(&app, "tess", "ANALYST", &[]).await;
    let token = api_token(&app, &tess, &["READ"]).await;
    let me = "{ me { username } }";
    assert_eq!(app.gql_as(Some(&token), me, json!({})).await.0, 200);
    let id = user_id(&app, "tess").await;
    update_user(&app, json!({ "id": id, "disabled": true })).await;
    assert_eq!(app.gql_as(Some(&token), me, json!({})).await.0, 401);
    update_user(&app, json!({ "id": id, "disabled": false })).await;
    assert_eq!(
        app.gql_as(Some(&token), me, json!({})).await.0,
        401,
        "re-enabling brings no token back"
    );

    let (paul, _) = user(&app, "paul", "ANALYST", &[]).await;
    let token = api_token(&app, &paul, &["READ"]).await;
    let (_, body) = app
        .gql_as(
            Some(&paul),
            "mutation($c: String!) { changePassword(input: {currentPassword: $c, newPassword: \"a brand new passphrase\"}) { ok } }",
            json!({ "c": PASSWORD }),
        )
        .await;
    assert_eq!(body["data"]["changePassword"]["ok"], true, "{body}");
    assert_eq!(app.gql_as(Some(&token), me, json!({})).await.0, 401);
    assert_eq!(
        app.gql_as(Some(&paul), me, json!({})).await.0,
        200,
        "the session that changed it stays"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_a_code_and_the_instance_of_a_job_run_is_for_admins() {
    let app = TestApp::spawn_with(|c| c.exclusion_job_secs = 1).await;
    for query in [
        "subscription { hostEvents { kind } }",
        "query A { me { username } } query B { me { username } }",
    ] {
        let body = app.gql(query, json!({})).await;
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{query}: {body}");
    }
    let (viv, _) = user(&app, "viv", "VIEWER", &[]).await;
    let runs = "{ jobRuns(first: 1) { edges { node { job instance } } } }";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let data = app.ok(runs, json!({})).await;
        if let Some(instance) = data["jobRuns"]["edges"][0]["node"]["instance"].as_str() {
            assert!(!instance.is_empty());
            break;
        }
        assert!(Instant::now() < deadline, "a job ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, body) = app.gql_as(Some(&viv), runs, json!({})).await;
    assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
    let (_, body) = app
        .gql_as(
            Some(&viv),
            "{ jobRuns(first: 1) { edges { node { job } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    app.stop().await;
}
