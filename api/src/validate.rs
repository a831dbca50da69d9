//! Pure checks of input text shared by every domain: every text has a bound and a clear
//! error, names compare through one lower-cased key.

use crate::error::{AppError, AppResult};

pub const MAX_NAMES: usize = 32;
pub const MAX_NAME_LEN: usize = 255;
pub const MAX_TAG_LEN: usize = 100;
pub const MAX_NOTES_LEN: usize = 20_000;
pub const MAX_LINK_LEN: usize = 2048;
pub const MAX_URL_LEN: usize = 700;
pub const MAX_LIST: usize = 10_000;

/// Trims `value`, refuses it when empty, too long or holding control characters.
pub fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::bad_input(format!("`{field}` must not be empty")));
    }
    if value.chars().count() > max {
        return Err(AppError::bad_input(format!(
            "`{field}` is longer than {max} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(AppError::bad_input(format!(
            "`{field}` must not contain control characters"
        )));
    }
    Ok(value.to_owned())
}

/// Like [`text`], but a blank value means "none".
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// One line of text: no line breaks either.
pub fn line(field: &str, value: &str, max: usize) -> AppResult<String> {
    let value = text(field, value, max)?;
    if value.contains(['\n', '\t']) {
        return Err(AppError::bad_input(format!(
            "`{field}` must be a single line"
        )));
    }
    Ok(value)
}

pub fn optional_line(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => line(field, v, max).map(Some),
    }
}

/// Host names: trimmed, unique case-insensitively, the first kept as the primary.
pub fn names(values: &[String]) -> AppResult<Vec<String>> {
    if values.len() > MAX_NAMES {
        return Err(AppError::bad_input(format!(
            "a host has at most {MAX_NAMES} names"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        let name = line("names", v, MAX_NAME_LEN)?;
        if !out.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            out.push(name);
        }
    }
    Ok(out)
}

/// A tag name. HECTOR refused nmap fingerprint fragments (`%I=7%`) as tags; so does Hector.
pub fn tag(value: &str) -> AppResult<String> {
    let name = line("tag", value, MAX_TAG_LEN)?;
    if name.contains("%I=7%") {
        return Err(AppError::bad_input(
            "that looks like an nmap fingerprint, not a tag",
        ));
    }
    Ok(name)
}

/// An http(s) link.
pub fn link(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    let Some(link) = optional_line(field, value, max)? else {
        return Ok(None);
    };
    let lower = link.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) || link.contains(' ') {
        return Err(AppError::bad_input(format!(
            "`{field}` must be an http:// or https:// URL"
        )));
    }
    Ok(Some(link))
}

/// A bounded list of ids or names.
pub fn bounded<T>(field: &str, items: &[T], max: usize) -> AppResult<()> {
    if items.len() > max {
        return Err(AppError::bad_input(format!(
            "`{field}` holds {} items; at most {max} are accepted",
            items.len()
        )));
    }
    Ok(())
}

/// The lower-cased unique key of a name (the same on SQLite and MariaDB).
pub fn key(name: &str) -> String {
    name.to_lowercase()
}

/// `value` cut to at most `max` bytes, on a character boundary.
pub fn truncate(value: &str, max: usize) -> String {
    let mut end = value.len().min(max);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_deduplicated_and_bounded() {
        let got = names(&[" web ".into(), "WEB".into(), "db".into()]).unwrap();
        assert_eq!(got, vec!["web", "db"]);
        assert!(names(&["a\nb".into()]).is_err());
        assert!(names(&["".into()]).is_err());
        assert!(names(&vec!["x".to_string(); 1]).is_ok());
        let many: Vec<String> = (0..=MAX_NAMES).map(|i| format!("n{i}")).collect();
        assert!(names(&many).is_err());
    }

    #[test]
    fn tags_refuse_fingerprints_and_links_need_a_scheme() {
        assert!(tag("web").is_ok());
        assert!(tag("SEQ(SP=%I=7%)").is_err());
        assert!(
            link("link", Some("https://example.org/x"), 100)
                .unwrap()
                .is_some()
        );
        assert!(link("link", Some("javascript:alert(1)"), 100).is_err());
        assert_eq!(link("link", Some("  "), 100).unwrap(), None);
    }
}
