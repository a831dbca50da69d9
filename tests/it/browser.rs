//! GraphiQL in a real browser: the distribution's headless Chromium, driven by Playwright
//! (tests/browser), with every request that is not to Hector refused.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::json;

use crate::support::TestApp;

/// Chromium and the driver's packages, or `None` where they are not installed (a failure
/// under CI, which installs both).
fn browser_kit() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let ready = chromium.exists() && dir.join("node_modules/playwright-core").exists();
    if !ready && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI must install Chromium ({}) and the browser driver (npm ci in {})",
            chromium.display(),
            dir.display()
        );
    }
    ready.then_some((chromium, dir))
}

#[tokio::test]
async fn graphiql_renders_offline_shows_the_docs_and_answers_a_query_and_a_subscription() {
    let Some((chromium, dir)) = browser_kit() else {
        return;
    };
    let app = TestApp::spawn().await;
    app.ok(
        "mutation { createHost(input: {address: \"192.0.2.1\"}) { host { id } } }",
        json!({}),
    )
    .await;
    let (base, token) = (app.base.clone(), app.token.clone());
    // The script bounds each of its waits; the browser and node end with it.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(dir.join("graphiql.mjs"))
            .env("HECTOR_URL", base)
            .env("HECTOR_TOKEN", token)
            .env("CHROMIUM", chromium)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
    })
    .await
    .expect("the browser run")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("\"ok\":true"),
        "GraphiQL in Chromium: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    app.stop().await;
}
