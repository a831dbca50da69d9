//! Each mutation does what it says: the ones the authorization matrix only calls with bad
//! input are run here for real, and their effect is read back.

use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, user};

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_are_created_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let host = app.create_host("192.0.2.1", &["web"], &[]).await;
    let created = app
        .ok(
            "mutation($h: ID!) { createUrl(input: {hostId: $h, url: \"https://web.example.org/\", screenshot: \"web.png\"}) { url { id url screenshot host { id } } } }",
            json!({ "h": host }),
        )
        .await;
    let url = &created["createUrl"]["url"];
    assert_eq!(url["url"], "https://web.example.org/");
    assert_eq!(url["host"]["id"], host.as_str());
    let id = url["id"].as_str().unwrap().to_owned();
    let updated = app
        .ok(
            "mutation($id: ID!) { updateUrl(input: {id: $id, url: \"https://web.example.org/admin\", screenshot: null}) { url { url screenshot } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        updated["updateUrl"]["url"],
        json!({ "url": "https://web.example.org/admin", "screenshot": null })
    );
    let urls = app
        .ok(
            "query($h: ID!) { host(id: $h) { urls { url } } }",
            json!({ "h": host }),
        )
        .await;
    assert_eq!(
        urls["host"]["urls"],
        json!([{ "url": "https://web.example.org/admin" }])
    );
    let deleted = app
        .ok(
            "mutation($id: ID!) { deleteUrl(input: {id: $id}) { deletedUrlId } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(deleted["deleteUrl"]["deletedUrlId"], id.as_str());
    let urls = app
        .ok(
            "query($h: ID!) { host(id: $h) { urls { url } } }",
            json!({ "h": host }),
        )
        .await;
    assert_eq!(urls["host"]["urls"], json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogs_are_updated_and_deleted_and_hosts_follow() {
    let app = TestApp::spawn().await;
    let create = |m: &'static str, field: &'static str, name: &'static str| {
        let app = &app;
        async move {
            let data = app
                .ok(
                    &format!(
                        "mutation {{ {m}(input: {{name: \"{name}\"}}) {{ x: {field} {{ id }} }} }}"
                    ),
                    json!({}),
                )
                .await;
            data[m]["x"]["id"].as_str().unwrap().to_owned()
        }
    };
    let group = create("createHostGroup", "hostGroup", "web").await;
    let support = create("createSupportGroup", "supportGroup", "Unix").await;
    let place = create("createLocation", "location", "DC 1").await;
    let host = app
        .ok(
            "mutation($g: ID!, $s: ID!, $l: ID!) { createHost(input: {address: \"192.0.2.7\", groupIds: [$g], supportGroupId: $s, locationId: $l}) { host { id } } }",
            json!({ "g": group, "s": support, "l": place }),
        )
        .await["createHost"]["host"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let data = app
        .ok(
            "mutation($g: ID!, $s: ID!) {
                updateHostGroup(input: {id: $g, name: \"frontends\", detail: \"public web\"}) { hostGroup { name detail } }
                updateSupportGroup(input: {id: $s, name: \"Unix team\", email: \"unix@example.org\"}) { supportGroup { name email } }
            }",
            json!({ "g": group, "s": support }),
        )
        .await;
    assert_eq!(
        data["updateHostGroup"]["hostGroup"],
        json!({ "name": "frontends", "detail": "public web" })
    );
    assert_eq!(
        data["updateSupportGroup"]["supportGroup"],
        json!({ "name": "Unix team", "email": "unix@example.org" })
    );
    let seen = app
        .ok(
            "query($h: ID!) { host(id: $h) { supportGroup { name } location { name } groups { edges { node { name } } } } }",
            json!({ "h": host }),
        )
        .await;
    assert_eq!(seen["host"]["supportGroup"]["name"], "Unix team");
    assert_eq!(names(&seen["host"]["groups"]["edges"]), ["frontends"]);

    app.ok(
        "mutation($l: ID!, $s: ID!) { deleteLocation(input: {id: $l}) { deletedLocationId } deleteSupportGroup(input: {id: $s}) { deletedSupportGroupId } }",
        json!({ "l": place, "s": support }),
    )
    .await;
    let seen = app
        .ok(
            "query($h: ID!) { host(id: $h) { supportGroup { name } location { name } } }",
            json!({ "h": host }),
        )
        .await;
    assert_eq!(
        seen["host"],
        json!({ "supportGroup": null, "location": null }),
        "the host stays, unlinked"
    );
    let lists = app
        .ok(
            "{ locations { totalCount } supportGroups { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        lists,
        json!({ "locations": { "totalCount": 0 }, "supportGroups": { "totalCount": 0 } })
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_join_groups_and_an_exclusion_is_cleared() {
    let app = TestApp::spawn().await;
    let a = app.create_host("192.0.2.1", &[], &[]).await;
    let b = app.create_host("192.0.2.2", &[], &[]).await;
    let group = app
        .ok(
            "mutation { createHostGroup(input: {name: \"lab\"}) { hostGroup { id } } }",
            json!({}),
        )
        .await["createHostGroup"]["hostGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let data = app
        .ok(
            "mutation($h: [ID!]!, $g: [ID!]!) { addHostsToGroups(input: {hostIds: $h, groupIds: $g}) { hosts { id } } }",
            json!({ "h": [a, b], "g": [group] }),
        )
        .await;
    assert_eq!(
        data["addHostsToGroups"]["hosts"].as_array().unwrap().len(),
        2
    );
    let members = app
        .ok(
            "query($g: ID!) { hosts(filter: {group: $g}) { totalCount } }",
            json!({ "g": group }),
        )
        .await;
    assert_eq!(members["hosts"]["totalCount"], 2);

    app.ok(
        "mutation($h: ID!) { setScanExclusion(input: {hostId: $h, reason: \"fragile\", duration: FOREVER}) { host { id } } }",
        json!({ "h": a }),
    )
    .await;
    let excluded = app
        .ok(
            "{ hosts(filter: {excluded: true}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(excluded["hosts"]["totalCount"], 1);
    let cleared = app
        .ok(
            "mutation($h: ID!) { clearScanExclusion(input: {hostId: $h}) { host { scanExclusion { reason } } } }",
            json!({ "h": a }),
        )
        .await;
    assert_eq!(
        cleared["clearScanExclusion"]["host"]["scanExclusion"],
        Value::Null
    );
    let excluded = app
        .ok(
            "{ hosts(filter: {excluded: true}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(excluded["hosts"]["totalCount"], 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_takes_and_sessions_are_revoked_on_request() {
    let app = TestApp::spawn().await;
    let (mia, _) = user(&app, "mia", "VIEWER", &[]).await;
    let (other_session, _) = {
        let login = app.login("mia", PASSWORD).await;
        (
            login["data"]["login"]["accessToken"]
                .as_str()
                .unwrap()
                .to_owned(),
            (),
        )
    };
    let (_, body) = app
        .gql_as(
            Some(&mia),
            "mutation { changePassword(input: {currentPassword: \"a-long-test-password\", newPassword: \"a different long passphrase\"}) { ok } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["changePassword"]["ok"], true, "{body}");
    assert!(
        app.login("mia", PASSWORD).await["errors"].is_array(),
        "the old password is gone"
    );
    let fresh = app.login("mia", "a different long passphrase").await;
    let fresh = fresh["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.gql_as(Some(&other_session), "{ me { username } }", json!({}))
            .await
            .0,
        401,
        "other sessions ended"
    );

    // Revoking one's own sessions ends them all, this one included.
    let (_, body) = app
        .gql_as(
            Some(&fresh),
            "mutation { revokeSessions(input: {}) { revoked } }",
            json!({}),
        )
        .await;
    assert!(
        body["data"]["revokeSessions"]["revoked"].as_i64().unwrap() >= 2,
        "{body}"
    );
    assert_eq!(
        app.gql_as(Some(&fresh), "{ me { username } }", json!({}))
            .await
            .0,
        401
    );
    assert_eq!(
        app.gql_as(Some(&mia), "{ me { username } }", json!({}))
            .await
            .0,
        401
    );

    // An admin ends another user's sessions.
    let (ned, _) = user(&app, "ned", "VIEWER", &[]).await;
    let users = app
        .ok(
            "{ users(first: 10) { edges { node { id username } } } }",
            json!({}),
        )
        .await;
    let ned_id = users["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["username"] == "ned")
        .unwrap()["node"]["id"]
        .clone();
    let data = app
        .ok(
            "mutation($u: ID!) { revokeSessions(input: {userId: $u}) { revoked } }",
            json!({ "u": ned_id }),
        )
        .await;
    assert_eq!(data["revokeSessions"]["revoked"], 1);
    assert_eq!(
        app.gql_as(Some(&ned), "{ me { username } }", json!({}))
            .await
            .0,
        401
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_tokens_and_the_audit_log_count_their_lists() {
    let app = TestApp::spawn().await;
    let (viv, _) = user(&app, "viv", "VIEWER", &[]).await;
    for name in ["a", "b"] {
        app.ok(
            &format!("mutation {{ createApiToken(input: {{name: \"{name}\", scopes: [READ]}}) {{ secret }} }}"),
            json!({}),
        )
        .await;
    }
    app.gql_as(
        Some(&viv),
        "mutation { createApiToken(input: {name: \"v\", scopes: [READ]}) { secret } }",
        json!({}),
    )
    .await;
    let data = app
        .ok(
            "{ users { totalCount } apiTokens { totalCount } auditLog(filter: {action: CREATE_API_TOKEN}) { totalCount } all: auditLog { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["users"]["totalCount"], 2);
    assert_eq!(
        data["apiTokens"]["totalCount"], 3,
        "an admin counts everyone's tokens"
    );
    assert_eq!(data["auditLog"]["totalCount"], 3);
    assert!(data["all"]["totalCount"].as_u64().unwrap() >= 6);
    let (_, body) = app
        .gql_as(Some(&viv), "{ apiTokens { totalCount } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["apiTokens"]["totalCount"], 1,
        "others count their own: {body}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_compose_in_one_transaction_and_a_failure_keeps_nothing() {
    use api::actor::HostScope;
    use api::host::service::{self, NewHost};
    let app = TestApp::spawn().await;
    let host = |address: &str| NewHost::at(address.parse().unwrap());
    let (a, b) = (host("192.0.2.1"), host("192.0.2.2"));
    let done = api::db::write(&app.server.state.db, move |txn| {
        let (a, b) = (a.clone(), b.clone());
        Box::pin(async move {
            service::create(txn, &HostScope::All, a).await?;
            service::create(txn, &HostScope::All, b).await
        })
    })
    .await;
    assert!(done.is_ok());
    assert_eq!(app.host_count().await, 2);

    // The second step fails (the address is taken): the first is rolled back with it.
    let (c, taken) = (host("192.0.2.3"), host("192.0.2.1"));
    let failed = api::db::write(&app.server.state.db, move |txn| {
        let (c, taken) = (c.clone(), taken.clone());
        Box::pin(async move {
            service::create(txn, &HostScope::All, c).await?;
            service::create(txn, &HostScope::All, taken).await
        })
    })
    .await;
    assert!(matches!(failed, Err(api::error::AppError::Conflict(_))));
    assert_eq!(
        app.host_count().await,
        2,
        "nothing of the failed work was kept"
    );
    let found = app
        .ok(
            "{ hostByAddress(address: \"192.0.2.3\") { id } }",
            json!({}),
        )
        .await;
    assert!(found["hostByAddress"].is_null());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_declare_their_relations() {
    use entity::{app_user, host, support_group, tag};
    use sea_orm::{EntityTrait, ModelTrait};
    let app = TestApp::spawn().await;
    let group = app
        .ok(
            "mutation { createSupportGroup(input: {name: \"Ops\"}) { supportGroup { id } } }",
            json!({}),
        )
        .await["createSupportGroup"]["supportGroup"]["id"]
        .clone();
    app.ok(
        "mutation($g: ID!) { createHost(input: {address: \"192.0.2.1\", supportGroupId: $g, tags: [\"a\", \"b\"]}) { host { id } } }",
        json!({ "g": group }),
    )
    .await;
    let db = &app.server.state.db;
    let (found, sg) = host::Entity::find()
        .find_also_related(support_group::Entity)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sg.unwrap().name, "Ops");
    let tags = found
        .find_related(entity::host_tag::Entity)
        .all(db)
        .await
        .unwrap();
    assert_eq!(tags.len(), 2);
    let tag = tags[0]
        .find_related(tag::Entity)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert!(["a", "b"].contains(&tag.name.as_str()));
    let admin = app_user::Entity::find().one(db).await.unwrap().unwrap();
    let sessions = admin
        .find_related(entity::session::Entity)
        .all(db)
        .await
        .unwrap();
    assert!(!sessions.is_empty(), "the admin's sign-in");
    app.stop().await;
}
