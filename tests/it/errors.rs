//! Bad input gets a stable code and changes nothing.

use serde_json::json;

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_code_and_changes_nothing() {
    let app = TestApp::spawn_with(|c| {
        c.max_bulk_hosts = 256;
        c.max_depth = 8;
        c.max_complexity = 500;
        c.max_body_bytes = 4096;
    })
    .await;
    let id = app.create_host("192.0.2.1", &["keep"], &["t"]).await;
    let before = app
        .ok(
            "{ hosts { edges { node { id address names updatedAt tags { name } } } } }",
            json!({}),
        )
        .await;

    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        // Malformed address, as a variable and inline.
        (
            "query($a: IpAddr!) { hostByAddress(address: $a) { id } }",
            json!({ "a": "300.1.1.1" }),
            "BAD_USER_INPUT",
        ),
        (
            r#"{ hostByAddress(address: "not-an-ip") { id } }"#,
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "mutation($i: CreateHostInput!) { createHost(input: $i) { host { id } } }",
            json!({ "i": { "address": "10.0.0.256" } }),
            "BAD_USER_INPUT",
        ),
        // Malformed CIDR, and one with host bits set.
        (
            r#"{ hosts(filter: {within: "10.0.0.0/33"}) { totalCount } }"#,
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            r#"{ hosts(filter: {within: "10.0.0.5/8"}) { totalCount } }"#,
            json!({}),
            "BAD_USER_INPUT",
        ),
        // A range over the cap.
        (
            r#"mutation { addHosts(input: {cidr: "10.0.0.0/16"}) { created } }"#,
            json!({}),
            "BAD_USER_INPUT",
        ),
        // Unknown id (well-formed), and an id of another type.
        (
            "mutation($i: UpdateHostInput!) { updateHost(input: $i) { host { id } } }",
            json!({ "i": { "id": "SG9zdDo5OTk5OTk", "notes": "x" } }),
            "NOT_FOUND",
        ),
        (
            "mutation($id: ID!) { deleteHost(input: {id: $id}) { deletedHostId } }",
            json!({ "id": "SG9zdDo5OTk5OTk" }),
            "NOT_FOUND",
        ),
        (
            "query { host(id: \"not an id\") { id } }",
            json!({}),
            "BAD_USER_INPUT",
        ),
        // Duplicate address, in another spelling of the same address.
        (
            "mutation($i: CreateHostInput!) { createHost(input: $i) { host { id } } }",
            json!({ "i": { "address": "::ffff:192.0.2.1" } }),
            "CONFLICT",
        ),
        // Invalid field values.
        (
            "mutation($i: UpdateHostInput!) { updateHost(input: $i) { host { id } } }",
            json!({ "i": { "id": id, "link": "javascript:alert(1)" } }),
            "BAD_USER_INPUT",
        ),
        (
            "mutation($i: UpdateHostInput!) { updateHost(input: $i) { host { id } } }",
            json!({ "i": { "id": id, "names": ["ok", "x".repeat(300)] } }),
            "BAD_USER_INPUT",
        ),
        // Pages over the cap.
        (
            "{ hosts(first: 150) { totalCount } }",
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "{ hosts(first: -1) { totalCount } }",
            json!({}),
            "BAD_USER_INPUT",
        ),
        // Too deep, too complex.
        (
            "{ hosts { edges { node { groups { edges { node { hosts { edges { node { groups { totalCount } } } } } } } } } } }",
            json!({}),
            "QUERY_TOO_COMPLEX",
        ),
        (
            "{ hosts(first: 100) { edges { node { id address names tags { name usage } urls { url } } } } }",
            json!({}),
            "QUERY_TOO_COMPLEX",
        ),
        // Not valid against the schema; not GraphQL at all (Apollo's codes).
        ("{ hosts { nope } }", json!({}), "GRAPHQL_VALIDATION_FAILED"),
        ("{ hosts {", json!({}), "GRAPHQL_PARSE_FAILED"),
    ];
    for (query, vars, code) in cases {
        let codes = app.error_codes(query, vars.clone()).await;
        assert_eq!(codes, vec![code.to_owned()], "{query} with {vars}");
    }

    // An oversized body is refused with 413 before it is read, declared or streamed.
    let big = json!({ "query": format!("{{ hosts {{ totalCount }} }} #{}", "x".repeat(8000)) });
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let chunks =
        futures_util::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1000])));
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413, "a chunked body is cut off at the limit");

    // Not JSON: refused without executing.
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("query=mutation{deleteHost(input:{id:\"x\"}){deletedHostId}}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);

    let after = app
        .ok(
            "{ hosts { edges { node { id address names updatedAt tags { name } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(before, after, "no bad request changed stored data");
    app.stop().await;
}

/// Renames a table out from under the running server, as a broken database would look.
async fn rename_table(url: &str, from: &str, to: &str) {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(url).await.unwrap();
    db.execute_unprepared(&format!("ALTER TABLE {from} RENAME TO {to}"))
        .await
        .unwrap();
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_database_shows_the_client_internal_and_nothing_of_its_cause() {
    let app = TestApp::spawn().await;
    app.create_host("192.0.2.1", &["web"], &["prod"]).await;
    app.create_host("192.0.2.2", &["db"], &["prod"]).await;
    rename_table(&app.db.url, "host_tag", "host_tag_broken").await;
    let body = app
        .gql(
            "{ hosts { edges { node { address tags { name } } } } }",
            json!({}),
        )
        .await;
    let errors = body["errors"].as_array().expect("errors");
    assert!(!errors.is_empty(), "{body}");
    for e in errors {
        assert_eq!(e["extensions"]["code"], "INTERNAL", "{body}");
        assert_eq!(e["message"], "internal error", "{body}");
    }
    let text = body.to_string().to_lowercase();
    for leak in [
        "host_tag",
        "select",
        "sqlite",
        "mysql",
        "no such table",
        "doesn't exist",
        ".rs",
    ] {
        assert!(!text.contains(leak), "{leak:?} reached the client: {body}");
    }
    // A write that hits the broken table is refused whole, with the same face.
    let codes = app
        .error_codes(
            "mutation { createHost(input: {address: \"192.0.2.3\", tags: [\"x\"]}) { host { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(codes, vec!["INTERNAL".to_owned()]);
    rename_table(&app.db.url, "host_tag_broken", "host_tag").await;
    assert_eq!(
        app.host_count().await,
        2,
        "nothing of the failed write was kept"
    );
    let data = app
        .ok("{ hosts { edges { node { tags { name } } } } }", json!({}))
        .await;
    assert_eq!(
        data["hosts"]["edges"][0]["node"]["tags"],
        json!([{ "name": "prod" }])
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_validated_before_still_refuses_bad_variables() {
    let app = TestApp::spawn().await;
    app.create_host("192.0.2.1", &["web"], &[]).await;
    let query = "query($a: IpAddr!, $n: Int) { hostByAddress(address: $a) { address } hosts(first: $n) { totalCount } }";
    for _ in 0..2 {
        let data = app.ok(query, json!({ "a": "192.0.2.1", "n": 5 })).await;
        assert_eq!(data["hostByAddress"]["address"], "192.0.2.1");
    }
    // The same text, now known: bad values are refused as before, with their code.
    for vars in [
        json!({ "a": "300.1.1.1", "n": 5 }),
        json!({ "a": "192.0.2.1", "n": "five" }),
        json!({ "a": "192.0.2.1", "n": -1 }),
        json!({ "n": 5 }),
    ] {
        let codes = app.error_codes(query, vars.clone()).await;
        assert!(
            codes.iter().all(|c| c == "BAD_USER_INPUT"),
            "{vars}: {codes:?}"
        );
    }
    app.stop().await;
}
