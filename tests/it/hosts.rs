//! The host inventory through the real server: CRUD, filters, pagination, bulk adds.

use serde_json::json;

use crate::support::{TestApp, addresses};

const HOST_FIELDS: &str = "id address names os { name family vendor type } sponsor technicalContact \
    notes link confidentialData tags { name usage } supportGroup { name } location { name } \
    scanExclusion { reason until setByName setBy { username } active } createdAt updatedAt";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_are_created_read_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let sg = app
        .ok(
            r#"mutation { createSupportGroup(input: {name: "Unix team", email: "unix@example.org"}) { supportGroup { id name email } } }"#,
            json!({}),
        )
        .await;
    let sg_id = sg["createSupportGroup"]["supportGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let created = app
        .ok(
            &format!("mutation($i: CreateHostInput!) {{ createHost(input: $i) {{ host {{ {HOST_FIELDS} }} }} }}"),
            json!({ "i": {
                "address": "192.0.2.10",
                "names": ["web-1.example.org", " WEB-1.example.org ", "www"],
                "os": { "name": "Debian 12", "family": "Linux", "vendor": "Debian", "type": "general purpose" },
                "sponsor": "Alice",
                "link": "https://wiki.example.org/web-1",
                "confidentialData": true,
                "supportGroupId": sg_id,
                "tags": ["prod", "Web", "prod"],
            }}),
        )
        .await;
    let host = &created["createHost"]["host"];
    let id = host["id"].as_str().unwrap().to_owned();
    assert_eq!(host["address"], "192.0.2.10");
    assert_eq!(
        host["names"],
        json!(["web-1.example.org", "www"]),
        "names are trimmed and de-duplicated"
    );
    assert_eq!(host["os"]["family"], "Linux");
    assert_eq!(host["supportGroup"]["name"], "Unix team");
    assert_eq!(host["confidentialData"], true);
    assert_eq!(
        host["tags"],
        json!([{ "name": "prod", "usage": 1 }, { "name": "Web", "usage": 1 }])
    );

    let v6 = app.create_host("2001:db8::10", &["v6-host"], &[]).await;

    // Read by id, by address (v4 and v6, any spelling), and through node().
    let read = app
        .ok(
            r#"query($id: ID!) {
                host(id: $id) { address }
                a: hostByAddress(address: "192.0.2.10") { id }
                b: hostByAddress(address: "2001:DB8:0:0::10") { names }
                none: hostByAddress(address: "192.0.2.99") { id }
                other: tag(id: $id) { id }
                node(id: $id) { id ... on Host { sponsor } }
                nodes(ids: [$id]) { id }
            }"#,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(read["host"]["address"], "192.0.2.10");
    assert_eq!(read["a"]["id"], id.as_str());
    assert_eq!(read["b"]["names"], json!(["v6-host"]));
    assert!(read["none"].is_null());
    assert!(read["other"].is_null(), "another type's id finds nothing");
    assert_eq!(read["node"]["sponsor"], "Alice");
    assert_eq!(read["nodes"][0]["id"], id.as_str());

    // Update: omitted fields stay, null clears, values replace.
    let updated = app
        .ok(
            &format!("mutation($i: UpdateHostInput!) {{ updateHost(input: $i) {{ host {{ {HOST_FIELDS} }} }} }}"),
            json!({ "i": { "id": id, "names": ["web-2"], "sponsor": null, "notes": "moved rack", "os": { "name": "Debian 13", "vendor": "Debian" } } }),
        )
        .await;
    let host = &updated["updateHost"]["host"];
    assert_eq!(host["names"], json!(["web-2"]));
    assert!(host["sponsor"].is_null());
    assert_eq!(host["notes"], "moved rack");
    assert_eq!(host["os"]["name"], "Debian 13");
    assert_eq!(host["os"]["vendor"], "Debian");
    assert!(
        host["os"]["family"].is_null(),
        "the OS is replaced as a whole: {host}"
    );
    assert_eq!(host["link"], "https://wiki.example.org/web-1");
    let cleared = app
        .ok(
            "mutation($i: UpdateHostInput!) { updateHost(input: $i) { host { os { name } notes } } }",
            json!({ "i": { "id": id, "os": null } }),
        )
        .await;
    assert!(cleared["updateHost"]["host"]["os"].is_null(), "{cleared}");
    assert_eq!(cleared["updateHost"]["host"]["notes"], "moved rack");

    // Exclusion from port scans, HECTOR's lengths.
    let excluded = app
        .ok(
            r#"mutation($id: ID!) { setScanExclusion(input: {hostId: $id, reason: "fragile PLC", duration: SEVEN_DAYS}) { host { scanExclusion { reason until setByName setBy { username } active } } } }"#,
            json!({ "id": id }),
        )
        .await;
    let ex = &excluded["setScanExclusion"]["host"]["scanExclusion"];
    assert_eq!(ex["reason"], "fragile PLC");
    assert_eq!(ex["setByName"], "admin");
    assert_eq!(ex["setBy"]["username"], "admin");
    assert_eq!(ex["active"], true);
    assert!(ex["until"].is_string());
    let only_excluded = app
        .ok(
            "{ hosts(filter: {excluded: true}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(only_excluded["hosts"]["totalCount"], 1);

    // Delete.
    let deleted = app
        .ok(
            "mutation($id: ID!) { deleteHost(input: {id: $id}) { deletedHostId } }",
            json!({ "id": v6 }),
        )
        .await;
    assert_eq!(deleted["deleteHost"]["deletedHostId"], v6.as_str());
    let gone = app
        .ok(
            "query($id: ID!) { host(id: $id) { id } }",
            json!({ "id": v6 }),
        )
        .await;
    assert!(gone["host"].is_null());
    assert_eq!(app.host_count().await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_filter_by_cidr_name_and_tags() {
    let app = TestApp::spawn().await;
    app.create_host("10.1.0.1", &["db-1"], &["prod", "db"])
        .await;
    app.create_host("10.1.0.2", &["web-1"], &["prod", "web"])
        .await;
    app.create_host("10.2.0.1", &["Web-2"], &["staging", "web"])
        .await;
    app.create_host("2001:db8:1::1", &["v6-web"], &["web"])
        .await;
    app.create_host("2001:db8:2::1", &["v6-db"], &[]).await;

    let q = "query($f: HostFilter) { hosts(filter: $f) { edges { node { address } } } }";
    let cases = [
        (
            json!({ "within": "10.1.0.0/16" }),
            vec!["10.1.0.1", "10.1.0.2"],
        ),
        (
            json!({ "within": "10.0.0.0/8" }),
            vec!["10.1.0.1", "10.1.0.2", "10.2.0.1"],
        ),
        (
            json!({ "within": "2001:db8:1::/48" }),
            vec!["2001:db8:1::1"],
        ),
        (
            json!({ "within": "2001:db8::/32" }),
            vec!["2001:db8:1::1", "2001:db8:2::1"],
        ),
        (
            json!({ "within": "::/0" }),
            vec!["2001:db8:1::1", "2001:db8:2::1"],
        ),
        (json!({ "address": "10.2.0.1" }), vec!["10.2.0.1"]),
        (
            json!({ "name": "WEB" }),
            vec!["10.1.0.2", "10.2.0.1", "2001:db8:1::1"],
        ),
        (json!({ "name": "%" }), vec![]),
        (
            json!({ "tagsAny": ["db", "staging"] }),
            vec!["10.1.0.1", "10.2.0.1"],
        ),
        (json!({ "tagsAll": ["PROD", "web"] }), vec!["10.1.0.2"]),
        (
            json!({ "tagsNone": ["web"] }),
            vec!["10.1.0.1", "2001:db8:2::1"],
        ),
        (
            json!({ "within": "10.0.0.0/8", "not": { "tagsAny": ["staging"] } }),
            vec!["10.1.0.1", "10.1.0.2"],
        ),
        (
            json!({ "or": [{ "address": "10.1.0.1" }, { "within": "2001:db8:2::/48" }] }),
            vec!["10.1.0.1", "2001:db8:2::1"],
        ),
    ];
    for (filter, expected) in cases {
        let data = app.ok(q, json!({ "f": filter })).await;
        assert_eq!(addresses(&data["hosts"]), expected, "filter {filter}");
    }

    let tags = app
        .ok("{ tags { edges { node { name usage } } } }", json!({}))
        .await;
    assert_eq!(
        tags["tags"]["edges"],
        json!([
            { "node": { "name": "db", "usage": 1 } },
            { "node": { "name": "prod", "usage": 2 } },
            { "node": { "name": "staging", "usage": 1 } },
            { "node": { "name": "web", "usage": 3 } },
        ])
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_have_no_gaps_or_repeats_while_hosts_are_inserted() {
    let app = TestApp::spawn().await;
    let originals: Vec<String> = (0..30)
        .map(|i| format!("10.9.{}.{}", i % 3, 10 + i))
        .collect();
    let created = app
        .ok(
            "mutation($a: [IpAddr!]!) { addHosts(input: {addresses: $a}) { created skipped } }",
            json!({ "a": originals }),
        )
        .await;
    assert_eq!(created["addHosts"]["created"], 30);

    let mut inserted = 0;
    for order in [
        json!({ "field": "ADDRESS" }),
        json!({ "field": "CREATED_AT", "direction": "DESC" }),
        json!({ "field": "NAME" }),
    ] {
        let mut seen: Vec<String> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data = app
                .ok(
                    "query($after: String, $o: HostOrder) { hosts(first: 7, after: $after, orderBy: $o, filter: {within: \"10.9.0.0/16\"}) {
                        edges { cursor node { address } } pageInfo { hasNextPage endCursor } } }",
                    json!({ "after": after, "o": order }),
                )
                .await;
            seen.extend(addresses(&data["hosts"]));
            // Insert hosts that sort before and after the cursor between page requests.
            app.create_host(&format!("10.9.0.{}", 200 + inserted), &[], &[])
                .await;
            app.create_host(&format!("10.9.7.{}", 1 + inserted), &[], &[])
                .await;
            inserted += 1;
            let info = &data["hosts"]["pageInfo"];
            if !info["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = info["endCursor"].as_str().map(str::to_owned);
        }
        let unique: std::collections::HashSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "no host repeats under {order}: {seen:?}"
        );
        for original in &originals {
            assert!(
                seen.contains(original),
                "{original} was skipped under {order}"
            );
        }
    }

    // Backwards from the end, and a cursor from another ordering is refused.
    let last = app
        .ok("{ hosts(last: 3, filter: {within: \"10.9.1.0/24\"}) { edges { node { address } } pageInfo { hasPreviousPage startCursor } } }", json!({}))
        .await;
    let tail = addresses(&last["hosts"]);
    assert_eq!(tail.len(), 3);
    let mut sorted = tail.clone();
    sorted.sort_by_key(|a| a.parse::<std::net::IpAddr>().unwrap());
    assert_eq!(tail, sorted, "a backward page still reads in order");
    assert_eq!(last["hosts"]["pageInfo"]["hasPreviousPage"], true);
    let cursor = last["hosts"]["pageInfo"]["startCursor"].clone();
    let codes = app
        .error_codes(
            "query($c: String) { hosts(after: $c, orderBy: {field: NAME}) { totalCount } }",
            json!({ "c": cursor }),
        )
        .await;
    assert_eq!(codes, vec!["BAD_USER_INPUT"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_add_creates_a_range_into_groups_and_skips_present_addresses() {
    let app = TestApp::spawn().await;
    let group = app
        .ok(
            r#"mutation { createHostGroup(input: {name: "Lab"}) { hostGroup { id } } }"#,
            json!({}),
        )
        .await;
    let group_id = group["createHostGroup"]["hostGroup"]["id"].clone();
    app.create_host("198.51.100.5", &["existing"], &[]).await;

    let add = "mutation($i: AddHostsInput!) { addHosts(input: $i) { created skipped } }";
    let first = app
        .ok(
            add,
            json!({ "i": { "cidr": "198.51.100.0/28", "groupIds": [group_id], "tags": ["lab"] } }),
        )
        .await;
    // A /28 holds 16 addresses; network and broadcast are left out; one host already existed.
    assert_eq!(first["addHosts"], json!({ "created": 13, "skipped": 1 }));
    let again = app
        .ok(add, json!({ "i": { "cidr": "198.51.100.0/28" } }))
        .await;
    assert_eq!(again["addHosts"], json!({ "created": 0, "skipped": 14 }));
    let v6 = app
        .ok(
            add,
            json!({ "i": { "addresses": ["2001:db8::1", "2001:db8::2", "2001:db8::1"] } }),
        )
        .await;
    assert_eq!(v6["addHosts"], json!({ "created": 2, "skipped": 0 }));

    let members = app
        .ok(
            "query($g: ID!) { hostGroup(id: $g) { name hosts { totalCount } } hosts(filter: {group: $g, tagsAll: [\"lab\"]}) { totalCount } }",
            json!({ "g": group_id }),
        )
        .await;
    assert_eq!(members["hostGroup"]["hosts"]["totalCount"], 14);
    assert_eq!(members["hosts"]["totalCount"], 14);

    // Tag and group many hosts at once, then take them off again.
    let ids = app
        .ok(
            "{ hosts(first: 3, filter: {within: \"198.51.100.0/24\"}) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let ids: Vec<_> = ids["hosts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].clone())
        .collect();
    app.ok(
        "mutation($h: [ID!]!) { tagHosts(input: {hostIds: $h, tags: [\"dmz\"]}) { hosts { id } } }",
        json!({ "h": ids }),
    )
    .await;
    let dmz = app
        .ok(
            "{ hosts(filter: {tagsAny: [\"DMZ\"]}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(dmz["hosts"]["totalCount"], 3);
    app.ok(
        "mutation($h: [ID!]!) { untagHosts(input: {hostIds: $h, tags: [\"dmz\"]}) { hosts { id } } }",
        json!({ "h": ids }),
    )
    .await;
    let dmz = app
        .ok(
            "{ hosts(filter: {tagsAny: [\"dmz\"]}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(dmz["hosts"]["totalCount"], 0);
    app.ok(
        "mutation($h: [ID!]!, $g: [ID!]!) { removeHostsFromGroups(input: {hostIds: $h, groupIds: $g}) { hosts { id } } }",
        json!({ "h": ids, "g": [group_id] }),
    )
    .await;
    let members = app
        .ok(
            "query($g: ID!) { hosts(filter: {group: $g}) { totalCount } }",
            json!({ "g": group_id }),
        )
        .await;
    assert_eq!(members["hosts"]["totalCount"], 11);

    let os = app.ok("{ osBreakdown { os hosts } }", json!({})).await;
    assert_eq!(os["osBreakdown"], json!([{ "os": null, "hosts": 16 }]));
    app.stop().await;
}
