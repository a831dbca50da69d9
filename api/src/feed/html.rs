//! What a feed sends as HTML, made safe to show (ammonia's allow-list: no scripts, styles,
//! event handlers, frames or `javascript:` links; links get `rel="noopener noreferrer"`) and
//! made plain for search, tagging and indicator extraction.

/// Longest body kept, in bytes of sanitised HTML.
pub const MAX_BODY: usize = 256 * 1024;

/// `html` with everything unsafe removed, at most [`MAX_BODY`] bytes.
pub fn sanitise(html: &str) -> String {
    let mut cut = html.len().min(MAX_BODY);
    loop {
        while !html.is_char_boundary(cut) {
            cut -= 1;
        }
        let clean = ammonia::Builder::default()
            .link_rel(Some("noopener noreferrer nofollow"))
            .clean(&html[..cut])
            .to_string();
        // Escaping can make the clean text longer than its source: cut the source further.
        if clean.len() <= MAX_BODY || cut == 0 {
            return clean;
        }
        cut = cut.saturating_sub(clean.len() - MAX_BODY + 16);
    }
}

/// The text of `html`: tags dropped (a block tag is a space), entities decoded, runs of white
/// space made one space.
pub fn text(html: &str) -> String {
    let mut out = String::with_capacity(html.len().min(MAX_BODY));
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        decode_into(&rest[..open], &mut out);
        out.push(' ');
        match rest[open..].find('>') {
            Some(close) => rest = &rest[open + close + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    decode_into(rest, &mut out);
    let mut collapsed = String::with_capacity(out.len());
    for word in out.split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed
}

/// Appends `s` with its character references decoded (the named ones feeds use, and every
/// numeric one); an unknown or broken reference stays as written.
fn decode_into(s: &str, out: &mut String) {
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let decoded = tail.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &tail[1..end];
            let ch = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            ch.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scripts_handlers_and_javascript_links_go() {
        let clean = sanitise(
            r#"<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:alert(1)">a</a>
               <a href="https://example.com/">b</a><iframe src="x"></iframe><style>p{}</style></p>"#,
        );
        assert!(!clean.contains("script"), "{clean}");
        assert!(!clean.contains("onclick"), "{clean}");
        assert!(!clean.contains("javascript"), "{clean}");
        assert!(!clean.contains("iframe"), "{clean}");
        assert!(clean.contains(r#"href="https://example.com/""#), "{clean}");
        assert!(clean.contains("noopener"), "{clean}");
    }

    #[test]
    fn text_drops_tags_and_decodes_references() {
        assert_eq!(
            text("<p>Patch&nbsp;<b>CVE-2024-1</b> &amp; 10&#46;0&#x2e;0.1</p>\n<br/>now &bogus; &"),
            "Patch CVE-2024-1 & 10.0.0.1 now &bogus; &"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_markup_never_panics_and_stays_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let html = String::from_utf8_lossy(&bytes);
            prop_assert!(sanitise(&html).len() <= MAX_BODY);
            let _ = text(&html);
        }
    }
}
