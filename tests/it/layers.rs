//! The layering of `api/src`: no import cycle between its top-level modules (the shared layers
//! import no domain, domains do not import each other both ways, nothing imports the schema
//! assembly but the transport), and none between the modules inside a domain.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without its `#[cfg(test)]` part and comments.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module names that follow `prefix` in `code` (`prefix::name` and `prefix::{a, b}`).
fn imports(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices(prefix) {
        let rest = &code[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or_default();
            for item in group.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next) {
                Some(1) => {
                    let at = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(next.clone());
                    found.push(cycle);
                }
                Some(_) => {}
                None => visit(next, graph, state, stack, found),
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
    }
    let (mut state, mut found) = (BTreeMap::new(), Vec::new());
    for node in graph.keys() {
        if !state.contains_key(node) {
            visit(node, graph, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("api/src")
}

#[test]
fn the_top_level_modules_of_api_have_no_import_cycle() {
    let src = src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs").to_owned();
        if top == "lib" {
            continue;
        }
        let deps = imports(&code_of(&file), "crate::");
        graph
            .entry(top.clone())
            .or_default()
            .extend(deps.into_iter().filter(|d| *d != top));
    }
    assert!(graph.len() > 10, "too few modules read: {graph:?}");
    assert_eq!(cycles(&graph), Vec::<Vec<String>>::new());
    for shared in [
        "graphql", "actor", "db", "error", "events", "page", "rate", "validate", "state",
    ] {
        for domain in ["host", "auth", "schema"] {
            assert!(
                !graph[shared].contains(domain),
                "the shared layer `{shared}` imports `{domain}`"
            );
        }
    }
}

#[test]
fn the_modules_inside_each_domain_have_no_import_cycle() {
    let src = src();
    for domain in ["host", "auth", "jobs"] {
        let dir = src.join(domain);
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in files {
            let rel = file.strip_prefix(&dir).unwrap();
            let me = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let me = me.trim_end_matches(".rs").to_owned();
            if me == "mod" {
                continue;
            }
            let code = code_of(&file);
            let mut deps = imports(&code, &format!("crate::{domain}::"));
            if rel.components().count() == 1 {
                deps.extend(imports(&code, "super::"));
            }
            graph
                .entry(me.clone())
                .or_default()
                .extend(deps.into_iter().filter(|d| *d != me));
        }
        assert_eq!(
            cycles(&graph),
            Vec::<Vec<String>>::new(),
            "inside `{domain}`"
        );
    }
}
