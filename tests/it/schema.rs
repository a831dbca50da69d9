//! `schema.graphql` is the public contract: it must match the code.

#[test]
fn schema_graphql_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let current = api::schema::sdl();
    assert!(
        committed == current,
        "schema.graphql is out of date with the code; regenerate it with\n\n    cargo run -q -- schema > schema.graphql\n\nand review the diff."
    );
}
