//! The authorization matrix: every root field of the schema, tried by every role, allowed
//! exactly for the roles its row names (a new root field without a row fails the test).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{TestApp, api_token, gid, next_message, subscribe, user};
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
