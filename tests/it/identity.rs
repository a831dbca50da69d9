//! Identity and access through the real server: the authorization matrix, tokens, sessions,
//! scoping, throttling, rate limits, introspection and the audit log.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, api_token, gid, next_message, subscribe, user};

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
        ("Mutation.deleteHostGroup", format!("mutation {{ deleteHostGroup(input: {{id: \"{}\"}}) {{ deletedHostGroupId }} }}", gid("HostGroup", 9)), writers),
        ("Mutation.createTag", "mutation { createTag(input: {name: \"\"}) { tag { id } } }".into(), writers),
        ("Mutation.updateTag", format!("mutation {{ updateTag(input: {{id: \"{}\", name: \"x\"}}) {{ tag {{ id }} }} }}", gid("Tag", 9)), writers),
        ("Mutation.deleteTag", format!("mutation {{ deleteTag(input: {{id: \"{}\"}}) {{ deletedTagId }} }}", gid("Tag", 9)), writers),
        ("Mutation.createSupportGroup", "mutation { createSupportGroup(input: {name: \"\"}) { supportGroup { id } } }".into(), "admin"),
        ("Mutation.updateSupportGroup", format!("mutation {{ updateSupportGroup(input: {{id: \"{}\", name: \"x\"}}) {{ supportGroup {{ id }} }} }}", gid("SupportGroup", 9)), "admin"),
        ("Mutation.deleteSupportGroup", format!("mutation {{ deleteSupportGroup(input: {{id: \"{}\"}}) {{ deletedSupportGroupId }} }}", gid("SupportGroup", 9)), "admin"),
        ("Mutation.createLocation", "mutation { createLocation(input: {name: \"\"}) { location { id } } }".into(), writers),
        ("Mutation.updateLocation", format!("mutation {{ updateLocation(input: {{id: \"{}\", name: \"x\"}}) {{ location {{ id }} }} }}", gid("Location", 9)), writers),
        ("Mutation.deleteLocation", format!("mutation {{ deleteLocation(input: {{id: \"{}\"}}) {{ deletedLocationId }} }}", gid("Location", 9)), writers),
        ("Mutation.createUrl", format!("mutation {{ createUrl(input: {{hostId: \"{h}\", url: \"http://x\"}}) {{ url {{ id }} }} }}"), writers),
        ("Mutation.updateUrl", format!("mutation {{ updateUrl(input: {{id: \"{}\"}}) {{ url {{ id }} }} }}", gid("Url", 9)), writers),
        ("Mutation.deleteUrl", format!("mutation {{ deleteUrl(input: {{id: \"{}\"}}) {{ deletedUrlId }} }}", gid("Url", 9)), writers),
        ("Mutation.login", "mutation { login(input: {username: \"nobody\", password: \"nothing-at-all\"}) { accessToken } }".into(), everyone),
        ("Mutation.refreshSession", "mutation { refreshSession(input: {refreshToken: \"hcr_nope\"}) { accessToken } }".into(), everyone),
        ("Mutation.logout", "mutation { logout(input: {refreshToken: \"hcr_nope\"}) { ok } }".into(), accounts),
        ("Mutation.changePassword", "mutation { changePassword(input: {currentPassword: \"wrong-password\", newPassword: \"x\"}) { ok } }".into(), accounts),
        ("Mutation.revokeSessions", format!("mutation {{ revokeSessions(input: {{userId: \"{}\"}}) {{ revoked }} }}", gid("User", 999_999)), accounts),
        ("Mutation.createApiToken", "mutation { createApiToken(input: {name: \"\", scopes: [READ]}) { secret } }".into(), accounts),
        ("Mutation.revokeApiToken", format!("mutation {{ revokeApiToken(input: {{id: \"{}\"}}) {{ apiToken {{ id }} }} }}", gid("ApiToken", 999_999)), accounts),
        ("Mutation.createUser", "mutation { createUser(input: {username: \"x\", role: VIEWER, password: \"short\"}) { user { id } } }".into(), "admin"),
        ("Mutation.updateUser", format!("mutation {{ updateUser(input: {{id: \"{}\"}}) {{ user {{ id }} }} }}", gid("User", 999_999)), "admin"),
        ("Query.exposureChanges", "{ exposureChanges { totalCount } }".into(), readers),
        ("Query.topOpenPorts", "{ topOpenPorts { port } }".into(), readers),
        ("Query.service", format!("{{ service(id: \"{}\") {{ id }} }}", gid("Service", 9)), readers),
        ("Query.hostsByPorts", "{ hostsByPorts(search: {any: [{port: 22}]}) { totalCount } }".into(), readers),
        ("Query.dangerousHosts", "{ dangerousHosts { openPorts } }".into(), readers),
        ("Query.webServers", "{ webServers { port } }".into(), readers),
        ("Query.exposureDigests", "{ exposureDigests { totalCount } }".into(), readers),
        ("Query.scanProfiles", "{ scanProfiles { totalCount } }".into(), writers),
        ("Query.scanProfile", format!("{{ scanProfile(id: \"{}\") {{ id }} }}", gid("ScanProfile", 9)), writers),
        ("Query.scans", "{ scans { totalCount } }".into(), writers),
        ("Query.scan", format!("{{ scan(id: \"{}\") {{ id }} }}", gid("Scan", 9)), writers),
        ("Query.scanRuns", "{ scanRuns { totalCount } }".into(), writers),
        ("Query.scanRun", format!("{{ scanRun(id: \"{}\") {{ id }} }}", gid("ScanRun", 9)), writers),
        ("Mutation.createScanProfile", "mutation { createScanProfile(input: {name: \"p\", options: {tcpPorts: \"0\"}}) { scanProfile { id } } }".into(), "admin"),
        ("Mutation.updateScanProfile", format!("mutation {{ updateScanProfile(input: {{id: \"{}\"}}) {{ scanProfile {{ id }} }} }}", gid("ScanProfile", 9)), "admin"),
        ("Mutation.deleteScanProfile", format!("mutation {{ deleteScanProfile(input: {{id: \"{}\"}}) {{ deletedScanProfileId }} }}", gid("ScanProfile", 9)), "admin"),
        ("Mutation.createScan", format!("mutation {{ createScan(input: {{name: \"s\", profileId: \"{}\", targets: {{allHosts: true}}}}) {{ scan {{ id }} }} }}", gid("ScanProfile", 9)), writers),
        ("Mutation.updateScan", format!("mutation {{ updateScan(input: {{id: \"{}\"}}) {{ scan {{ id }} }} }}", gid("Scan", 9)), writers),
        ("Mutation.deleteScan", format!("mutation {{ deleteScan(input: {{id: \"{}\"}}) {{ deletedScanId }} }}", gid("Scan", 9)), writers),
        ("Mutation.startScan", format!("mutation {{ startScan(input: {{scanId: \"{}\"}}) {{ scanRun {{ id }} }} }}", gid("Scan", 9)), writers),
        ("Mutation.cancelScanRun", format!("mutation {{ cancelScanRun(input: {{scanRunId: \"{}\"}}) {{ scanRun {{ id }} }} }}", gid("ScanRun", 9)), writers),
        // A file reference with no file behind it: refused as bad input, never a crash.
        ("Mutation.importNmapXml", "mutation { importNmapXml(input: {file: \"#__graphql_file__:7\"}) { hosts } }".into(), writers),
        ("Query.sensors", "{ sensors { totalCount } }".into(), readers),
        ("Query.sensor", format!("{{ sensor(id: \"{}\") {{ id }} }}", gid("Sensor", 9)), readers),
        ("Query.darknetEvents", "{ darknetEvents(first: 1) { edges { cursor } } }".into(), readers),
        ("Query.darknetTopPorts", "{ darknetTopPorts { total } }".into(), readers),
        ("Query.darknetTopCountries", "{ darknetTopCountries { total } }".into(), readers),
        ("Query.darknetTopSources", "{ darknetTopSources { total } }".into(), readers),
        ("Query.darknetTimeSeries", "{ darknetTimeSeries { bucket } }".into(), readers),
        ("Query.darknetSource", "{ darknetSource(address: \"192.0.2.1\") { events } }".into(), readers),
        ("Query.darknetShares", "{ darknetShares(field: PROTOCOL) { total } }".into(), readers),
        ("Query.darknetSnapshot", "{ darknetSnapshot { events } }".into(), readers),
        ("Query.darknetSpikes", "{ darknetSpikes { totalCount } }".into(), readers),
        ("Mutation.createSensor", "mutation { createSensor(input: {name: \"\"}) { token } }".into(), "admin"),
        ("Mutation.updateSensor", format!("mutation {{ updateSensor(input: {{id: \"{}\"}}) {{ sensor {{ id }} }} }}", gid("Sensor", 9)), "admin"),
        ("Mutation.deleteSensor", format!("mutation {{ deleteSensor(input: {{id: \"{}\"}}) {{ deletedSensorId }} }}", gid("Sensor", 9)), "admin"),
        ("Mutation.createSensorToken", format!("mutation {{ createSensorToken(input: {{sensorId: \"{}\", name: \"t\"}}) {{ token }} }}", gid("Sensor", 9)), "admin"),
        ("Query.findings", "{ findings { totalCount } }".into(), readers),
        ("Query.finding", format!("{{ finding(id: \"{}\") {{ id }} }}", gid("Finding", 9)), readers),
        ("Query.vulnerabilities", "{ vulnerabilities { totalCount } }".into(), readers),
        ("Query.vulnerability", format!("{{ vulnerability(id: \"{}\") {{ id }} }}", gid("Vulnerability", 9)), readers),
        ("Query.findingImports", "{ findingImports { totalCount } }".into(), readers),
        ("Query.findingImport", format!("{{ findingImport(id: \"{}\") {{ id }} }}", gid("FindingImport", 9)), readers),
        ("Query.findingRiskSummary", "{ findingRiskSummary { risk } }".into(), readers),
        ("Query.mostAffectedHosts", "{ mostAffectedHosts { total } }".into(), readers),
        ("Query.scanDelta", format!("{{ scanDelta(from: \"{0}\", to: \"{0}\") {{ newCount }} }}", gid("FindingImport", 9)), readers),
        ("Mutation.importFindings", "mutation { importFindings(input: {kind: OPENVAS, file: \"#__graphql_file__:7\"}) { findings } }".into(), writers),
        ("Mutation.updateFinding", format!("mutation {{ updateFinding(input: {{id: \"{}\", status: FIXED}}) {{ finding {{ id }} }} }}", gid("Finding", 9)), writers),
        ("Mutation.updateVulnerability", format!("mutation {{ updateVulnerability(input: {{id: \"{}\", tags: []}}) {{ vulnerability {{ id }} }} }}", gid("Vulnerability", 9)), writers),
        ("Subscription.findingEvents", "subscription { findingEvents { kind } }".into(), readers),
        ("Query.incidents", "{ incidents { totalCount } }".into(), readers),
        ("Query.incident", format!("{{ incident(id: \"{}\") {{ id }} }}", gid("Incident", 9)), readers),
        ("Query.incidentLookups", "{ incidentLookups { name } }".into(), readers),
        ("Query.incidentReport", "{ incidentReport { total } }".into(), readers),
        ("Mutation.createIncident", "mutation { createIncident(input: {fields: {}}) { incident { id } } }".into(), writers),
        ("Mutation.updateIncident", format!("mutation {{ updateIncident(input: {{id: \"{}\", fields: {{}}}}) {{ incident {{ id }} }} }}", gid("Incident", 9)), writers),
        ("Mutation.changeIncidentStatus", format!("mutation {{ changeIncidentStatus(input: {{id: \"{}\", status: CLOSED}}) {{ incident {{ id }} }} }}", gid("Incident", 9)), writers),
        ("Mutation.addIncidentNote", format!("mutation {{ addIncidentNote(input: {{id: \"{}\", text: \"x\"}}) {{ note {{ id }} }} }}", gid("Incident", 9)), writers),
        ("Mutation.deleteIncident", format!("mutation {{ deleteIncident(input: {{id: \"{}\"}}) {{ deletedIncidentId }} }}", gid("Incident", 9)), writers),
        ("Mutation.createIncidentLookup", "mutation { createIncidentLookup(input: {kind: AGENT, name: \"\"}) { incidentLookup { id } } }".into(), "admin"),
        ("Mutation.updateIncidentLookup", format!("mutation {{ updateIncidentLookup(input: {{id: \"{}\", name: \"x\"}}) {{ incidentLookup {{ id }} }} }}", gid("IncidentLookup", 999_999)), "admin"),
        ("Query.feeds", "{ feeds { totalCount } }".into(), readers),
        ("Query.feed", format!("{{ feed(id: \"{}\") {{ id }} }}", gid("Feed", 9)), readers),
        ("Query.feedsOpml", "{ feedsOpml }".into(), "admin"),
        ("Query.articles", "{ articles { totalCount } }".into(), readers),
        ("Query.article", format!("{{ article(id: \"{}\") {{ id }} }}", gid("Article", 9)), readers),
        ("Query.intelMatches", "{ intelMatches { totalCount } }".into(), readers),
        ("Query.intelMatch", format!("{{ intelMatch(id: \"{}\") {{ id }} }}", gid("IntelMatch", 9)), readers),
        ("Mutation.createFeed", "mutation { createFeed(input: {fields: {name: \"\"}}) { feed { id } } }".into(), "admin"),
        ("Mutation.updateFeed", format!("mutation {{ updateFeed(input: {{id: \"{}\", fields: {{}}}}) {{ feed {{ id }} }} }}", gid("Feed", 9)), "admin"),
        ("Mutation.deleteFeed", format!("mutation {{ deleteFeed(input: {{id: \"{}\"}}) {{ deletedFeedId }} }}", gid("Feed", 9)), "admin"),
        ("Mutation.importOpml", "mutation { importOpml(input: {opml: \"<opml/>\"}) { rejectedCount } }".into(), "admin"),
        ("Mutation.refreshFeed", format!("mutation {{ refreshFeed(input: {{id: \"{}\"}}) {{ newArticles }} }}", gid("Feed", 9)), writers),
        ("Mutation.createArticle", "mutation { createArticle(input: {title: \"\"}) { newMatches } }".into(), writers),
        ("Mutation.deleteArticle", format!("mutation {{ deleteArticle(input: {{id: \"{}\"}}) {{ deletedArticleId }} }}", gid("Article", 9)), writers),
        ("Subscription.articleEvents", "subscription { articleEvents { cursor } }".into(), readers),
        ("Subscription.intelMatchEvents", "subscription { intelMatchEvents { cursor } }".into(), readers),
        ("Subscription.incidentEvents", "subscription { incidentEvents { kind } }".into(), readers),
        ("Subscription.darknetActivity", "subscription { darknetActivity { events } }".into(), readers),
        ("Subscription.darknetSpikeEvents", "subscription { darknetSpikeEvents { spike { id } } }".into(), readers),
        ("Subscription.hostEvents", "subscription { hostEvents { kind } }".into(), readers),
        ("Subscription.exposureEvents", "subscription { exposureEvents { kind } }".into(), readers),
        ("Subscription.scanRunEvents", "subscription { scanRunEvents { run { id } } }".into(), writers),
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
                subscription_refused(&app, token.as_deref(), query).await
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

/// Whether subscription `query` is refused on a socket signed in with `token`.
async fn subscription_refused(app: &TestApp, token: Option<&str>, query: &str) -> bool {
    let mut ws = subscribe(app.server.addr, token.unwrap_or(""), query, json!({})).await;
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
