//! Incidents through the real server: recording, classification, the status life with its
//! timeline and audit, visibility through linked hosts on every path, the reports against
//! the rows, and `incidentEvents`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::*;

const FIELDS: &str = "id title summary status severity tlp occurredAt discoveredAt containedAt resolvedAt actionToDiscovery { seconds unit } discoveryToContainment { seconds unit } assignee reporter agent { name kind } action { name } asset { name } discovery { name } dataExposed overallImpact assetLoss hosts { address } attackerAddresses tags timeline(first: 20) { totalCount edges { node { kind author text fromStatus toStatus } } }";

/// The id of the value `name` of classification list `kind`.
async fn lookup(app: &TestApp, kind: &str, name: &str) -> String {
    let found = app
        .ok(
            "query($k: IncidentLookupKind) { incidentLookups(kind: $k) { id name kind } }",
            json!({ "k": kind }),
        )
        .await;
    let list = found["incidentLookups"].as_array().unwrap();
    assert!(list.iter().all(|l| l["kind"] == kind), "{found}");
    list.iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}: {found}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn create(app: &TestApp, token: &str, fields: Value) -> Value {
    let (_, body) = app
        .gql_as(
            Some(token),
            &format!("mutation($f: IncidentFields!) {{ createIncident(input: {{fields: $f}}) {{ incident {{ {FIELDS} }} }} }}"),
            json!({ "f": fields }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["createIncident"]["incident"].clone()
}

const STATUS: &str = "mutation($i: ChangeIncidentStatusInput!) { changeIncidentStatus(input: $i) { incident { status containedAt resolvedAt discoveryToContainment { unit } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_is_recorded_classified_handled_and_keeps_its_timeline() {
    let app = TestApp::spawn().await;
    // HECTOR's seeded lists.
    let agents = app
        .ok("{ incidentLookups(kind: AGENT) { name } }", json!({}))
        .await;
    let names: Vec<&str> = agents["incidentLookups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["External", "Internal", "Other/Unknown", "Partner"]
    );
    let external = lookup(&app, "AGENT", "External").await;
    let hacking = lookup(&app, "ACTION", "Hacking").await;
    let web = lookup(&app, "ASSET", "Web app or server").await;
    let nids = lookup(&app, "DISCOVERY", "NIDS").await;
    let host = app.create_host("192.0.2.10", &["web1"], &[]).await;

    let made = create(
        &app,
        &app.token,
        json!({
            "title": "Web shell on web1",
            "summary": "A web shell was uploaded through the CMS.",
            "severity": "HIGH",
            "tlp": "RED",
            "occurredAt": "2026-11-01T10:00:00Z",
            "discoveredAt": "2026-11-01T13:00:00Z",
            "agentId": external, "actionId": hacking, "assetId": web, "discoveryId": nids,
            "dataExposed": true,
            "overallImpact": "MAJOR",
            "hostIds": [host],
            "attackerAddresses": ["203.0.113.5", "2001:db8::66", "203.0.113.5"],
            "tags": ["web", "cms"],
        }),
    )
    .await;
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["status"], "OPEN");
    assert_eq!(made["severity"], "HIGH");
    assert_eq!(made["tlp"], "RED");
    assert_eq!(made["reporter"], "admin");
    assert_eq!(
        made["agent"],
        json!({ "name": "External", "kind": "AGENT" })
    );
    assert_eq!(made["action"]["name"], "Hacking");
    assert_eq!(made["asset"]["name"], "Web app or server");
    assert_eq!(made["discovery"]["name"], "NIDS");
    assert_eq!(made["dataExposed"], true);
    assert_eq!(made["overallImpact"], "MAJOR");
    assert_eq!(made["assetLoss"], "UNKNOWN");
    assert_eq!(
        made["actionToDiscovery"],
        json!({ "seconds": 10800, "unit": "HOURS" })
    );
    assert_eq!(made["discoveryToContainment"], Value::Null);
    assert_eq!(made["hosts"], json!([{ "address": "192.0.2.10" }]));
    assert_eq!(
        made["attackerAddresses"],
        json!(["203.0.113.5", "2001:db8::66"])
    );
    assert_eq!(made["tags"], json!(["cms", "web"]));

    // Bad input: no title, a value of the wrong list, times out of order.
    let create_q =
        "mutation($f: IncidentFields!) { createIncident(input: {fields: $f}) { incident { id } } }";
    assert_eq!(
        app.error_codes(create_q, json!({ "f": { "summary": "x" } }))
            .await,
        vec!["BAD_USER_INPUT"]
    );
    assert_eq!(
        app.error_codes(
            create_q,
            json!({ "f": { "title": "x", "agentId": hacking } })
        )
        .await,
        vec!["BAD_USER_INPUT"]
    );
    let update_q =
        "mutation($i: UpdateIncidentInput!) { updateIncident(input: $i) { incident { title } } }";
    assert_eq!(
        app.error_codes(
            update_q,
            json!({ "i": { "id": id, "fields": { "discoveredAt": "2026-10-01T00:00:00Z" } } })
        )
        .await,
        vec!["BAD_USER_INPUT"]
    );

    // The status life: allowed steps move, others are refused; containing and resolving
    // stamp their times.
    let step = |to: &'static str, note: Option<&'static str>| json!({ "i": { "id": id, "status": to, "note": note } });
    let moved = app.ok(STATUS, step("INVESTIGATING", Some("looking"))).await;
    assert_eq!(
        moved["changeIncidentStatus"]["incident"]["status"],
        "INVESTIGATING"
    );
    let moved = app.ok(STATUS, step("CONTAINED", None)).await;
    let contained = &moved["changeIncidentStatus"]["incident"];
    assert!(contained["containedAt"].is_string(), "{moved}");
    assert!(contained["discoveryToContainment"]["unit"].is_string());
    assert_eq!(
        app.error_codes(STATUS, step("CLOSED", None)).await,
        vec!["BAD_USER_INPUT"],
        "a contained incident is resolved before it is closed"
    );
    let moved = app.ok(STATUS, step("RESOLVED", None)).await;
    assert!(moved["changeIncidentStatus"]["incident"]["resolvedAt"].is_string());
    app.ok(STATUS, step("CLOSED", Some("lessons recorded")))
        .await;
    app.ok(
        "mutation($i: AddIncidentNoteInput!) { addIncidentNote(input: $i) { note { kind } } }",
        json!({ "i": { "id": id, "text": "CMS patched" } }),
    )
    .await;
    app.ok(
        update_q,
        json!({ "i": { "id": id, "fields": { "title": "Web shell on web1 (CMS)" } } }),
    )
    .await;

    let now = app
        .ok(
            &format!("query($id: ID!) {{ incident(id: $id) {{ {FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await;
    let timeline: Vec<(&str, &Value, &Value, &Value)> = now["incident"]["timeline"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = &e["node"];
            (
                n["kind"].as_str().unwrap(),
                &n["fromStatus"],
                &n["toStatus"],
                &n["text"],
            )
        })
        .collect();
    assert_eq!(
        timeline,
        vec![
            ("CREATED", &Value::Null, &json!("OPEN"), &Value::Null),
            (
                "STATUS",
                &json!("OPEN"),
                &json!("INVESTIGATING"),
                &json!("looking")
            ),
            (
                "STATUS",
                &json!("INVESTIGATING"),
                &json!("CONTAINED"),
                &Value::Null
            ),
            (
                "STATUS",
                &json!("CONTAINED"),
                &json!("RESOLVED"),
                &Value::Null
            ),
            (
                "STATUS",
                &json!("RESOLVED"),
                &json!("CLOSED"),
                &json!("lessons recorded")
            ),
            ("NOTE", &Value::Null, &Value::Null, &json!("CMS patched")),
            ("UPDATED", &Value::Null, &Value::Null, &json!("title")),
        ]
    );
    assert_eq!(now["incident"]["title"], "Web shell on web1 (CMS)");

    // Every change and every refusal is in the audit log.
    let audit = app
        .ok("{ auditLog(first: 20, filter: {action: CHANGE_INCIDENT_STATUS}) { edges { node { outcome } } } }", json!({}))
        .await;
    let outcomes: Vec<&Value> = audit["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["outcome"])
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "OK").count(),
        4,
        "{audit}"
    );
    assert!(outcomes.contains(&&json!("BAD_USER_INPUT")), "{audit}");

    // The lists are editable by admins; a name is unique in its list.
    let add = "mutation($n: String!) { createIncidentLookup(input: {kind: AGENT, name: $n}) { incidentLookup { name kind } } }";
    let added = app.ok(add, json!({ "n": "Nation state" })).await;
    assert_eq!(
        added["createIncidentLookup"]["incidentLookup"]["kind"],
        "AGENT"
    );
    assert_eq!(
        app.error_codes(add, json!({ "n": "nation STATE" })).await,
        vec!["CONFLICT"]
    );

    // Deleting takes its timeline along.
    app.ok(
        "mutation($i: DeleteIncidentInput!) { deleteIncident(input: $i) { deletedIncidentId } }",
        json!({ "i": { "id": id } }),
    )
    .await;
    let gone = app
        .ok(
            "query($id: ID!) { incident(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(gone["incident"], Value::Null);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_seen_through_their_hosts_and_the_reports_match_the_rows() {
    let app = TestApp::spawn().await;
    let group = |name: &'static str| {
        let app = &app;
        async move {
            let made = app
                .ok(
                    "mutation($n: String!) { createSupportGroup(input: {name: $n}) { supportGroup { id } } }",
                    json!({ "n": name }),
                )
                .await;
            made["createSupportGroup"]["supportGroup"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (a, b) = (group("Team A").await, group("Team B").await);
    let host_in = |address: &'static str, g: String| {
        let app = &app;
        async move {
            let made = app
                .ok(
                    "mutation($i: CreateHostInput!) { createHost(input: $i) { host { id } } }",
                    json!({ "i": { "address": address, "supportGroupId": g } }),
                )
                .await;
            made["createHost"]["host"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (ha, hb) = (
        host_in("192.0.2.1", a.clone()).await,
        host_in("192.0.2.2", b).await,
    );
    let (analyst, _) = user(&app, "anna", "ANALYST", &[&a]).await;
    let mut ws = subscribe(
        app.server.addr,
        &analyst,
        "subscription { incidentEvents { kind incident { title hosts { address } } } }",
        json!({}),
    )
    .await;

    let external = lookup(&app, "AGENT", "External").await;
    let internal = lookup(&app, "AGENT", "Internal").await;
    let malware = lookup(&app, "ACTION", "Malware").await;
    let only_b = create(
        &app,
        &app.token,
        json!({ "title": "B only", "hostIds": [hb], "agentId": external, "actionId": malware, "overallImpact": "MINOR", "occurredAt": "2026-09-10T00:00:00Z" }),
    )
    .await;
    let both = create(
        &app,
        &app.token,
        json!({ "title": "A and B", "hostIds": [ha, hb], "agentId": external, "overallImpact": "MAJOR", "occurredAt": "2026-11-02T00:00:00Z" }),
    )
    .await;
    create(
        &app,
        &app.token,
        json!({ "title": "No hosts", "agentId": internal, "occurredAt": "2026-11-20T00:00:00Z" }),
    )
    .await;
    create(&app, &app.token, json!({ "title": "Undated" })).await;

    // The analyst hears of the incident with their host first, never of Team B's alone.
    let event = next_event(&mut ws).await;
    assert_eq!(
        event["incidentEvents"],
        json!({ "kind": "CREATED", "incident": { "title": "A and B", "hosts": [{ "address": "192.0.2.1" }] } })
    );

    // Lists, counts, node and lookups by id: the same sight.
    let (_, mine) = app
        .gql_as(
            Some(&analyst),
            "query($id: ID!) { incidents(first: 10) { totalCount edges { node { title hosts { address } } } } node(id: $id) { id } incident(id: $id) { id } }",
            json!({ "id": only_b["id"] }),
        )
        .await;
    let data = &mine["data"];
    assert_eq!(data["incidents"]["totalCount"], 3, "{mine}");
    let titles: Vec<&str> = data["incidents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["Undated", "No hosts", "A and B"]);
    assert_eq!(data["node"], Value::Null);
    assert_eq!(data["incident"], Value::Null);
    let (_, refused) = app
        .gql_as(
            Some(&analyst),
            "mutation($i: AddIncidentNoteInput!) { addIncidentNote(input: $i) { note { id } } }",
            json!({ "i": { "id": only_b["id"], "text": "x" } }),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
    // An analyst relinking hosts keeps the ones they cannot see.
    let (_, relinked) = app
        .gql_as(
            Some(&analyst),
            "mutation($i: UpdateIncidentInput!) { updateIncident(input: $i) { incident { hosts { address } } } }",
            json!({ "i": { "id": both["id"], "fields": { "hostIds": [ha] } } }),
        )
        .await;
    assert!(relinked.get("errors").is_none(), "{relinked}");
    let seen_by_admin = app
        .ok(
            "query($id: ID!) { incident(id: $id) { hosts { address } } }",
            json!({ "id": both["id"] }),
        )
        .await;
    assert_eq!(
        seen_by_admin["incident"]["hosts"],
        json!([{ "address": "192.0.2.1" }, { "address": "192.0.2.2" }])
    );
    let (_, theirs) = app
        .gql_as(Some(&analyst), "{ incidentReport { total } }", json!({}))
        .await;
    assert_eq!(theirs["data"]["incidentReport"]["total"], 3, "{theirs}");

    // The reports equal what the rows give.
    let rows = app
        .ok("{ incidents(first: 20) { edges { node { agent { name } action { name } overallImpact occurredAt } } } }", json!({}))
        .await;
    let rows: Vec<Value> = rows["incidents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    let mut by_agent: BTreeMap<String, u64> = BTreeMap::new();
    let mut impact_by_agent: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in &rows {
        let agent = r["agent"]["name"].as_str().unwrap_or("-").to_owned();
        *by_agent.entry(agent.clone()).or_default() += 1;
        *impact_by_agent
            .entry((agent, r["overallImpact"].as_str().unwrap().to_owned()))
            .or_default() += 1;
    }
    let report = app
        .ok(
            "{ incidentReport(filter: {since: \"2026-09-01T00:00:00Z\", until: \"2026-12-01T00:00:00Z\"}) { total monthly { month incidents } } all: incidentReport { total undated byAgent { value { name } incidents share } impactByAgent { row { value { name } } impacts { magnitude incidents } } byAction { value { name } incidents } } }",
            json!({}),
        )
        .await;
    let all = &report["all"];
    assert_eq!(all["total"], rows.len());
    assert_eq!(all["undated"], 1);
    let reported: BTreeMap<String, u64> = all["byAgent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["value"]["name"].as_str().unwrap_or("-").to_owned(),
                s["incidents"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(reported, by_agent);
    assert_eq!(all["byAgent"][0]["value"]["name"], "External", "most first");
    assert_eq!(all["byAgent"][0]["share"], 0.5);
    let crossed: BTreeMap<(String, String), u64> = all["impactByAgent"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            let agent = row["row"]["value"]["name"]
                .as_str()
                .unwrap_or("-")
                .to_owned();
            row["impacts"].as_array().unwrap().iter().map(move |i| {
                (
                    (agent.clone(), i["magnitude"].as_str().unwrap().to_owned()),
                    i["incidents"].as_u64().unwrap(),
                )
            })
        })
        .collect();
    assert_eq!(crossed, impact_by_agent);
    assert_eq!(
        all["byAction"],
        json!([{ "value": null, "incidents": 3 }, { "value": { "name": "Malware" }, "incidents": 1 }])
    );
    // The monthly timeline fills the empty month.
    assert_eq!(
        report["incidentReport"]["monthly"],
        json!([
            { "month": "2026-09", "incidents": 1 },
            { "month": "2026-10", "incidents": 0 },
            { "month": "2026-11", "incidents": 2 },
        ])
    );
    assert_eq!(report["incidentReport"]["total"], 3);
    app.stop().await;
}
