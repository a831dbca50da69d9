//! The XML under the report readers: a stream of records (the elements a format names, with
//! the attributes and text of everything inside them, by path), so a format reader never sees
//! more than one record at a time.
//!
//! Safety: a document type with declarations (an internal subset) is refused, and no entity
//! but XML's five and character references is ever expanded; an external DTD is never fetched
//! or read. Records, texts and nesting are bounded; a record past its bound is rejected and
//! the reading goes on after it.

use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};

use super::{MAX_LONG, cut};

/// Deepest nesting accepted.
const MAX_DEPTH: usize = 64;
/// Most elements kept inside one record.
const MAX_NODES: usize = 4096;
/// Most bytes of text and attributes one record may hold.
const MAX_RECORD: usize = 4 * 1024 * 1024;

/// An element inside a record: its path below the record (`nvt/cvss_base`), attributes and
/// text.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub path: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
}

/// A record element and everything inside it.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Its element name.
    pub name: String,
    /// The line it starts on.
    pub line: u64,
    pub attrs: Vec<(String, String)>,
    pub nodes: Vec<Node>,
}

impl Record {
    /// The value of one of its own attributes.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The text of the first element at `path`.
    pub fn text(&self, path: &str) -> Option<&str> {
        self.nodes
            .iter()
            .find(|n| n.path == path)
            .map(|n| n.text.as_str())
    }

    /// Every element at `path`.
    pub fn all<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes.iter().filter(move |n| n.path == path)
    }
}

impl Node {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the stream yields.
#[derive(Debug)]
pub enum Read {
    /// A complete record.
    Record(Record),
    /// A record past the bounds, left out; the reading went on.
    Oversized { line: u64, reason: String },
    /// The reading ended (malformed or truncated XML, a refused DTD, no root).
    Fatal { line: u64, reason: String },
}

/// Records of the elements named `records`, read from a document whose root is `root`.
pub struct Records<R: BufRead> {
    reader: quick_xml::Reader<R>,
    buf: Vec<u8>,
    done: bool,
    st: State,
}

/// Where the reading is (apart from the reader, so events borrowed from its buffer and this
/// can be used together).
struct State {
    line: u64,
    depth: usize,
    root: &'static str,
    records: &'static [&'static str],
    contexts: &'static [&'static str],
    /// The attributes of the context elements last opened, by name.
    context: Vec<(String, Vec<(String, String)>)>,
    saw_root: bool,
    /// The record being read, the depth it started at, the open paths below it, its size.
    open: Option<Open>,
}

struct Open {
    record: Record,
    depth: usize,
    stack: Vec<usize>,
    bytes: usize,
    oversized: Option<String>,
}

fn attrs(e: &BytesStart<'_>, max: usize) -> Vec<(String, String)> {
    e.attributes()
        .flatten()
        .filter_map(|a| {
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = a.unescape_value().ok()?;
            Some((cut(key, 128), cut(value.into_owned(), max)))
        })
        .take(64)
        .collect()
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

impl<R: BufRead> Records<R> {
    pub fn new(input: R, root: &'static str, records: &'static [&'static str]) -> Self {
        let mut reader = quick_xml::Reader::from_reader(input);
        let config = reader.config_mut();
        config.trim_text(false);
        config.check_end_names = true;
        config.expand_empty_elements = false;
        Self {
            reader,
            buf: Vec::with_capacity(4096),
            done: false,
            st: State {
                line: 1,
                depth: 0,
                root,
                records,
                contexts: &[],
                context: Vec::new(),
                saw_root: false,
                open: None,
            },
        }
    }

    /// Also remembers the attributes of the elements named `contexts` (outside records) as
    /// they open, for [`Self::context`].
    pub fn with_contexts(mut self, contexts: &'static [&'static str]) -> Self {
        self.st.contexts = contexts;
        self
    }

    /// An attribute of the context element `element` last opened.
    pub fn context(&self, element: &str, attr: &str) -> Option<&str> {
        self.st
            .context
            .iter()
            .find(|(name, _)| name == element)
            .and_then(|(_, attrs)| attrs.iter().find(|(k, _)| k == attr))
            .map(|(_, v)| v.as_str())
    }

    fn fatal(&mut self, line: u64, reason: impl Into<String>) -> Option<Read> {
        self.done = true;
        Some(Read::Fatal {
            line,
            reason: reason.into(),
        })
    }

    /// The next record, oversized record or fatal error; `None` at the end of the document.
    pub fn next_record(&mut self) -> Option<Read> {
        if self.done {
            return None;
        }
        loop {
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(e) => e,
                Err(e) => {
                    let line = self.st.line;
                    return self.fatal(line, format!("malformed XML: {e}"));
                }
            };
            let at = self.st.line;
            let lines = match &event {
                Event::Start(e) | Event::Empty(e) => newlines(e.as_ref()),
                Event::End(e) => newlines(e.as_ref()),
                Event::Text(e) => newlines(e.as_ref()),
                Event::CData(e) => newlines(e.as_ref()),
                Event::Comment(e) | Event::DocType(e) => newlines(e.as_ref()),
                Event::PI(e) => newlines(e.as_ref()),
                Event::Decl(e) => newlines(e.as_ref()),
                Event::GeneralRef(_) | Event::Eof => 0,
            };
            self.st.line += lines;
            match event {
                Event::DocType(text) => {
                    if text.as_ref().contains(&b'[') {
                        return self.fatal(at, "a document type with declarations is refused");
                    }
                }
                Event::GeneralRef(r) => {
                    let known = r.is_char_ref()
                        || matches!(r.as_ref(), b"lt" | b"gt" | b"amp" | b"apos" | b"quot");
                    if !known {
                        let name = cut(String::from_utf8_lossy(r.as_ref()).into_owned(), 40);
                        return self.fatal(at, format!("undeclared entity `&{name};`"));
                    }
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        self.st.add_text(&c.to_string());
                    } else if let Some(c) = match r.as_ref() {
                        b"lt" => Some("<"),
                        b"gt" => Some(">"),
                        b"amp" => Some("&"),
                        b"apos" => Some("'"),
                        b"quot" => Some("\""),
                        _ => None,
                    } {
                        self.st.add_text(c);
                    }
                }
                Event::Start(e) => {
                    self.st.depth += 1;
                    if self.st.depth > MAX_DEPTH {
                        return self.fatal(at, "elements nested too deep");
                    }
                    // A record opened here completes at its end tag.
                    let _ = self.st.open_element(&e, at, false);
                }
                Event::Empty(e) => {
                    self.st.depth += 1;
                    let done = self.st.open_element(&e, at, true);
                    self.st.depth -= 1;
                    if let Some(record) = done {
                        return Some(Read::Record(record));
                    }
                }
                Event::End(_) => {
                    let closing = self.st.depth;
                    self.st.depth = self.st.depth.saturating_sub(1);
                    if let Some(open) = self.st.open.as_mut() {
                        if open.depth == closing {
                            let open = self.st.open.take()?;
                            return Some(match open.oversized {
                                Some(reason) => Read::Oversized {
                                    line: open.record.line,
                                    reason,
                                },
                                None => Read::Record(open.record),
                            });
                        }
                        open.stack.pop();
                    }
                }
                Event::Text(t) => {
                    if let Ok(text) = t.decode() {
                        self.st.add_text(&text);
                    }
                }
                Event::CData(t) => {
                    let text = String::from_utf8_lossy(t.as_ref()).into_owned();
                    self.st.add_text(&text);
                }
                Event::Eof => {
                    self.done = true;
                    if self.st.open.is_some() {
                        return Some(Read::Fatal {
                            line: at,
                            reason: "the file ends inside an item (truncated)".into(),
                        });
                    }
                    if !self.st.saw_root {
                        return Some(Read::Fatal {
                            line: at,
                            reason: format!(
                                "no <{}> element: not the expected report",
                                self.st.root
                            ),
                        });
                    }
                    if self.st.depth > 0 {
                        return Some(Read::Fatal {
                            line: at,
                            reason: format!("the file ends before </{}> (truncated)", self.st.root),
                        });
                    }
                    return None;
                }
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
            }
        }
    }
}

impl State {
    /// Opens an element; a record with nothing inside is complete at once and returned.
    fn open_element(&mut self, e: &BytesStart<'_>, at: u64, empty: bool) -> Option<Record> {
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        if self.depth == 1 {
            self.saw_root = self.saw_root || name == self.root;
        }
        match self.open.as_mut() {
            None => {
                if self.contexts.contains(&name.as_str()) {
                    let found = attrs(e, MAX_LONG);
                    self.context.retain(|(n, _)| *n != name);
                    self.context.push((name.clone(), found));
                }
                if self.saw_root && self.records.contains(&name.as_str()) {
                    let record = Record {
                        name: cut(name, 128),
                        line: at,
                        attrs: attrs(e, MAX_LONG),
                        nodes: Vec::new(),
                    };
                    if empty {
                        return Some(record);
                    }
                    self.open = Some(Open {
                        record,
                        depth: self.depth,
                        stack: Vec::new(),
                        bytes: 0,
                        oversized: None,
                    });
                }
            }
            Some(open) => {
                if open.oversized.is_some() {
                    if !empty {
                        open.stack.push(usize::MAX);
                    }
                    return None;
                }
                if open.record.nodes.len() >= MAX_NODES {
                    open.oversized = Some(format!("more than {MAX_NODES} elements in one item"));
                    if !empty {
                        open.stack.push(usize::MAX);
                    }
                    return None;
                }
                let parent = open
                    .stack
                    .last()
                    .and_then(|i| open.record.nodes.get(*i))
                    .map(|n| n.path.clone());
                let path = match parent {
                    Some(p) => format!("{p}/{name}"),
                    None => name,
                };
                let node = Node {
                    path: cut(path, 512),
                    attrs: attrs(e, MAX_LONG),
                    text: String::new(),
                };
                open.bytes += node.path.len()
                    + node
                        .attrs
                        .iter()
                        .map(|(k, v)| k.len() + v.len())
                        .sum::<usize>();
                open.record.nodes.push(node);
                if !empty {
                    open.stack.push(open.record.nodes.len() - 1);
                }
                if open.bytes > MAX_RECORD {
                    open.oversized = Some(format!("an item over {MAX_RECORD} bytes"));
                }
            }
        }
        None
    }

    fn add_text(&mut self, text: &str) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if open.oversized.is_some() {
            return;
        }
        let Some(node) = open
            .stack
            .last()
            .and_then(|i| open.record.nodes.get_mut(*i))
        else {
            return;
        };
        open.bytes += text.len();
        if open.bytes > MAX_RECORD {
            open.oversized = Some(format!("an item over {MAX_RECORD} bytes"));
            return;
        }
        if node.text.len() < MAX_LONG {
            node.text.push_str(text);
            if node.text.len() > MAX_LONG {
                let cut_text = cut(std::mem::take(&mut node.text), MAX_LONG);
                node.text = cut_text;
            }
        }
    }
}
