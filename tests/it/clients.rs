//! What real GraphQL clients do on their first day: urql's GET queries, GraphQL over HTTP's
//! media type, HEAD probes.

use serde_json::{Value, json};

use crate::support::TestApp;

/// `GET /graphql` with `query` (and `variables`) as URL parameters, as urql sends queries.
async fn get(app: &TestApp, params: &[(&str, &str)], accept: &str) -> (u16, String, Value) {
    let res = app
        .client
        .get(format!("{}/graphql", app.base))
        .query(params)
        .header("accept", accept)
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let allow = res
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    let mut body: Value = res.json().await.unwrap_or(Value::Null);
    if let Some(allow) = allow {
        body["allow"] = json!(allow);
    }
    (status, kind, body)
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = TestApp::spawn().await;
    app.create_host("192.0.2.10", &["get.example"], &[]).await;
    let query = "query($a: IpAddr!) { hostByAddress(address: $a) { names } }";
    let (status, kind, body) = get(
        &app,
        &[("query", query), ("variables", r#"{"a":"192.0.2.10"}"#)],
        "application/json",
    )
    .await;
    assert_eq!((status, kind.as_str()), (200, "application/json"), "{body}");
    assert_eq!(
        body["data"]["hostByAddress"]["names"],
        json!(["get.example"])
    );

    // GraphQL over HTTP's own media type, when asked for.
    let (status, kind, body) = get(
        &app,
        &[("query", "{ hosts(first: 1) { totalCount } }")],
        "application/graphql-response+json, application/json;q=0.9",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        kind.starts_with("application/graphql-response+json"),
        "{kind}"
    );
    assert_eq!(body["data"]["hosts"]["totalCount"], 1);

    // A mutation over GET is refused, and nothing happens.
    let (status, _, body) = get(
        &app,
        &[(
            "query",
            "mutation { createHost(input: {address: \"192.0.2.11\"}) { host { id } } }",
        )],
        "application/json",
    )
    .await;
    assert_eq!(
        (status, body["allow"].as_str()),
        (405, Some("POST")),
        "{body}"
    );
    assert_eq!(app.host_count().await, 1);

    // Of several operations, the one named is the one judged.
    let doc = "query Q { hosts(first: 1) { totalCount } } mutation M { logout(input: {refreshToken: \"x\"}) { ok } }";
    let (status, _, _) = get(
        &app,
        &[("query", doc), ("operationName", "M")],
        "application/json",
    )
    .await;
    assert_eq!(status, 405);
    let (status, _, body) = get(
        &app,
        &[("query", doc), ("operationName", "Q")],
        "application/json",
    )
    .await;
    assert_eq!(
        (status, &body["data"]["hosts"]["totalCount"]),
        (200, &json!(1)),
        "{body}"
    );

    // Bad parameters are named.
    let (status, _, body) = get(
        &app,
        &[("query", "{ __typename }"), ("variables", "{nope")],
        "application/json",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("variables"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn graphiql_only_for_a_browser_without_a_query_and_head_answers() {
    let app = TestApp::spawn().await;
    let page = app
        .client
        .get(format!("{}/graphql", app.base))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));
    let (status, _, body) = get(&app, &[], "application/json").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let head = app
        .client
        .head(format!("{}/graphql", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    app.stop().await;
}

/// graphql-js's `getIntrospectionQuery()` (descriptions, directives, nine levels of `ofType`),
/// as GraphiQL, GraphQL Code Generator, Postman and Insomnia send it.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description
    args { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
"#;

/// The standard introspection query answers under the default limits, while a data query as
/// deep as it is still refused and introspection itself stays bounded.
#[tokio::test]
async fn the_standard_introspection_query_answers_under_default_limits() {
    let app = TestApp::spawn().await;
    let data = app.ok(INTROSPECTION, json!({})).await;
    let types = data["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Host"), "{types:?}");
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");

    let deep_data = format!(
        "{{ hosts(first: 1) {{ edges {{ node {{ {}id{} }} }} }} }}",
        "groups { ".repeat(12),
        " }".repeat(12)
    );
    let codes = app.error_codes(&deep_data, json!({})).await;
    assert_eq!(codes, ["QUERY_TOO_COMPLEX"]);

    let deep_introspection = format!(
        "{{ __schema {{ types {{ {}name{} }} }} }}",
        "ofType { ".repeat(25),
        " }".repeat(25)
    );
    let codes = app.error_codes(&deep_introspection, json!({})).await;
    assert_eq!(codes, ["QUERY_TOO_COMPLEX"]);
    app.stop().await;
}

/// Apollo tooling's codes: a document that does not parse is `GRAPHQL_PARSE_FAILED` with a
/// one-line message and its location; one that does not fit the schema is
/// `GRAPHQL_VALIDATION_FAILED`; a bad value stays `BAD_USER_INPUT`.
#[tokio::test]
async fn parse_and_validation_errors_carry_apollo_codes() {
    let app = TestApp::spawn().await;
    let body = app.gql("{ hosts { totalCount ", json!({})).await;
    let error = &body["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "GRAPHQL_PARSE_FAILED",
        "{body}"
    );
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("syntax error") && !message.contains('\n'),
        "{message}"
    );
    assert!(
        error["locations"][0]["line"].as_u64().unwrap() >= 1,
        "{body}"
    );

    let body = app.gql("{ hosts { nope } }", json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    let body = app
        .gql(
            "query($n: Int) { hosts(first: $n) { totalCount } }",
            json!({ "n": "five" }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    app.stop().await;
}

/// Apollo's automatic persisted queries: a hash alone is `PERSISTED_QUERY_NOT_FOUND` until the
/// query is sent with it; then the hash alone runs it, over POST and GET. A wrong hash is
/// refused, and a document the shape checks refuse is never registered.
#[tokio::test]
async fn automatic_persisted_queries_round_trip() {
    use sha2::{Digest, Sha256};
    let app = TestApp::spawn().await;
    app.create_host("192.0.2.40", &[], &[]).await;
    let query = "{ hosts(first: 5) { totalCount } }";
    let hash = hex::encode(Sha256::digest(query.as_bytes()));
    let persisted = |hash: &str| json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let post = |body: Value| {
        let req = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&app.token)
            .json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };

    let unknown = post(json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(
        unknown["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "{unknown}"
    );
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound");

    let wrong = post(json!({ "query": query, "extensions": persisted(&"0".repeat(64)) })).await;
    assert!(wrong["errors"].is_array(), "{wrong}");

    let registered = post(json!({ "query": query, "extensions": persisted(&hash) })).await;
    assert_eq!(registered["data"]["hosts"]["totalCount"], 1, "{registered}");
    let by_hash = post(json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(by_hash["data"]["hosts"]["totalCount"], 1, "{by_hash}");
    let extensions = persisted(&hash).to_string();
    let (status, _, by_get) = get(
        &app,
        &[("extensions", extensions.as_str())],
        "application/json",
    )
    .await;
    assert_eq!(
        (status, &by_get["data"]["hosts"]["totalCount"]),
        (200, &json!(1)),
        "{by_get}"
    );

    // A document refused by the shape checks is not registered.
    let deep = format!(
        "{{ hosts {{ {}id{} }} }}",
        "a { ".repeat(70),
        " }".repeat(70)
    );
    let deep_hash = hex::encode(Sha256::digest(deep.as_bytes()));
    let refused = post(json!({ "query": deep, "extensions": persisted(&deep_hash) })).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{refused}"
    );
    let after = post(json!({ "extensions": persisted(&deep_hash) })).await;
    assert_eq!(
        after["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "{after}"
    );
    app.stop().await;
}

/// A client with default settings (no protocol-level pings of its own, as Apollo, urql and
/// GraphiQL) stays subscribed through 90 idle seconds and then receives an event: the server
/// keeps the socket alive with WebSocket pings, which the client's stack answers.
#[tokio::test]
async fn an_idle_subscription_stays_up_for_ninety_seconds() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let app = TestApp::spawn().await;
    let mut ws = crate::support::subscribe(
        app.server.addr,
        &app.token,
        "subscription { hostEvents { host { address } } }",
        json!({}),
    )
    .await;
    let idle = std::time::Instant::now();
    let mut pings = 0;
    while idle.elapsed() < std::time::Duration::from_secs(90) {
        // Reading is what lets the client's stack answer the server's pings.
        match tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await {
            Err(_) => {}
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(other) => panic!("the idle socket got {other:?}"),
        }
    }
    assert!(pings >= 5, "the server pinged {pings} times in 90 s");
    app.create_host("192.0.2.90", &[], &[]).await;
    let event = crate::support::next_event(&mut ws).await;
    assert_eq!(event["hostEvents"]["host"]["address"], "192.0.2.90");
    app.stop().await;
}

/// Refusals name no location that is not one: GraphQL lines start at 1, so an error about the
/// request as a whole (signed out, a document too deep) carries no `locations` rather than
/// line 0.
#[tokio::test]
async fn refusals_carry_no_line_zero() {
    let app = TestApp::spawn().await;
    let deep = format!("{{ {}id{} }}", "a { ".repeat(70), " }".repeat(70));
    let (_, signed_out) = app
        .gql_as(None, "{ hosts { totalCount } }", json!({}))
        .await;
    let (_, too_deep) = app.gql_as(Some(&app.token), &deep, json!({})).await;
    for body in [signed_out, too_deep] {
        let errors = body["errors"].as_array().unwrap();
        assert!(!errors.is_empty(), "{body}");
        for error in errors {
            assert!(error["extensions"]["code"].is_string(), "{body}");
            for location in error["locations"].as_array().into_iter().flatten() {
                assert!(location["line"].as_u64().unwrap() >= 1, "{body}");
            }
        }
    }
    app.stop().await;
}

/// Fields come back in the order the query asked for them (normalized caches and snapshot
/// tests depend on it), not sorted.
#[tokio::test]
async fn response_fields_keep_the_order_of_the_query() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&app.token)
        .json(&json!({ "query": "{ zeta: hosts { totalCount } alpha: me { username role } mid: __typename }" }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = |key: &str| {
        res.find(&format!("\"{key}\""))
            .unwrap_or_else(|| panic!("{key} in {res}"))
    };
    assert!(at("zeta") < at("alpha") && at("alpha") < at("mid"), "{res}");
    assert!(at("username") < at("role"), "{res}");
    app.stop().await;
}
