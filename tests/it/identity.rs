//! Identity and access through the real server: the authorization matrix, tokens, sessions,
//! scoping, throttling, rate limits, introspection and the audit log.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::support::{TestApp, next_message, subscribe};

const PASSWORD: &str = "a-long-test-password";

fn gid(kind: &str, n: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{n}"))
}

/// Creates a user with `role` (and support groups) as the admin, signs in, returns the
/// access token and the refresh token.
async fn user(app: &TestApp, name: &str, role: &str, groups: &[&str]) -> (String, String) {
    app.ok(
        "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }",
        json!({ "i": { "username": name, "role": role, "password": PASSWORD, "supportGroupIds": groups } }),
    )
    .await;
    let login = app.login(name, PASSWORD).await;
    let tokens = &login["data"]["login"];
    (
        tokens["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{login}"))
            .to_owned(),
        tokens["refreshToken"].as_str().unwrap().to_owned(),
    )
}

async fn api_token(app: &TestApp, as_token: &str, scopes: &[&str]) -> String {
    let (_, body) = app
        .gql_as(
            Some(as_token),
            "mutation($s: [TokenScope!]!) { createApiToken(input: {name: \"t\", scopes: $s}) { secret apiToken { prefix } } }",
            json!({ "s": scopes }),
        )
        .await;
    let secret = body["data"]["createApiToken"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(secret.starts_with("hct_"));
    assert!(
        secret.starts_with(
            body["data"]["createApiToken"]["apiToken"]["prefix"]
                .as_str()
                .unwrap()
        )
    );
    secret.to_owned()
}

/// Whether the guard refused the field (as opposed to the call failing on its input).
fn refused(body: &Value) -> bool {
    body["errors"].as_array().is_some_and(|errors| {
        errors.iter().any(|e| {
            let code = e["extensions"]["code"].as_str().unwrap_or_default();
            let message = e["message"].as_str().unwrap_or_default();
            (code == "UNAUTHENTICATED" && message == "authentication required")
                || (code == "FORBIDDEN" && message.starts_with("not allowed to use"))
        })
    })
}

/// The root fields of `schema.graphql`, as `Type.field`.
fn root_fields() -> BTreeSet<String> {
    let sdl =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    let mut out = BTreeSet::new();
    let mut current: Option<&str> = None;
    let mut in_description = false;
    let mut parens = 0i32;
    for line in sdl.lines() {
        let t = line.trim();
        if t.starts_with("\"\"\"") {
            if !(t.len() > 3 && t.ends_with("\"\"\"")) {
                in_description = !in_description;
            }
            continue;
        }
        if in_description {
            continue;
        }
        for root in ["Query", "Mutation", "Subscription"] {
            if t == format!("type {root} {{") {
                current = Some(root);
            }
        }
        if t == "}" {
            current = None;
            continue;
        }
        if let Some(root) = current
            && !t.starts_with("type ")
        {
            let name: String = t.chars().take_while(|c| c.is_alphanumeric()).collect();
            if parens == 0 && !name.is_empty() {
                out.insert(format!("{root}.{name}"));
            }
            parens += t.matches('(').count() as i32 - t.matches(')').count() as i32;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_root_field_allows_exactly_the_roles_in_the_matrix() {
    let app = TestApp::spawn().await;
    let mut tokens: BTreeMap<&str, Option<String>> = BTreeMap::new();
    tokens.insert("anonymous", None);
    tokens.insert("admin", Some(app.token.clone()));
    for role in ["analyst", "viewer", "sensor", "partner"] {
        let (access, _) = user(&app, role, &role.to_uppercase(), &[]).await;
        tokens.insert(role, Some(access));
    }
    let viewer = tokens["viewer"].clone().unwrap();
    let sensor = tokens["sensor"].clone().unwrap();
    tokens.insert(
        "viewer_token",
        Some(api_token(&app, &viewer, &["READ"]).await),
    );
    tokens.insert(
        "sensor_token",
        Some(api_token(&app, &sensor, &["INGEST"]).await),
    );

    let h = gid("Host", 999_999);
    let readers = "admin analyst viewer viewer_token";
    let writers = "admin analyst";
    let signed_in = "admin analyst viewer sensor partner viewer_token";
    let accounts = "admin analyst viewer sensor partner";
    let everyone = "anonymous admin analyst viewer sensor partner viewer_token sensor_token";
    let matrix: Vec<(&str, String, &str)> = vec![
        ("Query.node", format!("{{ node(id: \"{h}\") {{ id }} }}"), readers),
        ("Query.nodes", format!("{{ nodes(ids: [\"{h}\"]) {{ id }} }}"), readers),
        ("Query.host", format!("{{ host(id: \"{h}\") {{ id }} }}"), readers),
        ("Query.hostByAddress", "{ hostByAddress(address: \"192.0.2.1\") { id } }".into(), readers),
        ("Query.hosts", "{ hosts { totalCount } }".into(), readers),
        ("Query.osBreakdown", "{ osBreakdown { hosts } }".into(), readers),
        ("Query.tags", "{ tags { totalCount } }".into(), readers),
        ("Query.tag", format!("{{ tag(id: \"{}\") {{ id }} }}", gid("Tag", 9)), readers),
        ("Query.hostGroups", "{ hostGroups { totalCount } }".into(), readers),
        ("Query.hostGroup", format!("{{ hostGroup(id: \"{}\") {{ id }} }}", gid("HostGroup", 9)), readers),
        ("Query.supportGroups", "{ supportGroups { totalCount } }".into(), readers),
        ("Query.supportGroup", format!("{{ supportGroup(id: \"{}\") {{ id }} }}", gid("SupportGroup", 9)), readers),
        ("Query.locations", "{ locations { totalCount } }".into(), readers),
        ("Query.location", format!("{{ location(id: \"{}\") {{ id }} }}", gid("Location", 9)), readers),
        ("Query.url", format!("{{ url(id: \"{}\") {{ id }} }}", gid("Url", 9)), readers),
        ("Query.jobRuns", "{ jobRuns { totalCount } }".into(), readers),
        ("Query.jobRun", format!("{{ jobRun(id: \"{}\") {{ id }} }}", gid("JobRun", 9)), readers),
        ("Query.me", "{ me { username } }".into(), signed_in),
        ("Query.apiTokens", "{ apiTokens { edges { node { id } } } }".into(), signed_in),
        ("Query.users", "{ users { edges { node { id } } } }".into(), "admin"),
        ("Query.user", format!("{{ user(id: \"{}\") {{ id }} }}", gid("User", 9)), "admin"),
        ("Query.auditLog", "{ auditLog { edges { node { id } } } }".into(), "admin"),
        ("Mutation.createHost", "mutation { createHost(input: {address: \"192.0.2.250\", names: [\"bad\\nname\"]}) { host { id } } }".into(), writers),
        ("Mutation.updateHost", format!("mutation {{ updateHost(input: {{id: \"{h}\"}}) {{ host {{ id }} }} }}"), writers),
        ("Mutation.deleteHost", format!("mutation {{ deleteHost(input: {{id: \"{h}\"}}) {{ deletedHostId }} }}"), writers),
        ("Mutation.addHosts", "mutation { addHosts(input: {cidr: \"10.0.0.0/8\"}) { created } }".into(), writers),
        ("Mutation.tagHosts", format!("mutation {{ tagHosts(input: {{hostIds: [\"{h}\"], tags: [\"x\"]}}) {{ hosts {{ id }} }} }}"), writers),
        ("Mutation.untagHosts", format!("mutation {{ untagHosts(input: {{hostIds: [\"{h}\"], tags: [\"x\"]}}) {{ hosts {{ id }} }} }}"), writers),
        ("Mutation.addHostsToGroups", format!("mutation {{ addHostsToGroups(input: {{hostIds: [\"{h}\"], groupIds: []}}) {{ hosts {{ id }} }} }}"), writers),
        ("Mutation.removeHostsFromGroups", format!("mutation {{ removeHostsFromGroups(input: {{hostIds: [\"{h}\"], groupIds: []}}) {{ hosts {{ id }} }} }}"), writers),
        ("Mutation.setScanExclusion", format!("mutation {{ setScanExclusion(input: {{hostId: \"{h}\", reason: \"r\", duration: ONE_DAY}}) {{ host {{ id }} }} }}"), writers),
        ("Mutation.clearScanExclusion", format!("mutation {{ clearScanExclusion(input: {{hostId: \"{h}\"}}) {{ host {{ id }} }} }}"), writers),
        ("Mutation.createHostGroup", "mutation { createHostGroup(input: {name: \"\"}) { hostGroup { id } } }".into(), writers),
        ("Mutation.updateHostGroup", format!("mutation {{ updateHostGroup(input: {{id: \"{}\", name: \"x\"}}) {{ hostGroup {{ id }} }} }}", gid("HostGroup", 9)), writers),
        ("Mutation.deleteHostGroup", format!("mutation {{ deleteHostGroup(input: {{id: \"{}\"}}) {{ deletedId }} }}", gid("HostGroup", 9)), writers),
        ("Mutation.createTag", "mutation { createTag(input: {name: \"\"}) { tag { id } } }".into(), writers),
        ("Mutation.updateTag", format!("mutation {{ updateTag(input: {{id: \"{}\", name: \"x\"}}) {{ tag {{ id }} }} }}", gid("Tag", 9)), writers),
        ("Mutation.deleteTag", format!("mutation {{ deleteTag(input: {{id: \"{}\"}}) {{ deletedId }} }}", gid("Tag", 9)), writers),
        ("Mutation.createSupportGroup", "mutation { createSupportGroup(input: {name: \"\"}) { supportGroup { id } } }".into(), writers),
        ("Mutation.updateSupportGroup", format!("mutation {{ updateSupportGroup(input: {{id: \"{}\", name: \"x\"}}) {{ supportGroup {{ id }} }} }}", gid("SupportGroup", 9)), writers),
        ("Mutation.deleteSupportGroup", format!("mutation {{ deleteSupportGroup(input: {{id: \"{}\"}}) {{ deletedId }} }}", gid("SupportGroup", 9)), writers),
        ("Mutation.createLocation", "mutation { createLocation(input: {name: \"\"}) { location { id } } }".into(), writers),
        ("Mutation.updateLocation", format!("mutation {{ updateLocation(input: {{id: \"{}\", name: \"x\"}}) {{ location {{ id }} }} }}", gid("Location", 9)), writers),
        ("Mutation.deleteLocation", format!("mutation {{ deleteLocation(input: {{id: \"{}\"}}) {{ deletedId }} }}", gid("Location", 9)), writers),
        ("Mutation.createUrl", format!("mutation {{ createUrl(input: {{hostId: \"{h}\", url: \"http://x\"}}) {{ url {{ id }} }} }}"), writers),
        ("Mutation.updateUrl", format!("mutation {{ updateUrl(input: {{id: \"{}\"}}) {{ url {{ id }} }} }}", gid("Url", 9)), writers),
        ("Mutation.deleteUrl", format!("mutation {{ deleteUrl(input: {{id: \"{}\"}}) {{ deletedId }} }}", gid("Url", 9)), writers),
        ("Mutation.login", "mutation { login(input: {username: \"nobody\", password: \"nothing-at-all\"}) { accessToken } }".into(), everyone),
        ("Mutation.refreshSession", "mutation { refreshSession(input: {refreshToken: \"hcr_nope\"}) { accessToken } }".into(), everyone),
        ("Mutation.logout", "mutation { logout(input: {refreshToken: \"hcr_nope\"}) { ok } }".into(), accounts),
        ("Mutation.changePassword", "mutation { changePassword(input: {currentPassword: \"wrong-password\", newPassword: \"x\"}) { ok } }".into(), accounts),
        ("Mutation.revokeSessions", format!("mutation {{ revokeSessions(input: {{userId: \"{}\"}}) {{ revoked }} }}", gid("User", 999_999)), accounts),
        ("Mutation.createApiToken", "mutation { createApiToken(input: {name: \"\", scopes: [READ]}) { secret } }".into(), accounts),
        ("Mutation.revokeApiToken", format!("mutation {{ revokeApiToken(input: {{id: \"{}\"}}) {{ apiToken {{ id }} }} }}", gid("ApiToken", 999_999)), accounts),
        ("Mutation.createUser", "mutation { createUser(input: {username: \"x\", role: VIEWER, password: \"short\"}) { user { id } } }".into(), "admin"),
        ("Mutation.updateUser", format!("mutation {{ updateUser(input: {{id: \"{}\"}}) {{ user {{ id }} }} }}", gid("User", 999_999)), "admin"),
        ("Subscription.hostEvents", String::new(), readers),
    ];

    let listed: BTreeSet<String> = matrix.iter().map(|(f, _, _)| (*f).to_owned()).collect();
    let schema = root_fields();
    let undecided: Vec<_> = schema.difference(&listed).collect();
    assert!(
        undecided.is_empty(),
        "root fields without a decision in this matrix: {undecided:?}"
    );
    let stale: Vec<_> = listed.difference(&schema).collect();
    assert!(
        stale.is_empty(),
        "matrix rows for fields the schema no longer has: {stale:?}"
    );

    let mut wrong = Vec::new();
    for (field, query, allowed) in &matrix {
        let allowed: BTreeSet<&str> = allowed.split_whitespace().collect();
        for (who, token) in &tokens {
            let was_refused = if field.starts_with("Subscription.") {
                subscription_refused(&app, token.as_deref()).await
            } else {
                let (_, body) = app.gql_as(token.as_deref(), query, json!({})).await;
                refused(&body)
            };
            if was_refused == allowed.contains(who) {
                wrong.push(format!(
                    "{field} for {who}: {}",
                    if was_refused { "refused" } else { "allowed" }
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "decisions that differ from the matrix:\n{}",
        wrong.join("\n")
    );
    app.stop().await;
}

/// Whether `hostEvents` is refused on a socket signed in with `token`.
async fn subscription_refused(app: &TestApp, token: Option<&str>) -> bool {
    let mut ws = subscribe(
        app.server.addr,
        token.unwrap_or(""),
        "subscription { hostEvents { kind } }",
        json!({}),
    )
    .await;
    match tokio::time::timeout(Duration::from_millis(700), next_message(&mut ws)).await {
        Err(_) => false,
        Ok(Some(msg)) => refused(&msg["payload"]) || msg["type"] == "error",
        Ok(None) => true,
    }
}

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
    let secret = app.server.state.config.jwt_secret.expose().to_owned();
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
