//! Bounds on the shape of a GraphQL document, checked before anything recursive touches it.
//!
//! The parser, the validator and the depth and complexity checks all recurse over the
//! document, so a small document nested thousands of levels deep (in values, selections,
//! arguments, directives) exhausts a thread's stack and aborts the process. Every document
//! therefore passes a flat lexical scan of its bracket nesting first; only then is it parsed
//! (once: the parsed document is handed on), and the parsed document is checked for what the
//! scan cannot see: chains of fragment spreads and their expanded size (a fragment that
//! spreads another twice, 30 times over, expands to a billion fields), the number of mutation
//! fields and of password-checking fields in one operation. These checks run for every
//! transport (HTTP and WebSocket), because they sit in the schema.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{Name, Request, ServerError, ServerResult};

use crate::error::code;

/// Deepest nesting of `{`, `[` and `(` anywhere in a document. Legitimate documents stay far
/// below it (the selection depth limit is 12, filters nest at most 6 deep).
pub const MAX_NESTING: usize = 64;
/// Longest chain of fragments spreading fragments.
pub const MAX_FRAGMENT_CHAIN: usize = 16;
/// Most fields an operation may select once its fragments are expanded.
pub const MAX_EXPANDED_FIELDS: u64 = 20_000;
/// Most root fields (aliases included) of one mutation operation.
pub const MAX_MUTATION_FIELDS: usize = 20;
/// Deepest an introspection query (`__schema`, `__type`) may nest: the standard query of
/// graphql-js (`getIntrospectionQuery()`, nine levels of `ofType`) needs 13. Introspection is
/// bounded by this and by [`MAX_EXPANDED_FIELDS`], not by the depth limit of data queries.
pub const MAX_INTROSPECTION_DEPTH: usize = 20;
/// Root mutation fields that check a password; a request may hold one.
pub const PASSWORD_FIELDS: [&str; 2] = ["login", "changePassword"];

/// A refused document: `QUERY_TOO_COMPLEX` with a message that says which bound.
fn too_complex(message: String) -> ServerError {
    super::errors::request_error(message, code::QUERY_TOO_COMPLEX)
}

/// The deepest bracket nesting of `source`, ignoring brackets inside strings, block strings
/// and comments. Stops counting (and answers `limit + 1`) as soon as `limit` is passed.
pub fn nesting_depth(source: &str, limit: usize) -> usize {
    let bytes = source.as_bytes();
    let (mut i, mut depth, mut deepest) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped delimiter inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
                if deepest > limit {
                    return deepest;
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// What one fragment costs once expanded.
#[derive(Clone, Copy, Default)]
struct Expansion {
    /// Fragments in the longest chain starting here (itself included).
    chain: usize,
    /// Fields selected once every spread is expanded (saturating).
    fields: u64,
    /// Deepest nesting of fields, introspection subtrees counting as one level.
    depth: usize,
    /// Deepest nesting of fields, everything counted.
    raw_depth: usize,
}

/// Walks fragments with memory, so each is measured once however often it is spread.
struct FragmentWalk<'a> {
    doc: &'a ExecutableDocument,
    done: HashMap<&'a str, Expansion>,
    /// Fragments on the current path, to refuse cycles instead of recursing forever.
    open: Vec<&'a str>,
}

impl<'a> FragmentWalk<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<Expansion, String> {
        let mut out = Expansion::default();
        for item in &set.items {
            let inner = match &item.node {
                Selection::Field(field) => {
                    let inner = self.selection_set(&field.node.selection_set.node)?;
                    let raw_depth = inner.raw_depth + 1;
                    let introspection =
                        matches!(field.node.name.node.as_str(), "__schema" | "__type");
                    if introspection && raw_depth > MAX_INTROSPECTION_DEPTH {
                        return Err(format!(
                            "introspection nests at most {MAX_INTROSPECTION_DEPTH} fields deep"
                        ));
                    }
                    Expansion {
                        chain: inner.chain,
                        fields: inner.fields.saturating_add(1),
                        depth: if introspection { 1 } else { inner.depth + 1 },
                        raw_depth,
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.selection_set(&inline.node.selection_set.node)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())?
                }
            };
            out.chain = out.chain.max(inner.chain);
            out.fields = out.fields.saturating_add(inner.fields);
            out.depth = out.depth.max(inner.depth);
            out.raw_depth = out.raw_depth.max(inner.raw_depth);
        }
        Ok(out)
    }

    fn fragment(&mut self, name: &'a str) -> Result<Expansion, String> {
        if let Some(done) = self.done.get(name) {
            return Ok(*done);
        }
        if self.open.contains(&name) {
            return Err(format!("fragment `{name}` spreads itself"));
        }
        if self.open.len() >= MAX_FRAGMENT_CHAIN {
            return Err(format!(
                "fragments spread fragments at most {MAX_FRAGMENT_CHAIN} deep"
            ));
        }
        // An unknown fragment is the validator's to report.
        let Some(fragment) = self.doc.fragments.get(&Name::new(name)) else {
            return Ok(Expansion::default());
        };
        self.open.push(name);
        let inner = self.selection_set(&fragment.node.selection_set.node);
        self.open.pop();
        let inner = inner?;
        let out = Expansion {
            chain: inner.chain + 1,
            ..inner
        };
        self.done.insert(name, out);
        Ok(out)
    }
}

/// The root field names of a selection set, through inline fragments and spreads (whose
/// chains are already known to be short and acyclic).
fn root_fields<'a>(doc: &'a ExecutableDocument, set: &'a SelectionSet, out: &mut Vec<&'a str>) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => out.push(field.node.name.node.as_str()),
            Selection::InlineFragment(inline) => {
                root_fields(doc, &inline.node.selection_set.node, out);
            }
            Selection::FragmentSpread(spread) => {
                if let Some(f) = doc.fragments.get(&spread.node.fragment_name.node) {
                    root_fields(doc, &f.node.selection_set.node, out);
                }
            }
        }
    }
}

/// The response keys of an operation's root selection, in the order the query names them.
struct RootOrder(Vec<String>);

/// The response keys (aliases or names) of the root selection of the operation that runs,
/// through fragments; `None` when there is one key or none, which need no reordering.
fn root_order(doc: &ExecutableDocument, operation: Option<&str>) -> Option<Vec<String>> {
    use async_graphql::parser::types::DocumentOperations;
    let op = match (&doc.operations, operation) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) => ops.values().next()?,
    };
    fn keys(doc: &ExecutableDocument, set: &SelectionSet, out: &mut Vec<String>) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let key = field.node.response_key().node.to_string();
                    if !out.contains(&key) {
                        out.push(key);
                    }
                }
                Selection::InlineFragment(inline) => {
                    keys(doc, &inline.node.selection_set.node, out);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(f) = doc.fragments.get(&spread.node.fragment_name.node) {
                        keys(doc, &f.node.selection_set.node, out);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    keys(doc, &op.node.selection_set.node, &mut out);
    (out.len() > 1).then_some(out)
}

/// Checks a parsed document against the bounds the lexical scan cannot see, data queries
/// nesting at most `max_depth` fields deep.
pub fn check_document(doc: &ExecutableDocument, max_depth: usize) -> Result<(), String> {
    let mut walk = FragmentWalk {
        doc,
        done: HashMap::new(),
        open: Vec::new(),
    };
    for (name, _) in doc.fragments.iter() {
        walk.fragment(name.as_str())?;
    }
    let mut password_fields = 0;
    for (_, operation) in doc.operations.iter() {
        let expansion = walk.selection_set(&operation.node.selection_set.node)?;
        if expansion.depth > max_depth {
            return Err(format!(
                "a query nests at most {max_depth} fields deep (introspection: {MAX_INTROSPECTION_DEPTH})"
            ));
        }
        if expansion.fields > MAX_EXPANDED_FIELDS {
            return Err(format!(
                "an operation selects at most {MAX_EXPANDED_FIELDS} fields once its fragments are expanded"
            ));
        }
        if operation.node.ty == OperationType::Mutation {
            let mut fields = Vec::new();
            root_fields(doc, &operation.node.selection_set.node, &mut fields);
            if fields.len() > MAX_MUTATION_FIELDS {
                return Err(format!(
                    "a request holds at most {MAX_MUTATION_FIELDS} mutation fields"
                ));
            }
            password_fields += fields
                .iter()
                .filter(|f| PASSWORD_FIELDS.contains(f))
                .count();
        }
    }
    if password_fields > 1 {
        return Err("a request may check at most one password (`login`, `changePassword`)".into());
    }
    Ok(())
}

/// Checks the nesting of `source`, parses it once and checks the parsed document: the checked
/// document, or `None` when it does not parse (async-graphql then reports why).
fn checked(source: &str, max_depth: usize) -> ServerResult<Option<ExecutableDocument>> {
    if nesting_depth(source, MAX_NESTING) > MAX_NESTING {
        return Err(too_complex(format!(
            "the document nests deeper than {MAX_NESTING} levels"
        )));
    }
    let Ok(doc) = async_graphql::parser::parse_query(source) else {
        return Ok(None);
    };
    check_document(&doc, max_depth).map_err(too_complex)?;
    Ok(Some(doc))
}

/// Documents that passed [`checked`], by their text: clients send the same few documents with
/// different variables, and a copy of a parsed document costs less than parsing it again.
#[derive(Default)]
struct DocumentCache(Mutex<HashMap<String, ExecutableDocument>>);

impl DocumentCache {
    /// Most documents kept, and the longest text cached.
    const ENTRIES: usize = 512;
    const MAX_TEXT: usize = 16 * 1024;

    fn get(&self, source: &str) -> Option<ExecutableDocument> {
        self.0.lock().ok()?.get(source).cloned()
    }

    fn put(&self, source: &str, doc: &ExecutableDocument) {
        if source.len() > Self::MAX_TEXT {
            return;
        }
        if let Ok(mut docs) = self.0.lock() {
            if docs.len() >= Self::ENTRIES {
                docs.clear();
            }
            docs.insert(source.to_owned(), doc.clone());
        }
    }
}

/// The extension that checks every document before it is parsed (see the module), and keeps
/// the documents that passed. It also holds data queries to `max_depth` (the schema's own
/// depth limit would count introspection too, and refuse every standard introspection query).
pub struct DocumentLimits {
    cache: Arc<DocumentCache>,
    max_depth: usize,
}

impl DocumentLimits {
    pub fn new(max_depth: usize) -> Self {
        Self {
            cache: Arc::default(),
            max_depth,
        }
    }
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimitsExtension {
            cache: self.cache.clone(),
            max_depth: self.max_depth,
        })
    }
}

struct DocumentLimitsExtension {
    cache: Arc<DocumentCache>,
    max_depth: usize,
}

#[async_trait::async_trait]
impl Extension for DocumentLimitsExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let doc = match self.cache.get(&request.query) {
            Some(doc) => Some(doc),
            None => {
                let doc = checked(&request.query, self.max_depth)?;
                if let Some(doc) = &doc {
                    self.cache.put(&request.query, doc);
                }
                doc
            }
        };
        if let Some(doc) = doc {
            if let Some(order) = root_order(&doc, request.operation_name.as_deref()) {
                request.data.insert(RootOrder(order));
            }
            request.set_parsed_query(doc);
        }
        next.run(ctx, request).await
    }

    /// Puts the root fields of the answer back in the order the query asked for them: the
    /// roots merge several domains' objects, which async-graphql answers domain by domain.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let mut response = next.run(ctx, operation_name).await;
        if let (Some(RootOrder(order)), async_graphql::Value::Object(fields)) =
            (ctx.data_opt::<RootOrder>(), &mut response.data)
        {
            let mut ordered = async_graphql::indexmap::IndexMap::with_capacity(fields.len());
            for key in order {
                if let Some((name, value)) = fields.shift_remove_entry(key.as_str()) {
                    ordered.insert(name, value);
                }
            }
            ordered.extend(fields.drain(..));
            *fields = ordered;
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(query: &str) -> String {
        checked(query, 12).expect_err("refused").message
    }

    fn accepted(query: &str) {
        assert!(checked(query, 12).expect("accepted").is_some());
    }

    #[test]
    fn nesting_ignores_brackets_in_strings_and_comments() {
        assert_eq!(nesting_depth("{ a(b: [1]) { c } }", 99), 3);
        assert_eq!(nesting_depth("{ a(b: \"{{{[[[\") }", 99), 2);
        assert_eq!(nesting_depth("{ a(b: \"\\\"{{{\") }", 99), 2);
        assert_eq!(nesting_depth("{ a(b: \"\"\"{{ \\\"\"\" {{\"\"\") }", 99), 2);
        assert_eq!(nesting_depth("# {{{{{\n{ a }", 99), 1);
        assert_eq!(nesting_depth(&"[".repeat(10_000), 64), 65);
    }

    #[test]
    fn deep_nesting_in_every_position_is_refused() {
        let n = 2_000;
        let (open, close) = ("[".repeat(n), "]".repeat(n));
        refused(&format!(
            "{{ hosts(filter: {{ tagsAny: {open}\"a\"{close} }}) {{ totalCount }} }}"
        ));
        refused(&format!(
            "{{ hosts(filter: {}{}) {{ totalCount }} }}",
            "{ not: ".repeat(n),
            "}".repeat(n)
        ));
        refused(&format!("{}{}", "{ a ".repeat(n), "}".repeat(n)));
        refused(&format!("{{ a @skip(if: {open}true{close}) }}"));
        refused(&format!("query($v: {open}Int{close}) {{ a }}"));
        refused(&format!("query($v: Int = {open}1{close}) {{ a }}"));
        refused(&format!(
            "fragment F on Query {{ {}{} }} {{ ...F }}",
            "a { ".repeat(n),
            "}".repeat(n)
        ));
    }

    #[test]
    fn fragment_chains_cycles_and_blow_ups_are_refused() {
        let chain: String = (0..100)
            .map(|i| format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1))
            .collect();
        assert!(
            refused(&format!(
                "{{ ...F0 }} {chain} fragment F100 on Query {{ a }}"
            ))
            .contains("deep")
        );
        assert!(
            refused("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
                .contains("itself")
        );
        // Each fragment spreads the next twice: 2^15 leaves from 15 short fragments.
        let doubling: String = (0..15)
            .map(|i| format!("fragment D{i} on Query {{ ...D{n} ...D{n} }}\n", n = i + 1))
            .collect();
        assert!(
            refused(&format!(
                "{{ ...D0 }} {doubling} fragment D15 on Query {{ a }}"
            ))
            .contains("expanded")
        );
    }

    #[test]
    fn mutations_and_password_checks_are_counted() {
        let many: String = (0..21)
            .map(|i| format!("a{i}: logout(input: {{}}) {{ ok }} "))
            .collect();
        assert!(refused(&format!("mutation {{ {many} }}")).contains("mutation fields"));
        let two =
            "mutation { a: login(input: {}) { accessToken } b: login(input: {}) { accessToken } }";
        assert!(refused(two).contains("one password"));
        let via_fragment = "mutation { login(input: {}) { accessToken } ...P } fragment P on Mutation { changePassword(input: {}) { ok } }";
        assert!(refused(via_fragment).contains("one password"));
        accepted("mutation { login(input: {}) { accessToken } }");
    }

    #[test]
    fn the_cache_keeps_only_checked_documents_and_stays_bounded() {
        let cache = DocumentCache::default();
        let doc = checked("{ me { username } }", 12).unwrap().unwrap();
        cache.put("{ me { username } }", &doc);
        assert!(cache.get("{ me { username } }").is_some());
        assert!(cache.get("{ me { id } }").is_none());
        for i in 0..DocumentCache::ENTRIES + 1 {
            cache.put(&format!("{{ a{i} }}"), &doc);
        }
        assert!(cache.0.lock().unwrap().len() <= DocumentCache::ENTRIES);
        cache.put(&"x".repeat(DocumentCache::MAX_TEXT + 1), &doc);
        assert!(
            cache
                .get(&"x".repeat(DocumentCache::MAX_TEXT + 1))
                .is_none()
        );
    }

    #[test]
    fn ordinary_documents_pass_and_are_parsed() {
        accepted(
            "query Q($f: HostFilter) { hosts(first: 5, filter: $f) { edges { node { ...H } } } } fragment H on Host { id address tags { name } }",
        );
        assert!(
            checked("{ unclosed", 12).expect("not refused").is_none(),
            "left to the parser's own error"
        );
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// A document nested `depth` deep with brackets of every kind, around a real field.
        fn nested(depth: usize, kinds: &[u8]) -> String {
            let open: String = (0..depth)
                .map(|i| match kinds[i % kinds.len()] % 3 {
                    0 => "{ a ",
                    1 => "[",
                    _ => "(x: ",
                })
                .collect();
            let close: String = (0..depth)
                .rev()
                .map(|i| match kinds[i % kinds.len()] % 3 {
                    0 => "}",
                    1 => "]",
                    _ => ")",
                })
                .collect();
            format!("{{ hosts(filter: {open}1{close}) {{ totalCount }} }}")
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Arbitrary bytes never panic the scan or the parse behind it.
            #[test]
            fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
                let _ = checked(&text, 12);
            }

            /// Nesting past the bound is refused whatever the brackets, and mutated documents
            /// (bytes dropped, flipped, inserted) are answered without a panic.
            #[test]
            fn deep_or_mutated_documents_are_answered(
                depth in 0usize..400,
                kinds in proptest::collection::vec(any::<u8>(), 1..8),
                edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..6),
            ) {
                let doc = nested(depth, &kinds);
                let outcome = checked(&doc, 12);
                if depth + 2 > MAX_NESTING {
                    prop_assert!(outcome.is_err());
                }
                let mut bytes = doc.into_bytes();
                for (at, byte, op) in edits {
                    if bytes.is_empty() {
                        break;
                    }
                    let i = at.index(bytes.len());
                    match op {
                        0 => { bytes.remove(i); }
                        1 => bytes[i] = byte,
                        _ => bytes.insert(i, byte),
                    }
                }
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let _ = checked(&text, 12);
                prop_assert!(nesting_depth(&text, MAX_NESTING) <= MAX_NESTING + 1);
            }
        }
    }
}
