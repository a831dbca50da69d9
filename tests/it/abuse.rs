//! The attack review's weaknesses, each shown closed through the real server: password
//! guessing, rate limits on operations, socket caps, audit cost, lock-outs, anonymous hints,
//! the existence oracle, what disabling an account does to its tokens, and error codes.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::security::{admin_creates, close_code, first_code, update_user, user_id, ws_send};
use crate::support::{PASSWORD, TestApp, api_token, next_message, open_socket, user};

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
    let owner = crate::support::http_client()
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
    let mut ws = open_socket(app.server.addr, &wendy).await;
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
    let mut ws = open_socket(app.server.addr, &app.token).await;
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
        "subscription { hostEvents { kind hostId } }",
        json!({}),
    )
    .await;
    // A subscription starts at its own start, which the server reaches asynchronously: create
    // hosts until subscription 5 hears one. By then the socket's earlier `complete` of 1 has
    // been handled too (a socket's messages are handled in order).
    let mut heard = false;
    for n in 10..40 {
        app.create_host(&format!("192.0.2.{n}"), &[], &[]).await;
        while let Ok(Some(msg)) =
            tokio::time::timeout(Duration::from_millis(300), next_message(&mut ws)).await
        {
            heard |= msg["type"] == "next" && msg["id"] == "5";
        }
        if heard {
            break;
        }
    }
    assert!(heard, "subscription 5 started");
    // One more event reaches exactly the three live subscriptions.
    app.create_host("192.0.2.99", &[], &[]).await;
    let mut ids = Vec::new();
    while let Ok(Some(msg)) =
        tokio::time::timeout(Duration::from_millis(1500), next_message(&mut ws)).await
    {
        assert_eq!(msg["type"], "next", "{msg}");
        ids.push(msg["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    assert_eq!(ids, ["2", "3", "5"]);

    let _second = open_socket(app.server.addr, &app.token).await;
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
    let _fourth = open_socket(app.server.addr, &app.token).await;
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
        .ok("{ auditLog(first: 50, filter: {action: CREATE_USER}) { edges { node { actorName outcome repeats } } } }", json!({}))
        .await;
    assert_eq!(
        audit["auditLog"]["edges"],
        json!([{ "node": { "actorName": "anonymous", "outcome": "UNAUTHENTICATED", "repeats": 20 } }]),
        "one row for twenty refusals, none for the refused document"
    );
    // Successes keep one row each, with their target.
    let data = app
        .ok(&aliases(2).replace("ADMIN", "VIEWER"), json!({}))
        .await;
    let audit = app
        .ok("{ auditLog(first: 50, filter: {action: CREATE_USER, outcome: OK}) { edges { node { target repeats } } } }", json!({}))
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
    assert_eq!(first_code(&anonymous), "GRAPHQL_VALIDATION_FAILED");
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

/// A body trickled one byte a second is cut when its deadline passes (408), however long the
/// client would go on; the server serves others meanwhile.
#[tokio::test]
async fn a_body_trickled_a_byte_a_second_is_cut() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(|c| c.body_timeout_secs = 2).await;
    let mut conn = tokio::net::TcpStream::connect(app.server.addr)
        .await
        .unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n",
        app.server.addr
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let trickle = async {
        loop {
            if conn.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            if started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
    };
    // Meanwhile another client is served.
    let other = app.ok("{ hosts(first: 1) { totalCount } }", json!({}));
    let ((), other) = tokio::join!(trickle, other);
    assert_eq!(other["hosts"]["totalCount"], 0);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "the connection stayed {took:?}"
    );
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    app.stop().await;
}
