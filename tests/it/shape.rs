//! The shape of the API as clients meet it: people, tokens and audit entries are nodes guarded
//! as their roots are, objects instead of ids, enums instead of strings, `orderBy` on lists.

use serde_json::{Value, json};

use crate::support::{TestApp, api_token, user};

fn names(conn: &Value) -> Vec<String> {
    conn["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("a connection: {conn}"))
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn users_tokens_and_audit_entries_are_nodes_guarded_as_their_roots() {
    let app = TestApp::spawn().await;
    let (ann, _) = user(&app, "ann", "ANALYST", &[]).await;
    let (_bea, _) = user(&app, "bea", "ANALYST", &[]).await;
    api_token(&app, &ann, &["READ"]).await;

    let ids = app
        .ok(
            "{ users(orderBy: {field: NAME}) { edges { node { id username } } }
               apiTokens { edges { node { id owner { username role } ownerId } } }
               auditLog(first: 1, filter: {action: CREATE_USER, outcome: OK}) { edges { node { id action outcome actor { username } } } } }",
            json!({}),
        )
        .await;
    let user_id = |name: &str| {
        ids["users"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["node"]["username"] == name)
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{name} in {ids}"))
    };
    let (ann_id, bea_id) = (user_id("ann"), user_id("bea"));
    let token = &ids["apiTokens"]["edges"][0]["node"];
    assert_eq!(token["owner"]["username"], "ann", "{ids}");
    assert_eq!(token["owner"]["role"], "ANALYST");
    assert_eq!(token["ownerId"], ann_id.as_str());
    let token_id = token["id"].as_str().unwrap().to_owned();
    let entry = &ids["auditLog"]["edges"][0]["node"];
    assert_eq!(entry["action"], "CREATE_USER");
    assert_eq!(entry["outcome"], "OK");
    assert_eq!(entry["actor"]["username"], "admin");
    let entry_id = entry["id"].as_str().unwrap().to_owned();

    let query = "query($u: ID!, $v: ID!, $t: ID!, $e: ID!) {
        u: node(id: $u) { id ... on User { username } }
        v: node(id: $v) { id ... on User { username } }
        t: node(id: $t) { id ... on ApiToken { name } }
        e: node(id: $e) { id ... on AuditEntry { action } }
        user(id: $t) { id }
    }";
    let vars = json!({ "u": ann_id, "v": bea_id, "t": token_id, "e": entry_id });

    // Admins reach all of them.
    let admin = app.ok(query, vars.clone()).await;
    assert_eq!(admin["u"]["username"], "ann");
    assert_eq!(admin["v"]["username"], "bea");
    assert_eq!(admin["t"]["name"], "t");
    assert_eq!(admin["e"]["action"], "CREATE_USER");
    assert!(
        admin["user"].is_null(),
        "a token's id is no user's: {admin}"
    );

    // Ann reaches herself and her token, not another user nor the audit log.
    let (status, body) = app.gql_as(Some(&ann), query, vars.clone()).await;
    assert_eq!(status, 200);
    let data = &body["data"];
    assert_eq!(data["u"]["username"], "ann", "{body}");
    assert_eq!(data["t"]["name"], "t", "{body}");
    assert!(data["v"].is_null(), "{body}");
    assert!(data["e"].is_null(), "{body}");

    // Bea does not reach Ann's token.
    let (bea, _) = (app.login("bea", crate::support::PASSWORD).await, ());
    let bea = bea["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app.gql_as(Some(&bea), query, vars).await;
    assert!(body["data"]["t"].is_null(), "{body}");
    assert!(body["data"]["u"].is_null(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn catalog_and_user_lists_order_as_asked_and_page_in_that_order() {
    let app = TestApp::spawn().await;
    for name in ["delta", "Alpha", "charlie", "bravo"] {
        app.ok(
            "mutation($n: String!) { createTag(input: {name: $n}) { tag { id } } }",
            json!({ "n": name }),
        )
        .await;
    }
    let list = |order: &'static str| {
        let app = &app;
        async move {
            app.ok(
                &format!("{{ tags(first: 10 {order}) {{ edges {{ node {{ name }} }} }} }}"),
                json!({}),
            )
            .await
        }
    };
    assert_eq!(
        names(&list("").await["tags"]),
        ["Alpha", "bravo", "charlie", "delta"],
        "by name, case-insensitive, by default"
    );
    assert_eq!(
        names(&list(", orderBy: {field: NAME, direction: DESC}").await["tags"]),
        ["delta", "charlie", "bravo", "Alpha"]
    );
    assert_eq!(
        names(&list(", orderBy: {field: CREATED_AT}").await["tags"]),
        ["delta", "Alpha", "charlie", "bravo"]
    );
    assert_eq!(
        names(&list(", orderBy: {field: CREATED_AT, direction: DESC}").await["tags"]),
        ["bravo", "charlie", "Alpha", "delta"]
    );

    // Paging continues in the order asked for; a cursor of another order is refused.
    let first = app
        .ok(
            "{ tags(first: 2, orderBy: {field: NAME, direction: DESC}) { edges { node { name } } pageInfo { endCursor hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(names(&first["tags"]), ["delta", "charlie"]);
    let cursor = first["tags"]["pageInfo"]["endCursor"].clone();
    let rest = app
        .ok(
            "query($c: String!) { tags(first: 5, after: $c, orderBy: {field: NAME, direction: DESC}) { edges { node { name } } pageInfo { hasNextPage } } }",
            json!({ "c": cursor }),
        )
        .await;
    assert_eq!(names(&rest["tags"]), ["bravo", "Alpha"]);
    assert_eq!(rest["tags"]["pageInfo"]["hasNextPage"], false);
    let codes = app
        .error_codes(
            "query($c: String!) { tags(first: 5, after: $c) { edges { node { name } } } }",
            json!({ "c": cursor }),
        )
        .await;
    assert_eq!(codes, ["BAD_USER_INPUT"]);

    // Users by username, either way.
    user(&app, "zed", "VIEWER", &[]).await;
    user(&app, "mia", "VIEWER", &[]).await;
    let users = app
        .ok(
            "{ a: users(orderBy: {field: NAME}) { edges { node { username } } }
               d: users(orderBy: {field: NAME, direction: DESC}) { edges { node { username } } }
               c: users { edges { node { username } } } }",
            json!({}),
        )
        .await;
    let usernames = |key: &str| -> Vec<String> {
        users[key]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["username"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(usernames("a"), ["admin", "mia", "zed"]);
    assert_eq!(usernames("d"), ["zed", "mia", "admin"]);
    assert_eq!(usernames("c"), ["admin", "zed", "mia"], "oldest first");
    app.stop().await;
}

#[tokio::test]
async fn every_audited_mutation_has_an_audit_action() {
    let app = TestApp::spawn().await;
    let data = app
        .ok(
            r#"{ m: __type(name: "Mutation") { fields { name } }
                 a: __type(name: "AuditAction") { enumValues { name } } }"#,
            json!({}),
        )
        .await;
    let actions: Vec<String> = data["a"]["enumValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect();
    let screaming = |camel: &str| {
        let mut out = String::new();
        for c in camel.chars() {
            if c.is_ascii_uppercase() {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
        out
    };
    let missing: Vec<String> = data["m"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .filter(|name| *name != "refreshSession")
        .map(screaming)
        .filter(|name| !actions.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "mutations without an AuditAction value: {missing:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn time_ordered_lists_run_either_way() {
    let app = TestApp::spawn().await;
    for name in ["t1", "t2", "t3"] {
        app.ok(
            "mutation($n: String!) { createApiToken(input: {name: $n, scopes: [READ]}) { apiToken { id } } }",
            json!({ "n": name }),
        )
        .await;
    }
    let data = app
        .ok(
            "{ oldest: apiTokens { edges { node { name } } }
               newest: apiTokens(orderBy: {direction: DESC}) { edges { node { name } } }
               logNew: auditLog(first: 50) { edges { node { id } } }
               logOld: auditLog(first: 50, orderBy: {direction: ASC}) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(names(&data["oldest"]), ["t1", "t2", "t3"]);
    assert_eq!(names(&data["newest"]), ["t3", "t2", "t1"]);
    let ids = |key: &str| -> Vec<String> {
        data[key]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (mut newest, oldest) = (ids("logNew"), ids("logOld"));
    assert!(newest.len() >= 3, "{data}");
    newest.reverse();
    assert_eq!(newest, oldest);
    app.stop().await;
}

#[tokio::test]
async fn others_see_who_set_an_exclusion_but_not_their_private_details() {
    let app = TestApp::spawn().await;
    let group = app
        .ok(
            r#"mutation { createSupportGroup(input: {name: "Ops"}) { supportGroup { id } } }"#,
            json!({}),
        )
        .await["createSupportGroup"]["supportGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let host = app
        .ok(
            "mutation($g: ID!) { createHost(input: {address: \"192.0.2.5\", supportGroupId: $g}) { host { id } } }",
            json!({ "g": group }),
        )
        .await["createHost"]["host"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        r#"mutation($h: ID!) { setScanExclusion(input: {hostId: $h, reason: "fragile", duration: ONE_DAY}) { host { id } } }"#,
        json!({ "h": host }),
    )
    .await;
    let (vera, _) = user(&app, "vera", "VIEWER", &[&group]).await;
    let query = "query($h: ID!) { host(id: $h) { scanExclusion { setBy { username role email lastLoginAt } } } }";

    let (_, body) = app.gql_as(Some(&vera), query, json!({ "h": host })).await;
    let setter = &body["data"]["host"]["scanExclusion"]["setBy"];
    assert_eq!(setter["username"], "admin", "{body}");
    assert_eq!(setter["role"], "ADMIN");
    assert!(
        setter["email"].is_null() && setter["lastLoginAt"].is_null(),
        "{body}"
    );
    let (_, body) = app
        .gql_as(
            Some(&vera),
            "query($h: ID!) { host(id: $h) { scanExclusion { setBy { supportGroups { id } } } } }",
            json!({ "h": host }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );

    // The admin sees the same user in full; a user sees themselves in full.
    let admin = app.ok(query, json!({ "h": host })).await;
    assert!(
        admin["host"]["scanExclusion"]["setBy"]["lastLoginAt"].is_string(),
        "{admin}"
    );
    let (_, me) = app
        .gql_as(
            Some(&vera),
            "{ me { lastLoginAt supportGroups { name } } }",
            json!({}),
        )
        .await;
    assert!(me["data"]["me"]["lastLoginAt"].is_string(), "{me}");
    assert_eq!(me["data"]["me"]["supportGroups"][0]["name"], "Ops");
    app.stop().await;
}

/// `totalCount` is of the same moment as the page beside it: while tags are created one after
/// another, every answer counts exactly the tags it lists. (Counted after the page, from the
/// pool, a tag committed between the two reads was counted and not listed.)
#[tokio::test]
async fn a_connections_total_count_is_of_the_same_moment_as_its_edges() {
    const TAGS: usize = 60;
    let app = TestApp::spawn().await;
    let writer = async {
        for i in 0..TAGS {
            app.ok(
                "mutation($n: String!) { createTag(input: {name: $n}) { tag { id } } }",
                json!({ "n": format!("t{i:02}") }),
            )
            .await;
        }
    };
    let reader = async {
        let mut seen = std::collections::BTreeSet::new();
        loop {
            let list = app
                .ok(
                    "{ tags(first: 100) { totalCount edges { node { name } } } }",
                    json!({}),
                )
                .await;
            let listed = list["tags"]["edges"].as_array().unwrap().len();
            assert_eq!(list["tags"]["totalCount"], listed, "{list}");
            seen.insert(listed);
            if listed == TAGS {
                return seen;
            }
        }
    };
    let ((), seen) = tokio::join!(writer, reader);
    // The reads overlapped the writes: they saw the list at several sizes on its way up.
    assert!(seen.len() > 5, "{seen:?}");
    // Asked for through fragments, it is counted too.
    let sized = app
        .ok(
            "{ tags(first: 1) { ...Sized } } fragment Sized on TagConnection { ... on TagConnection { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(sized["tags"]["totalCount"], TAGS, "{sized}");
    app.stop().await;
}
