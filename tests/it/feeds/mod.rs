//! Threat feeds through the real server, against feeds served from loopback by a small HTTP
//! server of the test's own: RSS, Atom and JSON Feed; a malformed, a slow, an oversized and a
//! gzip-bombed feed; conditional GET (304 on the second poll); unstable entry ids; back-off;
//! refusal of internal addresses (literal, by name, by redirect) unless allowed; OPML in and
//! out; search and filters; matches against our findings, inventory and darknet sensors, with
//! their events and the scoping of matches about hosts (in `intel`); and who may do what.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

mod intel;

/// What the feed server was asked: the path and the `If-None-Match` it carried.
type Hits = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A feed server on loopback. `/rss` serves `items` with an ETag that changes with them and
/// answers 304 to a matching `If-None-Match`; other paths are fixed behaviours.
pub(super) struct FeedServer {
    pub(super) addr: SocketAddr,
    pub(super) hits: Hits,
    pub(super) items: Arc<Mutex<Vec<String>>>,
    pub(super) custom: Arc<Mutex<String>>,
}

const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom advisories</title><id>urn:atom</id><updated>2026-11-30T00:00:00Z</updated>
<entry><title>Exchange under attack</title><id>urn:atom:1</id><link href="https://news.example/exchange"/><updated>2026-11-30T10:00:00Z</updated>
<author><name>Ann Analyst</name></author><summary>Attackers hit Exchange servers.</summary>
<content type="html">&lt;p onclick="steal()"&gt;Patch now&lt;script&gt;alert(1)&lt;/script&gt; &lt;a href="javascript:evil()"&gt;x&lt;/a&gt;&lt;/p&gt;</content></entry>
</feed>"#;

const JSON_FEED: &str = r#"{"version":"https://jsonfeed.org/version/1.1","title":"JSON advisories","items":[
{"id":"j-1","url":"https://news.example/json-1","title":"Botnet grows","content_html":"<p>Mirai variant seen</p>","date_published":"2026-11-29T08:00:00Z"}]}"#;

pub(super) fn rss(items: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Local advisories</title><link>https://news.example/</link><description>d</description>{}</channel></rss>",
        items.join("")
    )
}

pub(super) fn item(guid: &str, title: &str, link: &str, description: &str) -> String {
    format!(
        "<item><guid isPermaLink=\"false\">{guid}</guid><title>{title}</title><link>{link}</link><description>{}</description><pubDate>Mon, 30 Nov 2026 12:00:00 GMT</pubDate></item>",
        description
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    )
}

impl FeedServer {
    pub(super) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Self {
            addr,
            hits: Arc::default(),
            items: Arc::default(),
            custom: Arc::default(),
        };
        let (hits, items, custom) = (
            server.hits.clone(),
            server.items.clone(),
            server.custom.clone(),
        );
        tokio::spawn(async move {
            let unstable = Arc::new(std::sync::atomic::AtomicU64::new(0));
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (hits, items, custom, unstable) = (
                    hits.clone(),
                    items.clone(),
                    custom.clone(),
                    unstable.clone(),
                );
                tokio::spawn(async move {
                    let _ = serve(stream, hits, items, custom, unstable).await;
                });
            }
        });
        server
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(super) fn hits_of(&self, path: &str) -> Vec<Option<String>> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, tag)| tag.clone())
            .collect()
    }
}

async fn serve(
    mut stream: tokio::net::TcpStream,
    hits: Hits,
    items: Arc<Mutex<Vec<String>>>,
    custom: Arc<Mutex<String>>,
    unstable: Arc<std::sync::atomic::AtomicU64>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let headers: HashMap<String, String> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let tag = headers.get("if-none-match").cloned();
    hits.lock().unwrap().push((path.clone(), tag.clone()));
    let respond = |status: &str, extra: &str, body: &[u8]| {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    };
    let out = match path.as_str() {
        "/rss" => {
            let items = items.lock().unwrap().clone();
            let etag = format!("\"v{}\"", items.len());
            if tag.as_deref() == Some(etag.as_str()) {
                respond("304 Not Modified", &format!("ETag: {etag}\r\n"), b"")
            } else {
                respond(
                    "200 OK",
                    &format!("ETag: {etag}\r\nContent-Type: application/rss+xml\r\n"),
                    rss(&items).as_bytes(),
                )
            }
        }
        "/atom" => respond(
            "200 OK",
            "Content-Type: application/atom+xml\r\n",
            ATOM.as_bytes(),
        ),
        "/json" => respond(
            "200 OK",
            "Content-Type: application/feed+json\r\n",
            JSON_FEED.as_bytes(),
        ),
        "/custom" => {
            let body = custom.lock().unwrap().clone();
            respond("200 OK", "", body.as_bytes())
        }
        "/malformed" => respond(
            "200 OK",
            "",
            b"<html><body>This is a web page, not a feed</body></html>",
        ),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(4)).await;
            respond("200 OK", "", rss(&[]).as_bytes())
        }
        "/big" => {
            let padding = "x".repeat(200 * 1024);
            respond(
                "200 OK",
                "",
                rss(&[item("b", "Big", "https://news.example/big", &padding)]).as_bytes(),
            )
        }
        "/gzip" => {
            use std::io::Write;
            let padding = " ".repeat(400 * 1024);
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            enc.write_all(
                rss(&[item("g", "Bomb", "https://news.example/g", &padding)]).as_bytes(),
            )?;
            let body = enc.finish()?;
            assert!(body.len() < 16 * 1024, "the bomb is small on the wire");
            respond("200 OK", "Content-Encoding: gzip\r\n", &body)
        }
        "/unstable" => {
            // A feed whose ids change on every fetch while its links stay.
            let n = unstable.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = rss(&[item(
                &format!("run-{n}"),
                "Same story",
                "https://news.example/same?utm_source=feed",
                "again",
            )]);
            respond("200 OK", "", body.as_bytes())
        }
        "/to-metadata" => respond(
            "302 Found",
            "Location: http://169.254.169.254/latest/meta-data/\r\n",
            b"",
        ),
        "/loop" => respond("302 Found", "Location: /loop\r\n", b""),
        _ => respond("404 Not Found", "", b""),
    };
    stream.write_all(&out).await?;
    stream.shutdown().await
}

pub(super) const FEED: &str = "id name url enabled pollIntervalSeconds lastStatus lastError lastFetchedAt lastSuccessAt consecutiveFailures nextPollAt articleCount";
pub(super) const REFRESH: &str = "newArticles duplicates skipped newMatches error feed { id name url enabled pollIntervalSeconds lastStatus lastError lastFetchedAt lastSuccessAt consecutiveFailures nextPollAt articleCount }";

/// A server that may fetch from loopback, with small caps and a short timeout, and no
/// scheduler (the tests poll with `refreshFeed`).
pub(super) async fn loopback_app() -> TestApp {
    TestApp::spawn_with(|c| {
        c.scheduler = false;
        c.feed_allow_nets = vec!["127.0.0.0/8".parse().unwrap()];
        c.feed_timeout_secs = 1;
        c.feed_max_bytes = 64 * 1024;
    })
    .await
}

pub(super) async fn create_feed(app: &TestApp, name: &str, url: &str) -> String {
    let data = app
        .ok(
            &format!(
                "mutation($i: CreateFeedInput!) {{ createFeed(input: $i) {{ feed {{ {FEED} }} }} }}"
            ),
            json!({ "i": { "fields": { "name": name, "url": url, "pollIntervalSeconds": 600 } } }),
        )
        .await;
    let f = &data["createFeed"]["feed"];
    assert_eq!(f["lastStatus"], "NEVER", "{f}");
    f["id"].as_str().unwrap().to_owned()
}

pub(super) async fn refresh(app: &TestApp, id: &str) -> Value {
    app.ok(
        &format!("mutation($i: RefreshFeedInput!) {{ refreshFeed(input: $i) {{ {REFRESH} }} }}"),
        json!({ "i": { "id": id } }),
    )
    .await["refreshFeed"]
        .clone()
}

pub(super) fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str().unwrap().parse().unwrap()
}

pub(super) const ARTICLE: &str =
    "id title link author summary body publishedAt tags indicators { kind value } feed { name }";

pub(super) async fn articles(app: &TestApp, filter: Value) -> Vec<Value> {
    let data = app
        .ok(
            &format!("query($f: ArticleFilterInput) {{ articles(first: 50, filter: $f) {{ totalCount edges {{ node {{ {ARTICLE} }} }} }} }}"),
            json!({ "f": filter }),
        )
        .await;
    let edges = data["articles"]["edges"].as_array().unwrap();
    assert_eq!(data["articles"]["totalCount"], json!(edges.len()));
    edges.iter().map(|e| e["node"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_of_every_format_are_read_once_with_conditional_gets_and_sanitised_html() {
    let feeds = FeedServer::start().await;
    let app = loopback_app().await;
    app.ok(
        "mutation { createTag(input: {name: \"Log4j\"}) { tag { id } } }",
        json!({}),
    )
    .await;
    feeds.items.lock().unwrap().extend([
        item("a-1", "Log4j exploited again", "https://news.example/a1", "Scanning from 198.51.100[.]23 for CVE-2021-44228; payload hxxp://evil[.]example[.]com/x (log4jfoo is no tag)"),
        item("a-2", "Quiet week", "javascript:alert(document.cookie)", "Nothing named; version 1.2.3.4 is not an address"),
    ]);
    let rss_id = create_feed(&app, "Local RSS", &feeds.url("/rss")).await;
    let atom_id = create_feed(&app, "Local Atom", &feeds.url("/atom")).await;
    let json_id = create_feed(&app, "Local JSON", &feeds.url("/json")).await;

    // First poll: everything is new.
    let first = refresh(&app, &rss_id).await;
    assert_eq!(
        (
            first["newArticles"].clone(),
            first["duplicates"].clone(),
            first["error"].clone()
        ),
        (json!(2), json!(0), Value::Null),
        "{first}"
    );
    let f = &first["feed"];
    assert_eq!(
        (f["lastStatus"].clone(), f["articleCount"].clone()),
        (json!("OK"), json!(2))
    );
    assert_eq!(
        time(&f["nextPollAt"]) - time(&f["lastFetchedAt"]),
        chrono::Duration::seconds(600),
        "a working feed is next polled after its interval"
    );
    // Second poll: the validator goes back and the server answers 304.
    let second = refresh(&app, &rss_id).await;
    assert_eq!(second["newArticles"], json!(0));
    assert_eq!(second["feed"]["lastStatus"], "NOT_MODIFIED");
    assert_eq!(
        feeds.hits_of("/rss"),
        [None, Some("\"v2\"".to_owned())],
        "the second poll is conditional"
    );
    // A new item: only it is stored; the others are recognised.
    feeds.items.lock().unwrap().push(item(
        "a-3",
        "Third story",
        "https://news.example/a3",
        "hash 44d88612fea8a8f36de82e1278abb02f",
    ));
    let third = refresh(&app, &rss_id).await;
    assert_eq!(
        (third["newArticles"].clone(), third["duplicates"].clone()),
        (json!(1), json!(2)),
        "{third}"
    );
    assert_eq!(third["feed"]["articleCount"], json!(3));

    let atom = refresh(&app, &atom_id).await;
    assert_eq!(atom["newArticles"], json!(1), "{atom}");
    let json = refresh(&app, &json_id).await;
    assert_eq!(json["newArticles"], json!(1), "{json}");

    let all = articles(&app, json!(null)).await;
    assert_eq!(all.len(), 5, "no duplicates after repeated polls");
    let by_title: HashMap<String, Value> = all
        .iter()
        .map(|a| (a["title"].as_str().unwrap().to_owned(), a.clone()))
        .collect();
    let exchange = &by_title["Exchange under attack"];
    assert_eq!(exchange["author"], "Ann Analyst");
    assert_eq!(exchange["feed"]["name"], "Local Atom");
    let body = exchange["body"].as_str().unwrap();
    assert!(body.contains("Patch now"), "{body}");
    for unsafe_part in ["script", "onclick", "javascript"] {
        assert!(
            !body.contains(unsafe_part),
            "{unsafe_part} survived: {body}"
        );
    }
    assert_eq!(
        by_title["Botnet grows"]["link"],
        "https://news.example/json-1"
    );
    let log4j = &by_title["Log4j exploited again"];
    assert_eq!(
        log4j["tags"],
        json!(["Log4j"]),
        "whole-word, any-case auto-tagging"
    );
    let indicators: Vec<(String, String)> = log4j["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_owned(),
                i["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("CVE", "CVE-2021-44228"),
        ("IPV4", "198.51.100.23"),
        ("URL", "http://evil.example.com/x"),
        ("DOMAIN", "evil.example.com"),
    ] {
        assert!(
            indicators.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {indicators:?}"
        );
    }
    assert_eq!(
        by_title["Quiet week"]["indicators"],
        json!([]),
        "a version is not an address"
    );
    assert_eq!(by_title["Quiet week"]["tags"], json!([]));
    assert!(
        by_title["Quiet week"]["link"].is_null(),
        "a `javascript:` link is not kept"
    );

    // Search and filters.
    let titles = |list: Vec<Value>| -> Vec<String> {
        let mut t: Vec<String> = list
            .iter()
            .map(|a| a["title"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    assert_eq!(
        titles(articles(&app, json!({ "search": "MIRAI variant" })).await),
        ["Botnet grows"]
    );
    assert_eq!(
        titles(articles(&app, json!({ "search": "patch exchange" })).await),
        ["Exchange under attack"]
    );
    assert_eq!(
        titles(articles(&app, json!({ "search": "100%" })).await),
        Vec::<String>::new()
    );
    assert_eq!(
        titles(articles(&app, json!({ "tag": "log4J" })).await),
        ["Log4j exploited again"]
    );
    assert_eq!(
        titles(
            articles(
                &app,
                json!({ "indicator": { "kind": "DOMAIN", "value": "EVIL[.]example.com" } })
            )
            .await
        ),
        ["Log4j exploited again"]
    );
    assert_eq!(
        titles(articles(&app, json!({ "indicator": { "kind": "MD5", "value": "44D88612FEA8A8F36DE82E1278ABB02F" } })).await),
        ["Third story"]
    );
    assert_eq!(
        titles(articles(&app, json!({ "feedIds": [atom_id, json_id] })).await),
        ["Botnet grows", "Exchange under attack"]
    );
    assert_eq!(
        titles(
            articles(
                &app,
                json!({ "since": "2026-11-30T00:00:00Z", "until": "2026-11-30T11:00:00Z" })
            )
            .await
        ),
        ["Exchange under attack"]
    );
    let codes = app
        .error_codes(
            "query { articles(filter: {indicator: {kind: IPV4, value: \"version 1.2.3.4\"}}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(codes, ["BAD_USER_INPUT"]);
    // Newest first, and pages that continue.
    let page = app
        .ok("{ articles(first: 2) { pageInfo { hasNextPage endCursor } edges { node { publishedAt } } } }", json!({}))
        .await;
    let next = app
        .ok(
            "query($a: String) { articles(first: 10, after: $a) { edges { node { publishedAt } } } }",
            json!({ "a": page["articles"]["pageInfo"]["endCursor"] }),
        )
        .await;
    let mut times: Vec<chrono::DateTime<chrono::Utc>> = page["articles"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .chain(next["articles"]["edges"].as_array().unwrap())
        .map(|e| time(&e["node"]["publishedAt"]))
        .collect();
    assert_eq!(times.len(), 5);
    let sorted = {
        let mut s = times.clone();
        s.sort_by(|a, b| b.cmp(a));
        s
    };
    assert_eq!(times, sorted, "newest first across pages");
    times.dedup();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_slow_and_oversized_feeds_fail_alone_and_back_off() {
    let feeds = FeedServer::start().await;
    let app = loopback_app().await;
    let malformed = create_feed(&app, "Malformed", &feeds.url("/malformed")).await;
    let slow = create_feed(&app, "Slow", &feeds.url("/slow")).await;
    let big = create_feed(&app, "Big", &feeds.url("/big")).await;
    let bomb = create_feed(&app, "Gzip bomb", &feeds.url("/gzip")).await;
    let missing = create_feed(&app, "Missing", &feeds.url("/nothing-here")).await;
    let looping = create_feed(&app, "Loop", &feeds.url("/loop")).await;
    let unstable = create_feed(&app, "Unstable", &feeds.url("/unstable")).await;

    let failed = |r: &Value, words: &str| {
        let error = r["error"]
            .as_str()
            .unwrap_or_else(|| panic!("an error: {r}"));
        assert!(error.contains(words), "{error:?} should say {words:?}");
        assert_eq!(r["feed"]["lastStatus"], "FAILED");
        assert_eq!(r["feed"]["lastError"], r["error"]);
        assert!(r["feed"]["lastSuccessAt"].is_null());
        assert_eq!(r["newArticles"], json!(0));
    };
    let r = refresh(&app, &malformed).await;
    failed(&r, "not a feed");
    assert_eq!(r["feed"]["consecutiveFailures"], json!(1));
    let backoff = |r: &Value| time(&r["feed"]["nextPollAt"]) - time(&r["feed"]["lastFetchedAt"]);
    assert_eq!(
        backoff(&r),
        chrono::Duration::seconds(1200),
        "one failure doubles the wait"
    );
    let r = refresh(&app, &malformed).await;
    assert_eq!(r["feed"]["consecutiveFailures"], json!(2));
    assert_eq!(
        backoff(&r),
        chrono::Duration::seconds(2400),
        "two failures double it again"
    );

    let started = std::time::Instant::now();
    failed(&refresh(&app, &slow).await, "no answer within 1 seconds");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the timeout cut the slow feed short"
    );
    failed(&refresh(&app, &big).await, "larger than 65536 bytes");
    failed(&refresh(&app, &bomb).await, "larger than 65536 bytes");
    failed(&refresh(&app, &missing).await, "HTTP 404");
    failed(&refresh(&app, &looping).await, "more than 5 redirects");

    // Unstable ids, stable link: the second poll recognises the story by its link.
    assert_eq!(refresh(&app, &unstable).await["newArticles"], json!(1));
    let again = refresh(&app, &unstable).await;
    assert_eq!(
        (again["newArticles"].clone(), again["duplicates"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(feeds.hits_of("/unstable").len(), 2);

    // The broken ones did not stop the good one, and a re-enabled feed starts afresh.
    let data = app
        .ok(
            &format!(
                "mutation($i: UpdateFeedInput!) {{ updateFeed(input: $i) {{ feed {{ {FEED} }} }} }}"
            ),
            json!({ "i": { "id": malformed, "fields": { "url": feeds.url("/json") } } }),
        )
        .await;
    assert_eq!(data["updateFeed"]["feed"]["consecutiveFailures"], json!(0));
    let r = refresh(&app, &malformed).await;
    assert_eq!(
        (r["newArticles"].clone(), r["feed"]["lastStatus"].clone()),
        (json!(1), json!("OK")),
        "{r}"
    );
    assert_eq!(r["feed"]["consecutiveFailures"], json!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_unless_allowed_also_by_name_and_redirect() {
    let feeds = FeedServer::start().await;
    // No allow-list: loopback is internal.
    let closed = TestApp::spawn_with(|c| {
        c.scheduler = false;
        c.feed_timeout_secs = 2;
    })
    .await;
    let port = feeds.addr.port();
    for (name, url) in [
        ("literal", format!("http://127.0.0.1:{port}/rss")),
        ("by name", format!("http://localhost:{port}/rss")),
        ("v6", format!("http://[::1]:{port}/rss")),
        (
            "metadata",
            "http://169.254.169.254/latest/meta-data/".to_owned(),
        ),
        ("private", "http://10.0.0.1/feed".to_owned()),
    ] {
        let id = create_feed(&closed, name, &url).await;
        let r = refresh(&closed, &id).await;
        let error = r["error"].as_str().unwrap_or_else(|| panic!("{name}: {r}"));
        assert!(error.starts_with("refused"), "{name}: {error}");
        assert_eq!(r["feed"]["lastStatus"], "FAILED");
    }
    assert!(
        feeds.hits.lock().unwrap().is_empty(),
        "nothing reached the internal server"
    );
    for bad in [
        "file:///etc/passwd",
        "gopher://example.org/",
        "not a url",
        "http://",
    ] {
        let codes = closed
            .error_codes(
                "mutation($u: String!) { createFeed(input: {fields: {name: \"x\", url: $u}}) { feed { id } } }",
                json!({ "u": bad }),
            )
            .await;
        assert_eq!(codes, ["BAD_USER_INPUT"], "{bad}");
    }
    // Loopback allowed: a redirect to the metadata address is still refused.
    let open = loopback_app().await;
    let id = create_feed(&open, "Redirector", &feeds.url("/to-metadata")).await;
    let r = refresh(&open, &id).await;
    assert!(
        r["error"].as_str().unwrap().contains("169.254.169.254"),
        "the redirect's target is checked: {r}"
    );
    assert_eq!(feeds.hits_of("/to-metadata").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opml_round_trips_and_reports_each_outline() {
    let app = loopback_app().await;
    create_feed(&app, "Existing", "https://feeds.example/existing.xml").await;
    let opml = r#"<?xml version="1.0"?>
<opml version="2.0"><head><title>Mine</title></head><body>
<outline text="Folder">
  <outline type="rss" text="CISA" xmlUrl="https://feeds.example/cisa.xml"/>
  <outline type="rss" text="Dup" xmlUrl="https://feeds.example/existing.xml"/>
  <outline type="rss" text="Bad" xmlUrl="ftp://feeds.example/x"/>
</outline>
<outline type="rss" title="Krebs &amp; co" xmlUrl="https://feeds.example/krebs"/>
</body></opml>"#;
    let data = app
        .ok(
            "mutation($o: String!) { importOpml(input: {opml: $o, pollIntervalSeconds: 1800}) { created { name url pollIntervalSeconds } rejectedCount rejected { line reason } } }",
            json!({ "o": opml }),
        )
        .await;
    let r = &data["importOpml"];
    assert_eq!(
        r["created"],
        json!([
            { "name": "CISA", "url": "https://feeds.example/cisa.xml", "pollIntervalSeconds": 1800 },
            { "name": "Krebs & co", "url": "https://feeds.example/krebs", "pollIntervalSeconds": 1800 }
        ])
    );
    assert_eq!(r["rejectedCount"], json!(2));
    assert_eq!(r["rejected"][0]["line"], json!(5));
    assert!(
        r["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("already listed")
    );
    assert_eq!(r["rejected"][1]["line"], json!(6));
    assert!(
        r["rejected"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("http")
    );

    let export = app.ok("{ feedsOpml }", json!({})).await["feedsOpml"]
        .as_str()
        .unwrap()
        .to_owned();
    for url in ["cisa.xml", "existing.xml", "krebs"] {
        assert!(export.contains(url), "{export}");
    }
    assert!(
        export.contains("Krebs &amp; co"),
        "names are escaped: {export}"
    );
    // Exported, then imported elsewhere: the same list.
    let other = loopback_app().await;
    let data = other
        .ok(
            "mutation($o: String!) { importOpml(input: {opml: $o}) { created { name url } rejectedCount } }",
            json!({ "o": export }),
        )
        .await;
    assert_eq!(data["importOpml"]["rejectedCount"], json!(0));
    assert_eq!(data["importOpml"]["created"].as_array().unwrap().len(), 3);
    let listed = other
        .ok(
            "{ feeds(first: 10) { totalCount edges { node { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["feeds"]["totalCount"], json!(3));
    assert_eq!(
        listed["feeds"]["edges"][0]["node"]["name"], "CISA",
        "by name"
    );
    // Everyone reads the list; a feed's URL (often with the provider's key) only admins.
    let (viewer, _) = user(&app, "vic", "VIEWER", &[]).await;
    let (_, body) = app
        .gql_as(
            Some(&viewer),
            "{ feeds { totalCount edges { node { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["feeds"]["totalCount"], json!(3), "{body}");
    let (_, body) = app
        .gql_as(
            Some(&viewer),
            "{ feeds { edges { node { name url } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    assert!(!body.to_string().contains("feeds.example"), "{body}");
    // A document that declares entities is refused whole.
    let data = app
        .ok(
            "mutation($o: String!) { importOpml(input: {opml: $o}) { created { name } rejected { line reason } } }",
            json!({ "o": "<?xml version=\"1.0\"?><!DOCTYPE opml [<!ENTITY x \"y\">]><opml><body><outline xmlUrl=\"https://a.example/&x;\"/></body></opml>" }),
        )
        .await;
    assert_eq!(data["importOpml"]["created"], json!([]));
    assert!(
        data["importOpml"]["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("refused")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_job_polls_due_feeds_and_skips_disabled_ones() {
    let feeds = FeedServer::start().await;
    let app = TestApp::spawn_with(|c| {
        c.feed_allow_nets = vec!["127.0.0.0/8".parse().unwrap()];
        c.feed_tick_secs = 1;
    })
    .await;
    feeds.items.lock().unwrap().push(item(
        "p-1",
        "Polled by the job",
        "https://news.example/p1",
        "x",
    ));
    create_feed(&app, "Due", &feeds.url("/rss")).await;
    app.ok(
        "mutation($u: String!) { createFeed(input: {fields: {name: \"Off\", url: $u, enabled: false}}) { feed { id } } }",
        json!({ "u": feeds.url("/json") }),
    )
    .await;
    let mut found = Vec::new();
    for _ in 0..50 {
        found = articles(&app, json!(null)).await;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(found.len(), 1, "the job polled the due feed");
    assert_eq!(found[0]["title"], "Polled by the job");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        feeds.hits_of("/json").is_empty(),
        "a disabled feed is not polled"
    );
    assert_eq!(
        feeds.hits_of("/rss").len(),
        1,
        "a polled feed waits for its interval"
    );
}
