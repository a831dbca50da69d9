//! Reading what a feed server sends (RSS 0.9x/1.0/2.0, Atom, JSON Feed, through feed-rs) and
//! OPML feed lists (read and written). Bytes in, records out; no database, so both are fuzzed
//! alone.
//!
//! Safety: a document type with declarations (an internal subset, where entities are declared)
//! is refused before any parser sees the document, so no entity is ever expanded; a bare
//! document type naming an external DTD (RSS 0.91 has one) is allowed and never fetched.
//! Entries, titles, links and names are bounded.

use chrono::{DateTime, Utc};
use quick_xml::events::Event;

/// Most entries taken from one fetch (the rest are counted as skipped).
pub const MAX_ENTRIES: usize = 500;
/// Longest title kept, in characters.
pub const MAX_TITLE: usize = 1000;
/// Longest link kept, in bytes.
pub const MAX_LINK: usize = 2048;
/// Most feeds one OPML document may list.
pub const MAX_OPML_FEEDS: usize = 1000;

/// One entry of a feed, as published (HTML not yet sanitised).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The entry's id in its feed; empty when it had none and nothing to derive one from.
    pub id: String,
    pub title: String,
    pub link: Option<String>,
    pub published: Option<DateTime<Utc>>,
    pub author: Option<String>,
    /// The summary or teaser, as HTML.
    pub summary: Option<String>,
    /// The full content, as HTML.
    pub body: Option<String>,
}

/// A feed document, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub title: Option<String>,
    pub entries: Vec<Entry>,
    /// Entries past [`MAX_ENTRIES`].
    pub skipped: usize,
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("refused: {0}")]
    Refused(String),
    #[error("not a feed: {0}")]
    Malformed(String),
}

/// Cuts `s` to at most `max` characters.
fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Refuses a document whose type declares anything (an internal subset) or that declares an
/// entity anywhere.
pub fn check_prolog(bytes: &[u8]) -> Result<(), ParseError> {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    if lower.windows(8).any(|w| w == b"<!entity") {
        return Err(ParseError::Refused("an entity declaration".into()));
    }
    if let Some(at) = lower.windows(9).position(|w| w == b"<!doctype") {
        let rest = &lower[at..];
        let end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
        if rest[..end].contains(&b'[') {
            return Err(ParseError::Refused(
                "a document type with declarations".into(),
            ));
        }
    }
    Ok(())
}

/// Reads a feed document.
pub fn parse_feed(bytes: &[u8]) -> Result<Parsed, ParseError> {
    check_prolog(bytes)?;
    let parser = feed_rs::parser::Builder::new()
        // A stable id for entries without one (feed-rs would otherwise make a random one per
        // parse, and every poll would look new): their link, else their title, else nothing.
        .id_generator(|links, title, _| {
            links
                .first()
                .map(|l| l.href.clone())
                .or_else(|| title.as_ref().map(|t| t.content.clone()))
                .unwrap_or_default()
        })
        .build();
    let feed = parser
        .parse(bytes)
        .map_err(|e| ParseError::Malformed(cut(&e.to_string(), 300)))?;
    let total = feed.entries.len();
    let entries = feed
        .entries
        .into_iter()
        .take(MAX_ENTRIES)
        .map(|e| {
            let link = e
                .links
                .iter()
                .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
                .or_else(|| e.links.first())
                .map(|l| l.href.trim().to_owned())
                .filter(|l| !l.is_empty() && l.len() <= MAX_LINK);
            let title = e
                .title
                .map(|t| cut(t.content.trim(), MAX_TITLE))
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "(untitled)".to_owned());
            Entry {
                id: cut(e.id.trim(), 2048),
                title,
                link,
                published: e.published.or(e.updated),
                author: e
                    .authors
                    .first()
                    .and_then(|a| a.name.clone())
                    .map(|n| cut(n.trim(), 255))
                    .filter(|n| !n.is_empty()),
                summary: e
                    .summary
                    .map(|s| s.content)
                    .filter(|s| !s.trim().is_empty()),
                body: e
                    .content
                    .and_then(|c| c.body)
                    .filter(|s| !s.trim().is_empty()),
            }
        })
        .collect();
    Ok(Parsed {
        title: feed.title.map(|t| cut(t.content.trim(), 255)),
        entries,
        skipped: total.saturating_sub(MAX_ENTRIES),
    })
}

/// A feed an OPML document lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    /// The line of its `<outline>`.
    pub line: u64,
    pub name: String,
    pub url: String,
}

/// What an OPML document holds: the feeds it lists, and the outlines it could not take, by
/// line with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Opml {
    pub feeds: Vec<OpmlFeed>,
    pub rejected: Vec<(u64, String)>,
}

/// Reads an OPML feed list: every `<outline>` with an `xmlUrl`, at any depth (folders are
/// outlines without one). A broken document keeps the feeds read before the break and
/// rejects the rest with the reason.
pub fn parse_opml(bytes: &[u8]) -> Opml {
    let mut out = Opml::default();
    if let Err(e) = check_prolog(bytes) {
        out.rejected.push((1, e.to_string()));
        return out;
    }
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut seen_root = false;
    loop {
        let at = reader.buffer_position() as usize;
        let line = 1 + bytes[..at.min(bytes.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) => {
                if !seen_root {
                    out.rejected.push((line, "not an OPML document".into()));
                }
                break;
            }
            Ok(Event::DocType(d)) if d.as_ref().contains(&b'[') => {
                out.rejected
                    .push((line, "a document type with declarations is refused".into()));
                break;
            }
            Ok(Event::GeneralRef(_)) => {}
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let name = e.local_name();
                if name.as_ref() == b"opml" {
                    seen_root = true;
                }
                if name.as_ref() != b"outline" {
                    continue;
                }
                let mut attrs = std::collections::HashMap::new();
                for a in e.attributes().flatten() {
                    let key = String::from_utf8_lossy(a.key.local_name().as_ref()).to_lowercase();
                    match a.unescape_value() {
                        Ok(v) => {
                            attrs.insert(key, v.into_owned());
                        }
                        Err(_) => {
                            out.rejected.push((
                                line,
                                format!("attribute `{}` cannot be read", cut(&key, 40)),
                            ));
                        }
                    }
                }
                let Some(url) = attrs.get("xmlurl").map(|u| u.trim().to_owned()) else {
                    continue;
                };
                if out.feeds.len() >= MAX_OPML_FEEDS {
                    out.rejected.push((
                        line,
                        format!("more than {MAX_OPML_FEEDS} feeds in one list"),
                    ));
                    break;
                }
                let name = attrs
                    .get("title")
                    .or_else(|| attrs.get("text"))
                    .map(|n| cut(n.trim(), 255))
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| cut(&url, 255));
                out.feeds.push(OpmlFeed { line, name, url });
            }
            Ok(_) => {}
            Err(e) => {
                out.rejected
                    .push((line, format!("malformed XML: {}", cut(&e.to_string(), 200))));
                break;
            }
        }
        buf.clear();
    }
    out
}

/// Escapes text for an XML attribute.
fn attr(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// Writes an OPML 2.0 feed list.
pub fn write_opml(title: &str, feeds: &[(String, String)]) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n");
    out.push_str(&format!(
        "  <head><title>{}</title></head>\n  <body>\n",
        attr(title)
    ));
    for (name, url) in feeds {
        out.push_str(&format!(
            "    <outline type=\"rss\" text=\"{0}\" title=\"{0}\" xmlUrl=\"{1}\"/>\n",
            attr(name),
            attr(url)
        ));
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RSS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>Advisories</title>
<item><title>Patch CVE-2024-3094</title><link>https://example.org/a</link><description>&lt;b&gt;xz&lt;/b&gt; backdoor</description></item>
<item><title>No link</title><description>text</description></item>
</channel></rss>"#;

    #[test]
    fn rss_091_with_its_public_dtd_reads_with_stable_ids() {
        let a = parse_feed(RSS.as_bytes()).unwrap();
        let b = parse_feed(RSS.as_bytes()).unwrap();
        assert_eq!(a, b, "ids must not change between parses");
        assert_eq!(a.title.as_deref(), Some("Advisories"));
        assert_eq!(a.entries.len(), 2);
        assert_eq!(a.entries[0].link.as_deref(), Some("https://example.org/a"));
        assert_eq!(a.entries[0].summary.as_deref(), Some("<b>xz</b> backdoor"));
        assert_eq!(a.entries[1].id, "No link");
    }

    #[test]
    fn declared_entities_are_refused() {
        let evil = r#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss><channel><title>&x;</title></channel></rss>"#;
        assert!(matches!(
            parse_feed(evil.as_bytes()),
            Err(ParseError::Refused(_))
        ));
        let opml = parse_opml(evil.as_bytes());
        assert!(opml.feeds.is_empty());
        assert_eq!(opml.rejected.len(), 1);
    }

    #[test]
    fn opml_reads_nested_outlines_and_writes_them_back() {
        let doc = write_opml(
            "Feeds & more",
            &[
                (
                    "CISA <alerts>".into(),
                    "https://example.org/cisa.xml".into(),
                ),
                ("Plain".into(), "https://example.org/b?x=1&y=2".into()),
            ],
        );
        let read = parse_opml(doc.as_bytes());
        assert!(read.rejected.is_empty(), "{read:?}");
        let got: Vec<(String, String)> = read
            .feeds
            .iter()
            .map(|f| (f.name.clone(), f.url.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "CISA <alerts>".to_owned(),
                    "https://example.org/cisa.xml".to_owned()
                ),
                (
                    "Plain".to_owned(),
                    "https://example.org/b?x=1&y=2".to_owned()
                )
            ]
        );
        let nested = r#"<opml version="1.0"><body><outline text="Folder">
            <outline text="A" xmlUrl="https://a.example/rss"/>
        </outline><outline text="B" xmlUrl="https://b.example/rss"></body></opml>"#;
        let read = parse_opml(nested.as_bytes());
        assert_eq!(read.feeds.len(), 2, "{read:?}");
        assert_eq!(read.feeds[0].line, 2);
        assert_eq!(
            read.rejected.len(),
            1,
            "the unclosed outline breaks the document: {read:?}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = parse_feed(&bytes);
            let _ = parse_opml(&bytes);
        }

        #[test]
        fn mutated_feeds_never_panic(flips in proptest::collection::vec((0usize..1000, any::<u8>()), 0..30)) {
            for doc in [RSS, ATOM, JSON_FEED] {
                let mut bytes = doc.as_bytes().to_vec();
                for (at, b) in &flips {
                    let at = at % bytes.len();
                    bytes[at] = *b;
                }
                if let Ok(p) = parse_feed(&bytes) {
                    prop_assert!(p.entries.len() <= MAX_ENTRIES);
                    for e in p.entries {
                        prop_assert!(e.title.chars().count() <= MAX_TITLE);
                        prop_assert!(e.link.is_none_or(|l| l.len() <= MAX_LINK));
                    }
                }
                let _ = parse_opml(&bytes);
            }
        }
    }

    const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title><id>urn:a</id><updated>2026-01-01T00:00:00Z</updated>
<entry><title>One</title><id>urn:1</id><link href="https://example.org/1"/><updated>2026-01-02T00:00:00Z</updated><summary>s</summary><content type="html">&lt;p&gt;c&lt;/p&gt;</content><author><name>Ann</name></author></entry>
</feed>"#;

    const JSON_FEED: &str = r#"{"version":"https://jsonfeed.org/version/1.1","title":"J","items":[{"id":"1","url":"https://example.org/j1","title":"J1","content_html":"<p>x</p>","date_published":"2026-01-03T00:00:00Z"}]}"#;

    #[test]
    fn atom_and_json_feed_read() {
        let a = parse_feed(ATOM.as_bytes()).unwrap();
        assert_eq!(a.entries[0].id, "urn:1");
        assert_eq!(a.entries[0].author.as_deref(), Some("Ann"));
        assert_eq!(a.entries[0].body.as_deref(), Some("<p>c</p>"));
        let j = parse_feed(JSON_FEED.as_bytes()).unwrap();
        assert_eq!(j.entries[0].link.as_deref(), Some("https://example.org/j1"));
        assert!(j.entries[0].published.is_some());
    }
}
